"""WeChat Pay's notifications, and applying a verified payment once.

A payment is applied only when its notification verifies (signature, account, a pending trade of
that merchant, the very amount asked for) or when reconciliation learnt it from the provider;
a replay changes nothing. Money that arrives when there is nothing left to apply it to is
refunded.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from flask import g
from sqlalchemy.exc import IntegrityError

from app.audit.service import record
from app.auth.models import Staff
from app.db import db
from app.errors import APIError
from app.members import service as members
from app.orders import service as orders
from app.orders.state import IllegalTransition
from app.payments.intents import begin, lock_intent
from app.payments.models import IntentKind, PaymentIntent, PaymentRefund, TradeType
from app.payments.provider import (
    InvalidNotification,
    PaymentNotice,
    PaymentProvider,
    ProviderError,
    RefundStatus,
)
from app.payments.providers import refund_notify_url
from app.payments.refunds import out_refund_no
from app.payments.state import IntentEvent, IntentStatus, RefundState, next_intent_status, next_refund_state
from app.wechat.models import WeChatSettings

log = logging.getLogger(__name__)

UNAPPLIED_REFUND_REASON = "支付未能入账，原路退回"


def _apply(intent: PaymentIntent, now: datetime) -> None:
    if intent.kind is IntentKind.ORDER:
        params = intent.params or {}
        tenders = [orders.TenderRequest(t["type"], t["amount_cents"]) for t in params.get("tenders", [])]
        tenders.append(orders.TenderRequest("wechat", intent.amount_cents, external_ref=intent.transaction_id,
                                            payer=intent.openid))
        request = orders.SettleRequest(member_id=intent.member_id, points=params.get("points", 0),
                                       coupon_ids=params.get("coupon_ids", []), tenders=tenders)
        orders.settle_order(intent.order_id, request, key=intent.idempotency_key, now=now)
    else:
        members.top_up(intent.member_id, intent.amount_cents, key=intent.idempotency_key, tender="wechat", now=now,
                       store_id=intent.store_id, payment_id=intent.id)


def accept_payment(provider: PaymentProvider, merchant_id: int, notice: PaymentNotice, now: datetime,
                   *, source: str) -> tuple[bool, str]:
    """Apply a verified payment once. Answers (accepted, reason): accepted tells the provider to
    stop sending it. Nothing changes for a replay, a trade of another merchant, or an amount
    that is not the intent's."""
    begin()
    g.merchant_id = merchant_id
    intent = lock_intent(merchant_id=merchant_id, out_trade_no=notice.out_trade_no)
    if intent is None:
        db.session.rollback()
        log.warning("payment %s (%s): no such intent for merchant %s; ignored", notice.out_trade_no, source,
                    merchant_id)
        return False, "unknown out_trade_no"
    if intent.transaction_id == notice.transaction_id:
        db.session.rollback()
        return True, "already handled"
    if intent.status is not IntentStatus.PENDING or intent.trade_type is TradeType.MICROPAY:
        log.warning("payment %s (%s): intent is %s; transaction %s ignored", notice.out_trade_no, source,
                    intent.status.label, notice.transaction_id)
        record("payment.notice_ignored", intent, source=source, status=intent.status.label,
               transaction_id=notice.transaction_id, amount_cents=notice.amount_cents)
        db.session.commit()
        return True, "ignored"
    if notice.amount_cents != intent.amount_cents:
        log.error("payment %s (%s): paid %s, expected %s; refused", notice.out_trade_no, source,
                  notice.amount_cents, intent.amount_cents)
        record("payment.amount_mismatch", intent, source=source, transaction_id=notice.transaction_id,
               amount_cents=notice.amount_cents, expected_cents=intent.amount_cents)
        db.session.commit()
        return False, "amount mismatch"
    taken = db.session.scalar(sa.select(PaymentIntent.id).where(PaymentIntent.transaction_id == notice.transaction_id))
    if taken is not None:
        db.session.rollback()
        log.error("payment %s (%s): transaction %s belongs to intent %s; refused", notice.out_trade_no, source,
                  notice.transaction_id, taken)
        return False, "transaction belongs to another trade"

    g.staff = db.session.get(Staff, intent.created_by_id) if intent.created_by_id else None
    intent.transaction_id, intent.paid_at, intent.finished_at = notice.transaction_id, now, now
    intent.openid = notice.payer or intent.openid
    intent.provider_code = "SUCCESS"
    db.session.flush()
    savepoint = db.session.begin_nested()
    try:
        _apply(intent, now)
    except (APIError, IntegrityError) as error:
        savepoint.rollback()
        code = getattr(error, "error_code", type(error).__name__)
        intent.status = next_intent_status(intent.status, IntentEvent.PAY_UNAPPLIED)
        record("payment.paid_unapplied", intent, source=source, reason=code, amount_cents=intent.amount_cents,
               transaction_id=notice.transaction_id)
        log.warning("payment %s: paid but cannot be applied (%s); refunding", notice.out_trade_no, code)
        unapplied = intent.id
    else:
        savepoint.commit()
        intent.status = next_intent_status(intent.status, IntentEvent.PAY)
        unapplied = None
    db.session.commit()
    if unapplied is not None:
        refund_unapplied(provider, unapplied, now)
    return True, "ok"


