"""The agent online, at the edges: an answer lost on the way back prints nothing twice, the
local copy hears of menu and card changes through the event log, WeChat Pay at the till goes
through the agent to the server, and two tills never print the same offline order number."""

from __future__ import annotations

import time
import uuid

import pytest

from pos_agent.config import parse_config
from pos_agent.local.till import offline_order_no
from simulators.printer import VirtualPrinter
from tests.factories import create_dish, create_member
from tests.integration.agent_support import LiveServer, until
from tests.integration.test_agent_till import LocalAgent
from tests.wechat_pay_support import add_wechat_settings, live_url, pay_sim, payment_code, wechat  # noqa: F401


class LosingAnswers:
    """WSGI middleware: the app does its work and commits, but the answer to the paths in
    `lose` comes only after `delay` seconds — past the agent's timeout, as on a bad line."""

    def __init__(self, app, delay: float) -> None:
        self.app = app
        self.delay = delay
        self.lose: set[str] = set()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") not in self.lose:
            return self.app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)

        body = b"".join(self.app(environ, capture))
        time.sleep(self.delay)
        start_response(captured["status"], captured["headers"])
        return [body]


def _config(token: str, server_url: str, data_dir, front: VirtualPrinter, kitchen: VirtualPrinter, store_id: int,
            **extra) -> object:
    return parse_config({
        "store_id": str(store_id), "server_url": server_url, "device_token": token, "data_dir": str(data_dir),
        "http": {"port": 0}, "retry_interval_s": 0.1, "sync_interval_s": 0.1, "forward_timeout_s": 1,
        "store": {"name": "老王面馆"}, **extra,
        "printers": [{"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}", "role": "receipt",
                      "timeout_s": 2},
                     {"name": "kitchen", "type": "network", "address": f"127.0.0.1:{kitchen.port}",
                      "role": "kitchen", "stations": ["*"], "timeout_s": 2}]})


@pytest.fixture
def shop(make, app, db, tmp_path):
    tenant = make.tenant()
    dish = create_dish(make, tenant, "辣椒炒肉", 4_800, station="hot")
    member = create_member(make, tenant)
    _device, token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")
    losing = LosingAnswers(app.wsgi_app, delay=2.5)
    app.wsgi_app = losing
    server = LiveServer(app)
    server.start()
    agents = []
    try:
        with VirtualPrinter(port=0, name="front") as front, VirtualPrinter(port=0, name="kitchen") as kitchen:
            def start(**extra):
                agent = LocalAgent(_config(token, server.url, tmp_path / "agent", front, kitchen, tenant.store.id,
                                           **extra))
                agents.append(agent)
                until(lambda: agent.call("GET", "/api/v1/status")[1]["online"]
                      and agent.call("GET", "/api/v1/status")[1]["local_copy_as_of"]
                      and (agent.agent.follow_state() or None) and agent.agent.follow_state().online,
                      30, "the agent online with its copy")
                _status, session = agent.call("POST", "/api/v1/session",
                                              {"username": cashier.username, "password": make.PASSWORD})
                agent.token = session["token"]
                return agent

            yield {"tenant": tenant, "dish": dish, "member": member, "losing": losing, "front": front,
                   "kitchen": kitchen, "start": start, "api": make.api(tenant.owner)}
    finally:
        for agent in agents:
            agent.stop()
        server.stop()
        app.wsgi_app = losing.app


def _on_server(api, store_id: int, client_order_id: str) -> list[dict]:
    response = api.get("/orders", query_string={"store_id": store_id, "client_order_id": client_order_id})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["orders"]


def _quiet(agent, printers, seconds: float = 3.0) -> None:
    """Wait until the outbox is empty, the follower has read the whole log and nothing more
    prints for a while: whatever would print twice has had its chance."""
    until(lambda: agent.call("GET", "/api/v1/status")[1]["outbox_pending"] == 0, 60, "the outbox to empty")
    counts = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = [len(p.printed_jobs) for p in printers]
        if now == counts:
            return
        counts = now
        time.sleep(seconds)
    raise AssertionError("the printers never went quiet")


