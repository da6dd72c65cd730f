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
from sqlalchemy.exc import IntegrityError

from app.actor import Actor
from app.audit.service import record
from app.db import db
from app.errors import APIError
from app.members import service as members
from app.orders import split as splits
from app.orders.settlement import SettleRequest, TenderRequest, settle_order
from app.payments.intents import begin, lock_intent
from app.payments.models import IntentKind, PaymentIntent, PaymentRefund, TradeType
from app.payments.provider import (
    InvalidNotification,
    PaymentNotice,
    PaymentProvider,
    ProviderError,
    RefundStatus,
)
from app.payments.providers import provider_of
from app.payments.refunds import RefundRefused, ask_provider, out_refund_no, pending_refund
from app.payments.state import INTENTS, IntentEvent, IntentStatus, RefundState, next_refund_state
from app.wechat.models import WeChatSettings
from tablerules.state import IllegalTransition
from tablerules.tenders import TenderType

log = logging.getLogger(__name__)

UNAPPLIED_REFUND_REASON = "支付未能入账，原路退回"


def intent_actor(intent: PaymentIntent) -> Actor:
    """Who a payment confirmed later acts for: the staff member who started it, at its store."""
    return Actor(merchant_id=intent.merchant_id, staff_id=intent.created_by_id, store_id=intent.store_id,
                 name="微信支付")


def _apply(intent: PaymentIntent, now: datetime) -> None:
    actor = intent_actor(intent)
    if intent.kind is IntentKind.ORDER and (intent.params or {}).get("share_ids"):
        # Shares of a split bill: they turn paid, and the order when they cover it.
        wechat = TenderRequest(TenderType.WECHAT, intent.amount_cents, external_ref=intent.transaction_id,
                               payer=intent.openid)
        splits.pay_shares(intent.order_id, intent.params["share_ids"], tender=wechat, payer=None,
                          paid_by=intent.params.get("paid_by", ""), key=intent.idempotency_key, actor=actor, now=now)
    elif intent.kind is IntentKind.ORDER:
        wechat = TenderRequest(TenderType.WECHAT, intent.amount_cents, external_ref=intent.transaction_id,
                               payer=intent.openid)
        request = SettleRequest.from_params(intent.params or {}, member_id=intent.member_id, wechat=wechat)
        settle_order(intent.order_id, request, actor=actor, key=intent.idempotency_key, now=now)
    else:
        members.top_up(intent.member_id, intent.amount_cents, key=intent.idempotency_key, tender="wechat", now=now,
                       store_id=intent.store_id, payment_id=intent.id, actor=actor)


