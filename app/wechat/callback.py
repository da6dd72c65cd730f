"""The official account's server callback: WeChat's URL check (GET echostr) and the events and
messages it posts (subscribe, SCAN, unsubscribe; text and image messages, which go to the
customer-service inbox), answered with a passive reply.

Which account a call is for: `/wechat/callback/<appid>` names it (give WeChat that URL when
several merchants have accounts). The bare `/wechat/callback` (what the simulator posts to)
serves the only configured account; with several, the account whose token signs the call.
The events carry the account's original id (gh_…), which we do not store, so it cannot decide.

Plain and safe (AES) modes are both understood. A call whose signature does not check out
answers 403 and changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.events import ScanEvent, SubscribeEvent, SubscribeScanEvent, UnsubscribeEvent
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import ArticlesReply, TextReply
from wechatpy.utils import check_signature

from app.db import begin_write, db, utcnow
from app.fans import service as fans
from app.inbox import service as inbox
from app.inbox.models import MessageKind
from app.wechat import notify, service
from app.wechat.models import WeChatSettings

bp = Blueprint("wechat_callback", __name__)

MAX_BODY_BYTES = 64 * 1024


def _signed_by(settings: WeChatSettings) -> bool:
    if not settings.token:
        return False  # a cleared token signs nothing (anyone could sign with an empty one)
    args = request.args
    try:
        check_signature(settings.token, args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
    except InvalidSignatureException:
        return False
    return True


def _account(appid: str | None) -> WeChatSettings:
    """The account this call is for, with its signature checked: 404 unknown, 403 bad signature."""
    if appid is not None:
        settings = service.settings_for_appid(appid)
        if settings is None:
            abort(404)
        candidates = [settings]
    else:
        candidates = list(db.session.scalars(sa.select(WeChatSettings).order_by(WeChatSettings.id)))
        if not candidates:
            abort(404)
    signed = [settings for settings in candidates if _signed_by(settings)]
    if len(signed) != 1:
        abort(403)
    return signed[0]


@bp.get("/wechat/callback")
@bp.get("/wechat/callback/<appid>")
def verify(appid: str | None = None):
    """WeChat checks the URL when it is saved: echo `echostr` if the signature is ours."""
    _account(appid)
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/wechat/callback")
@bp.post("/wechat/callback/<appid>")
def receive(appid: str | None = None):
    settings = _account(appid)
    if (request.content_length or 0) > MAX_BODY_BYTES:
        abort(413)
    body = request.get_data(cache=False)[:MAX_BODY_BYTES + 1]
    if len(body) > MAX_BODY_BYTES:
        abort(413)
    crypto = None
    if request.args.get("encrypt_type") == "aes":
        if not settings.encoding_aes_key:
            abort(403)
        crypto = WeChatCrypto(settings.token, settings.encoding_aes_key, settings.appid)
        try:
            body = crypto.decrypt_message(body, request.args.get("msg_signature", ""),
                                          request.args.get("timestamp", ""), request.args.get("nonce", ""))
        except (InvalidSignatureException, InvalidAppIdException):
            abort(403)
        except Exception:  # anything unreadable is the caller's fault
            abort(400)
    try:
        message = parse_message(body)
    except Exception:  # xmltodict raises several kinds for a bad body
        abort(400)
    if message is None or not message.source:
        abort(400)

    db.session.commit()  # end the reads; the writer's transaction starts afresh (SQLite: BEGIN IMMEDIATE)
    begin_write()
    reply = _handle(settings, message)
    db.session.commit()
    if reply is None:
        return Response("success", mimetype="text/plain")
    if isinstance(reply, str):
        xml = TextReply(message=message, content=reply).render()
    else:
        xml = ArticlesReply(message=message, articles=[reply]).render()
    if crypto is not None:
        xml = crypto.encrypt_message(xml, request.args.get("nonce", ""), request.args.get("timestamp"))
    return Response(xml, mimetype="application/xml")


def _handle(settings: WeChatSettings, message) -> str | dict | None:
    """Record what the event says; the passive reply (its text, or one article as a dict), or
    None for no reply."""
    now = utcnow()
    merchant_id, openid = settings.merchant_id, str(message.source)[:64]
    if isinstance(message, SubscribeScanEvent | ScanEvent):
        service.record_follow(merchant_id, openid, message.scene_id or None, now)
        event_key = f"{openid}:{int(message.create_time.timestamp())}:{message.event}"
        poster = fans.record_scan(merchant_id, openid, message.scene_id or None, event_key=event_key,
                                  is_follow=isinstance(message, SubscribeScanEvent), now=now)
        if poster is not None:
            return _poster_reply(poster)
        return _welcome(merchant_id, openid)
    if isinstance(message, SubscribeEvent):
        service.record_follow(merchant_id, openid, None, now)
        return _welcome(merchant_id, openid)
    if isinstance(message, UnsubscribeEvent):
        service.record_unfollow(merchant_id, openid, now)
        return None
    if message.type in ("text", "image"):
        return _to_inbox(merchant_id, openid, message, now)
    return None


def _to_inbox(merchant_id: int, openid: str, message, now) -> str | None:
    """A follower's text or picture: into the inbox of the store that knows them; the keyword
    auto-reply, if one matches, is the passive reply."""
    follower = service.follower(merchant_id, openid)
    store_hint = service.attribution(merchant_id, follower.scene).store_id if follower is not None else None
    msg_id = str(message.id)[:32] if message.id else None
    if message.type == "image":
        received = inbox.receive(merchant_id, openid, kind=MessageKind.IMAGE, image_url=(message.image or "")[:500],
                                 msg_id=msg_id, store_hint=store_hint, now=now)
    else:
        received = inbox.receive(merchant_id, openid, kind=MessageKind.TEXT, text=message.content or "",
                                 msg_id=msg_id, store_hint=store_hint, now=now)
    return received.auto_reply if received is not None else None


def _welcome(merchant_id: int, openid: str) -> str:
    # The diners of a WeChat account read Chinese; the reply is not localised.
    member = service.member_for_openid(merchant_id, openid)
    if member is not None:
        name = member.name.replace("<", "").replace(">", "")
        return (f"欢迎回来，{name}！会员卡与会员码："
                f'<a href="{notify.card_url(merchant_id)}">查看会员卡</a>')
    return ("欢迎关注！加入会员即享会员折扣、消费积分和储值优惠。"
            f'<a href="{notify.join_url(merchant_id)}">立即加入会员</a>')


def _poster_reply(poster) -> dict:
    """A poster's scan answers with a card that opens its lucky wheel or red envelope."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    if poster.wheel is not None:
        return {"title": f"🎡 {poster.headline or poster.wheel.name}",
                "description": "点击进入幸运大转盘，好礼等你来抽！",
                "url": f"{base}/w/{poster.wheel.code}", "image": ""}
    return {"title": f"🧧 {poster.headline or poster.envelope.name}", "description": "拼手气红包，手慢无！",
            "url": f"{base}/e/{poster.envelope.code}", "image": ""}
