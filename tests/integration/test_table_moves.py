"""转台 and 并台 on the server: an open order moves to a free table, or joins another table's
order (one bill); the kitchen is not sent the dishes again; bad moves are refused and change nothing."""

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.events.models import EventKind, StoreEvent
from app.orders.models import KitchenTicket, Order
from tests.factories import create_dish, create_table


@pytest.fixture
def floor(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    tables = {code: create_table(make, tenant, code) for code in ("A01", "A02", "A03", "A04")}
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    rice = create_dish(make, tenant, "米饭", 200, category="主食", station="cold")
    return tenant, api, tables, fish, rice


def _order(api, tenant, table, items, key):
    made = api.post("/orders", json={"store_id": tenant.store.id, "table": table, "items": items,
                                     "idempotency_key": key})
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def _state(api, table_id):
    return api.get(f"/tables/{table_id}").get_json()["state"]


def _tickets(db, order_id):
    return db.session.scalars(sa.select(KitchenTicket).where(KitchenTicket.order_id == order_id)).all()


def _kinds(db, store_id):
    return [e.kind for e in db.session.scalars(sa.select(StoreEvent).where(StoreEvent.store_id == store_id)
                                               .order_by(StoreEvent.seq))]


def test_a_table_moves_to_a_free_table_with_its_order_and_the_kitchen_is_not_sent_anything(floor, db):
    tenant, api, tables, fish, rice = floor
    order = _order(api, tenant, "A01", [{"dish_id": fish["id"], "qty": 1}, {"dish_id": rice["id"], "qty": 2}],
                   "move-order-1")
    tickets_before = len(_tickets(db, order["id"]))
    new_before = _kinds(db, tenant.store.id).count(EventKind.TICKET_NEW)

    moved = api.post(f"/tables/{tables['A01']['id']}/move",
                     json={"to_table_id": tables["A02"]["id"], "idempotency_key": "move-key-0001"})

    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["id"] == order["id"] and moved.get_json()["table"] == "A02"
    assert _state(api, tables["A01"]["id"]) == "free" and _state(api, tables["A02"]["id"]) == "ordering"
    db.session.expire_all()
    tickets = _tickets(db, order["id"])
    assert len(tickets) == tickets_before == 2 and {t.table_code for t in tickets} == {"A02"}
    kinds = _kinds(db, tenant.store.id)
    assert kinds.count(EventKind.TICKET_NEW) == new_before and kinds[-1] == EventKind.TABLE_CHANGED
    audit = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "table.move")).one()
    assert audit.details["from_table"] == "A01" and audit.details["to_table"] == "A02"

    again = api.post(f"/tables/{tables['A01']['id']}/move",
                     json={"to_table_id": tables["A02"]["id"], "idempotency_key": "move-key-0001"})
    assert again.status_code == 200 and again.get_json() == moved.get_json()
    assert _kinds(db, tenant.store.id).count(EventKind.TABLE_CHANGED) == kinds.count(EventKind.TABLE_CHANGED)


def test_a_table_merges_into_another_and_there_is_one_bill(floor, db):
    tenant, api, tables, fish, rice = floor
    first = _order(api, tenant, "A01", [{"dish_id": fish["id"], "qty": 1}], "merge-order-1")
    second = _order(api, tenant, "A02", [{"dish_id": rice["id"], "qty": 3}], "merge-order-2")

    merged = api.post(f"/tables/{tables['A02']['id']}/merge",
                      json={"into_table_id": tables["A01"]["id"], "idempotency_key": "merge-key-001"})

    assert merged.status_code == 200, merged.get_json()
    body = merged.get_json()
    assert body["id"] == first["id"] and body["subtotal_cents"] == 12_800 + 600
    assert sorted((i["name"], i["qty"]) for i in body["items"]) == [("剁椒鱼头", 1), ("米饭", 3)]
    assert _state(api, tables["A02"]["id"]) == "free" and _state(api, tables["A01"]["id"]) == "ordering"
    assert api.get(f"/orders/{second['id']}").get_json()["status"] == "voided"
    db.session.expire_all()
    assert {t.table_code for t in _tickets(db, first["id"])} == {"A01"} and len(_tickets(db, first["id"])) == 2
    bill = api.get(f"/orders/{first['id']}/bill").get_json()
    assert bill["payable_cents"] == 12_800 + 600