def accept_payment(provider: PaymentProvider, merchant_id: int, notice: PaymentNotice, now: datetime,
                   *, source: str) -> tuple[bool, str]:
    """Apply a verified payment once. Answers (accepted, reason): accepted tells the provider to
    stop sending it. Nothing changes for a replay, a trade of another merchant, or an amount
    that is not the intent's."""
    begin()
    intent = lock_intent(merchant_id=merchant_id, out_trade_no=notice.out_trade_no)
    system = Actor.system(merchant_id, "wechat_pay")
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
        record("payment.notice_ignored", intent, actor=system, source=source, status=intent.status.label,
               transaction_id=notice.transaction_id, amount_cents=notice.amount_cents)
        db.session.commit()
        return True, "ignored"
    if notice.amount_cents != intent.amount_cents:
        log.error("payment %s (%s): paid %s, expected %s; refused", notice.out_trade_no, source,
                  notice.amount_cents, intent.amount_cents)
        record("payment.amount_mismatch", intent, actor=system, source=source, transaction_id=notice.transaction_id,
               amount_cents=notice.amount_cents, expected_cents=intent.amount_cents)
        db.session.commit()
        return False, "amount mismatch"
    taken = db.session.scalar(sa.select(PaymentIntent.id).where(PaymentIntent.transaction_id == notice.transaction_id))
    if taken is not None:
        db.session.rollback()
        log.error("payment %s (%s): transaction %s belongs to intent %s; refused", notice.out_trade_no, source,
                  notice.transaction_id, taken)
        return False, "transaction belongs to another trade"

    intent.transaction_id, intent.paid_at, intent.finished_at = notice.transaction_id, now, now
    intent.openid = notice.payer or intent.openid
    intent.provider_code = "SUCCESS"
    db.session.flush()
    # The settlement itself, not a rehearsal: when it cannot be applied (the order was settled
    # some other way meanwhile), only it is undone and the money is recorded as unapplied.
    savepoint = db.session.begin_nested()
    try:
        _apply(intent, now)
    except (APIError, IntegrityError) as error:
        savepoint.rollback()
        code = getattr(error, "error_code", type(error).__name__)
        intent.status = INTENTS.next(intent.status, IntentEvent.PAY_UNAPPLIED)
        record("payment.paid_unapplied", intent, actor=system, source=source, reason=code,
               amount_cents=intent.amount_cents, transaction_id=notice.transaction_id)
        log.warning("payment %s: paid but cannot be applied (%s); refunding", notice.out_trade_no, code)
        unapplied = intent.id
    else:
        savepoint.commit()
        intent.status = INTENTS.next(intent.status, IntentEvent.PAY)
        unapplied = None
    db.session.commit()
    if unapplied is not None:
        refund_unapplied(provider, unapplied, now)
    return True, "ok"


def refund_unapplied(provider: PaymentProvider, intent_id: int, now: datetime) -> bool:
    """Send back money that was paid when there was nothing left to apply it to: the refund is
    recorded and committed first, then asked for (its number is fixed per intent, so trying again
    asks for the same refund)."""
    begin()
    intent = lock_intent(id=intent_id)
    if intent is None or intent.status is not IntentStatus.PAID_UNAPPLIED:
        db.session.rollback()
        return False
    number = out_refund_no(intent.merchant_id, "unapplied", intent.id)
    row = db.session.scalar(sa.select(PaymentRefund).where(PaymentRefund.out_refund_no == number))
    if row is None:
        row = PaymentRefund(merchant_id=intent.merchant_id, intent_id=intent.id, order_id=intent.order_id,
                            out_refund_no=number, amount_cents=intent.amount_cents, reason=UNAPPLIED_REFUND_REASON,
                            state=RefundState.PROCESSING)
        db.session.add(row)
        db.session.flush()
    refund_id, merchant_id, state = row.id, intent.merchant_id, row.state
    db.session.commit()
    if state is RefundState.FAILED:
        return False  # refused for good (audited): the money waits for a person
    ask = pending_refund(refund_id, merchant_id)
    if ask is not None:
        try:
            ask_provider(provider, ask, now)
        except (ProviderError, RefundRefused) as error:
            log.warning("payment %s: refund of unapplied money not taken (%s); reconciliation will retry",
                        number, error)
            return False
    begin()
    intent = lock_intent(id=intent_id)
    if intent.status is IntentStatus.PAID_UNAPPLIED:
        intent.status = INTENTS.next(intent.status, IntentEvent.REFUND)
        intent.finished_at = now
        record("payment.unapplied_refunded", intent, actor=Actor.system(merchant_id, "wechat_pay"),
               amount_cents=intent.amount_cents, out_refund_no=number)
    db.session.commit()
    return True


def _account(body: bytes) -> tuple[WeChatSettings, PaymentProvider] | str:
    """The merchant account a notification is for and its provider, or why it is refused."""
    from app.payments.wechat import notification_account

    try:
        appid, mch_id = notification_account(body)
    except InvalidNotification as error:
        return str(error)
    settings = db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.appid == appid))
    if settings is None or not settings.api_key or settings.mch_id != mch_id:
        return "unknown merchant account"
    return settings, provider_of(settings)


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
