"""WeChat template messages to diners and members: how each kind reads, and sending one.

The domains never call this module: they publish domain events, and the WeChat subscribers
(`app.wechat.subscribers`) build the message here after commit and send it. Each builder answers
None when there is nothing to send: the merchant has no WeChat account, the kind has no
template, or the diner has no openid.

Templates are data (`WeChatSettings.templates[kind] = {"template_id": …, "fields": …}`): the
category templates of each account have their own keys. `fields` lists the template's keys for
this kind's values in the order of `SLOTS[kind]` (e.g. ["first", "keyword1", "keyword2",
"remark"]), or maps each key to a value name (e.g. {"thing1": "place", "amount2": "amount"}).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app
from wechatpy.exceptions import WeChatClientException

from app.db import db, utcnow
from app.outbox import service as outbox
from app.outbox.models import OutboxMessage
from app.wechat.client import official_account
from app.wechat.models import WeChatSettings
from tablerules.money import format_cny
from tablerules.points import CHINA_TZ

if TYPE_CHECKING:
    from app.coupons.models import Coupon
    from app.members.models import Member
    from app.orders.models import Order

# The outbox kind of a ready-built template message (rows queued with the whole message).
TEMPLATE_MESSAGE = "wechat_template"

# The values each kind fills, in the order a `fields` list names them.
SLOTS = {
    "bill_pushed": ("title", "place", "amount", "time", "remark"),
    "payment_success": ("title", "place", "amount", "time", "remark"),
    "stored_value_changed": ("title", "change", "balance", "remark"),
    "points_changed": ("title", "change", "balance", "remark"),
    "coupon_received": ("title", "coupon", "expires", "remark"),
    "campaign": ("title", "content", "time", "remark"),
}

# WeChat's answers that will not change on a retry: unknown openid, template id or data format,
# and the diner not following the account (template messages need a follower).
REFUSED_FOR_GOOD = frozenset({40003, 40037, 43004, 47001})


# --- links -------------------------------------------------------------------------------------

def _base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def card_url(merchant_id: int) -> str:
    """The member's electronic card (signs the diner in through WeChat first)."""
    return f"{_base_url()}/m/card?merchant={merchant_id}"


def join_url(merchant_id: int) -> str:
    return f"{_base_url()}/m/join?merchant={merchant_id}"


# --- building ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TemplateMessage:
    merchant_id: int
    openid: str
    template_id: str
    data: dict[str, dict[str, str]]
    url: str | None


def settings_for(merchant_id: int) -> WeChatSettings | None:
    return db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == merchant_id))


def has_account(merchant_id: int) -> sa.Exists:
    """Whether the merchant has a WeChat account, as an SQL condition to read along with other
    things (the diner's menu page reads it in one statement with the menu version)."""
    return sa.exists().where(WeChatSettings.merchant_id == merchant_id)


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


def _build(merchant_id: int, kind: str, openid: str | None, values: dict[str, str],
           url: str | None) -> TemplateMessage | None:
    if not openid:
        return None
    template = _template(settings_for(merchant_id), kind)
    if template is None:
        return None
    template_id, keys = template
    data = {key: {"value": values[slot]} for key, slot in keys.items() if slot in values}
    return TemplateMessage(merchant_id, openid, template_id, data, url)


def _china_time(moment: datetime | None) -> str:
    return (moment or utcnow()).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _signed_cny(cents: int) -> str:
    return ("+" if cents > 0 else "") + format_cny(cents)


def place(order: Order) -> str:
    from app.tenants.models import Store

    store = db.session.get(Store, order.store_id)
    name = store.name if store is not None else ""
    return f"{name} {order.table_code}桌" if order.table_code else name


# --- the kinds ---------------------------------------------------------------------------------

def bill_pushed(order: Order, openid: str, *, payable_cents: int, items: Iterable[tuple[str, int]], url: str,
                pushed_at: datetime) -> TemplateMessage | None:
    """The itemised bill, with what this diner pays (as their bill page shows it)."""
    text = "、".join(f"{name}×{qty}" for name, qty in items)
    if len(text) > 40:
        text = text[:39] + "…"
    values = {"title": "您的账单已送达，请核对后支付", "place": place(order), "amount": format_cny(payable_cents),
              "time": _china_time(pushed_at), "remark": f"{text}。点击查看账单并支付"}
    return _build(order.merchant_id, "bill_pushed", openid, values, url)


def payment_success(order: Order, openid: str | None, *, points_earned: int) -> TemplateMessage | None:
    values = {"title": "支付成功，感谢您的光临", "place": place(order), "amount": format_cny(order.payable_cents),
              "time": _china_time(order.paid_at),
              "remark": f"本次获得 {points_earned} 积分，欢迎再次光临" if points_earned else "欢迎再次光临"}
    url = card_url(order.merchant_id) if order.member_id else None
    return _build(order.merchant_id, "payment_success", openid, values, url)


def stored_value_changed(member: Member, delta_cents: int, balance_cents: int, reason: str) -> TemplateMessage | None:
    values = {"title": "您的储值余额有变动", "change": _signed_cny(delta_cents), "balance": format_cny(balance_cents),
              "remark": reason}
    return _build(member.merchant_id, "stored_value_changed", member.openid, values, card_url(member.merchant_id))


def points_changed(member: Member, delta: int, balance: int, reason: str) -> TemplateMessage | None:
    values = {"title": "您的积分有变动", "change": f"{delta:+d}", "balance": str(balance), "remark": reason}
    return _build(member.merchant_id, "points_changed", member.openid, values, card_url(member.merchant_id))


def coupon_received(member: Member, coupon: Coupon) -> TemplateMessage | None:
    values = {"title": "您收到一张优惠券", "coupon": coupon.template.name,
              "expires": coupon.expires_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d"),
              "remark": "到店消费时出示会员码即可使用"}
    return _build(member.merchant_id, "coupon_received", member.openid, values, card_url(member.merchant_id))


def campaign_message(member: Member, title: str, content: str, coupon: Coupon | None, url: str,
                     sent_at: datetime) -> TemplateMessage | None:
    """A campaign's message; its link is the tracked one (the open is counted, then the card shows)."""
    remark = f"{coupon.template.name}已放入您的会员卡，点击查看" if coupon is not None else "点击查看详情"
    values = {"title": title, "content": content or title, "time": _china_time(sent_at), "remark": remark}
    return _build(member.merchant_id, "campaign", member.openid, values, url)


# --- sending -------------------------------------------------------------------------------------

def send(message: TemplateMessage | None) -> None:
    """Send through the official account (from the outbox worker, after commit). WeChat's refusals
    for good become outbox.PermanentFailure; anything else raises and is retried."""
    if message is None:
        return
    settings = settings_for(message.merchant_id)
    if settings is None:
        raise outbox.PermanentFailure("the merchant has no WeChat account any more")
    try:
        official_account(settings).message.send_template(message.openid, message.template_id, message.data,
                                                         url=message.url)
    except WeChatClientException as error:
        if error.errcode in REFUSED_FOR_GOOD:
            raise outbox.PermanentFailure(f"WeChat {error.errcode}: {error.errmsg}") from None
        raise


def deliver_template(message: OutboxMessage) -> None:
    """An outbox row that holds a whole template message."""
    payload = message.payload
    send(TemplateMessage(message.merchant_id, payload["openid"], payload["template_id"], payload["data"],
                         payload.get("url")))

