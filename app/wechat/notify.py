"""WeChat template messages to diners and members: one function per kind.

Each function builds the message (Chinese text; amounts through `tablerules.money`) and puts it in the
outbox in the caller's transaction, under a key named after the event, so it is sent after
commit and never twice for the same event. Nothing is sent when the merchant has no WeChat
account, the kind has no template, or the member has no openid.

Templates are data (`WeChatSettings.templates[kind] = {"template_id": …, "fields": …}`): the
category templates of each account have their own keys. `fields` lists the template's keys for
this kind's values in the order of `SLOTS[kind]` (e.g. ["first", "keyword1", "keyword2",
"remark"]), or maps each key to a value name (e.g. {"thing1": "place", "amount2": "amount"}).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app
from wechatpy.exceptions import WeChatClientException

from app.db import db, utcnow
from app.members.models import Account, EntryKind, LedgerEntry, Member
from app.outbox import service as outbox
from app.outbox.models import OutboxMessage
from app.wechat.client import official_account
from app.wechat.models import WeChatSettings
from tablerules.money import format_cny
from tablerules.points import CHINA_TZ

if TYPE_CHECKING:
    from app.coupons.models import Coupon
    from app.orders.models import Order

TEMPLATE_MESSAGE = "wechat_template"  # the outbox kind of every template message

# The values each kind fills, in the order a `fields` list names them.
SLOTS = {
    "bill_pushed": ("title", "place", "amount", "time", "remark"),
    "payment_success": ("title", "place", "amount", "time", "remark"),
    "stored_value_changed": ("title", "change", "balance", "remark"),
    "points_changed": ("title", "change", "balance", "remark"),
    "coupon_received": ("title", "coupon", "expires", "remark"),
}

# WeChat's answers that will not change on a retry: unknown openid, template id or data format,
# and the diner not following the account (template messages need a follower).
REFUSED_FOR_GOOD = frozenset({40003, 40037, 43004, 47001})


# --- links -------------------------------------------------------------------------------------

def _base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def bill_url(order: Order) -> str | None:
    """Where a diner sees and pays the bill: `{PUBLIC_BASE_URL}/t/<table token>/bill?order=<id>`;
    None for an order without a table."""
    from app.tables.models import DiningTable
    from app.tables.service import table_token

    table = db.session.get(DiningTable, order.table_id) if order.table_id else None
    if table is None:
        return None
    return f"{_base_url()}/t/{table_token(table)}/bill?order={order.id}"


def card_url(merchant_id: int) -> str:
    """The member's electronic card (signs the diner in through WeChat first)."""
    return f"{_base_url()}/m/card?merchant={merchant_id}"


def join_url(merchant_id: int) -> str:
    return f"{_base_url()}/m/join?merchant={merchant_id}"


# --- building and queueing --------------------------------------------------------------------

def settings_for(merchant_id: int) -> WeChatSettings | None:
    return db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == merchant_id))


def _template(settings: WeChatSettings | None, kind: str) -> tuple[str, dict[str, str]] | None:
    """(template_id, {template key: value name}) of the kind, or None when it has none."""
    spec = (settings.templates or {}).get(kind) if settings is not None else None
    if not isinstance(spec, dict) or not isinstance(spec.get("template_id"), str) or not spec["template_id"]:
        return None
    fields = spec.get("fields") or list(SLOTS[kind])
    if isinstance(fields, dict):
        keys = {str(key): str(slot) for key, slot in fields.items()}
    else:
        keys = {str(key): slot for key, slot in zip(fields, SLOTS[kind], strict=False)}
    return spec["template_id"], keys


def _queue(merchant_id: int, kind: str, openid: str | None, event: str, values: dict[str, str],
           url: str | None, now: datetime | None) -> bool:
    if not openid:
        return False
    template = _template(settings_for(merchant_id), kind)
    if template is None:
        return False
    template_id, keys = template
    data = {key: {"value": values[slot]} for key, slot in keys.items() if slot in values}
    payload = {"openid": openid, "template_id": template_id, "data": data, "url": url}
    return outbox.enqueue(merchant_id, TEMPLATE_MESSAGE, f"{kind}:{event}", payload, now=now)


def _china_time(moment: datetime | None) -> str:
    return (moment or utcnow()).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _signed_cny(cents: int) -> str:
    return ("+" if cents > 0 else "") + format_cny(cents)


def _place(order: Order) -> str:
    from app.tenants.models import Store

    store = db.session.get(Store, order.store_id)
    name = store.name if store is not None else ""
    return f"{name} {order.table_code}桌" if order.table_code else name


# --- the kinds ---------------------------------------------------------------------------------

