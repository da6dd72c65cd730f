"""Money back through the provider.

An order refund calls `refund_order_share` inside its own transaction, after every check of its
own: the provider is asked last, and a refusal or an outage aborts the whole refund (nothing
changed). `out_refund_no` is derived from the refund's idempotency key, so a retry after a lost
answer asks for the same refund and the provider answers the same one instead of paying twice.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask_babel import gettext

from app.db import db
from app.errors import Conflict
from app.orders.models import Order, Payment
from app.payments.models import IntentKind, PaymentIntent, PaymentRefund
from app.payments.provider import ProviderRejected, ProviderUnavailable
from app.payments.providers import provider_for, refund_notify_url, refused, unavailable
from app.payments.state import IntentStatus, RefundState


def out_refund_no(merchant_id: int, key: str, intent_id: int) -> str:
    return "RF" + hashlib.sha256(f"{merchant_id}:{intent_id}:{key}".encode()).hexdigest()[:30]


def refundable_cents(intent: PaymentIntent) -> int:
    refunded = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(PaymentRefund.amount_cents), 0)).where(
        PaymentRefund.intent_id == intent.id, PaymentRefund.state != RefundState.FAILED))
    return intent.amount_cents - int(refunded)


def refund_order_share(order: Order, cents: int, *, key: str, reason: str, payment: Payment) -> list[PaymentRefund]:
    """Refund `cents` of what the provider collected for `order`; `payment` is the refund's
    WECHAT payment row, which gets the provider's refund number."""
    intents = db.session.scalars(sa.select(PaymentIntent).where(
        PaymentIntent.order_id == order.id, PaymentIntent.kind == IntentKind.ORDER,
        PaymentIntent.status == IntentStatus.PAID).order_by(PaymentIntent.id)).all()
    provider = provider_for(order.merchant_id)
    rows, left = [], cents
    for intent in intents:
        share = min(left, refundable_cents(intent))
        if share <= 0:
            continue
        number = out_refund_no(order.merchant_id, key, intent.id)
        try:
            result = provider.refund(out_trade_no=intent.out_trade_no, out_refund_no=number,
                                     total_cents=intent.amount_cents, refund_cents=share, reason=reason,
                                     notify_url=refund_notify_url())
        except ProviderUnavailable as error:
            raise unavailable(error, refund=True) from None
        except ProviderRejected as error:
            raise refused(error, refund=True) from None
        row = PaymentRefund(merchant_id=order.merchant_id, intent_id=intent.id, order_id=order.id,
                            payment_id=payment.id, out_refund_no=number, refund_id=result.refund_id,
                            amount_cents=share, reason=reason[:200], provider_code=result.code[:32])
        db.session.add(row)
        rows.append(row)
        payment.external_ref = payment.external_ref or number
        left -= share
        if left == 0:
            break
    if left:
        raise Conflict(gettext("WeChat Pay holds less of this order than the refund asks back."),
                       error_code="payment_refund_exceeds_paid", details={"missing_cents": left})
    db.session.flush()
    return rows
