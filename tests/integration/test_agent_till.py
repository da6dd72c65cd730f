"""The agent's local API for the till (AGENT-API.md) against a real server that can be stopped:
status, sessions online and offline (and across a restart), idempotent settlement, errors."""

from __future__ import annotations

import threading
import uuid

import pytest

from pos_agent.agent import Agent
from pos_agent.config import parse_config
from pos_agent.server import make_server
from simulators.printer import VirtualPrinter
from tests.factories import create_dish, create_member
from tests.integration.agent_support import LiveServer, until


class LocalAgent:
    """The agent in this process, on an ephemeral port (its HTTP server in a thread)."""

    def __init__(self, config):
        self.agent = Agent(config)
        self.http = make_server(self.agent, "127.0.0.1", 0)
        self.agent.start()
        self.thread = threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.port = self.http.server_address[1]

    def call(self, method, path, body=None, token=None):
        import json
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self):
        self.http.shutdown()
        self.http.server_close()
        self.agent.stop()


@pytest.fixture
def store(make, app, db, tmp_path):
    tenant = make.tenant()
    dish = create_dish(make, tenant, "蛋炒饭", 1_000)
    sold_out = create_dish(make, tenant, "剁椒鱼头", 12_800)
    make.api(tenant.owner).request("PUT", f"/stores/{tenant.store.id}/sold-out/{sold_out['id']}",
                                   json={"is_sold_out": True})
    member = create_member(make, tenant)
    _device, token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")
    other = make.staff(tenant, "cashier")
    server = LiveServer(app)
    server.start()
    with VirtualPrinter(port=0, name="front") as front:
        config = parse_config({
            "store_id": str(tenant.store.id), "server_url": server.url, "device_token": token,
            "data_dir": str(tmp_path / "agent"), "http": {"port": 0}, "retry_interval_s": 0.1,
            "sync_interval_s": 0.1, "forward_timeout_s": 2, "store": {"name": "老王面馆"},
            "printers": [{"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}",
                          "role": "receipt", "timeout_s": 2}]})
        agents = []

        def start():
            agent = LocalAgent(config)
            agents.append(agent)
            return agent

        yield {"tenant": tenant, "dish": dish, "sold_out": sold_out, "member": member, "cashier": cashier,
               "other": other, "server": server, "front": front, "start": start, "password": make.PASSWORD}
        for agent in agents:
            agent.stop()
    server.stop()


def _ready(agent):
    until(lambda: agent.call("GET", "/api/v1/status")[1]["online"]
          and agent.call("GET", "/api/v1/status")[1]["local_copy_as_of"], 30, "the local copy")


def test_status_answers_without_a_token(store):
    agent = store["start"]()
    _ready(agent)
    status, body = agent.call("GET", "/api/v1/status")
    assert status == 200
    assert body["online"] is True and body["outbox_pending"] == 0 and body["cursor"] == 0
    assert "last_synced_at" in body
    assert body["printers"] == [{"name": "front", "state": body["printers"][0]["state"], "role": "receipt"}]
    store["server"].stop()
    until(lambda: agent.call("GET", "/api/v1/status")[1]["online"] is False, 30, "the agent to notice")


def test_sessions_online_then_offline_and_across_a_restart(store):
    agent = store["start"]()
    _ready(agent)
    cashier, password = store["cashier"], store["password"]
    status, body = agent.call("POST", "/api/v1/session", {"username": cashier.username, "password": "wrong-one"})
    assert status == 401 and body["error"]["code"] == "invalid_credentials"
    status, online = agent.call("POST", "/api/v1/session", {"username": cashier.username, "password": password})
    assert status == 200 and online["staff"]["id"] == cashier.id and online["staff"]["role"] == "cashier"
    store["server"].stop()
    status, offline = agent.call("POST", "/api/v1/session", {"username": cashier.username, "password": password})
    assert status == 200 and offline["staff"]["id"] == cashier.id
    status, body = agent.call("POST", "/api/v1/session", {"username": cashier.username, "password": "wrong-one"})
    assert status == 401
    # Never logged in at this till: offline, nothing to check the password against.
    status, body = agent.call("POST", "/api/v1/session", {"username": store["other"].username, "password": password})
    assert status == 401 and body["error"]["code"] == "invalid_credentials"
    assert agent.call("GET", "/api/v1/menu")[0] == 401
    assert agent.call("GET", "/api/v1/menu", token="not-a-token")[0] == 401
    # The session token survives a restart of the agent.
    agent.stop()
    store_agents = store["start"]
    again = store_agents()
    status, menu = again.call("GET", "/api/v1/menu", token=online["token"])
    assert status == 200 and {d["name"] for d in menu["dishes"]} == {"蛋炒饭", "剁椒鱼头"}


