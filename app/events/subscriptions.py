"""The dispatch table: which channel handles which domain event (and outbox kind).

Filled once at app start by `create_app`; registering again starts from an empty table, so
several apps in one process (tests) share one table. This module and the app factory are the
only ones that wire channels to domains: the import-graph test lets them import both.

| domain event          | published by                         | subscriber (outbox kind)  | does             |
|-----------------------|--------------------------------------|---------------------------|------------------|
| BILL_PUSHED           | orders.bill.push_bill, per diner     | wechat.bill               | the bill message |
| ORDER_PAID            | the settlement                       | wechat.paid.member        | payment success  |
|                       |                                      | wechat.paid.payer         | payment success  |
|                       |                                      | wechat.paid.stored_value  | balance change   |
|                       |                                      | wechat.paid.points        | points change    |
| STORED_VALUE_CHANGED  | members top-up, adjustment           | wechat.stored_value       | balance change   |
| POINTS_CHANGED        | members adjustment                   | wechat.points             | points change    |
| COUPON_RECEIVED       | coupons issue, transfer              | wechat.coupon             | coupon message   |
| CAMPAIGN_MESSAGE      | campaigns.service.send_batch         | wechat.campaign           | campaign message |
| REFUND_REQUESTED      | payments.refunds.record_refund       | payments.refund           | provider refund  |
| ORDER_PAID            | the settlement                       | figures.paid              | member figures   |
| ORDER_REFUNDED        | orders.refunds, every bill           | figures.refunded          | member figures   |
| ORDER_PAID            | the settlement                       | crm.retag                 | member's tags    |
| ORDER_PAID            | the settlement                       | sales_days.paid           | sales rollup     |
| ORDER_REFUNDED        | orders.refunds, every bill           | sales_days.refunded       | sales rollup     |

The member figures (`app.orders.figures`) and the sales of kept days (`app.orders.sales_days`) are
no channel: the pyramid's and the dashboard's rollups, recomputed after commit so that the
settlement pays nothing for them.

Outbox kinds queued directly: `wechat_template` (a whole template message) and `inbox.cs_text`
(a staff reply from the customer-service inbox, sent by `app.wechat.service_messages`).
"""

from __future__ import annotations

from app.crm import service as crm
from app.events import domain
from app.inbox import service as inbox
from app.orders import figures, sales_days
from app.outbox import service as outbox
from app.payments import subscribers as payments
from app.wechat import notify, service_messages
from app.wechat import subscribers as wechat


def register_all() -> None:
    """Every channel's subscriptions. A channel lists its own in one `register()`; this is the
    one place that decides which channels run."""
    domain.reset()
    wechat.register()
    payments.register()
    figures.register()
    sales_days.register()
    # Outbox rows that hold a whole template message.
    outbox.register(notify.TEMPLATE_MESSAGE, notify.deliver_template)
    domain.subscribe(domain.DomainEvent.ORDER_PAID, crm.RETAG, crm.retag_after_settle)
    outbox.register(inbox.CS_TEXT, service_messages.deliver_text)
