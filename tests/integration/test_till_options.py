"""Dish options at the till and 加菜 offline, through the agent against a real server that can be
stopped, with virtual receipt and kitchen printers.

Options: the till's menu carries each dish's option groups; an order and a 加菜 carry
``option_ids``; online the server prices them, offline the agent prices them with the same rules
core (``tablerules.menu``) — the same figure; the kitchen ticket and the receipt show them. Bad
options answer 4xx and change nothing.

加菜 offline: on an order made offline and not on the server yet, the new lines join the local
order and a ticket of only those dishes prints at once, marked 加菜, once; the sale reaches the
server with all its lines at the prices the till showed, and nothing prints twice.
"""

from __future__ import annotations

import time
import uuid

import pytest

from pos_agent.config import parse_config
from simulators.printer import VirtualPrinter
from tests.factories import create_dish
from tests.integration.agent_support import LiveServer, until
from tests.integration.test_agent_till import LocalAgent


def _texts(printer: VirtualPrinter) -> list[str]:
    return ["\n".join(job.decoded.lines) for job in printer.printed_jobs]


@pytest.fixture
def shop(make, app, db, tmp_path):
    tenant = make.tenant()
    owner = make.api(tenant.owner)
    store_id = tenant.store.id
    for code in ("A01", "A02"):
        assert owner.post(f"/stores/{store_id}/tables", json={"code": code, "seats": 4}).status_code == 201
    pork = create_dish(make, tenant, "辣椒炒肉", 4_800, station="hot")
    rice = create_dish(make, tenant, "蛋炒饭", 1_500, station="hot", category="主食")
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800, station="hot")
    owner.request("PUT", f"/stores/{store_id}/sold-out/{fish['id']}", json={"is_sold_out": True})
    spice = owner.post(f"/menu/dishes/{pork['id']}/options", json={
        "name": "辣度", "is_required": True, "choices": [{"name": "不辣"}, {"name": "微辣"}, {"name": "特辣"}]})
    extra = owner.post(f"/menu/dishes/{pork['id']}/options", json={
        "name": "加料", "max_choices": 2, "choices": [{"name": "加蛋", "price_delta_cents": 200},
                                                      {"name": "加肉", "price_delta_cents": 800}]})
    assert spice.status_code == extra.status_code == 201
    choice = {c["name"]: c["id"] for group in (spice, extra) for c in group.get_json()["choices"]}
    _device, token = make.device(tenant)
    cashier = make.staff(tenant, "cashier")
    server = LiveServer(app)
    server.start()
    with VirtualPrinter(port=0, name="front") as front, VirtualPrinter(port=0, name="kitchen") as kitchen:
        config = parse_config({
            "store_id": str(store_id), "server_url": server.url, "device_token": token,
            "data_dir": str(tmp_path / "agent"), "http": {"port": 0}, "retry_interval_s": 0.1,
            "sync_interval_s": 0.2, "forward_timeout_s": 2, "store": {"name": "老王面馆"},
            "printers": [{"name": "front", "type": "network", "address": f"127.0.0.1:{front.port}",
                          "role": "receipt", "timeout_s": 2},
                         {"name": "kitchen", "type": "network", "address": f"127.0.0.1:{kitchen.port}",
                          "role": "kitchen", "stations": ["*"], "timeout_s": 2}]})
        agent = LocalAgent(config)
        try:
            until(lambda: agent.call("GET", "/api/v1/status")[1]["online"]
                  and agent.call("GET", "/api/v1/status")[1]["local_copy_as_of"], 30, "the local copy")
            status, session = agent.call("POST", "/api/v1/session", {"username": cashier.username,
                                                                     "password": make.PASSWORD})
            assert status == 200
            yield {"tenant": tenant, "owner": owner, "agent": agent, "token": session["token"], "server": server,
                   "front": front, "kitchen": kitchen, "pork": pork, "rice": rice, "fish": fish, "choice": choice}
        finally:
            agent.stop()
    server.stop()


