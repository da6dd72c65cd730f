"""Collecting money through a payment provider, for orders and for stored-value top-ups.

Every attempt is a `PaymentIntent`, committed *before* the provider hears of it, so the
provider never holds a trade we do not know; each later step is its own short transaction
(`app.payments.intents`), which is why this module commits where the other services leave it
to the route. The provider is never called while a transaction is open.

An order is checked with the settlement's own checks before any money moves
(`app.orders.settlement.check_settlement`: pricing, the tender plan, the balances — reading
only), and settled through the one settlement (`settle_order`) only once the provider says the
money is in: at the till for a payment code (here), otherwise on the verified notification or
the reconciliation query (`app.payments.notices`, `app.payments.reconcile`), never on the word
of a browser. A payment-code trade the till gives up on is reversed, and a reversed trade can
never be paid.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.audit.service import record
from app.db import db
from app.errors import APIError, Conflict, NotFound
from app.idempotency import IdempotencyRecord, fingerprint, run_once
from app.members import service as members
from app.members.models import Member
from app.orders import split as splits
from app.orders.models import Order
from app.orders.settlement import (
    SettleRequest,
    TenderRequest,
    check_settlement,
    price_order,
    settle_order,
    tender_error,
)
from app.payments.intents import (
    Attempt,
    begin,
    expire_minutes,
    finish,
    give_back,
    leave,
    lock_intent,
    mark_paid,
    max_polls,
    new_out_trade_no,
    poll_seconds,
    save_new,
)
from app.payments.intents import description as describe
from app.payments.models import IntentKind, PaymentIntent, TradeType
from app.payments.notices import accept_payment
from app.payments.provider import (
    PaymentNotice,
    PaymentProvider,
    PaymentResult,
    PayStatus,
    Prepared,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from app.payments.providers import (
    payment_failed,
    payment_not_completed,
    payment_notify_url,
    provider_for,
    refused,
    unavailable,
)
from app.payments.state import IntentEvent, IntentStatus
from tablerules.tenders import TenderError, wechat_tender

log = logging.getLogger(__name__)

# Intents that hold (or held) money: the same idempotency key finds them again.
_LIVE = (IntentStatus.PENDING, IntentStatus.PAID, IntentStatus.PAID_UNAPPLIED, IntentStatus.REFUNDED)


@dataclass(frozen=True)
class Opened:
    """An intent for the payer to confirm, and what their page needs to open the payment sheet."""

    intent: PaymentIntent
    client_params: dict | None = None


def trade_pending(order_ids: Sequence[int]) -> bool:
    """Whether a WeChat Pay trade of one of these orders is still waiting for its answer."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(PaymentIntent).where(
        PaymentIntent.order_id.in_(order_ids), PaymentIntent.status == IntentStatus.PENDING)) > 0


def _answered_before(merchant_id: int, key: str, scope: str, payload: dict) -> tuple[dict, int] | None:
    """The first answer for this idempotency key, if there is one (run_once replays it)."""
    exists = db.session.scalar(sa.select(IdempotencyRecord.id).where(
        IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.key == key))
    if exists is None:
        return None

    def unreachable() -> tuple[dict, int]:  # pragma: no cover - run_once replays a stored answer
        raise RuntimeError("an answered idempotency key ran again")

    return run_once(merchant_id, key, scope, payload, unreachable)


def _member_of(merchant_id: int, member_id: int) -> Member:
    member = db.session.scalar(sa.select(Member).where(Member.id == member_id, Member.merchant_id == merchant_id))
    if member is None:
        raise NotFound("member")
    return member


# --- payment codes at the till (MICROPAY) ----------------------------------------------------------

def _collect_code(provider: PaymentProvider, attempt: Attempt, auth_code: str) -> PaymentResult:
    """Charge a payment code; answers once the money is in, raises once it is certain it is not.

    While the diner is typing the password (USERPAYING), or the answer is unknown, the trade is
    queried a few times; if it is still not paid then, it is reversed.
    """
    try:
        result = provider.micropay(attempt.charge(), auth_code=auth_code)
    except ProviderUnavailable as error:
        give_back(provider, attempt)  # the request may have reached WeChat
        raise unavailable(error) from None
    polls = 0
    while result.status is PayStatus.PENDING and polls < max_polls():
        if _cancelled(attempt.id):  # the cashier gave up: the reversal below sends the money back
            give_back(provider, attempt)
            raise payment_cancelled()
        time.sleep(poll_seconds())
        polls += 1
        try:
            result = provider.query(attempt.out_trade_no)
        except ProviderError as error:
            log.info("payment %s: query failed (%s); asking again", attempt.out_trade_no, error)
    if result.status is PayStatus.SUCCESS and result.amount_cents in (None, attempt.amount_cents):
        return result
    if result.status in (PayStatus.SUCCESS, PayStatus.PENDING):
        if result.status is PayStatus.SUCCESS:
            log.error("payment %s: paid %s instead of %s; reversing", attempt.out_trade_no, result.amount_cents,
                      attempt.amount_cents)
        give_back(provider, attempt)
        raise payment_not_completed(result)
    finish(attempt.id, IntentEvent.FAIL, result.code)
    raise payment_failed(result)


