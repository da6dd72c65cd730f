"""What the payments package does with the domain events: send refunds to the provider.

`register()` is called once at app start by `app.events.subscriptions.register_all`. The
subscriber runs after commit from the outbox worker, outside any transaction of the refund it
sends.

Unlike the channels' subscribers, this one writes: after the provider's answer it records, in a
short transaction of its own, the provider's refund number (or, for a refusal for good, that the
refund failed). How an accepted refund ends is left to the provider's refund notification and to
reconciliation's query. A retry — after an outage, a timeout or a worker that died mid-call —
asks with the same `out_refund_no`, which the provider answers with the same refund.
"""

from __future__ import annotations

from app.db import utcnow
from app.errors import APIError
from app.events.domain import DomainEvent, subscribe
from app.outbox import service as outbox
from app.outbox.models import OutboxMessage
from app.payments.providers import provider_for
from app.payments.refunds import RefundRefused, ask_provider, pending_refund

REFUND = "payments.refund"


def register() -> None:
    subscribe(DomainEvent.REFUND_REQUESTED, REFUND, send_refund)


def send_refund(message: OutboxMessage) -> None:
    """REFUND_REQUESTED {refund_id, out_refund_no, amount_cents}: ask the provider to send it back.
    Provider trouble raises, and the outbox asks again later."""
    refund_id = message.payload.get("refund_id")
    ask = pending_refund(refund_id, message.merchant_id) if isinstance(refund_id, int) else None
    if ask is None:
        return  # ended already (notification, reconciliation) or not this merchant's
    try:
        provider = provider_for(message.merchant_id)
    except APIError as error:  # the merchant's WeChat Pay account is gone
        raise outbox.PermanentFailure(str(error.description)) from None
    try:
        ask_provider(provider, ask, utcnow())
    except RefundRefused as refused:
        raise outbox.PermanentFailure(str(refused)) from None
