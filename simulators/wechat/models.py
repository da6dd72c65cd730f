"""What the simulator remembers: WeChat users and their phones, tokens, QR codes, pay orders,
refunds and every call it made to the server. Plain dataclasses; the store guards them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class User:
    openid: str
    nickname: str
    unionid: str
    created_at: float
    is_subscribed: bool = False
    subscribed_at: float | None = None
    subscribe_scene: str = ""  # ADD_SCENE_QR_CODE, ADD_SCENE_SEARCH, ...
    qr_scene_str: str = ""
    sex: int = 0
    city: str = "深圳"
    province: str = "广东"
    country: str = "中国"
    last_message_at: float | None = None  # the user's last message to the account: opens 48 h of 客服消息


@dataclass
class AccessToken:
    token: str
    expires_at: float
    replaced_at: float | None = None  # a newer token was issued at this time


@dataclass
class OAuthCode:
    code: str
    openid: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class UserToken:
    """A web (sns) access token from OAuth, with its refresh token."""

    access_token: str
    refresh_token: str
    openid: str
    scope: str
    expires_at: float
    refresh_expires_at: float


@dataclass
class QRCode:
    ticket: str
    code: str  # the path part of its url: {public}/q/{code}
    action_name: str
    scene: str  # scene_str, or scene_id as text
    created_at: float
    expires_at: float | None  # None for the permanent kinds
    scans: int = 0


@dataclass
class InboxMessage:
    """Something that appeared on the user's phone."""

    id: int
    openid: str
    kind: str  # template | custom | reply | pay
    at: float
    title: str
    fields: list[dict[str, str]] = field(default_factory=list)  # {key, label, value, color}
    url: str | None = None
    text: str = ""
    template_id: str | None = None
    articles: list[dict[str, str]] = field(default_factory=list)
    image_url: str = ""  # a picture the user sent


@dataclass
class Order:
    out_trade_no: str
    trade_type: str  # JSAPI | NATIVE | MICROPAY
    body: str
    total_fee: int
    created_at: float
    state: str = "NOTPAY"  # NOTPAY USERPAYING SUCCESS PAYERROR CLOSED REVOKED (REFUND is derived)
    state_desc: str = ""
    notify_url: str | None = None
    openid: str | None = None
    product_id: str | None = None
    attach: str | None = None
    device_info: str | None = None
    fee_type: str = "CNY"
    fingerprint: tuple = ()
    prepay_id: str | None = None
    code_url: str | None = None
    time_expire: float | None = None
    transaction_id: str | None = None
    time_end: str | None = None
    paid_at: float | None = None
    bank_type: str = "OTHERS"
    auth_code: str | None = None
    code_ending: str | None = None
    queries: int = 0  # order queries while USERPAYING
    refunded_fee: int = 0
    cancelled_on_sheet: int = 0

    @property
    def trade_state(self) -> str:
        if self.state == "SUCCESS" and self.refunded_fee:
            return "REFUND"
        return self.state

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("fingerprint")
        data["trade_state"] = self.trade_state
        return data


@dataclass
class Refund:
    refund_id: str
    out_refund_no: str
    out_trade_no: str
    transaction_id: str
    total_fee: int
    refund_fee: int
    created_at: float
    status: str = "PROCESSING"  # PROCESSING | SUCCESS
    success_time: str | None = None
    notify_url: str | None = None
    refund_desc: str | None = None
    refund_account: str = "REFUND_SOURCE_UNSETTLED_FUNDS"


@dataclass
class Attempt:
    at: float
    status: int | None  # HTTP status, None when nothing answered
    response: str = ""
    error: str | None = None
    ok: bool = False


@dataclass
class Delivery:
    """One message sent to the server: a pay/refund notification or an official-account event,
    with every attempt made to deliver it."""

    id: int
    kind: str  # payment | refund | event | verify
    key: str  # out_trade_no, out_refund_no or openid
    url: str
    body: str  # exactly what was posted (encrypted in safe mode)
    plain: str  # the message before encryption
    created_at: float
    state: str = "pending"  # pending | delivered | failed
    attempts: list[Attempt] = field(default_factory=list)
    reply: dict[str, Any] | None = None  # the passive reply to an event, decoded
    event: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