def _cancelled(intent_id: int) -> bool:
    """Whether the till cancelled this payment-code trade while it waited (`cancel_till_payment`
    makes it expire; a payment code has no expiry otherwise)."""
    expires_at = db.session.scalar(sa.select(PaymentIntent.expires_at).where(PaymentIntent.id == intent_id))
    leave()
    return expires_at is not None


def payment_cancelled() -> APIError:
    return Conflict(gettext("The cashier cancelled the WeChat payment; nothing was charged."),
                    error_code="payment_cancelled")


def _apply_collected(provider: PaymentProvider, attempt: Attempt, apply: Callable[[], tuple[dict, int]]):
    """The money is in: apply it in one transaction, or give it back if that fails."""
    begin()
    try:
        return apply()
    except Exception:
        db.session.rollback()
        log.warning("payment %s: paid but not applied; reversing", attempt.out_trade_no)
        give_back(provider, attempt)
        raise


def settle_with_code(order_id: int, request: SettleRequest, *, auth_code: str, actor: Actor, key: str,
                     payload: dict, now: datetime, answer: Callable[[Order], tuple[dict, int]]) -> tuple[dict, int]:
    """Settle at the till with the payment code on the diner's phone (and any other tenders).

    Everything the settlement checks is checked, reading only, before the code is charged; once
    it is paid, the order is settled in one transaction with the intent marked paid — or, if
    that fails after all, the payment is reversed and the error answered.
    """
    merchant_id = actor.merchant_id
    earlier = _answered_before(merchant_id, key, "settle", payload)
    if earlier is not None:
        return earlier
    provider = provider_for(merchant_id)
    try:
        wechat = wechat_tender(request.tenders)
    except TenderError as error:
        raise tender_error(error) from None
    checked = check_settlement(order_id, request, actor=actor, now=now)
    attempt = save_new(PaymentIntent(
        merchant_id=merchant_id, store_id=checked.order.store_id, kind=IntentKind.ORDER,
        trade_type=TradeType.MICROPAY, order_id=order_id, member_id=request.member_id,
        amount_cents=wechat.amount_cents, out_trade_no=new_out_trade_no(IntentKind.ORDER), idempotency_key=key,
        params=request.params(), created_by_id=actor.staff_id))
    result = _collect_code(provider, attempt, auth_code)

    def apply() -> tuple[dict, int]:
        mark_paid(attempt.id, result, now)
        settled = settle_order(order_id, request.paid_through_provider(result.transaction_id, result.payer),
                               actor=actor, key=key, now=now)
        return answer(settled)

    return _apply_collected(provider, attempt, lambda: run_once(merchant_id, key, "settle", payload, apply))


def settle_by_wechat(order_id: int, request: SettleRequest, wechat: dict, *, member_id: int | None, points: int,
                     coupon_ids: Sequence[int], key: str, payload: dict, actor: Actor, now: datetime,
                     answer: Callable[[Order], tuple[dict, int]],
                     answer_opened: Callable[[Opened], tuple[dict, int]]) -> tuple[dict, int]:
    """A settlement with a WeChat tender (`wechat`: its ``auth_code``, or ``trade_type`` and
    ``openid``). A payment code scanned at the till is charged and the order settled at once
    (`answer`); a NATIVE or JSAPI trade is opened (`answer_opened`: 202 with the payment to
    confirm), and the order is settled when WeChat Pay notifies the payment."""
    if wechat.get("auth_code"):
        return settle_with_code(order_id, request, auth_code=wechat["auth_code"], actor=actor, key=key,
                                payload=payload, now=now, answer=answer)
    opened = open_order_payment(
        order_id, trade_type=TradeType[wechat["trade_type"]], member_id=member_id, points=points,
        coupon_ids=coupon_ids, tenders=request.other_tenders, actor=actor, key=key, payload=payload, now=now,
        openid=wechat.get("openid"), wechat_cents=wechat["amount_cents"])
    return answer_opened(opened)


