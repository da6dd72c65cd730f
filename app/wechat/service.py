"""The official account's side of a dinner: followers and the QR scene that brought them, the
diners seen at each table session, scene QR codes, who a pushed bill reaches, and member sign-up
from WeChat. Nothing here commits; pages and routes do.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from wechatpy.client.api import WeChatQRCode
from wechatpy.exceptions import WeChatClientException

from app.actor import Actor
from app.audit.service import record
from app.db import db, insert_unique
from app.errors import APIError, Conflict
from app.members import service as members
from app.members.models import Member
from app.orders.models import Order, SessionStatus, TableSession
from app.tables.models import DiningTable
from app.tenants.models import Store
from app.wechat import notify
from app.wechat.client import official_account
from app.wechat.models import TableDiner, WeChatFollower, WeChatSettings

# Scenes of our QR codes: table_<id>, store_<id>, campaign_<code> (WeChat allows 64 characters).
_SCENE = re.compile(r"^(table|store|campaign)_([0-9A-Za-z_-]{1,55})$")
_WECHAT_QR_HOST = "https://mp.weixin.qq.com"
_WECHAT_API_HOST = "api.weixin.qq.com"


class WeChatUnavailable(APIError):
    code = 503
    error_code = "wechat_unavailable"


def _not_configured() -> Conflict:
    return Conflict(gettext("WeChat is not set up for this merchant."), error_code="wechat_not_configured")


def _unavailable() -> WeChatUnavailable:
    return WeChatUnavailable(gettext("WeChat cannot be reached right now; please try again."))


def settings_for_appid(appid: str) -> WeChatSettings | None:
    return db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.appid == appid))


# --- followers and attribution -----------------------------------------------------------------

@dataclass(frozen=True)
class Attribution:
    """What brought a member in, as Member.source_* holds it."""

    store_id: int | None = None
    table_id: int | None = None
    campaign: str | None = None


def attribution(merchant_id: int, scene: str | None) -> Attribution:
    """The store / table / campaign a scene names, if it is this merchant's; empty otherwise."""
    match = _SCENE.match(scene or "")
    if match is None:
        return Attribution()
    kind, value = match.groups()
    if kind == "campaign":
        return Attribution(campaign=value)
    if not value.isdigit() or not 1 <= int(value) <= current_app.config["MAX_ID"]:
        return Attribution()
    if kind == "table":
        table = db.session.get(DiningTable, int(value))
        if table is None or table.merchant_id != merchant_id:
            return Attribution()
        return Attribution(store_id=table.store_id, table_id=table.id)
    store = db.session.get(Store, int(value))
    return Attribution(store_id=store.id) if store is not None and store.merchant_id == merchant_id else Attribution()


def table_attribution(table: DiningTable) -> Attribution:
    return Attribution(store_id=table.store_id, table_id=table.id)


def follower(merchant_id: int, openid: str) -> WeChatFollower | None:
    return db.session.scalar(sa.select(WeChatFollower).where(WeChatFollower.merchant_id == merchant_id,
                                                             WeChatFollower.openid == openid))


def _follower_row(merchant_id: int, openid: str) -> WeChatFollower:
    row = follower(merchant_id, openid)
    if row is None:
        row = WeChatFollower(merchant_id=merchant_id, openid=openid, is_subscribed=False)
        if not insert_unique(row):  # the same diner's other event got in first
            row = follower(merchant_id, openid)
    return row


def record_follow(merchant_id: int, openid: str, scene: str | None, now: datetime) -> WeChatFollower:
    """A subscribe (with or without a scene) or a SCAN of a scene code by a follower."""
    row = _follower_row(merchant_id, openid)
    if not row.is_subscribed:
        row.is_subscribed, row.subscribed_at, row.unsubscribed_at = True, now, None
    if scene:
        scene = scene[:64]
        row.scene = scene
        if row.first_scene is None:
            row.first_scene = scene
    return row


def record_unfollow(merchant_id: int, openid: str, now: datetime) -> WeChatFollower:
    row = _follower_row(merchant_id, openid)
    row.is_subscribed, row.unsubscribed_at = False, now
    return row


# --- diners at a table ---------------------------------------------------------------------------

def open_session_of(table: DiningTable) -> TableSession | None:
    return db.session.scalar(sa.select(TableSession).where(TableSession.table_id == table.id,
                                                           TableSession.status == SessionStatus.OPEN))


def record_diner(table: DiningTable, openid: str, now: datetime) -> TableDiner:
    """The diner is at this table now: their phone gets the bill when it is pushed."""
    from app.orders.cart import open_session

    session = open_session(table)
    query = sa.select(TableDiner).where(TableDiner.table_session_id == session.id, TableDiner.openid == openid)
    diner = db.session.scalar(query)
    if diner is None:
        diner = TableDiner(merchant_id=table.merchant_id, table_session_id=session.id, openid=openid,
                           first_seen_at=now)
        if not insert_unique(diner):
            diner = db.session.scalars(query).one()
    return diner


