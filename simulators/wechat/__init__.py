"""A local WeChat: official account (tokens, OAuth, scene QR codes, template messages, events)
and WeChat Pay v2 (unified order, payment code, queries, reversal, refunds, notifications),
speaking the real protocols so wechatpy runs against it unchanged apart from base URLs.
See docs/wechat.md."""

from .app import create_simulator
from .config import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID, DEMO_SECRET, DEMO_TOKEN, SimulatorConfig
from .payment_codes import OUTCOMES, new_code
from .server import SimulatorServer
from .store import Store

__all__ = [
    "DEMO_API_KEY",
    "DEMO_APPID",
    "DEMO_MCH_ID",
    "DEMO_SECRET",
    "DEMO_TOKEN",
    "OUTCOMES",
    "SimulatorConfig",
    "SimulatorServer",
    "Store",
    "create_simulator",
    "new_code",
]
