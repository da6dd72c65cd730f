"""Payment intents from one attempt to the next: numbers, the short transactions that move them,
and the reversal of a payment-code trade.

A provider is never called inside an open database transaction (a payment code can take seconds
while the diner types the password): each step that changes an intent is its own short
transaction (`begin` … commit), and `leave` ends the session's read before a provider call.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from app.db import begin_write, db, utcnow
from app.errors import Conflict
from app.payments.models import IntentKind, PaymentIntent
from app.payments.provider import Charge, PaymentProvider, PaymentResult, PayStatus, ProviderError
from app.payments.providers import payment_not_completed
from app.payments.state import INTENTS, IntentEvent, IntentStatus
from app.tenants.models import Merchant, Store

log = logging.getLogger(__name__)

# What the payer's receipt in WeChat says the money was for.
ORDER_BODY = "{name}-餐费"
TOPUP_BODY = "{name}-会员充值"


def _setting(name: str, default: float) -> float:
    return float(current_app.config.get(name, default))


def poll_seconds() -> float:
    """Between two queries of a payment code the diner is confirming."""
    return _setting("WECHAT_PAY_POLL_SECONDS", 2.0)


def max_polls() -> int:
    return int(_setting("WECHAT_PAY_POLLS", 10))


def expire_minutes() -> float:
    """How long a JSAPI / NATIVE trade can be paid."""
    return _setting("WECHAT_PAY_EXPIRE_MINUTES", 15)


def reconcile_after_minutes() -> float:
    """Reconciliation asks about intents pending at least this long (notifications come first)."""
    return _setting("WECHAT_PAY_RECONCILE_AFTER_MINUTES", 2)


@dataclass(frozen=True)
class Attempt:
    """What the provider calls need, read before the transaction that saved it ended."""

    id: int
    out_trade_no: str
    amount_cents: int
    description: str = ""

    def charge(self, *, payer_ip: str | None = None) -> Charge:
        return Charge(self.out_trade_no, self.amount_cents, self.description, client_ip(payer_ip))


def client_ip(payer_ip: str | None = None) -> str:
    """`spbill_create_ip`: the payer's address for a trade paid in their browser (JSAPI, the
    acting diner's address), this server's for the others."""
    address = payer_ip or current_app.config.get("WECHAT_PAY_SERVER_IP") or "127.0.0.1"
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "127.0.0.1"


def new_out_trade_no(kind: IntentKind) -> str:
    return f"TL{'O' if kind is IntentKind.ORDER else 'T'}{utcnow():%y%m%d}{secrets.token_hex(10)}"


def description(intent: PaymentIntent) -> str:
    if intent.store_id is not None:
        name = db.session.get(Store, intent.store_id).name
    else:
        name = db.session.get(Merchant, intent.merchant_id).name
    template = ORDER_BODY if intent.kind is IntentKind.ORDER else TOPUP_BODY
    return template.format(name=name)[:40]


def begin() -> None:
    """A fresh writing transaction. Whatever the session still holds (a read after the last
    commit) ends first, so SQLite takes its write lock at the start (app.db.begin_write)."""
    db.session.rollback()
    begin_write()


def leave() -> None:
    """End the session's read transaction before a provider call that may take seconds."""
    db.session.rollback()


def lock_intent(**where) -> PaymentIntent | None:
    return db.session.scalars(sa.select(PaymentIntent).filter_by(**where).with_for_update()
                              .execution_options(populate_existing=True)).one_or_none()


def save_new(intent: PaymentIntent) -> Attempt:
    """Commit the attempt before the provider hears of it."""
    try:
        with db.session.begin_nested():
            db.session.add(intent)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(gettext("A payment with this idempotency key is still being collected."),
                       error_code="payment_in_progress") from None
    attempt = Attempt(intent.id, intent.out_trade_no, intent.amount_cents, description(intent))
    db.session.commit()
    return attempt


def finish(intent_id: int, event: IntentEvent, code: str = "") -> bool:
    """Move a pending intent to a final status, in its own transaction; False if it had moved already."""
    begin()
    moved = db.session.execute(
        sa.update(PaymentIntent).where(PaymentIntent.id == intent_id, PaymentIntent.status == IntentStatus.PENDING)
        .values(status=INTENTS.next(IntentStatus.PENDING, event), provider_code=code[:32],
                finished_at=utcnow())).rowcount
    db.session.commit()
    return moved == 1


def mark_paid(intent_id: int, result: PaymentResult, now: datetime) -> None:
    """Pending → paid, inside the transaction that applies the money (a reversal that got in
    first wins: the money went back, so nothing may be applied)."""
    moved = db.session.execute(
        sa.update(PaymentIntent).where(PaymentIntent.id == intent_id, PaymentIntent.status == IntentStatus.PENDING)
        .values(status=INTENTS.next(IntentStatus.PENDING, IntentEvent.PAY), transaction_id=result.transaction_id,
                openid=result.payer, provider_code=result.code[:32], paid_at=now, finished_at=now)).rowcount
    if moved != 1:
        raise payment_not_completed(result)


def give_back(provider: PaymentProvider, attempt: Attempt) -> bool:
    """Reverse a payment-code trade. When the provider cannot be reached the intent stays pending
    and reconciliation reverses it later; the till has been told nothing was charged either way."""
    try:
        result = provider.reverse(attempt.out_trade_no)
    except ProviderError as error:
        log.warning("payment %s: reversal failed (%s); reconciliation will retry", attempt.out_trade_no, error)
        return False
    event = IntentEvent.FAIL if result.status is PayStatus.NOT_FOUND else IntentEvent.REVERSE
    finish(attempt.id, event, result.code)
    return True
