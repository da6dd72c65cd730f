"""Money back through the provider, never while a database transaction is open.

1. In the order refund's own transaction, `record_refund` writes one `PaymentRefund` per paid
   trade it draws from (state processing) and publishes `DomainEvent.REFUND_REQUESTED` for each:
   the refund, its ledger entries and the requests to the provider commit together, or none does.
2. After commit the outbox delivers each request to `send_refund` (`app.payments.subscribers`),
   which asks the provider with the refund's fixed `out_refund_no` — retried after an outage,
   and a retry after a lost answer names the same refund, so the provider pays it once.
3. The provider's refund notification (`app.payments.notices`) or reconciliation's query
   (`app.payments.reconcile`) records how it ended.

`out_refund_no` derives from the refund's idempotency key and the trade, so the same refund
asked again is always the same number.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.audit.service import record
from app.db import db
from app.errors import Conflict
from app.events.domain import DomainEvent, publish
from app.orders.models import Order, Payment
from app.payments.intents import begin, leave
from app.payments.models import IntentKind, PaymentIntent, PaymentRefund
from app.payments.provider import PaymentProvider, ProviderRejected, RefundResult
from app.payments.providers import refund_notify_url
from app.payments.state import IntentStatus, RefundState, next_refund_state

log = logging.getLogger(__name__)

# WeChat Pay's refusals that mean "not now": the same refund is asked again later
# (balance short, too frequent, its own trouble).
ASK_AGAIN = frozenset({"SYSTEMERROR", "BIZERR_NEED_RETRY", "FREQUENCY_LIMITED", "NOTENOUGH"})


def out_refund_no(merchant_id: int, key: str, intent_id: int) -> str:
    return "RF" + hashlib.sha256(f"{merchant_id}:{intent_id}:{key}".encode()).hexdigest()[:30]


def refundable_cents(intent: PaymentIntent) -> int:
    refunded = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PaymentRefund.amount_cents), 0)).where(
        PaymentRefund.intent_id == intent.id, PaymentRefund.state != RefundState.FAILED))
    return intent.amount_cents - int(refunded)


def record_refund(order: Order, payment: Payment, *, key: str, reason: str, now: datetime) -> list[PaymentRefund]:
    """Record that `payment` (the WeChat share of an order refund) goes back through WeChat Pay:
    one processing `PaymentRefund` per paid trade of the order it draws from, each announced by
    `DomainEvent.REFUND_REQUESTED`. In the caller's transaction; the provider is not called."""
    intents = db.session.scalars(sa.select(PaymentIntent).where(
        PaymentIntent.merchant_id == order.merchant_id, PaymentIntent.order_id == order.id,
        PaymentIntent.kind == IntentKind.ORDER, PaymentIntent.status == IntentStatus.PAID)
        .order_by(PaymentIntent.id)).all()
    rows, left = [], payment.amount_cents
    for intent in intents:
        share = min(left, refundable_cents(intent))
        if share <= 0:
            continue
        row = PaymentRefund(merchant_id=order.merchant_id, intent_id=intent.id, order_id=order.id,
                            payment_id=payment.id, out_refund_no=out_refund_no(order.merchant_id, key, intent.id),
                            amount_cents=share, reason=reason[:200], state=RefundState.PROCESSING)
        db.session.add(row)
        rows.append(row)
        left -= share
        if left == 0:
            break
    if left:
        raise Conflict(gettext("WeChat Pay holds less of this order than the refund asks back."),
                       error_code="payment_refund_exceeds_paid", details={"missing_cents": left})
    db.session.flush()
    payment.external_ref = rows[0].out_refund_no
    for row in rows:
        publish(order.merchant_id, DomainEvent.REFUND_REQUESTED, row.out_refund_no,
                {"refund_id": row.id, "out_refund_no": row.out_refund_no, "amount_cents": row.amount_cents},
                now=now)
    return rows


# --- asking the provider ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RefundAsk:
    """What the provider's refund call needs, read before the transaction that read it ended."""

    refund_id: int
    out_trade_no: str
    out_refund_no: str
    total_cents: int
    amount_cents: int
    reason: str


def pending_refund(refund_id: int, merchant_id: int) -> RefundAsk | None:
    """The refund still waiting for the provider's answer, or None once it has one."""
    row = db.session.get(PaymentRefund, refund_id)
    if row is None or row.merchant_id != merchant_id or row.state is not RefundState.PROCESSING:
        return None
    intent = db.session.get(PaymentIntent, row.intent_id)
    return RefundAsk(row.id, intent.out_trade_no, row.out_refund_no, intent.amount_cents, row.amount_cents,
                     row.reason)


class RefundRefused(Exception):
    """The provider refused the refund for good (recorded as failed)."""


def ask_provider(provider: PaymentProvider, ask: RefundAsk, now: datetime) -> RefundResult:
    """Ask the provider for the refund, outside any transaction; then record its answer in a
    short transaction of its own. ProviderUnavailable (and the refusals that mean "not now")
    propagate: the caller asks again later, with the same `out_refund_no`. A refusal for good
    marks the refund failed and raises RefundRefused."""
    leave()
    try:
        result = provider.refund(out_trade_no=ask.out_trade_no, out_refund_no=ask.out_refund_no,
                                 total_cents=ask.total_cents, refund_cents=ask.amount_cents, reason=ask.reason,
                                 notify_url=refund_notify_url())
    except ProviderRejected as error:
        if error.code in ASK_AGAIN:
            raise
        finish_refund(ask.refund_id, RefundState.FAILED, code=error.code, now=now)
        raise RefundRefused(f"{error.code}: {error.message}") from None
    accepted(ask.refund_id, result)
    return result


def accepted(refund_id: int, result: RefundResult) -> None:
    """The provider took the refund: keep its number (how it ends comes by notification or query)."""
    begin()
    row = db.session.scalars(sa.select(PaymentRefund).where(PaymentRefund.id == refund_id).with_for_update()).one()
    row.refund_id = row.refund_id or result.refund_id
    db.session.commit()


def finish_refund(refund_id: int, state: RefundState, *, code: str, now: datetime,
                  refund_no: str | None = None) -> bool:
    """Record how a refund ended, in its own short transaction; False when it had ended already."""
    begin()
    row = db.session.scalars(sa.select(PaymentRefund).where(PaymentRefund.id == refund_id).with_for_update()).one()
    moved = _finish(row, state, code, now, refund_no)
    db.session.commit()
    return moved


def _finish(row: PaymentRefund, state: RefundState, code: str, now: datetime, refund_no: str | None = None) -> bool:
    if row.state is not RefundState.PROCESSING:
        return False
    row.state = next_refund_state(row.state, state)
    row.finished_at, row.provider_code = now, code[:32]
    row.refund_id = row.refund_id or refund_no or None
    if state is RefundState.FAILED:
        # The order counts this money as given back: someone must see that the provider did not.
        log.error("refund %s failed at the provider (%s)", row.out_refund_no, code)
        record("payment.refund_failed", row, actor=Actor.system(row.merchant_id), out_refund_no=row.out_refund_no,
               amount_cents=row.amount_cents, provider_code=code, order_id=row.order_id)
    return True
