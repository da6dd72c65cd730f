"""What WeChat does with the domain events: one template message per subscriber message.

`register()` is called once at app start by `app.events.subscriptions.register_all`. Each
subscriber runs after commit from the outbox worker: it reads what it needs, builds its one
message (`app.wechat.notify`) and sends it. It writes nothing: sending twice is the only harm a
retry can do, so every subscriber sends at most one message (a paid order tells the member, the
payer, the stored value and the points through four subscribers, each retried on its own).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.campaigns.models import Campaign, CampaignDelivery
from app.campaigns.service import open_url
from app.coupons.models import Coupon
from app.db import db
from app.events.domain import DomainEvent, subscribe
from app.members.models import Account, EntryKind, LedgerEntry, Member
from app.orders.models import Order
from app.outbox.models import OutboxMessage
from app.wechat import notify

BILL = "wechat.bill"
PAID_MEMBER = "wechat.paid.member"
PAID_PAYER = "wechat.paid.payer"
PAID_STORED_VALUE = "wechat.paid.stored_value"
PAID_POINTS = "wechat.paid.points"
STORED_VALUE = "wechat.stored_value"
POINTS = "wechat.points"
COUPON = "wechat.coupon"
CAMPAIGN = "wechat.campaign"

# Why a member's balance moved, as the member reads it.
REASONS = {"topup": "充值", "adjust": "调整：{note}"}


def register() -> None:
    subscribe(DomainEvent.BILL_PUSHED, BILL, deliver_bill)
    subscribe(DomainEvent.ORDER_PAID, PAID_MEMBER, deliver_paid_to_member)
    subscribe(DomainEvent.ORDER_PAID, PAID_PAYER, deliver_paid_to_payer)
    subscribe(DomainEvent.ORDER_PAID, PAID_STORED_VALUE, deliver_paid_stored_value)
    subscribe(DomainEvent.ORDER_PAID, PAID_POINTS, deliver_paid_points)
    subscribe(DomainEvent.STORED_VALUE_CHANGED, STORED_VALUE, deliver_stored_value)
    subscribe(DomainEvent.POINTS_CHANGED, POINTS, deliver_points)
    subscribe(DomainEvent.COUPON_RECEIVED, COUPON, deliver_coupon)
    subscribe(DomainEvent.CAMPAIGN_MESSAGE, CAMPAIGN, deliver_campaign)


def _reason(payload: dict) -> str:
    return REASONS.get(payload.get("reason", ""), "{note}").format(note=payload.get("note", ""))


def _member(message: OutboxMessage, member_id: int | None) -> Member | None:
    member = _get(Member, member_id)
    return member if member is not None and member.merchant_id == message.merchant_id else None


def _order(message: OutboxMessage) -> Order | None:
    order = _get(Order, message.payload.get("order_id"))
    return order if order is not None and order.merchant_id == message.merchant_id else None


def _get(model: type, object_id: int | None):
    return db.session.get(model, object_id) if isinstance(object_id, int) else None


# --- the pushed bill -------------------------------------------------------------------------------

def deliver_bill(message: OutboxMessage) -> None:
    """BILL_PUSHED: one per diner, {order_id, openid, payable_cents, items, url, pushed_at}."""
    payload = message.payload
    order = _order(message)
    if order is None:
        return
    notify.send(notify.bill_pushed(order, payload["openid"], payable_cents=payload["payable_cents"],
                                   items=[(name, qty) for name, qty in payload["items"]], url=payload["url"],
                                   pushed_at=datetime.fromisoformat(payload["pushed_at"])))


# --- a paid order ----------------------------------------------------------------------------------

def _order_entries(order: Order) -> list[LedgerEntry]:
    """The member's ledger entries the settlement of `order` wrote, oldest first."""
    return list(db.session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.merchant_id == order.merchant_id, LedgerEntry.member_id == order.member_id,
        LedgerEntry.order_id == order.id,
        LedgerEntry.kind.in_([EntryKind.SPEND, EntryKind.POINTS_EARN, EntryKind.POINTS_REDEEM]))
        .order_by(LedgerEntry.id)))


def _balance_after(entry: LedgerEntry, accounts: tuple[Account, ...]) -> int:
    """The member's balance of `accounts` right after `entry` (later changes left out: the message
    tells what this order did)."""
    return sum(db.session.scalar(sa.select(LedgerEntry.balance_after).where(
        LedgerEntry.merchant_id == entry.merchant_id, LedgerEntry.member_id == entry.member_id,
        LedgerEntry.account == account, LedgerEntry.id <= entry.id).order_by(LedgerEntry.id.desc()).limit(1)) or 0
        for account in accounts)