def top_up_with_code(member_id: int, amount_cents: int, *, auth_code: str, actor: Actor, key: str, payload: dict,
                     store_id: int | None, now: datetime,
                     answer: Callable[[members.TopUpResult], tuple[dict, int]]) -> tuple[dict, int]:
    """Top up stored value with the payment code on the member's phone; credited at once when paid."""
    merchant_id = actor.merchant_id
    earlier = _answered_before(merchant_id, key, "topup", payload)
    if earlier is not None:
        return earlier
    provider = provider_for(merchant_id)
    _member_of(merchant_id, member_id)
    attempt = save_new(PaymentIntent(
        merchant_id=merchant_id, store_id=store_id, kind=IntentKind.TOPUP, trade_type=TradeType.MICROPAY,
        member_id=member_id, amount_cents=amount_cents, out_trade_no=new_out_trade_no(IntentKind.TOPUP),
        idempotency_key=key, params={}, created_by_id=actor.staff_id))
    result = _collect_code(provider, attempt, auth_code)

    def apply() -> tuple[dict, int]:
        mark_paid(attempt.id, result, now)
        topped = members.top_up(member_id, amount_cents, key=key, tender="wechat", now=now, store_id=store_id,
                                payment_id=attempt.id, actor=actor)
        return answer(topped)

    return _apply_collected(provider, attempt, lambda: run_once(merchant_id, key, "topup", payload, apply))


# --- trades the payer confirms on the phone (JSAPI, NATIVE) ---------------------------------------------

def _live_intent(merchant_id: int, key: str) -> PaymentIntent | None:
    return db.session.scalar(sa.select(PaymentIntent).where(
        PaymentIntent.merchant_id == merchant_id, PaymentIntent.idempotency_key == key,
        PaymentIntent.status.in_(_LIVE)).order_by(PaymentIntent.id.desc()).limit(1))


def _client_params(provider: PaymentProvider, intent: PaymentIntent) -> dict | None:
    if intent.trade_type is TradeType.JSAPI and intent.status is IntentStatus.PENDING and intent.prepay_id:
        return provider.client_params(Prepared(intent.out_trade_no, intent.prepay_id))
    return None


def _prepare(provider: PaymentProvider, intent_id: int, actor: Actor) -> Opened:
    """Create the provider's trade for a saved intent (again, with the same trade number, when an
    earlier try got no answer: the provider answers the same trade)."""
    intent = db.session.get(PaymentIntent, intent_id)
    attempt = Attempt(intent.id, intent.out_trade_no, intent.amount_cents, describe(intent))
    trade_type, openid, expires_at = intent.trade_type, intent.openid, intent.expires_at
    leave()
    try:
        if trade_type is TradeType.JSAPI:
            prepared = provider.create_jsapi(attempt.charge(payer_ip=actor.ip), payer=openid or "",
                                             notify_url=payment_notify_url(), expires_at=expires_at)
        else:
            prepared = provider.create_native(attempt.charge(), product_id=attempt.out_trade_no,
                                              notify_url=payment_notify_url(), expires_at=expires_at)
    except ProviderUnavailable as error:
        raise unavailable(error) from None  # still pending: reconciliation closes or settles it
    except ProviderRejected as error:
        finish(intent_id, IntentEvent.FAIL, error.code)
        raise refused(error) from None
    begin()
    intent = lock_intent(id=intent_id)
    intent.prepay_id, intent.code_url = prepared.prepay_id, prepared.code_url
    db.session.commit()
    return Opened(intent, _client_params(provider, intent))


def _resume(provider: PaymentProvider, intent: PaymentIntent, print_: str, actor: Actor) -> Opened:
    if intent.params.get("fingerprint") != print_:
        raise Conflict(gettext("This idempotency key was already used for a different request."),
                       error_code="idempotency_key_reused")
    if intent.status is IntentStatus.PENDING and not intent.prepay_id:
        return _prepare(provider, intent.id, actor)
    return Opened(intent, _client_params(provider, intent))


def _open(provider: PaymentProvider, intent: PaymentIntent, print_: str, actor: Actor) -> Opened:
    try:
        save_new(intent)
    except APIError as error:
        if error.error_code != "payment_in_progress":
            raise
        twin = _live_intent(intent.merchant_id, intent.idempotency_key)  # a concurrent twin got in first
        if twin is None:
            raise
        return _resume(provider, twin, print_, actor)
    return _prepare(provider, intent.id, actor)


