"""The manager's analytics: the member pyramid (RFM layers), what each layer likes, and the
reporting SQL behind them (`queries`). Read-only over the bills, except the merchant's own
pyramid thresholds (`models.PyramidSettings`)."""
