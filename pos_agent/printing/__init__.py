"""Printing: documents as data (pure), their ESC/POS rendering, the printer adapter and the ledger."""