def open_order_payment(order_id: int, *, trade_type: TradeType, member_id: int | None, points: int,
                       coupon_ids: Sequence[int], tenders: Sequence[TenderRequest], actor: Actor, key: str,
                       payload: dict, now: datetime, openid: str | None = None,
                       wechat_cents: int | None = None) -> Opened:
    """A JSAPI or NATIVE trade for what is left of the bill after `tenders` (`wechat_cents`, when
    the caller names it, must be exactly that); the order is settled with all of them when the
    provider confirms the payment. The same key answers the same intent."""
    merchant_id = actor.merchant_id
    print_ = fingerprint("wechat_pay", payload)
    provider = provider_for(merchant_id)
    existing = _live_intent(merchant_id, key)
    if existing is not None:
        return _resume(provider, existing, print_, actor)
    request = SettleRequest(member_id=member_id, points=points, coupon_ids=coupon_ids, tenders=tenders)
    checked = check_settlement(order_id, request, actor=actor, now=now, wechat_rest=True, asked_cents=wechat_cents)
    wechat = wechat_tender(checked.request.tenders)
    intent = PaymentIntent(
        merchant_id=merchant_id, store_id=checked.order.store_id, kind=IntentKind.ORDER, trade_type=trade_type,
        order_id=order_id, member_id=member_id, amount_cents=wechat.amount_cents,
        out_trade_no=new_out_trade_no(IntentKind.ORDER), idempotency_key=key,
        params={**checked.request.params(), "fingerprint": print_}, openid=openid, created_by_id=actor.staff_id,
        expires_at=now + timedelta(minutes=expire_minutes()))
    return _open(provider, intent, print_, actor)


def open_topup_payment(member_id: int, amount_cents: int, *, trade_type: TradeType, actor: Actor, key: str,
                       payload: dict, store_id: int | None, now: datetime, openid: str | None = None) -> Opened:
    """A JSAPI or NATIVE trade for a top-up; the card is credited when the provider confirms it."""
    merchant_id = actor.merchant_id
    print_ = fingerprint("wechat_topup", payload)
    provider = provider_for(merchant_id)
    existing = _live_intent(merchant_id, key)
    if existing is not None:
        return _resume(provider, existing, print_, actor)
    _member_of(merchant_id, member_id)
    intent = PaymentIntent(
        merchant_id=merchant_id, store_id=store_id, kind=IntentKind.TOPUP, trade_type=trade_type,
        member_id=member_id, amount_cents=amount_cents, out_trade_no=new_out_trade_no(IntentKind.TOPUP),
        idempotency_key=key, params={"fingerprint": print_}, openid=openid, created_by_id=actor.staff_id,
        expires_at=now + timedelta(minutes=expire_minutes()))
    return _open(provider, intent, print_, actor)


def diner_member(merchant_id: int, openid: str | None) -> Member | None:
    if not openid:
        return None
    return db.session.scalar(sa.select(Member).where(Member.merchant_id == merchant_id, Member.openid == openid))


def open_diner_payment(order: Order, *, openid: str, actor: Actor, now: datetime) -> Opened:
    """The diner pays the bill on the phone (JSAPI), priced for the member they are, if any.
    Tapping again for the same bill finds the same trade."""
    member = diner_member(order.merchant_id, openid)
    bill = price_order(order, member=member, points=0, coupon_ids=[], now=now)
    member_id = member.id if member is not None else None
    digest = hashlib.sha256(f"{order.id}:{openid}:{member_id}:{bill.payable_cents}".encode()).hexdigest()
    payload = {"order_id": order.id, "openid": openid, "member_id": member_id, "payable_cents": bill.payable_cents}
    return open_order_payment(order.id, trade_type=TradeType.JSAPI, member_id=member_id, points=0, coupon_ids=[],
                              tenders=[], actor=actor, key=f"jsapi-{digest[:40]}", payload=payload, now=now,
                              openid=openid)


def open_share_payment(order: Order, share_ids: Sequence[int], *, openid: str, paid_by: str, actor: Actor,
                       now: datetime) -> Opened:
    """A diner pays shares of the table's split bill on the phone (JSAPI): one trade for their
    sum; the notification marks them paid (`app.orders.split.pay_shares`). Tapping again for the
    same shares finds the same trade."""
    ids = sorted(set(share_ids))
    found = splits.open_split(order)
    chosen = [share for share in found.shares if share.id in ids] if found is not None else []
    if found is None or len(chosen) != len(ids):
        raise NotFound("share")
    if any(share.is_paid for share in chosen):
        raise Conflict(gettext("This share is paid already."), error_code="share_already_paid")
    amounts = splits.current_amounts(order, found, now)
    amount = sum(amounts[share.id] for share in chosen)
    merchant_id = actor.merchant_id
    payload = {"order_id": order.id, "split_id": found.id, "share_ids": ids, "openid": openid, "amount_cents": amount}
    print_ = fingerprint("wechat_share", payload)
    digest = hashlib.sha256(f"{found.id}:{ids}:{openid}:{amount}".encode()).hexdigest()
    key = f"share-{digest[:40]}"
    provider = provider_for(merchant_id)
    existing = _live_intent(merchant_id, key)
    if existing is not None:
        return _resume(provider, existing, print_, actor)
    intent = PaymentIntent(
        merchant_id=merchant_id, store_id=order.store_id, kind=IntentKind.ORDER, trade_type=TradeType.JSAPI,
        order_id=order.id, member_id=None, amount_cents=amount, out_trade_no=new_out_trade_no(IntentKind.ORDER),
        idempotency_key=key, params={"share_ids": ids, "paid_by": paid_by[:60], "fingerprint": print_},
        openid=openid, created_by_id=None, expires_at=now + timedelta(minutes=expire_minutes()))
    return _open(provider, intent, print_, actor)


