"""The till's floor calls on the agent: 转台, 并台 and the diners' picks confirmed with 确认下单,
against a real server that can be stopped. Bad input answers 4xx and changes nothing."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from tests.integration.agent_support import until
from tests.integration.test_till_desk import _order, desk

__all__ = ["desk"]


def _tables(agent, token):
    return {t["code"]: t for t in agent.call("GET", "/api/v1/tables", token=token)[1]["tables"]}


def _key():
    return uuid.uuid4().hex


def test_a_party_moves_to_a_free_table_with_its_order(desk):
    agent, token = desk["agent"], desk["token"]
    agent.call("POST", "/api/v1/tables/A01/seat", {"guests": 3}, token)
    order = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    agent.call("POST", "/api/v1/tables/A02/seat", {"guests": 2}, token)
    before = _tables(agent, token)

    for body, status, code in (({}, 422, "validation_error"),
                               ({"to": "A02", "idempotency_key": "short"}, 422, "validation_error"),
                               ({"to": "Z99", "idempotency_key": _key()}, 404, "not_found"),
                               ({"to": "A01", "idempotency_key": _key()}, 409, "same_table"),
                               ({"to": "A02", "idempotency_key": _key()}, 409, "table_not_free")):
        answer = agent.call("POST", "/api/v1/tables/A01/move", body, token)
        assert (answer[0], answer[1]["error"]["code"]) == (status, code), (body, answer)
    assert agent.call("POST", "/api/v1/tables/A01/move", {"to": "B01", "idempotency_key": _key()})[0] == 401
    assert _tables(agent, token) == before

    key = _key()
    status, moved = agent.call("POST", "/api/v1/tables/A01/move", {"to": "B01", "idempotency_key": key}, token)
    assert status == 200, moved
    assert (moved["from"]["state"], moved["to"]["state"], moved["to"]["guests"]) == ("free", "ordered", 3)
    assert moved["to"]["order"]["client_order_id"] == order["client_order_id"]
    owner, store_id = desk["owner"], desk["tenant"].store.id
    assert owner.get(f"/orders/{order['server_id']}").get_json()["table"] == "B01"
    tickets = owner.get(f"/stores/{store_id}/tickets").get_json()["tickets"]
    assert [t["table"] for t in tickets] == ["B01"]
    tables = _tables(agent, token)
    assert (tables["A01"]["state"], tables["B01"]["state"]) == ("free", "ordered")
    # Sent again with its key: the first answer, and nothing moves twice; the key with another
    # table is refused; a new key finds B01 taken.
    assert agent.call("POST", "/api/v1/tables/A01/move", {"to": "b01", "idempotency_key": key}, token) == (200, moved)
    status, reused = agent.call("POST", "/api/v1/tables/A01/move", {"to": "A02", "idempotency_key": key}, token)
    assert status == 409 and reused["error"]["code"] == "idempotency_key_reused"
    status, again = agent.call("POST", "/api/v1/tables/A01/move", {"to": "B01", "idempotency_key": _key()}, token)
    assert status == 409 and again["error"]["code"] == "table_not_free"
    assert _tables(agent, token) == tables
    assert [t["table"] for t in owner.get(f"/stores/{store_id}/tickets").get_json()["tickets"]] == ["B01"]


def test_a_seated_table_moves_offline_but_an_order_needs_the_server(desk):
    agent, token = desk["agent"], desk["token"]
    agent.call("POST", "/api/v1/tables/A01/seat", {"guests": 2}, token)
    agent.call("POST", "/api/v1/tables/A02/seat", {"guests": 4}, token)
    _order(agent, token, "A02", [{"dish_id": desk["rice"]["id"], "qty": 1}])
    desk["server"].stop()
    until(lambda: not agent.call("GET", "/api/v1/status")[1]["online"]
          or agent.call("GET", "/api/v1/tables", token=token)[1]["online"] is False, 10, "offline")

    status, moved = agent.call("POST", "/api/v1/tables/A01/move", {"to": "B01", "idempotency_key": _key()}, token)
    assert status == 200, moved
    assert (moved["from"]["state"], moved["to"]["state"], moved["to"]["guests"]) == ("free", "ordering", 2)

    before = _tables(agent, token)
    status, refused = agent.call("POST", "/api/v1/tables/A02/move", {"to": "A01", "idempotency_key": _key()},
                                 token)
    assert status == 409 and refused["error"]["code"] == "needs_server"
    status, refused = agent.call("POST", "/api/v1/tables/A02/merge", {"into": "B01", "idempotency_key": _key()},
                                 token)
    assert status == 409 and refused["error"]["code"] == "no_open_order"
    assert _tables(agent, token) == before


def test_two_tables_merge_into_one_bill_that_is_paid_once(desk):
    agent, token = desk["agent"], desk["token"]
    agent.call("POST", "/api/v1/tables/A01/seat", {"guests": 2}, token)
    agent.call("POST", "/api/v1/tables/A02/seat", {"guests": 3}, token)
    kept = _order(agent, token, "A01", [{"dish_id": desk["pork"]["id"], "qty": 1}])
    joining = _order(agent, token, "A02", [{"dish_id": desk["rice"]["id"], "qty": 2}])
    assert agent.call("POST", "/api/v1/tables/A02/merge", {"into": "B01", "idempotency_key": _key()},
                      token)[1]["error"]["code"] == "no_open_order"
    assert agent.call("POST", "/api/v1/tables/A02/merge", {"into": "A02", "idempotency_key": _key()},
                      token)[1]["error"]["code"] == "same_table"
    assert agent.call("POST", "/api/v1/tables/A02/merge", {"into": 7, "idempotency_key": _key()},
                      token)[0] == 422

    key = _key()
    status, merged = agent.call("POST", "/api/v1/tables/A02/merge", {"into": "A01", "idempotency_key": key}, token)
    assert status == 200, merged
    assert (merged["from"]["state"], merged["to"]["state"], merged["to"]["guests"]) == ("free", "ordered", 5)
    # Sent again with its key: the first answer (A02 has no order now, but nothing is refused or merged twice).
    assert agent.call("POST", "/api/v1/tables/A02/merge", {"into": "A01", "idempotency_key": key}, token) == \
        (200, merged)
    assert _tables(agent, token)["A01"]["guests"] == 5
    status, order = agent.call("GET", f"/api/v1/orders/{kept['client_order_id']}", token=token)
    assert order["subtotal_cents"] == 4_800 + 3_000
    assert sorted((i["name"], i["qty"]) for i in order["items"]) == [("蛋炒饭", 2), ("辣椒炒肉", 1)]
    assert desk["owner"].get(f"/orders/{joining['server_id']}").get_json()["status"] == "voided"

    # The merged-away order cannot be paid; the one bill can, once.
    status, refused = agent.call("POST", f"/api/v1/orders/{joining['client_order_id']}/checkout", {
        "tenders": [{"type": "cash", "amount_cents": 3_000}], "idempotency_key": _key()}, token)
    assert status == 409 and refused["error"]["code"] == "order_not_open"
    status, paid = agent.call("POST", f"/api/v1/orders/{kept['client_order_id']}/checkout", {
        "tenders": [{"type": "cash", "amount_cents": 10_000}], "idempotency_key": _key()}, token)
    assert status == 200 and paid["payable_cents"] == 7_800 and paid["change_cents"] == 2_200


def test_diners_picks_wait_at_the_till_and_are_confirmed_once(desk, make):
    agent, token, owner, tenant = desk["agent"], desk["token"], desk["owner"], desk["tenant"]
    assert owner.patch(f"/stores/{tenant.store.id}", json={"diner_orders_need_confirmation": True}).status_code == 200
    b01 = next(t for t in owner.get(f"/stores/{tenant.store.id}/tables").get_json()["tables"] if t["code"] == "B01")
    phone = f"/api/v1/diner/tables/{urlsplit(b01['qr_url']).path.rstrip('/').rsplit('/', 1)[-1]}/cart"
    assert make.client.post(f"{phone}/lines", json={"dish_id": desk["pork"]["id"], "qty": 2,
                                                    "diner": "小王"}).status_code == 201
    assert make.client.post(f"{phone}/send").status_code == 200

    until(lambda: _tables(agent, token)["B01"]["pending"] == 2, 10, "the picks at the till")
    status, picks = agent.call("GET", "/api/v1/tables/B01/picks", token=token)
    assert status == 200 and [(p["name"], p["qty"], p["added_by"]) for p in picks["lines"]] == [("辣椒炒肉", 2, "小王")]
    line_ids = [p["id"] for p in picks["lines"]]
    tickets_before = len(owner.get(f"/stores/{tenant.store.id}/tickets").get_json()["tickets"])

    for body, status_code in (({}, 422), ({"line_ids": ["x"]}, 422), ({"line_ids": [999_999]}, 409)):
        assert agent.call("POST", "/api/v1/tables/B01/confirm", body, token)[0] == status_code, body
    status, confirmed = agent.call("POST", "/api/v1/tables/B01/confirm", {"line_ids": line_ids}, token)
    assert status == 200 and confirmed["confirmed"] == 1 and confirmed["lines"][0]["status"] == "confirmed"
    status, again = agent.call("POST", "/api/v1/tables/B01/confirm", {"line_ids": line_ids}, token)
    assert status == 409 and again["error"]["code"] == "picks_changed"
    assert _tables(agent, token)["B01"]["pending"] == 0
    tickets = owner.get(f"/stores/{tenant.store.id}/tickets").get_json()["tickets"]
    assert len(tickets) == tickets_before + 1 and tickets[-1]["table"] == "B01"