def test_offline_sales_refuse_what_they_cannot_sell_and_settle_once(store):
    agent = store["start"]()
    _ready(agent)
    password, dish = store["password"], store["dish"]
    token = agent.call("POST", "/api/v1/session", {"username": store["cashier"].username,
                                                   "password": password})[1]["token"]
    store["server"].stop()
    cid = str(uuid.uuid4())
    status, body = agent.call("POST", "/api/v1/orders", {"client_order_id": cid,
                                                         "items": [{"dish_id": 999_999, "qty": 1}]}, token)
    assert status == 404
    status, body = agent.call("POST", "/api/v1/orders", {"client_order_id": cid,
                                                         "items": [{"dish_id": store["sold_out"]["id"], "qty": 1}]},
                              token)
    assert status == 409 and body["error"]["code"] == "dish_sold_out"
    status, body = agent.call("POST", "/api/v1/orders", {"client_order_id": "nope", "items": []}, token)
    assert status == 422 and body["error"]["details"]["field"] == "client_order_id"
    status, order = agent.call("POST", "/api/v1/orders", {"client_order_id": cid,
                                                          "items": [{"dish_id": dish["id"], "qty": 2}]}, token)
    assert status == 201 and order["subtotal_cents"] == 2_000 and order["synced"] is False
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["synced"] is False
    short = {"tenders": [{"type": "cash", "amount_cents": 1_000}], "idempotency_key": uuid.uuid4().hex}
    status, body = agent.call("POST", f"/api/v1/orders/{cid}/settle", short, token)
    assert status == 422 and body["error"]["code"] == "tenders_do_not_cover_total"
    settle = {"tenders": [{"type": "cash", "amount_cents": 5_000}], "idempotency_key": uuid.uuid4().hex}
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/settle", settle, token)
    assert status == 200 and paid["change_cents"] == 3_000 and paid["paid_cents"] == 2_000
    assert agent.call("POST", f"/api/v1/orders/{cid}/settle", settle, token) == (200, paid)
    reused = {**settle, "tenders": [{"type": "cash", "amount_cents": 2_000}]}
    assert agent.call("POST", f"/api/v1/orders/{cid}/settle", reused, token)[1]["error"]["code"] == \
        "idempotency_key_reused"
    again = {"tenders": [{"type": "cash", "amount_cents": 2_000}], "idempotency_key": uuid.uuid4().hex}
    assert agent.call("POST", f"/api/v1/orders/{cid}/settle", again, token)[1]["error"]["code"] == "order_not_open"
    store["front"].wait_for_jobs(1)
    assert agent.call("GET", "/api/v1/status")[1]["outbox_pending"] == 1
    # Back online: pushed, synced, and the receipt was printed once.
    store["server"].start()
    until(lambda: agent.call("GET", "/api/v1/status")[1]["outbox_pending"] == 0, 30, "the push")
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["synced"] is True
    assert len(store["front"].printed_jobs) == 1


def test_an_order_paid_elsewhere_is_paid_at_the_till_too(store, make):
    from pos_agent.local.handlers import register_all

    agent = store["start"]()
    _ready(agent)
    token = agent.call("POST", "/api/v1/session", {"username": store["cashier"].username,
                                                   "password": store["password"]})[1]["token"]
    cid = str(uuid.uuid4())
    status, order = agent.call("POST", "/api/v1/orders", {"client_order_id": cid,
                                                          "items": [{"dish_id": store["dish"]["id"], "qty": 1}]}, token)
    assert status == 201 and order["server_id"]
    owner = make.api(store["tenant"].owner)
    paid = owner.post(f"/orders/{order['server_id']}/settle", json={
        "tenders": [{"type": "cash", "amount_cents": 1_000}], "idempotency_key": uuid.uuid4().hex})
    assert paid.status_code == 200
    events = owner.get(f"/stores/{store['tenant'].store.id}/events?kinds=order_paid").get_json()["events"]
    handlers = {}
    register_all(lambda kind, handler: handlers.setdefault(kind, handler), agent.agent.local)
    for event in events:
        handlers[event["kind"]](event)
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["status"] == "paid"
    settle = {"tenders": [{"type": "cash", "amount_cents": 1_000}], "idempotency_key": uuid.uuid4().hex}
    assert agent.call("POST", f"/api/v1/orders/{cid}/settle", settle, token)[1]["error"]["code"] == "order_not_open"
    # The status page shows the sync state.
    import urllib.request

    page = urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/").read().decode()
    assert "联网与同步" in page and "在线 online" in page