# --- the till gives up on a WeChat payment ------------------------------------------------------------

@dataclass(frozen=True)
class Cancelled:
    """Where a cancelled till payment stands: ``cancelling`` (a payment code the till's settle
    is still polling reverses at its next look), ``closed``, ``reversed``, ``failed`` — or
    ``paid`` when the diner paid first (the sale stands)."""

    intent: PaymentIntent
    status: str


def cancel_till_payment(order_id: int | None, *, key: str, actor: Actor, now: datetime,
                        member_id: int | None = None) -> Cancelled:
    """The cashier cancels the WeChat payment the till started with `key` on the order — or, with
    `member_id` instead, on the member's top-up.

    A payment code (MICROPAY) is reversed by the settle or top-up that is still polling it — the
    one place that could otherwise apply it, so a reversal never races a settlement; a NATIVE
    trade is closed at WeChat Pay, outside any transaction. A trade WeChat says is paid already
    is applied as its notification would be: money taken always makes the sale (or the top-up)."""
    merchant_id = actor.merchant_id
    paying = (PaymentIntent.order_id == order_id if order_id is not None
              else sa.and_(PaymentIntent.kind == IntentKind.TOPUP, PaymentIntent.member_id == member_id))
    intent = db.session.scalar(sa.select(PaymentIntent).where(
        PaymentIntent.merchant_id == merchant_id, PaymentIntent.idempotency_key == key,
        paying).order_by(PaymentIntent.id.desc()).limit(1))
    if intent is None:
        raise NotFound("payment", gettext("No WeChat payment was started with this key."))
    if intent.status is not IntentStatus.PENDING:
        return Cancelled(intent, intent.status.label)
    intent_id = intent.id
    if intent.trade_type is TradeType.MICROPAY:
        begin()
        locked = lock_intent(id=intent_id)
        if locked.status is IntentStatus.PENDING and locked.expires_at is None:
            locked.expires_at = now
            record_cancel(locked, actor)
        db.session.commit()
        intent = db.session.get(PaymentIntent, intent_id)
        return Cancelled(intent, "cancelling" if intent.status is IntentStatus.PENDING else intent.status.label)
    provider = provider_for(merchant_id)
    out_trade_no = intent.out_trade_no
    leave()
    try:
        closed = provider.close(out_trade_no)
    except ProviderUnavailable as error:
        raise unavailable(error) from None
    except ProviderRejected as error:
        raise refused(error) from None
    if closed.status is PayStatus.SUCCESS:  # paid a moment ago: apply it now, as the notification will
        try:
            paid = provider.query(out_trade_no)
        except ProviderError as error:
            log.info("payment %s: paid, query failed (%s); the notification applies it", out_trade_no, error)
        else:
            if paid.status is PayStatus.SUCCESS and paid.transaction_id and paid.amount_cents is not None:
                accept_payment(provider, merchant_id, PaymentNotice(out_trade_no, paid.transaction_id,
                                                                    paid.amount_cents, paid.payer),
                               now, source="till_cancel")
        leave()
        return Cancelled(db.session.get(PaymentIntent, intent_id), "paid")
    begin()
    locked = lock_intent(id=intent_id)
    if locked.status is IntentStatus.PENDING:
        record_cancel(locked, actor)
    db.session.commit()
    finish(intent_id, IntentEvent.CLOSE, closed.code)
    intent = db.session.get(PaymentIntent, intent_id)
    return Cancelled(intent, intent.status.label)


def record_cancel(intent: PaymentIntent, actor: Actor) -> None:
    record("payment.cancelled_at_till", intent, actor=actor, trade_type=intent.trade_type.label,
           amount_cents=intent.amount_cents)