def refund_unapplied(provider: PaymentProvider, intent_id: int, now: datetime) -> bool:
    """Send back money that was paid when there was nothing left to apply it to (the refund
    number is fixed per intent, so trying again asks for the same refund)."""
    begin()
    intent = lock_intent(id=intent_id)
    if intent is None or intent.status is not IntentStatus.PAID_UNAPPLIED:
        db.session.rollback()
        return False
    number = out_refund_no(intent.merchant_id, "unapplied", intent.id)
    if db.session.scalar(sa.select(PaymentRefund.id).where(PaymentRefund.out_refund_no == number)) is None:
        db.session.add(PaymentRefund(merchant_id=intent.merchant_id, intent_id=intent.id, order_id=intent.order_id,
                                     out_refund_no=number, amount_cents=intent.amount_cents,
                                     reason=UNAPPLIED_REFUND_REASON))
    out_trade_no, amount = intent.out_trade_no, intent.amount_cents
    db.session.commit()
    try:
        result = provider.refund(out_trade_no=out_trade_no, out_refund_no=number, total_cents=amount,
                                 refund_cents=amount, reason=UNAPPLIED_REFUND_REASON, notify_url=refund_notify_url())
    except ProviderError as error:
        log.warning("payment %s: refund of unapplied money failed (%s); reconciliation will retry", out_trade_no,
                    error)
        return False
    begin()
    intent = lock_intent(id=intent_id)
    row = db.session.scalars(sa.select(PaymentRefund).where(PaymentRefund.out_refund_no == number)).one()
    row.refund_id = row.refund_id or result.refund_id
    if intent.status is IntentStatus.PAID_UNAPPLIED:
        intent.status = next_intent_status(intent.status, IntentEvent.REFUND)
        intent.finished_at = now
        record("payment.unapplied_refunded", intent, amount_cents=amount, out_refund_no=number)
    db.session.commit()
    return True


def _account(body: bytes) -> tuple[WeChatSettings, PaymentProvider] | str:
    """The merchant account a notification is for and its provider, or why it is refused."""
    from app.payments.wechat import WeChatPayProvider, notification_account

    try:
        appid, mch_id = notification_account(body)
    except InvalidNotification as error:
        return str(error)
    settings = db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.appid == appid))
    if settings is None or not settings.api_key or settings.mch_id != mch_id:
        return "unknown merchant account"
    return settings, WeChatPayProvider(settings)


def handle_payment_notification(body: bytes, now: datetime) -> tuple[bool, str]:
    """A WeChat Pay payment notification: (accepted, reason). Refused (so WeChat tries again or
    gives up) when it does not verify; accepted and ignored when it was handled before."""
    found = _account(body)
    if isinstance(found, str):
        log.warning("payment notification refused: %s", found)
        return False, found
    settings, provider = found
    try:
        notice = provider.parse_payment_notice(body)
    except InvalidNotification as error:
        log.warning("payment notification for %s refused: %s", settings.appid, error)
        return False, str(error)
    return accept_payment(provider, settings.merchant_id, notice, now, source="notification")


_REFUND_STATES = {RefundStatus.PROCESSING: RefundState.PROCESSING, RefundStatus.SUCCESS: RefundState.SUCCESS,
                  RefundStatus.FAILED: RefundState.FAILED}


def handle_refund_notification(body: bytes, now: datetime) -> tuple[bool, str]:
    """A WeChat Pay refund notification: record the refund's final state, once."""
    found = _account(body)
    if isinstance(found, str):
        log.warning("refund notification refused: %s", found)
        return False, found
    settings, provider = found
    try:
        notice = provider.parse_refund_notice(body)
    except InvalidNotification as error:
        log.warning("refund notification for %s refused: %s", settings.appid, error)
        return False, str(error)
    begin()
    row = db.session.scalars(sa.select(PaymentRefund).where(
        PaymentRefund.merchant_id == settings.merchant_id, PaymentRefund.out_refund_no == notice.out_refund_no)
        .with_for_update()).one_or_none()
    if row is None:
        db.session.rollback()
        log.warning("refund notification %s: no such refund for merchant %s", notice.out_refund_no,
                    settings.merchant_id)
        return False, "unknown out_refund_no"
    if notice.amount_cents != row.amount_cents:
        db.session.rollback()
        log.error("refund notification %s: %s refunded, %s asked; refused", notice.out_refund_no,
                  notice.amount_cents, row.amount_cents)
        return False, "amount mismatch"
    try:
        state = next_refund_state(row.state, _REFUND_STATES[notice.status])
    except IllegalTransition:
        db.session.rollback()
        log.warning("refund %s is %s; %s ignored", row.out_refund_no, row.state.label, notice.status)
        return True, "ignored"
    if state is not row.state:
        row.state, row.finished_at = state, now
        row.refund_id = row.refund_id or notice.refund_id or None
        row.provider_code = notice.code[:32]
    db.session.commit()
    return True, "ok"
