"""Calls from "WeChat" to the server: official-account events (synchronously, as WeChat waits
for the passive reply) and pay / refund notifications (in a background thread, retried with
growing delays until the server answers ``return_code`` SUCCESS)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import requests

from .models import Attempt, Delivery
from .protocol import callback_signature, decrypt_event, encrypt_event, parse_xml, to_xml
from .store import Store

log = logging.getLogger(__name__)


class NoCallbackURL(Exception):
    """The simulator was not told where the server's WeChat callback is."""


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _session() -> requests.Session:
    # Straight to the server: proxy settings in the environment are not for these calls.
    session = requests.Session()
    session.trust_env = False
    return session


def _post(url: str, body: str, timeout: float) -> tuple[Attempt, str]:
    at = time.time()
    try:
        with _session() as session:
            response = session.post(
                url, data=body.encode("utf-8"), headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=timeout
            )
    except requests.RequestException as exc:
        return Attempt(at=at, status=None, error=f"{type(exc).__name__}: {exc}"), ""
    text = response.content.decode("utf-8", "replace")
    return Attempt(at=at, status=response.status_code, response=text[:4000]), text


# --- official-account events -----------------------------------------------------------------


def send_event(store: Store, openid: str, message: dict[str, Any], event: str) -> Delivery:
    """Posts one message (event or user text) to the server callback as WeChat does and
    records the passive reply on the user's phone."""
    config = store.config
    url = config.server_callback_url
    if not url:
        raise NoCallbackURL("server_callback_url is not set")
    timestamp, nonce = str(int(time.time())), _digits(10)
    plain = to_xml(
        {
            "ToUserName": config.original_id,
            "FromUserName": openid,
            "CreateTime": timestamp,
            **message,
        }
    )
    params = {
        "signature": callback_signature(config.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": openid,
    }
    body = plain
    aes_key = config.encoding_aes_key
    if aes_key:
        encrypted = encrypt_event(plain, aes_key, config.appid)
        body = to_xml({"ToUserName": config.original_id, "Encrypt": encrypted})
        params.update(encrypt_type="aes", msg_signature=callback_signature(config.token, timestamp, nonce, encrypted))
    target = _with_query(url, params)
    delivery = store.new_delivery("event", openid, target, body, plain, event=event)
    generation = store.generation
    attempts = max(1, config.callback_attempts)
    for n in range(attempts):
        attempt, text = _post(target, body, config.callback_timeout)
        # WeChat tries again when the server does not answer; a 4xx is an answer.
        answered = attempt.status is not None and attempt.status < 500
        attempt.ok = attempt.status == 200
        if attempt.ok:
            delivery.reply = _read_reply(store, openid, text, aes_key)
        elif attempt.status is not None:
            attempt.error = f"HTTP {attempt.status}"
        final = answered or n == attempts - 1
        if not store.record_attempt(delivery, attempt, generation, final=final) or final:
            break
    return delivery


def _read_reply(store: Store, openid: str, text: str, aes_key: str | None) -> dict[str, Any] | None:
    """A passive reply shows up on the user's phone; ``success`` or an empty body means none."""
    text = text.strip()
    if not text or text == "success":
        return None
    try:
        reply = parse_xml(text)
        if "Encrypt" in reply and aes_key:
            text = decrypt_event(reply["Encrypt"], aes_key)[0]
            reply = parse_xml(text)
    except ValueError as exc:
        return {"error": f"unreadable reply: {exc}", "raw": text[:2000]}
    kind = reply.get("MsgType", "")
    if kind == "text":
        store.add_to_inbox(openid, "reply", store.config.account_name, text=reply.get("Content", ""))
    elif kind == "news":
        store.add_to_inbox(openid, "reply", store.config.account_name, articles=_articles(text))
    return reply


def _articles(text: str) -> list[dict[str, str]]:
    root = ET.fromstring(text.encode("utf-8"))
    return [{child.tag: child.text or "" for child in item} for item in root.iterfind("./Articles/item")]


def verify_callback(store: Store) -> dict[str, Any]:
    """The GET WeChat makes when the callback URL is saved: the server must echo ``echostr``."""
    config = store.config
    if not config.server_callback_url:
        raise NoCallbackURL("server_callback_url is not set")
    timestamp, nonce, echostr = str(int(time.time())), _digits(10), _digits(19)
    params = {
        "signature": callback_signature(config.token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "echostr": echostr,
    }
    try:
        with _session() as session:
            response = session.get(config.server_callback_url, params=params, timeout=config.callback_timeout)
    except requests.RequestException as exc:
        return {"ok": False, "error": str(exc)}
    body = response.content.decode("utf-8", "replace")
    return {
        "ok": response.status_code == 200 and body == echostr,
        "status": response.status_code,
        "expected": echostr,
        "response": body[:500],
    }


# --- pay notifications -------------------------------------------------------------------------


def notify(store: Store, kind: str, key: str, url: str, message: dict[str, Any]) -> Delivery:
    """Queues a payment / refund notification and starts delivering it."""
    body = to_xml(message)
    delivery = store.new_delivery(kind, key, url, body, body)
    start_delivery(store, delivery)
    return delivery


def start_delivery(store: Store, delivery: Delivery) -> None:
    with store.lock:
        delivery.state = "pending"
        generation = store.generation
    thread = threading.Thread(
        target=_deliver, args=(store, delivery, generation), name=f"wechat-notify-{delivery.id}", daemon=True
    )
    thread.start()


def _deliver(store: Store, delivery: Delivery, generation: int) -> None:
    delays = store.config.notify_retry_delays
    for n, delay in enumerate(delays):
        if store.stopping.wait(delay) or generation != store.generation:
            return
        attempt, text = _post(delivery.url, delivery.body, store.config.notify_timeout)
        attempt.ok = attempt.status == 200 and _acknowledged(text)
        if not attempt.ok and attempt.error is None:
            attempt.error = f"HTTP {attempt.status}" if attempt.status != 200 else "answer is not return_code SUCCESS"
        final = n == len(delays) - 1
        if not store.record_attempt(delivery, attempt, generation, final=final) or attempt.ok or final:
            return
        log.info("notification %s to %s not acknowledged (%s); retrying", delivery.id, delivery.url, attempt.error)


def _acknowledged(text: str) -> bool:
    try:
        return parse_xml(text.strip()).get("return_code") == "SUCCESS"
    except ValueError:
        return False
