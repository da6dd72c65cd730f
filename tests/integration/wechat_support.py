"""Fixtures and helpers for the server's WeChat side, driven against the in-process simulator.

`oa_live_server` serves the test app on a real port, because the simulator posts subscribe / SCAN
events to it synchronously; `oa` points the app's wechatpy clients at the simulator (and
back afterwards) and gives a merchant the demo account. tests/conftest.py loads this module as a
plugin; test modules import the helpers.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from app.demo.seed import DEMO_TEMPLATES
from simulators.wechat import DEMO_APPID, DEMO_SECRET, DEMO_TOKEN, SimulatorServer

TEMPLATE_TITLES = {
    "TPL_BILL": "账单提醒", "TPL_PAID": "支付成功通知", "TPL_BALANCE": "储值变动通知",
    "TPL_POINTS": "积分变动通知", "TPL_COUPON": "优惠券到账通知",
}


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture(scope="module")
def oa_live_server(app):
    """The test app on a free port (the simulator's callbacks need an address to post to)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def oa_sim(oa_live_server):
    config = {"server_callback_url": f"{oa_live_server}/wechat/callback", "templates": TEMPLATE_TITLES,
              "callback_timeout": 10, "callback_attempts": 1}
    with SimulatorServer(config) as server:
        yield server


@dataclass
class WeChatWorld:
    sim: Any
    tenant: Any
    settings: Any

    @property
    def merchant_id(self) -> int:
        return self.tenant.merchant.id


@pytest.fixture
def oa(app, make, oa_sim):
    """A merchant with the simulator's demo account, and the app's clients pointed at the simulator."""
    sim = oa_sim
    from app.wechat import client as wechat_client
    from app.wechat.models import WeChatSettings

    keys = ("WECHAT_API_BASE_URL", "WECHAT_OAUTH_BASE_URL", "WECHAT_PAY_BASE_URL", "WECHAT_TIMEOUT_SECONDS")
    saved = {key: app.config[key] for key in keys}
    app.config.update(WECHAT_API_BASE_URL=sim.url, WECHAT_OAUTH_BASE_URL=f"{sim.url}/connect",
                      WECHAT_PAY_BASE_URL=sim.url, WECHAT_TIMEOUT_SECONDS=3)
    wechat_client._storages.clear()  # access tokens of an earlier simulator mean nothing here
    saved_sim = (sim.config.encoding_aes_key, dict(sim.config.templates))
    sim.state.reset()

    tenant = make.tenant()
    settings = WeChatSettings(merchant_id=tenant.merchant.id, appid=DEMO_APPID, app_secret=DEMO_SECRET,
                              token=DEMO_TOKEN, templates=DEMO_TEMPLATES)
    make.db.session.add(settings)
    make.db.session.commit()
    yield WeChatWorld(sim, tenant, settings)

    sim.state.end_outage()
    sim.config.encoding_aes_key, sim.config.templates = saved_sim
    sim.state.reset()
    app.config.update(saved)
    wechat_client._storages.clear()


# A well-formed account the merchant enters by hand (the demo account's AppID predates the checks).
OWN_APPID = "wx0a1b2c3d4e5f6789"
OWN_SECRET = "5ecret0f0fficialAccount01234567"


@pytest.fixture
def own_account(oa):
    """The simulator speaks for OWN_APPID / OWN_SECRET, which the merchant has not saved yet."""
    from app.extensions import db

    db.session.delete(oa.settings)
    db.session.commit()
    saved = (oa.sim.config.appid, oa.sim.config.secret)
    oa.sim.config.appid, oa.sim.config.secret = OWN_APPID, OWN_SECRET
    yield oa
    oa.sim.config.appid, oa.sim.config.secret = saved


# --- driving the simulator -----------------------------------------------------------------------

def control(sim, path: str, body: dict | None = None, method: str = "post", status: int = 200) -> dict:
    response = requests.request(method, sim.url + path, json=body, timeout=15)
    assert response.status_code == status, response.text
    return response.json()


def new_user(sim, nickname: str = "小明", subscribed: bool = True) -> str:
    return control(sim, "/_sim/users", {"nickname": nickname, "subscribed": subscribed}, status=201)["openid"]


def inbox(sim, openid: str) -> list[dict]:
    """The user's phone, newest first."""
    return control(sim, f"/_sim/users/{openid}/inbox", method="get")["messages"]


def templates_in(sim, openid: str, template_id: str | None = None) -> list[dict]:
    return [m for m in inbox(sim, openid)
            if m["kind"] == "template" and (template_id is None or m["template_id"] == template_id)]


def field(message: dict, key: str) -> str:
    return next(f["value"] for f in message["fields"] if f["key"] == key)


def scan(db, sim, openid: str, *, ticket: str | None = None, url: str | None = None) -> dict:
    """The diner scans a scene QR code; the simulator posts the event to the live server."""
    db.session.commit()  # the live server must not wait for the test's own transaction
    body = {"openid": openid, **({"ticket": ticket} if ticket else {"url": url})}
    return control(sim, "/_sim/qrcodes/scan", body)


def scene_ticket(sim, scene: str) -> str:
    """A permanent scene QR code made through the simulator's API (as the server's scene_qr does)."""
    from tests.simulators.wechat_helpers import SimWeChatClient

    answer = SimWeChatClient(sim.url, timeout=5).qrcode.create(
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}})
    return answer["ticket"]


def sign_in(client, sim, path: str, openid: str):
    """Open `path` as a diner and let WeChat OAuth pick `openid`; returns the final response
    of the page (the redirects inside this site followed)."""
    response = client.get(path)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    start = response.headers["Location"]
    assert urlsplit(start).path == "/wechat/oauth/start", start
    response = client.get(start)
    assert response.status_code == 302
    authorize = response.headers["Location"]
    assert authorize.startswith(sim.url + "/connect/oauth2/authorize"), authorize
    back = wechat_picks(sim, authorize, openid)
    page = client.get(back, follow_redirects=True)
    if page.status_code == 200 and urlsplit(path).path.startswith("/t/"):
        at_table(client, page)
    return page


def at_table(client, page):
    """What the table page's script does first: say the diner is here (recorded at the table, so
    that a pushed bill reaches them). Returns the table view it answers."""
    html = page.get_data(as_text=True)
    base = re.search(r'data-base="([^"]+)"', html).group(1)
    csrf = re.search(r'data-csrf="([^"]+)"', html).group(1)
    answer = client.post(base + "/here", json={}, headers={"X-CSRFToken": csrf})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return answer.get_json()


def wechat_picks(sim, authorize_url: str, openid: str) -> str:
    """On WeChat's consent page the diner is `openid`; returns the local callback path + query."""
    args = dict(parse_qsl(urlsplit(authorize_url.split("#", 1)[0]).query))
    answer = requests.post(sim.url + "/connect/oauth2/authorize", data={**args, "openid": openid},
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:300]
    location = urlsplit(answer.headers["Location"])
    return f"{location.path}?{location.query}"


def deliver(now=None, limit: int = 100):
    from app.outbox.service import deliver_due

    return deliver_due(now, limit)
