"""What a WeChat user does that the official account hears about: scanning a scene QR code,
following, unfollowing, sending a message. Each changes the user and posts the event."""

from __future__ import annotations

import secrets

from .delivery import NoCallbackURL, send_event
from .models import Delivery, QRCode, User
from .store import Store


def _require_callback(store: Store) -> None:
    if not store.config.server_callback_url:
        raise NoCallbackURL("server_callback_url is not set")


def scan_qrcode(store: Store, qr: QRCode, user: User) -> Delivery:
    """First scan by a non-follower: ``subscribe`` with ``EventKey`` ``qrscene_<scene>``;
    afterwards: ``SCAN`` with the bare scene."""
    _require_callback(store)
    with store.lock:
        qr.scans += 1
        first = not user.is_subscribed
        if first:
            user.is_subscribed, user.subscribed_at = True, store.now()
            user.subscribe_scene, user.qr_scene_str = "ADD_SCENE_QR_CODE", qr.scene
        store.changed()
    if first:
        message = {"MsgType": "event", "Event": "subscribe", "EventKey": f"qrscene_{qr.scene}", "Ticket": qr.ticket}
    else:
        message = {"MsgType": "event", "Event": "SCAN", "EventKey": qr.scene, "Ticket": qr.ticket}
    return send_event(store, user.openid, message, message["Event"])


def follow(store: Store, user: User) -> Delivery:
    """Following the account from search or a name card (no scene)."""
    _require_callback(store)
    with store.lock:
        user.is_subscribed, user.subscribed_at, user.subscribe_scene = True, store.now(), "ADD_SCENE_SEARCH"
        user.qr_scene_str = ""
        store.changed()
    return send_event(store, user.openid, {"MsgType": "event", "Event": "subscribe", "EventKey": ""}, "subscribe")


def unfollow(store: Store, user: User) -> Delivery:
    _require_callback(store)
    with store.lock:
        user.is_subscribed, user.subscribed_at = False, None
        store.changed()
    return send_event(store, user.openid, {"MsgType": "event", "Event": "unsubscribe", "EventKey": ""}, "unsubscribe")


def _msg_id() -> str:
    return str(secrets.randbelow(10**18) + 10**18)


def _wrote(store: Store, user: User) -> None:
    """The user's message opens (or reopens) the account's 48 hours of customer-service messages."""
    with store.lock:
        user.last_message_at = store.now()
        store.changed()


def send_text(store: Store, user: User, content: str) -> Delivery:
    _require_callback(store)
    _wrote(store, user)
    store.add_to_inbox(user.openid, "sent", user.nickname, text=content)
    message = {"MsgType": "text", "Content": content, "MsgId": _msg_id()}
    return send_event(store, user.openid, message, "text")


def send_image(store: Store, user: User, pic_url: str) -> Delivery:
    """A picture from the phone: WeChat hands the server a PicUrl and a MediaId."""
    _require_callback(store)
    _wrote(store, user)
    store.add_to_inbox(user.openid, "sent", user.nickname, image_url=pic_url)
    message = {"MsgType": "image", "PicUrl": pic_url, "MediaId": "media_" + _msg_id(), "MsgId": _msg_id()}
    return send_event(store, user.openid, message, "image")
