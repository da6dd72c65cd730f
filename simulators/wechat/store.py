"""The simulator's memory: one lock around everything, a clock tests can move, a reset.

Request handlers and the delivery threads change state only through these methods (or under
``store.lock``); every change wakes whoever waits in :meth:`Store.wait_for`.
"""

from __future__ import annotations

import base64
import itertools
import os
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .config import SimulatorConfig
from .models import (
    AccessToken,
    Attempt,
    Delivery,
    InboxMessage,
    OAuthCode,
    Order,
    QRCode,
    Refund,
    User,
    UserToken,
)
from .protocol import beijing_time

T = TypeVar("T")

_OPENID_CHARS = string.ascii_letters + string.digits + "_-"
_DIGITS = "0123456789"

PERMANENT_QR = ("QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
WALK_IN_NICKNAME = "付款码顾客 Payment-code diner"


def _random(chars: str, n: int) -> str:
    return "".join(secrets.choice(chars) for _ in range(n))


@dataclass
class Outage:
    mode: str  # 503 | timeout | refuse
    scope: str  # all | mp | pay
    until: float | None  # wall-clock time it ends by itself
    delay: float = 0.0  # for "timeout": how long each request hangs before the 503


class Store:
    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.generation = 0  # bumped by reset(): deliveries of an earlier generation stop
        self.stopping = threading.Event()
        self.outage: Outage | None = None
        # Set by SimulatorServer: closes / reopens the listening socket (connection refused).
        self.refuse_hook: Callable[[bool], None] | None = None
        self._clear()

    def _clear(self) -> None:
        self.offset = 0.0
        self.users: dict[str, User] = {}
        self.access_tokens: list[AccessToken] = []
        self.oauth_codes: dict[str, OAuthCode] = {}
        self.user_tokens: dict[str, UserToken] = {}  # by access_token
        self.qrcodes: dict[str, QRCode] = {}  # by ticket
        self.inbox_messages: list[InboxMessage] = []
        self.orders: dict[str, Order] = {}  # by out_trade_no
        self.refunds: dict[str, Refund] = {}  # by out_refund_no
        self.deliveries: list[Delivery] = []
        self.payment_codes: dict[str, str] = {}  # auth_code -> openid of the phone showing it
        self._ids = itertools.count(1)

    # --- time, waiting, reset --------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the simulator's clock (token and code expiry, USERPAYING timers)."""
        with self.lock:
            self.offset += seconds
            self.changed()
            return self.now()

    def changed(self) -> None:
        with self.lock:
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[Store], T], timeout: float = 5.0) -> T:
        """Block until ``predicate(store)`` is truthy (re-checked after every change); returns
        its last value, falsy on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.end_outage()
            self._clear()
            self.changed()

    # --- outages ------------------------------------------------------------------------------

    def start_outage(
        self, mode: str = "503", scope: str = "all", seconds: float | None = None, delay: float = 10.0
    ) -> Outage:
        """WeChat goes away: APIs answer 503 (``503``), hang ``delay`` seconds then 503
        (``timeout``) or refuse connections (``refuse``, needs a :class:`SimulatorServer`)."""
        if mode not in ("503", "timeout", "refuse"):
            raise ValueError("mode must be 503, timeout or refuse")
        if scope not in ("all", "mp", "pay"):
            raise ValueError("scope must be all, mp or pay")
        if mode == "refuse" and self.refuse_hook is None:
            raise ValueError("refusing connections needs the simulator to run in a SimulatorServer")
        with self.lock:
            self.end_outage()
            until = time.time() + seconds if seconds else None
            self.outage = Outage(mode, "all" if mode == "refuse" else scope, until, delay)
            self.changed()
        if mode == "refuse":
            assert self.refuse_hook is not None
            self.refuse_hook(True)
            if seconds:
                timer = threading.Timer(seconds, self.end_outage)
                timer.daemon = True
                timer.start()
        return self.outage

    def end_outage(self) -> None:
        with self.lock:
            outage, self.outage = self.outage, None
            self.changed()
        if outage is not None and outage.mode == "refuse" and self.refuse_hook is not None:
            self.refuse_hook(False)

    def outage_for(self, scope: str) -> Outage | None:
        with self.lock:
            outage = self.outage
            if outage is None:
                return None
            if outage.until is not None and time.time() >= outage.until:
                self.outage = None
                return None
            return outage if outage.scope in ("all", scope) else None

    def next_id(self) -> int:
        with self.lock:
            return next(self._ids)

    # --- users -------------------------------------------------------------------------------

    def create_user(
        self, nickname: str, openid: str | None = None, subscribed: bool = False, scene: str = "ADD_SCENE_SEARCH"
    ) -> User:
        with self.lock:
            openid = openid or "o" + _random(_OPENID_CHARS, 27)
            if openid in self.users:
                raise ValueError(f"user {openid} exists")
            now = self.now()
            user = User(
                openid=openid,
                nickname=nickname.strip() or "微信用户",
                unionid="o" + _random(_OPENID_CHARS, 27),
                created_at=now,
            )
            if subscribed:
                user.is_subscribed, user.subscribed_at, user.subscribe_scene = True, now, scene
            self.users[openid] = user
            self.changed()
            return user

    def user(self, openid: object) -> User | None:
        if not isinstance(openid, str):
            return None
        with self.lock:
            return self.users.get(openid)

    def walk_in_payer(self) -> User:
        """The diner behind a payment code no simulated phone showed."""
        with self.lock:
            for user in self.users.values():
                if user.nickname == WALK_IN_NICKNAME:
                    return user
            return self.create_user(WALK_IN_NICKNAME)

    def issue_payment_code(self, openid: str, ending: str) -> str:
        from .payment_codes import new_code

        with self.lock:
            code = new_code(ending)
            self.payment_codes[code] = openid
            self.changed()
            return code

    # --- access tokens -------------------------------------------------------------------------

    def issue_access_token(self) -> AccessToken:
        with self.lock:
            now = self.now()
            for old in self.access_tokens:
                if old.replaced_at is None:
                    old.replaced_at = now
            token = AccessToken(token=_random(_OPENID_CHARS, 136), expires_at=now + self.config.access_token_ttl)
            self.access_tokens.append(token)
            self.access_tokens = self.access_tokens[-20:]
            self.changed()
            return token

    def access_token_error(self, token: str | None) -> tuple[int, str] | None:
        """``None`` if the token is good, else WeChat's (errcode, errmsg)."""
        if not token:
            return 41001, "access_token missing"
        with self.lock:
            now = self.now()
            for known in self.access_tokens:
                if known.token != token:
                    continue
                if now >= known.expires_at:
                    return 42001, "access_token expired"
                if known.replaced_at is not None and now >= known.replaced_at + self.config.access_token_grace:
                    break
                return None
        return 40001, "invalid credential, access_token is invalid or not latest"

    # --- OAuth ---------------------------------------------------------------------------------

    def new_oauth_code(self, openid: str, scope: str) -> OAuthCode:
        with self.lock:
            code = OAuthCode(
                _random(string.ascii_letters + string.digits, 32),
                openid,
                scope,
                self.now() + self.config.oauth_code_ttl,
            )
            self.oauth_codes[code.code] = code
            self.changed()
            return code

    def redeem_oauth_code(self, code: str) -> UserToken | tuple[int, str]:
        with self.lock:
            found = self.oauth_codes.get(code or "")
            if found is None or self.now() >= found.expires_at:
                return 40029, "invalid code"
            if found.used:
                return 40163, "code been used"
            found.used = True
            return self._new_user_token(found.openid, found.scope)

    def _new_user_token(self, openid: str, scope: str, refresh_token: str | None = None) -> UserToken:
        now = self.now()
        token = UserToken(
            access_token=_random(string.ascii_letters + string.digits + "_-", 88),
            refresh_token=refresh_token or _random(string.ascii_letters + string.digits + "_-", 88),
            openid=openid,
            scope=scope,
            expires_at=now + 7200,
            refresh_expires_at=now + 30 * 86400,
        )
        self.user_tokens[token.access_token] = token
        self.changed()
        return token

    def refresh_user_token(self, refresh_token: str) -> UserToken | tuple[int, str]:
        with self.lock:
            for token in list(self.user_tokens.values()):
                if token.refresh_token == refresh_token:
                    if self.now() >= token.refresh_expires_at:
                        return 42002, "refresh_token expired"
                    return self._new_user_token(token.openid, token.scope, refresh_token)
            return 40030, "invalid refresh_token"

    def user_token(self, access_token: str | None) -> UserToken | tuple[int, str]:
        with self.lock:
            token = self.user_tokens.get(access_token or "")
            if token is None:
                return 40001, "invalid credential, access_token is invalid or not latest"
            if self.now() >= token.expires_at:
                return 42001, "access_token expired"
            return token

    # --- QR codes ------------------------------------------------------------------------------

    def create_qrcode(self, action_name: str, scene: str, expire_seconds: int | None) -> QRCode:
        with self.lock:
            if action_name in PERMANENT_QR:
                for qr in self.qrcodes.values():
                    if qr.action_name == action_name and qr.scene == scene:
                        return qr
            now = self.now()
            qr = QRCode(
                ticket=base64.b64encode(b"sim" + os.urandom(37)).decode("ascii"),
                code=_random(string.ascii_letters + string.digits + "_-", 22),
                action_name=action_name,
                scene=scene,
                created_at=now,
                expires_at=None if action_name in PERMANENT_QR else now + (expire_seconds or 60),
            )
            self.qrcodes[qr.ticket] = qr
            self.changed()
            return qr

    def find_qrcode(self, ticket: str | None = None, code: str | None = None) -> QRCode | None:
        with self.lock:
            if ticket:
                qr = self.qrcodes.get(ticket)
            else:
                qr = next((q for q in self.qrcodes.values() if q.code == code), None)
            if qr is None or (qr.expires_at is not None and self.now() >= qr.expires_at):
                return None
            return qr

    # --- phones --------------------------------------------------------------------------------

    def add_to_inbox(self, openid: str, kind: str, title: str, **values: Any) -> InboxMessage:
        with self.lock:
            message = InboxMessage(id=next(self._ids), openid=openid, kind=kind, at=self.now(), title=title, **values)
            self.inbox_messages.append(message)
            self.changed()
            return message

    def inbox(self, openid: str) -> list[InboxMessage]:
        with self.lock:
            return sorted((m for m in self.inbox_messages if m.openid == openid), key=lambda m: (-m.at, -m.id))

    # --- pay ids --------------------------------------------------------------------------------

    def new_prepay_id(self) -> str:
        return "wx" + beijing_time(self.now()) + _random("0123456789abcdef", 20)

    def new_code_url(self) -> str:
        return "weixin://wxpay/bizpayurl?pr=" + _random(string.ascii_letters + string.digits, 7)

    def new_transaction_id(self) -> str:
        return "420000" + beijing_time(self.now(), "%Y%m%d") + _random(_DIGITS, 14)

    def new_refund_id(self) -> str:
        return "50300" + beijing_time(self.now(), "%Y%m%d") + _random(_DIGITS, 16)

    def order_by(self, **kwargs: str | None) -> Order | None:
        """By ``out_trade_no``, ``transaction_id``, ``prepay_id`` or ``code_url``."""
        with self.lock:
            for name, value in kwargs.items():
                if not value or not isinstance(value, str):
                    continue
                if name == "out_trade_no":
                    return self.orders.get(value)
                return next((o for o in self.orders.values() if getattr(o, name) == value), None)
            return None

    def refunds_of(self, out_trade_no: str) -> list[Refund]:
        with self.lock:
            found = [r for r in self.refunds.values() if r.out_trade_no == out_trade_no]
            return sorted(found, key=lambda r: r.created_at)

    # --- deliveries -----------------------------------------------------------------------------

    def new_delivery(self, kind: str, key: str, url: str, body: str, plain: str, event: str | None = None) -> Delivery:
        with self.lock:
            delivery = Delivery(
                id=next(self._ids),
                kind=kind,
                key=key,
                url=url,
                body=body,
                plain=plain,
                created_at=self.now(),
                event=event,
            )
            self.deliveries.append(delivery)
            self.changed()
            return delivery

    def delivery(self, delivery_id: int) -> Delivery | None:
        with self.lock:
            return next((d for d in self.deliveries if d.id == delivery_id), None)

    def record_attempt(self, delivery: Delivery, attempt: Attempt, generation: int, final: bool) -> bool:
        """Adds the attempt unless the store was reset meanwhile; False tells the sender to stop."""
        with self.lock:
            if generation != self.generation:
                return False
            delivery.attempts.append(attempt)
            if attempt.ok:
                delivery.state = "delivered"
            elif final:
                delivery.state = "failed"
            self.changed()
            return True

    def notifications(self, kind: str | None = None, key: str | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if (kind is None or d.kind == kind) and (key is None or d.key == key)]
