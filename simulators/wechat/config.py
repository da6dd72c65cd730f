"""Settings of the simulated official account and merchant.

The defaults are the demo account the server uses when no real WeChat credentials are set, so
the two agree without any configuration (see docs/wechat.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEMO_APPID = "wx_demo_appid"
DEMO_SECRET = "demo-secret"
DEMO_TOKEN = "demo-token"
DEMO_MCH_ID = "1900000109"
DEMO_API_KEY = "demoapikeydemoapikeydemoapikey12"


@dataclass
class SimulatorConfig:
    # Official account
    appid: str = DEMO_APPID
    secret: str = DEMO_SECRET
    token: str = DEMO_TOKEN  # signs the calls to the server callback
    encoding_aes_key: str | None = None  # 43 characters; set it to post events in safe (encrypted) mode
    original_id: str = "gh_0123456789ab"  # ToUserName of the events
    account_name: str = "TableLoop 演示餐厅"
    server_callback_url: str | None = None  # where subscribe/SCAN events are posted
    unionid_enabled: bool = False  # an account bound to an Open Platform account also gets unionids
    templates: dict[str, Any] = field(default_factory=dict)  # template_id -> title or {"title", "labels"}
    access_token_ttl: int = 7200
    # After a new access token is issued the previous one keeps working this long, as on WeChat.
    access_token_grace: int = 300
    oauth_code_ttl: int = 300
    callback_timeout: float = 5.0
    callback_attempts: int = 3  # WeChat retries an event three times when the server does not answer

    # WeChat Pay v2
    mch_id: str = DEMO_MCH_ID
    api_key: str = DEMO_API_KEY
    merchant_name: str = "TableLoop 演示餐厅"
    refund_notify_url: str | None = None  # used when a refund request names none
    # Seconds between the tries of a payment or refund notification; one try per entry.
    notify_retry_delays: tuple[float, ...] = (0, 1, 3, 10, 30)
    notify_timeout: float = 5.0
    # Test payment codes ending 0003 / 0006 settle after this many order queries or seconds.
    userpaying_queries: int = 2
    userpaying_seconds: float = 10.0
    refund_delay_seconds: float = 0.0

    # Address the simulator is reached at from phones (QR code contents); the request's host if unset.
    public_url: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> SimulatorConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values or {}) - known
        if unknown:
            raise ValueError(f"unknown simulator settings: {', '.join(sorted(unknown))}")
        return replace(cls(), **dict(values or {}))

    def __post_init__(self) -> None:
        self.notify_retry_delays = tuple(float(d) for d in self.notify_retry_delays)
        if not self.notify_retry_delays:
            raise ValueError("notify_retry_delays needs at least one entry")
        if self.encoding_aes_key is not None and len(self.encoding_aes_key) != 43:
            raise ValueError("encoding_aes_key must be 43 characters")


# Settings a running simulator lets the control API change (everything else needs a restart).
MUTABLE_SETTINGS = (
    "server_callback_url",
    "refund_notify_url",
    "encoding_aes_key",
    "notify_retry_delays",
    "userpaying_queries",
    "userpaying_seconds",
    "refund_delay_seconds",
    "unionid_enabled",
    "templates",
    "public_url",
)
