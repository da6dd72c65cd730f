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


def send_text(store: Store, user: User, content: str) -> Delivery:
    _require_callback(store)
    store.add_to_inbox(user.openid, "sent", user.nickname, text=content)
    message = {"MsgType": "text", "Content": content, "MsgId": str(secrets.randbelow(10**18) + 10**18)}
    return send_event(store, user.openid, message, "text")
