"""WeChat Pay tests: the app served on a real port (so the simulator's notifications reach it),
the in-process WeChat simulator it talks to, and a till that drives both through the API.

A test module takes the fixtures by name: `pay_sim, live_url, wechat = support.pay_sim, support.live_url,
support.wechat`.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from werkzeug.serving import WSGIRequestHandler, make_server

from simulators.wechat import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID, DEMO_SECRET, DEMO_TOKEN, SimulatorServer
from simulators.wechat.protocol import pay_sign, to_xml
from tests.factories import Factory, create_dish, create_member, create_table

_codes = itertools.count(1)

CONFIG_KEYS = ("WECHAT_PAY_BASE_URL", "WECHAT_API_BASE_URL", "WECHAT_OAUTH_BASE_URL", "PUBLIC_BASE_URL",
               "WECHAT_PAY_POLL_SECONDS", "WECHAT_PAY_POLLS", "WECHAT_PAY_RECONCILE_AFTER_MINUTES",
               "WECHAT_TIMEOUT_SECONDS")


def key() -> str:
    return uuid.uuid4().hex


def payment_code(ending: str) -> str:
    """An 18-digit WeChat payment code; the simulator's answer depends on the last four digits."""
    return f"13{next(_codes):012d}{ending}"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture(scope="module")
def pay_sim():
    with SimulatorServer({"notify_retry_delays": (0, 0.1, 0.3), "notify_timeout": 10}) as sim:
        yield sim


@pytest.fixture
def live_url(app, db):
    """The app on 127.0.0.1:<port>, where the simulator posts its notifications."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def wechat(app, pay_sim, live_url):
    """The app pointed at the simulator (and the simulator's notifications at the app), payment
    codes polled fast; every setting is put back afterwards."""
    saved = {name: app.config.get(name) for name in CONFIG_KEYS}
    app.config.update(WECHAT_PAY_BASE_URL=pay_sim.url, WECHAT_API_BASE_URL=pay_sim.url,
                      WECHAT_OAUTH_BASE_URL=pay_sim.url + "/connect", PUBLIC_BASE_URL=live_url,
                      WECHAT_PAY_POLL_SECONDS=0.01, WECHAT_PAY_POLLS=4, WECHAT_TIMEOUT_SECONDS=3)
    pay_sim.state.reset()
    yield pay_sim
    pay_sim.state.reset()
    for name, value in saved.items():
        if value is None:
            app.config.pop(name, None)
        else:
            app.config[name] = value


def add_wechat_settings(db, merchant_id: int, *, appid: str = DEMO_APPID, mch_id: str = DEMO_MCH_ID,
                        api_key: str = DEMO_API_KEY) -> None:
    from app.wechat.models import WeChatSettings

    db.session.add(WeChatSettings(merchant_id=merchant_id, appid=appid, app_secret=DEMO_SECRET, token=DEMO_TOKEN,
                                  mch_id=mch_id, api_key=api_key, templates={}))
    db.session.commit()


@dataclass
class Till:
    """A merchant on the simulator's demo WeChat Pay account, and its cashier's API."""

    make: Factory
    sim: SimulatorServer

    def __post_init__(self) -> None:
        self.db = self.make.db
        self.tenant = self.make.tenant()
        add_wechat_settings(self.db, self.tenant.merchant.id)
        self.api = self.make.api(self.tenant.owner)
        self.fish = create_dish(self.make, self.tenant, "剁椒鱼头", 12_800)
        self.beer = create_dish(self.make, self.tenant, "青岛啤酒", 1_200, category="酒水", discountable=False)

    def cashier(self):
        """The API as a cashier of the store (shifts are a cashier's)."""
        self.api = self.make.api(self.make.staff(self.tenant, "cashier"))
        return self.api

    def order(self, table: dict | None = None, *items) -> dict:
        items = items or ((self.fish, 1), (self.beer, 2))
        body = {"store_id": self.tenant.store.id, "idempotency_key": key(),
                "items": [{"dish_id": dish["id"], "qty": qty} for dish, qty in items]}
        if table is not None:
            body["table"] = table["code"]
        response = self.api.post("/orders", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def table(self) -> dict:
        return create_table(self.make, self.tenant)

    def member(self, topup_cents: int = 0, phone: str | None = None) -> dict:
        member = create_member(self.make, self.tenant, phone=phone)
        if topup_cents:
            response = self.api.post(f"/members/{member['id']}/topups", json={
                "amount_cents": topup_cents, "tender": "cash", "idempotency_key": key()})
            assert response.status_code == 201, response.get_json()
        return member

    def card(self, member_id: int) -> dict:
        return self.api.get(f"/members/{member_id}").get_json()

    def ledger(self, member_id: int) -> list[dict]:
        return self.api.get(f"/members/{member_id}/ledger").get_json()["entries"]

    def get_order(self, order_id: int) -> dict:
        return self.api.get(f"/orders/{order_id}").get_json()

    def settle(self, order_id: int, tenders: list[dict], **extra):
        return self.api.post(f"/orders/{order_id}/settle",
                             json={"tenders": tenders, "idempotency_key": extra.pop("idempotency_key", key()), **extra})

    def bill(self, order_id: int, **query) -> dict:
        return self.api.get(f"/orders/{order_id}/bill", query_string=query).get_json()

    @property
    def system(self):
        """The merchant's system actor (what scheduled jobs act as)."""
        from app.actor import Actor

        return Actor.system(self.tenant.merchant.id)

    def send_outbox(self, now=None):
        """Run the outbox worker once (it sends refunds to WeChat Pay after their commit)."""
        from app.outbox.service import deliver_due

        self.fresh()
        report = deliver_due(now)
        self.fresh()
        return report

    def fresh(self) -> None:
        """End the test's own read snapshot, to see what the server wrote meanwhile."""
        self.db.session.commit()

    def intents(self) -> list:
        from app.payments.models import PaymentIntent

        self.fresh()
        return self.db.session.scalars(sa.select(PaymentIntent).order_by(PaymentIntent.id)).all()

    def payments(self) -> list:
        from app.orders.models import Payment

        self.fresh()
        return self.db.session.scalars(sa.select(Payment).order_by(Payment.id)).all()

    def delivered(self, kind: str, key_: str, timeout: float = 10):
        """Wait for the simulator to have delivered a notification (the app answered SUCCESS)."""
        found = self.sim.state.wait_for(
            lambda s: [d for d in s.notifications(kind, key_) if d.state in ("delivered", "failed")], timeout)
        assert found, f"no {kind} notification for {key_} was delivered"
        self.fresh()
        return found[-1]


def signed_notification(fields: dict, api_key: str = DEMO_API_KEY) -> bytes:
    """A payment notification as WeChat Pay signs it (MD5 with the API key)."""
    message = {k: v for k, v in sorted(fields.items()) if v not in (None, "")}
    message["sign"] = pay_sign(message, api_key)
    return to_xml(message).encode("utf-8")