def _order(shop, items, table="A01"):
    return shop["agent"].call("POST", "/api/v1/orders", {"client_order_id": str(uuid.uuid4()), "table": table,
                                                         "items": items}, shop["token"])


def _server_orders(shop):
    return shop["owner"].get(f"/orders?store_id={shop['tenant'].store.id}&limit=200").get_json()["orders"]


def _lines(order):
    return sorted((i["name"], i["qty"], i["unit_price_cents"], tuple(i.get("options") or ())) for i in order["items"])


def test_the_tills_menu_carries_the_option_groups(shop):
    menu = shop["agent"].call("GET", "/api/v1/till/menu", token=shop["token"])[1]
    dishes = {d["name"]: d for d in menu["dishes"]}
    groups = dishes["辣椒炒肉"]["options"]
    assert [(g["name"], g["is_required"], g["max_choices"]) for g in groups] == [("辣度", True, 1), ("加料", False, 2)]
    assert [(c["name"], c["price_delta_cents"]) for c in groups[1]["choices"]] == [("加蛋", 200), ("加肉", 800)]
    assert dishes["蛋炒饭"]["options"] == []


def test_options_online_are_priced_by_the_server_and_bad_ones_change_nothing(shop):
    agent, token, c = shop["agent"], shop["token"], shop["choice"]
    pork, rice = shop["pork"]["id"], shop["rice"]["id"]
    before = len(_server_orders(shop))
    for items, status, code in (
            ([{"dish_id": pork, "qty": 1}], 422, "option_required"),
            ([{"dish_id": pork, "qty": 1, "option_ids": [c["微辣"], 999_999]}], 422, "unknown_option"),
            ([{"dish_id": pork, "qty": 1, "option_ids": [c["微辣"], c["特辣"]]}], 422, "too_many_options"),
            ([{"dish_id": pork, "qty": 1, "option_ids": ["微辣"]}], 422, "validation_error"),
            ([{"dish_id": rice, "qty": 1, "option_ids": [c["加蛋"]]}], 422, "unknown_option"),
            ([{"dish_id": shop["fish"]["id"], "qty": 1}], 409, "dish_sold_out")):
        answer = _order(shop, items)
        assert (answer[0], answer[1]["error"]["code"]) == (status, code), (items, answer)
    assert len(_server_orders(shop)) == before
    assert {t["code"]: t["state"] for t in agent.call("GET", "/api/v1/tables", token=token)[1]["tables"]} == {
        "A01": "free", "A02": "free"}

    # The same dish with other options is another line.
    status, order = _order(shop, [{"dish_id": pork, "qty": 2, "option_ids": [c["加肉"], c["微辣"], c["加蛋"]]},
                                  {"dish_id": pork, "qty": 1, "option_ids": [c["不辣"]]}])
    assert status == 201, order
    assert _lines(order) == [("辣椒炒肉", 1, 4_800, ("不辣",)), ("辣椒炒肉", 2, 5_800, ("微辣", "加蛋", "加肉"))]
    assert order["subtotal_cents"] == 2 * 5_800 + 4_800
    # The server's kitchen ticket shows the options.
    shop["kitchen"].wait_for_jobs(1, timeout=20)
    assert "微辣 / 加蛋 / 加肉" in _texts(shop["kitchen"])[0] and "不辣" in _texts(shop["kitchen"])[0]

    # 加菜 with options, through the server; bad options change nothing.
    cid = order["client_order_id"]
    status, refused = agent.call("POST", f"/api/v1/orders/{cid}/items", {
        "items": [{"dish_id": pork, "qty": 1, "option_ids": [c["加蛋"]]}], "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 422 and refused["error"]["code"] == "option_required"
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["subtotal_cents"] == order["subtotal_cents"]
    status, added = agent.call("POST", f"/api/v1/orders/{cid}/items", {
        "items": [{"dish_id": pork, "qty": 1, "option_ids": [c["特辣"], c["加蛋"]]}],
        "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 200, added
    assert ("辣椒炒肉", 1, 5_000, ("特辣", "加蛋")) in _lines(added)
    server = shop["owner"].get(f"/orders/{order['server_id']}").get_json()
    assert server["subtotal_cents"] == added["subtotal_cents"] == 2 * 5_800 + 4_800 + 5_000
    shop["kitchen"].wait_for_jobs(2, timeout=20)
    assert "加菜" in _texts(shop["kitchen"])[1] and "特辣 / 加蛋" in _texts(shop["kitchen"])[1]


def test_offline_options_price_as_the_server_and_adding_offline_syncs_once(shop):
    agent, token, c, kitchen, front = shop["agent"], shop["token"], shop["choice"], shop["kitchen"], shop["front"]
    pork, rice = shop["pork"]["id"], shop["rice"]["id"]
    items = [{"dish_id": pork, "qty": 2, "option_ids": [c["特辣"], c["加蛋"]]}, {"dish_id": rice, "qty": 1}]
    status, online = _order(shop, items, "A01")
    assert status == 201
    kitchen.wait_for_jobs(1, timeout=20)

    shop["server"].stop()
    for bad, status, code in (([{"dish_id": pork, "qty": 1}], 422, "option_required"),
                              ([{"dish_id": pork, "qty": 1, "option_ids": [c["微辣"], 999_999]}], 422,
                               "unknown_option"),
                              ([{"dish_id": shop["fish"]["id"], "qty": 1}], 409, "dish_sold_out")):
        answer = _order(shop, bad, "A02")
        assert (answer[0], answer[1]["error"]["code"]) == (status, code), (bad, answer)
    assert agent.call("GET", "/api/v1/status")[1]["outbox_operations"] == 0

    # Offline, the rules core prices the options exactly as the server did.
    status, offline = _order(shop, items, "A02")
    assert status == 201 and offline["synced"] is False
    assert _lines(offline) == _lines(online) and offline["subtotal_cents"] == online["subtotal_cents"] == 11_500
    kitchen.wait_for_jobs(2, timeout=20)
    first = _texts(kitchen)[1]
    assert "特辣 / 加蛋" in first and "蛋炒饭" in first and "加菜" not in first

    # 加菜 offline on the order only this till has: a ticket of only the new dish, marked 加菜, once.
    cid, key = offline["client_order_id"], uuid.uuid4().hex
    add = {"items": [{"dish_id": pork, "qty": 1, "option_ids": [c["微辣"], c["加肉"]]}], "idempotency_key": key}
    for bad, code in (({**add, "items": [{"dish_id": pork, "qty": 1, "option_ids": [c["加肉"]]}],
                        "idempotency_key": uuid.uuid4().hex}, "option_required"),
                      ({**add, "items": [{"dish_id": shop["fish"]["id"], "qty": 1}],
                        "idempotency_key": uuid.uuid4().hex}, "dish_sold_out")):
        status, refused = agent.call("POST", f"/api/v1/orders/{cid}/items", bad, token)
        assert status in (409, 422) and refused["error"]["code"] == code
    assert agent.call("GET", f"/api/v1/orders/{cid}", token=token)[1]["subtotal_cents"] == 11_500
    status, added = agent.call("POST", f"/api/v1/orders/{cid}/items", add, token)
    assert status == 200, added
    assert added["subtotal_cents"] == 11_500 + 5_600 and added["synced"] is False
    assert ("辣椒炒肉", 1, 5_600, ("微辣", "加肉")) in _lines(added)
    kitchen.wait_for_jobs(3, timeout=20)
    ticket = _texts(kitchen)[2]
    assert "加菜" in ticket and "微辣 / 加肉" in ticket and "蛋炒饭" not in ticket and "特辣" not in ticket
    assert agent.call("POST", f"/api/v1/orders/{cid}/items", add, token) == (200, added)  # sent again
    reused = {**add, "items": [{"dish_id": rice, "qty": 1}]}
    status, refused = agent.call("POST", f"/api/v1/orders/{cid}/items", reused, token)
    assert status == 409 and refused["error"]["code"] == "idempotency_key_reused"
    status, second = agent.call("POST", f"/api/v1/orders/{cid}/items", {
        "items": [{"dish_id": rice, "qty": 2}], "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 200 and second["subtotal_cents"] == 11_500 + 5_600 + 3_000
    kitchen.wait_for_jobs(4, timeout=20)
    assert "加菜" in _texts(kitchen)[3] and "蛋炒饭" in _texts(kitchen)[3] and "辣椒炒肉" not in _texts(kitchen)[3]

    # An order the server has still needs it for 加菜.
    status, refused = agent.call("POST", f"/api/v1/orders/{online['client_order_id']}/items", {
        "items": [{"dish_id": rice, "qty": 1}], "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 409 and refused["error"]["code"] == "needs_server"

    # Paid offline; the receipt shows the options.
    status, paid = agent.call("POST", f"/api/v1/orders/{cid}/checkout", {
        "tenders": [{"type": "cash", "amount_cents": 30_000}], "idempotency_key": uuid.uuid4().hex}, token)
    assert status == 200 and paid["payable_cents"] == 20_100, paid
    front.wait_for_jobs(1, timeout=20)
    receipt = _texts(front)[0]
    assert "特辣" in receipt and "加肉" in receipt
    assert agent.call("GET", "/api/v1/status")[1]["outbox_operations"] == 4  # order, two 加菜, settle

    # The server back: the sale arrives once, with all its lines at the till's prices.
    shop["server"].start()
    until(lambda: agent.call("GET", "/api/v1/status")[1]["outbox_pending"] == 0, 30, "the push")
    status = agent.call("GET", "/api/v1/status")[1]
    assert status["refused"] == 0
    synced = [o for o in _server_orders(shop) if o.get("client_order_id") == cid]
    assert len(synced) == 1
    server = shop["owner"].get(f"/orders/{synced[0]['id']}").get_json()
    assert server["status"] == "paid" and server["payable_cents"] == 20_100
    assert sorted((i["name"], i["qty"], i["unit_price_cents"], tuple(o["name"] for o in i["options"]))
                  for i in server["items"]) == _lines(second)
    flags = shop["owner"].get(f"/sync/flags?store_id={shop['tenant'].store.id}").get_json()
    assert not [f for f in flags.get("flags", []) if f["order_id"] == synced[0]["id"]], flags
    # Every ticket printed once: the server's log prints nothing of the till's offline sale.
    time.sleep(2)
    assert len(kitchen.printed_jobs) == 4 and len(front.printed_jobs) == 1


def test_the_same_addition_sent_twice_at_once_prints_one_ticket(shop):
    import threading

    agent, token, kitchen = shop["agent"], shop["token"], shop["kitchen"]
    shop["server"].stop()
    status, order = _order(shop, [{"dish_id": shop["rice"]["id"], "qty": 1}])
    assert status == 201 and order["synced"] is False
    kitchen.wait_for_jobs(1, timeout=20)
    add = {"items": [{"dish_id": shop["rice"]["id"], "qty": 3}], "idempotency_key": uuid.uuid4().hex}
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(agent.call(
        "POST", f"/api/v1/orders/{order['client_order_id']}/items", add, token))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [a[0] for a in answers] == [200] * 4 and all(a[1] == answers[0][1] for a in answers)
    assert answers[0][1]["subtotal_cents"] == 1_500 * 4
    kitchen.wait_for_jobs(2, timeout=20)
    time.sleep(1)
    assert len(kitchen.printed_jobs) == 2 and "加菜" in _texts(kitchen)[1]
    assert agent.call("GET", "/api/v1/status")[1]["outbox_operations"] == 2