def diners_at(table: DiningTable) -> list[str]:
    """The openids seen at the table's open session, first seen first."""
    session = open_session_of(table)
    if session is None:
        return []
    return list(db.session.scalars(sa.select(TableDiner.openid).where(TableDiner.table_session_id == session.id)
                                   .order_by(TableDiner.id)))


# --- scene QR codes ------------------------------------------------------------------------------

def _qr_image_url(ticket: str) -> str:
    """wechatpy names WeChat's own image host; a simulator serves the image on its API host."""
    url = WeChatQRCode.get_url(ticket)
    api_base = current_app.config["WECHAT_API_BASE_URL"].rstrip("/")
    if urlsplit(api_base).netloc != _WECHAT_API_HOST:
        url = api_base + url.removeprefix(_WECHAT_QR_HOST)
    return url


def _create_scene_qr(merchant_id: int, scene: str) -> dict:
    settings = notify.settings_for(merchant_id)
    if settings is None:
        raise _not_configured()
    try:
        return official_account(settings).qrcode.create({
            "action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}})
    except (WeChatClientException, requests.RequestException, RecursionError):
        raise _unavailable() from None


def scene_qr(merchant_id: int, scene: str) -> str:
    """The image URL of the account's permanent QR code for `scene` (WeChat hands back the same
    code for the same scene, so asking again is harmless)."""
    return _qr_image_url(_create_scene_qr(merchant_id, scene)["ticket"])


def scene_qr_content(merchant_id: int, scene: str) -> str:
    """What the account's permanent QR code for `scene` encodes (the `url` WeChat answers), so a
    poster can print the code itself as SVG at any size."""
    answer = _create_scene_qr(merchant_id, scene)
    url = answer.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 300:
        raise _unavailable()
    return url


# --- the pushed bill -----------------------------------------------------------------------------

def bill_recipients(order: Order, table: DiningTable) -> list[str]:
    """Who a pushed bill reaches on WeChat: the diners seen at the table's open session (the
    order adds its member). 409 when the merchant has no WeChat account."""
    if notify.settings_for(order.merchant_id) is None:
        raise _not_configured()
    return diners_at(table)


# --- member sign-up from WeChat --------------------------------------------------------------------

def member_for_openid(merchant_id: int, openid: str) -> Member | None:
    return db.session.scalar(sa.select(Member).where(Member.merchant_id == merchant_id, Member.openid == openid))


def _same_name(a: str, b: str) -> bool:
    def plain(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).split()).casefold()

    return plain(a) == plain(b)


def join(actor: Actor, openid: str, *, phone: str, name: str, birthday: date | None = None,
         table: DiningTable | None = None) -> tuple[Member, bool]:
    """The diner's member card: (member, created). A new member is attributed to the QR scene that
    brought the diner to the account, else to the table they sat at. A member with this phone
    (created at the till, say) gets this WeChat linked instead, never a second card; 409 when
    that card is linked to another WeChat account or the name does not match it. `actor` is the
    diner (`Actor.diner`)."""
    merchant_id = actor.merchant_id
    mine = member_for_openid(merchant_id, openid)
    if mine is not None:
        return mine, False
    existing = db.session.scalar(sa.select(Member).where(Member.merchant_id == merchant_id, Member.phone == phone)
                                 .with_for_update())
    if existing is not None:
        if existing.openid is not None:
            raise Conflict(gettext("This phone number's member card is linked to another WeChat account. "
                                   "Please ask our staff for help."), error_code="member_linked_elsewhere")
        # Without an SMS check the phone number alone does not prove it is theirs: the name on
        # the card must match too, or the card stays as it is and the staff help.
        if not _same_name(existing.name, name):
            raise Conflict(gettext("The name does not match the member card of this phone number. "
                                   "Please ask our staff for help."), error_code="member_name_mismatch")
        existing.openid = openid
        db.session.flush()
        record("member.wechat_link", existing, actor=actor)
        return existing, False

    known = follower(merchant_id, openid)
    source = attribution(merchant_id, known.first_scene if known is not None else None)
    if source == Attribution() and table is not None and table.merchant_id == merchant_id:
        source = table_attribution(table)
    try:
        with db.session.begin_nested():
            member = members.create_member(actor=actor, phone=phone, name=name, birthday=birthday, openid=openid,
                                           source_store_id=source.store_id, source_table_id=source.table_id,
                                           source_campaign=source.campaign)
    except sa.exc.IntegrityError:
        # A twin request (same phone or same WeChat) got in first: let the diner look again.
        raise Conflict(gettext("Please try again."), error_code="retry") from None
    record("member.join", member, actor=actor, source_store_id=source.store_id,
           source_table_id=source.table_id, source_campaign=source.campaign)
    return member, True