@pytest.mark.parametrize("case", ["same", "busy_target", "unknown_target", "other_store", "no_order", "bad_key"])
def test_bad_moves_are_refused_and_change_nothing(floor, make, db, case):
    tenant, api, tables, fish, rice = floor
    order = _order(api, tenant, "A01", [{"dish_id": fish["id"], "qty": 1}], "bad-move-order")
    _order(api, tenant, "A02", [{"dish_id": rice["id"], "qty": 1}], "bad-move-order2")
    other = api.post("/stores", json={"name": "分店"}).get_json()
    elsewhere = create_table(make, tenant, "B01", store=type("S", (), {"id": other["id"]})())
    source, body, status, code = {
        "same": ("A01", {"to_table_id": tables["A01"]["id"]}, 409, "same_table"),
        "busy_target": ("A01", {"to_table_id": tables["A02"]["id"]}, 409, "table_not_free"),
        "unknown_target": ("A01", {"to_table_id": 999_999}, 404, "not_found"),
        "other_store": ("A01", {"to_table_id": elsewhere["id"]}, 404, "not_found"),
        "no_order": ("A03", {"to_table_id": tables["A04"]["id"]}, 409, "no_open_order"),
        "bad_key": ("A01", {"to_table_id": tables["A03"]["id"], "idempotency_key": "x"}, 422, None),
    }[case]
    body = {"idempotency_key": f"bad-move-{case}", **body}
    events_before = _kinds(db, tenant.store.id)

    answer = api.post(f"/tables/{tables[source]['id']}/move", json=body)

    assert answer.status_code == status, answer.get_json()
    error = answer.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code:
        assert error["code"] == code
    db.session.expire_all()
    assert db.session.get(Order, order["id"]).table_code == "A01"
    assert _state(api, tables["A01"]["id"]) == "ordering"
    assert _state(api, tables["A03"]["id"]) == _state(api, tables["A04"]["id"]) == "free"
    assert _kinds(db, tenant.store.id) == events_before


def test_a_table_without_an_order_or_paying_its_bill_cannot_merge(floor, db):
    tenant, api, tables, fish, rice = floor
    first = _order(api, tenant, "A01", [{"dish_id": fish["id"], "qty": 1}], "pay-order-1")
    _order(api, tenant, "A02", [{"dish_id": rice["id"], "qty": 1}], "pay-order-2")

    empty = api.post(f"/tables/{tables['A03']['id']}/merge",
                     json={"into_table_id": tables["A01"]["id"], "idempotency_key": "merge-empty-1"})
    assert empty.status_code == 409 and empty.get_json()["error"]["code"] == "no_open_order"

    api.post(f"/orders/{first['id']}/settle", json={"tenders": [{"type": "cash", "amount_cents": 12_800}],
                                                    "idempotency_key": "pay-order-1-settle"})
    paid = api.post(f"/tables/{tables['A02']['id']}/merge",
                    json={"into_table_id": tables["A01"]["id"], "idempotency_key": "merge-paid-1"})
    assert paid.status_code == 409 and paid.get_json()["error"]["code"] == "no_open_order"
    assert api.get(f"/orders/{first['id']}").get_json()["status"] == "paid"
    assert _state(api, tables["A02"]["id"]) == "ordering"


def test_a_table_whose_wechat_trade_is_waiting_stays_put(floor, db):
    """WeChat Pay's pending trade lives in the payments package; the orders' move hears of it
    through the check registered at app start, and refuses."""
    from app.payments.models import IntentKind, PaymentIntent, TradeType

    tenant, api, tables, fish, _rice = floor
    order = _order(api, tenant, "A01", [{"dish_id": fish["id"], "qty": 1}], "paying-order-1")
    db.session.add(PaymentIntent(merchant_id=tenant.merchant.id, store_id=tenant.store.id, kind=IntentKind.ORDER,
                                 trade_type=TradeType.NATIVE, order_id=order["id"], amount_cents=12_800,
                                 out_trade_no="TLO-moves-paying-0001", idempotency_key="paying-intent-1",
                                 params={}, code_url="weixin://wxpay/bizpayurl?pr=test"))
    db.session.commit()
    moved = api.post(f"/tables/{tables['A01']['id']}/move",
                     json={"to_table_id": tables["A02"]["id"], "idempotency_key": "move-paying-01"})
    assert moved.status_code == 409 and moved.get_json()["error"]["code"] == "table_paying"
    assert _state(api, tables["A01"]["id"]) == "ordering" and _state(api, tables["A02"]["id"]) == "free"