def _points_earned(order: Order) -> int:
    return sum(e.delta for e in _order_entries(order) if e.kind is EntryKind.POINTS_EARN) if order.member_id else 0


def deliver_paid_to_member(message: OutboxMessage) -> None:
    """ORDER_PAID {order_id, payer_openid}: payment success to the order's member."""
    order = _order(message)
    member = _member(message, order.member_id) if order is not None else None
    if member is None:
        return
    notify.send(notify.payment_success(order, member.openid, points_earned=_points_earned(order)))


def deliver_paid_to_payer(message: OutboxMessage) -> None:
    """ORDER_PAID: payment success to whoever paid with WeChat Pay, unless that is the member."""
    order = _order(message)
    payer = message.payload.get("payer_openid")
    if order is None or not payer:
        return
    member = _member(message, order.member_id)
    if member is not None and member.openid == payer:
        return  # the member's own message says it
    notify.send(notify.payment_success(order, payer, points_earned=_points_earned(order)))


def deliver_paid_stored_value(message: OutboxMessage) -> None:
    """ORDER_PAID: what the order took from the member's stored value."""
    order = _order(message)
    member = _member(message, order.member_id) if order is not None else None
    if member is None:
        return
    spent = [e for e in _order_entries(order) if e.account in (Account.PRINCIPAL, Account.BONUS)]
    if not spent:
        return
    balance = _balance_after(spent[-1], (Account.PRINCIPAL, Account.BONUS))
    notify.send(notify.stored_value_changed(member, sum(e.delta for e in spent), balance,
                                            f"{notify.place(order)}消费"))


def deliver_paid_points(message: OutboxMessage) -> None:
    """ORDER_PAID: the points the order earned and redeemed."""
    order = _order(message)
    member = _member(message, order.member_id) if order is not None else None
    if member is None:
        return
    moved = [e for e in _order_entries(order) if e.account is Account.POINTS]
    earned = sum(e.delta for e in moved if e.kind is EntryKind.POINTS_EARN)
    redeemed = -sum(e.delta for e in moved if e.kind is EntryKind.POINTS_REDEEM)
    if not (earned or redeemed):
        return
    parts = ([f"消费获得 {earned} 积分"] if earned else []) + ([f"抵扣使用 {redeemed} 积分"] if redeemed else [])
    notify.send(notify.points_changed(member, earned - redeemed, _balance_after(moved[-1], (Account.POINTS,)),
                                      "，".join(parts)))


# --- members and coupons ---------------------------------------------------------------------------

def deliver_stored_value(message: OutboxMessage) -> None:
    """STORED_VALUE_CHANGED {member_id, delta_cents, balance_cents, reason, note, ref}."""
    payload = message.payload
    member = _member(message, payload.get("member_id"))
    if member is not None:
        notify.send(notify.stored_value_changed(member, payload["delta_cents"], payload["balance_cents"],
                                                _reason(payload)))


def deliver_points(message: OutboxMessage) -> None:
    """POINTS_CHANGED {member_id, delta, balance, reason, note, ref}."""
    payload = message.payload
    member = _member(message, payload.get("member_id"))
    if member is not None:
        notify.send(notify.points_changed(member, payload["delta"], payload["balance"], _reason(payload)))


def deliver_coupon(message: OutboxMessage) -> None:
    """COUPON_RECEIVED {member_id, coupon_id}."""
    payload = message.payload
    member = _member(message, payload.get("member_id"))
    coupon = _get(Coupon, payload.get("coupon_id"))
    if member is not None and coupon is not None and coupon.merchant_id == member.merchant_id:
        notify.send(notify.coupon_received(member, coupon))


def deliver_campaign(message: OutboxMessage) -> None:
    """CAMPAIGN_MESSAGE {campaign_id, member_id, delivery_id}: the campaign's message, its link tracked."""
    payload = message.payload
    member = _member(message, payload.get("member_id"))
    delivery = _get(CampaignDelivery, payload.get("delivery_id"))
    campaign = _get(Campaign, payload.get("campaign_id"))
    if member is None or delivery is None or campaign is None or campaign.merchant_id != member.merchant_id:
        return
    coupon = _get(Coupon, delivery.coupon_id)
    notify.send(notify.campaign_message(member, campaign.message_title, campaign.message_body, coupon,
                                        open_url(delivery.id), delivery.processed_at))