def bill_pushed(order: Order, openids: Iterable[str], bill_url: str, *, payable_cents: int,
                now: datetime | None = None) -> int:
    """The itemised bill to each diner; returns how many messages were queued. The same bill
    (same lines, same total) reaches each diner once: pushing it again only reaches diners who
    did not have it yet."""
    from app.orders.state import BILLABLE

    lines = [line for line in order.lines if line.status in BILLABLE]
    items = "、".join(f"{line.name}×{line.qty}" for line in lines)
    if len(items) > 40:
        items = items[:39] + "…"
    version = hashlib.sha256(f"{payable_cents}|{[(line.id, line.qty) for line in lines]}".encode()).hexdigest()[:16]
    values = {"title": "您的账单已送达，请核对后支付", "place": _place(order), "amount": format_cny(payable_cents),
              "time": _china_time(now), "remark": f"{items}。点击查看账单并支付"}
    return sum(_queue(order.merchant_id, "bill_pushed", openid, f"{order.id}:{version}:{openid}", values, bill_url,
                      now) for openid in sorted(set(openids)))


def payment_success(order: Order, openid: str | None, *, now: datetime | None = None) -> bool:
    earned = (order.bill or {}).get("points_earned") or 0
    values = {"title": "支付成功，感谢您的光临", "place": _place(order), "amount": format_cny(order.payable_cents),
              "time": _china_time(order.paid_at or now),
              "remark": f"本次获得 {earned} 积分，欢迎再次光临" if earned else "欢迎再次光临"}
    url = card_url(order.merchant_id) if order.member_id else None
    return _queue(order.merchant_id, "payment_success", openid, f"{order.id}:{openid}", values, url, now)


def stored_value_changed(member: Member, delta_cents: int, balance_cents: int, reason: str, *, ref: str,
                         now: datetime | None = None) -> bool:
    """`ref` names the change (e.g. "ledger:<first entry id>"): one message per change."""
    values = {"title": "您的储值余额有变动", "change": _signed_cny(delta_cents), "balance": format_cny(balance_cents),
              "remark": reason}
    return _queue(member.merchant_id, "stored_value_changed", member.openid, f"{member.id}:{ref}", values,
                  card_url(member.merchant_id), now)


def points_changed(member: Member, delta: int, balance: int, reason: str, *, ref: str,
                   now: datetime | None = None) -> bool:
    values = {"title": "您的积分有变动", "change": f"{delta:+d}", "balance": str(balance), "remark": reason}
    return _queue(member.merchant_id, "points_changed", member.openid, f"{member.id}:{ref}", values,
                  card_url(member.merchant_id), now)


def coupon_received(member: Member, coupon: Coupon, *, now: datetime | None = None) -> bool:
    values = {"title": "您收到一张优惠券", "coupon": coupon.template.name,
              "expires": coupon.expires_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d"),
              "remark": "到店消费时出示会员码即可使用"}
    return _queue(member.merchant_id, "coupon_received", member.openid, f"{coupon.id}", values,
                  card_url(member.merchant_id), now)


def order_paid(order: Order, *, payer_openid: str | None = None, now: datetime | None = None) -> None:
    """Everything a settled order tells WeChat: payment success to the member and to whoever
    paid with WeChat Pay, and the member's stored value and points changes. Call it inside the
    settlement's transaction, after the ledger entries are written."""
    member = db.session.get(Member, order.member_id) if order.member_id else None
    for openid in sorted({o for o in (member.openid if member else None, payer_openid) if o}):
        payment_success(order, openid, now=now)
    if member is None or not member.openid:
        return
    entries = db.session.scalars(sa.select(LedgerEntry).where(
        LedgerEntry.merchant_id == order.merchant_id, LedgerEntry.member_id == member.id,
        LedgerEntry.order_id == order.id,
        LedgerEntry.kind.in_([EntryKind.SPEND, EntryKind.POINTS_EARN, EntryKind.POINTS_REDEEM]))).all()
    spent = sum(e.delta for e in entries if e.account in (Account.PRINCIPAL, Account.BONUS))
    earned = sum(e.delta for e in entries if e.kind is EntryKind.POINTS_EARN)
    redeemed = -sum(e.delta for e in entries if e.kind is EntryKind.POINTS_REDEEM)
    place = _place(order)
    if spent:
        stored_value_changed(member, spent, member.stored_value_cents, f"{place}消费", ref=f"order:{order.id}",
                             now=now)
    if earned or redeemed:
        parts = ([f"消费获得 {earned} 积分"] if earned else []) + ([f"抵扣使用 {redeemed} 积分"] if redeemed else [])
        points_changed(member, earned - redeemed, member.points, "，".join(parts), ref=f"order:{order.id}", now=now)


# --- sending (the outbox worker) -----------------------------------------------------------------

def deliver_template(message: OutboxMessage) -> None:
    settings = settings_for(message.merchant_id)
    if settings is None:
        raise outbox.PermanentFailure("the merchant has no WeChat account any more")
    payload = message.payload
    try:
        official_account(settings).message.send_template(payload["openid"], payload["template_id"],
                                                         payload["data"], url=payload.get("url"))
    except WeChatClientException as error:
        if error.errcode in REFUSED_FOR_GOOD:
            raise outbox.PermanentFailure(f"WeChat {error.errcode}: {error.errmsg}") from None
        raise