def test_a_lost_answer_to_an_order_prints_its_kitchen_ticket_once(shop, db):
    agent = shop["start"]()
    shop["losing"].lose = {"/api/v1/sync/batches"}
    cid = str(uuid.uuid4())
    status, order = agent.call("POST", "/api/v1/orders", {"client_order_id": cid,
                                                          "items": [{"dish_id": shop["dish"]["id"], "qty": 1}]},
                               token=agent.token)
    # The server took the order, but its answer came too late: the till sold it offline too.
    assert status == 201 and order["synced"] is False, order
    shop["losing"].lose = set()
    _quiet(agent, [shop["kitchen"], shop["front"]])
    assert len(shop["kitchen"].printed_jobs) == 1
    assert "辣椒炒肉 x1" in shop["kitchen"].printed_jobs[0].decoded.lines
    assert len(_on_server(shop["api"], shop["tenant"].store.id, cid)) == 1


def test_a_lost_answer_to_a_settlement_prints_its_receipt_once(shop, db):
    agent = shop["start"]()
    cid = str(uuid.uuid4())
    status, order = agent.call("POST", "/api/v1/orders", {"client_order_id": cid,
                                                          "items": [{"dish_id": shop["dish"]["id"], "qty": 2}]},
                               token=agent.token)
    assert status == 201 and order["synced"] is True
    shop["kitchen"].wait_for_jobs(1, timeout=30)
    shop["losing"].lose = {"/api/v1/sync/batches"}
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/settle", {
        "tenders": [{"type": "cash", "amount_cents": 10_000}], "idempotency_key": uuid.uuid4().hex},
        token=agent.token)
    assert status == 200 and paid["payable_cents"] == 9_600 and paid["change_cents"] == 400, paid
    shop["losing"].lose = set()
    _quiet(agent, [shop["kitchen"], shop["front"]])
    receipts = [job for job in shop["front"].printed_jobs if "找零 Change" in " ".join(job.decoded.lines)]
    assert len(receipts) == 1, [job.decoded.lines for job in shop["front"].printed_jobs]
    assert len(shop["kitchen"].printed_jobs) == 1
    [server_order] = _on_server(shop["api"], shop["tenant"].store.id, cid)
    assert server_order["status"] == "paid" and server_order["payable_cents"] == 9_600


def test_menu_and_card_changes_reach_the_local_copy_through_the_log(shop, make, db):
    # The timed full refresh is an hour away: only the events can bring the changes in time.
    agent = shop["start"](resync_interval_s=3600)
    copy = agent.agent.local.copy
    api, store_id, dish_id = shop["api"], shop["tenant"].store.id, shop["dish"]["id"]
    assert copy.dish(dish_id)["is_sold_out"] is False
    assert api.request("PUT", f"/stores/{store_id}/sold-out/{dish_id}", json={"is_sold_out": True}).status_code == 200
    until(lambda: copy.dish(dish_id)["is_sold_out"] is True, 15, "the sold-out flag in the local copy")
    # The till page hears of it in the agent's local feed, beside the card swipes.
    status, feed = agent.call("GET", "/api/events?after=0")
    assert status == 200
    news = [e for e in feed["events"] if e["reader"] == "server"]
    assert news and news[-1]["kind"] == "menu_changed" and news[-1]["payload"] == {"what": ["sold_out"]}
    assert api.patch(f"/menu/dishes/{dish_id}", json={"price_cents": 5_200}).status_code == 200
    until(lambda: copy.dish(dish_id)["price_cents"] == 5_200, 15, "the new price in the local copy")

    member_id = shop["member"]["id"]
    bound = api.post(f"/members/{member_id}/cards", json={"card_no": "0012345678"})
    assert bound.status_code == 201, bound.get_json()
    until(lambda: (copy.find_member(card="0012345678") or {}).get("id") == member_id, 15, "the new card")
    card_id = bound.get_json()["id"]
    lost = api.post(f"/members/{member_id}/cards/{card_id}/lost", json={})
    assert lost.status_code == 200, lost.get_json()
    until(lambda: copy.find_member(card="0012345678") is None, 15, "the lost card gone from the local copy")
    events = api.get(f"/stores/{store_id}/events").get_json()["events"]
    kinds = [e["kind"] for e in events]
    assert "menu_changed" in kinds and "member_changed" in kinds
    assert {"member_id": member_id} in [e["payload"] for e in events if e["kind"] == "member_changed"]


