"""Reconciliation (a scheduled job): ask the provider about trades and refunds still open after a
few minutes — apply what was paid, close what expired unpaid, reverse payment-code trades the
till gave up on, send back paid money that could not be applied, and learn how refunds ended
(asking again for a refund the provider never received)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.actor import Actor
from app.db import db
from app.payments.intents import Attempt, finish, give_back, leave, reconcile_after_minutes
from app.payments.models import PaymentIntent, PaymentRefund, TradeType
from app.payments.notices import accept_payment, refund_unapplied
from app.payments.provider import PaymentNotice, PaymentProvider, PayStatus, ProviderError, RefundStatus
from app.payments.providers import provider_for, wechat_settings
from app.payments.refunds import RefundRefused, ask_provider, finish_refund, pending_refund
from app.payments.state import IntentEvent, IntentStatus, RefundState

log = logging.getLogger(__name__)


def _reconcile_one(provider: PaymentProvider, merchant_id: int, intent_id: int, now: datetime) -> str:
    intent = db.session.get(PaymentIntent, intent_id)
    attempt = Attempt(intent.id, intent.out_trade_no, intent.amount_cents)
    trade_type, expires_at = intent.trade_type, intent.expires_at
    leave()
    try:
        result = provider.query(attempt.out_trade_no)
    except ProviderError as error:
        log.info("reconcile %s: %s", attempt.out_trade_no, error)
        return "unreachable"
    if trade_type is TradeType.MICROPAY:
        # The till answered long ago that nothing was charged: whatever happened since goes back.
        if result.status in (PayStatus.SUCCESS, PayStatus.PENDING):
            return "reversed" if give_back(provider, attempt) else "unreachable"
        finish(intent_id, IntentEvent.REVERSE if result.status is PayStatus.REVERSED else IntentEvent.FAIL,
               result.code)
        return "failed"
    if result.status in (PayStatus.SUCCESS, PayStatus.REFUNDED):
        if not result.transaction_id or result.amount_cents is None:
            return "unreachable"
        notice = PaymentNotice(attempt.out_trade_no, result.transaction_id, result.amount_cents, result.payer)
        accepted, _reason = accept_payment(provider, merchant_id, notice, now, source="reconciliation")
        return "paid" if accepted else "refused"
    if result.status is PayStatus.PENDING:
        if expires_at is not None and now < expires_at:
            return "waiting"
        try:
            closed = provider.close(attempt.out_trade_no)
        except ProviderError as error:
            log.info("reconcile %s: close failed: %s", attempt.out_trade_no, error)
            return "unreachable"
        if closed.status is PayStatus.SUCCESS:
            return "waiting"  # paid at the last moment: the notification or the next run applies it
        finish(intent_id, IntentEvent.CLOSE, closed.code)
        return "closed"
    if result.status in (PayStatus.CLOSED, PayStatus.REVERSED):
        finish(intent_id, IntentEvent.CLOSE, result.code)
        return "closed"
    finish(intent_id, IntentEvent.FAIL, result.code)
    return "failed"


def _reconcile_refund(provider: PaymentProvider, merchant_id: int, refund_id: int, now: datetime) -> str:
    """How a refund still processing ended; one the provider never received is asked for again
    (the same `out_refund_no`: if the first request did arrive meanwhile, it answers that one)."""
    ask = pending_refund(refund_id, merchant_id)
    if ask is None:
        return "refund_done"
    leave()
    try:
        result = provider.query_refund(ask.out_refund_no)
        if result.status is RefundStatus.NOT_FOUND:
            ask_provider(provider, ask, now)
            return "refund_asked"
    except RefundRefused:
        return "refund_failed"
    except ProviderError as error:
        log.info("reconcile refund %s: %s", ask.out_refund_no, error)
        return "unreachable"
    if result.status is RefundStatus.SUCCESS:
        finish_refund(refund_id, RefundState.SUCCESS, code=result.code, now=now, refund_no=result.refund_id)
        return "refund_done"
    if result.status is RefundStatus.FAILED:
        finish_refund(refund_id, RefundState.FAILED, code=result.code, now=now, refund_no=result.refund_id)
        return "refund_failed"
    return "refund_waiting"


def reconcile_pending(now: datetime, *, actor: Actor) -> dict[str, int]:
    """Ask the provider about the actor's merchant's intents and refunds still open after a few
    minutes. Answers how many went which way."""
    merchant_id = actor.merchant_id
    if wechat_settings(merchant_id) is None:
        return {}
    provider = provider_for(merchant_id)
    cutoff = now - timedelta(minutes=reconcile_after_minutes())
    pending = db.session.scalars(sa.select(PaymentIntent.id).where(
        PaymentIntent.merchant_id == merchant_id, PaymentIntent.status == IntentStatus.PENDING,
        PaymentIntent.created_at <= cutoff).order_by(PaymentIntent.id)).all()
    unapplied = db.session.scalars(sa.select(PaymentIntent.id).where(
        PaymentIntent.merchant_id == merchant_id, PaymentIntent.status == IntentStatus.PAID_UNAPPLIED)
        .order_by(PaymentIntent.id)).all()
    refunds = db.session.scalars(sa.select(PaymentRefund.id).where(
        PaymentRefund.merchant_id == merchant_id, PaymentRefund.state == RefundState.PROCESSING,
        PaymentRefund.created_at <= cutoff).order_by(PaymentRefund.id)).all()
    counts: Counter[str] = Counter()
    for intent_id in pending:
        counts[_reconcile_one(provider, merchant_id, intent_id, now)] += 1
    for intent_id in unapplied:
        counts["refunded" if refund_unapplied(provider, intent_id, now) else "refund_pending"] += 1
    for refund_id in refunds:
        counts[_reconcile_refund(provider, merchant_id, refund_id, now)] += 1
    leave()
    return dict(counts)