def test_offline_order_numbers_carry_the_till(shop):
    assert offline_order_no(7, 12) == "L7-0012"
    assert offline_order_no(8, 12) != offline_order_no(7, 12)
    agent = shop["start"]()
    shop["losing"].lose = {"/api/v1/sync/batches"}
    status, order = agent.call("POST", "/api/v1/orders", {"client_order_id": str(uuid.uuid4()),
                                                          "items": [{"dish_id": shop["dish"]["id"], "qty": 1}]},
                               token=agent.token)
    shop["losing"].lose = set()
    assert status == 201 and order["order_no"] == f"L{agent.agent.device_id()}-0001"


@pytest.fixture
def wechat_shop(make, app, db, tmp_path, wechat, live_url):  # noqa: F811
    tenant = make.tenant()
    add_wechat_settings(db, tenant.merchant.id)
    dish = create_dish(make, tenant, "剁椒鱼头", 12_800, station="hot")
    _device, token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")
    with VirtualPrinter(port=0, name="front") as front, VirtualPrinter(port=0, name="kitchen") as kitchen:
        agent = LocalAgent(_config(token, live_url, tmp_path / "agent", front, kitchen, tenant.store.id))
        try:
            until(lambda: agent.call("GET", "/api/v1/status")[1]["local_copy_as_of"], 30, "the local copy")
            agent.token = agent.call("POST", "/api/v1/session", {"username": cashier.username,
                                                                 "password": make.PASSWORD})[1]["token"]
            yield {"agent": agent, "dish": dish, "front": front, "api": make.api(tenant.owner),
                   "store_id": tenant.store.id}
        finally:
            agent.stop()


def _order(agent, dish) -> str:
    cid = str(uuid.uuid4())
    status, body = agent.call("POST", "/api/v1/orders", {"client_order_id": cid,
                                                         "items": [{"dish_id": dish["id"], "qty": 1}]},
                              token=agent.token)
    assert status == 201 and body["synced"] is True, body
    return cid


def test_wechat_pay_at_the_till_goes_through_the_agent(wechat_shop, db):
    agent, dish = wechat_shop["agent"], wechat_shop["dish"]
    cid = _order(agent, dish)
    key = uuid.uuid4().hex
    body = {"tenders": [{"type": "cash", "amount_cents": 2_800},
                        {"type": "wechat", "amount_cents": 10_000, "auth_code": payment_code("0001")}],
            "idempotency_key": key}
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/settle", body, token=agent.token)
    assert status == 200 and paid["status"] == "paid" and paid["payable_cents"] == 12_800, paid
    again = agent.call("POST", f"/api/v1/orders/{cid}/settle", body, token=agent.token)
    assert again == (200, paid)
    [order] = _on_server(wechat_shop["api"], wechat_shop["store_id"], cid)
    assert order["status"] == "paid"
    assert sorted((t["type"], t["amount_cents"]) for t in order["tenders"]) == [("cash", 2_800), ("wechat", 10_000)]
    wechat_shop["front"].wait_for_jobs(1, timeout=30)

    # A NATIVE QR: 202 with the code to show; the order is paid when WeChat Pay notifies.
    cid = _order(agent, dish)
    status, waiting = agent.call("POST", f"/api/v1/orders/{cid}/settle", {
        "tenders": [{"type": "wechat", "amount_cents": 12_800, "trade_type": "NATIVE"}],
        "idempotency_key": uuid.uuid4().hex}, token=agent.token)
    assert status == 202 and waiting["status"] == "awaiting_payment" and waiting["code_url"].startswith("weixin://")

    # A WeChat tender with neither a payment code nor a QR is the cashier's mistake.
    status, refused = agent.call("POST", f"/api/v1/orders/{cid}/settle", {
        "tenders": [{"type": "wechat", "amount_cents": 12_800}], "idempotency_key": uuid.uuid4().hex},
        token=agent.token)
    assert status == 422 and refused["error"]["details"]["field"] == "tenders[0].auth_code"
