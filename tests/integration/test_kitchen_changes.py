"""The kitchen hears of every change to what it is cooking: a dish voided (退菜), made fewer (改单)
or refunded before it is served comes as the ticket's next version on the store event log
(``ticket_changed`` while something is left on it, ``ticket_cancelled`` when nothing is), and
an order rushed (催菜, from the till or the table's phone) as ``order_rushed`` — at most once in
``KITCHEN_RUSH_EVERY_MINUTES`` per order."""

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.events.models import EventKind, StoreEvent
from app.orders.models import OrderRush
from tablerules.documents import KitchenTicket
from tests.factories import create_dish, create_table
from tests.integration.test_diner_pages import Phone, _token


def _events(make, store_id, *kinds):
    make.db.session.expire_all()
    return make.db.session.scalars(sa.select(StoreEvent).where(
        StoreEvent.store_id == store_id, StoreEvent.kind.in_(kinds)).order_by(StoreEvent.seq)).all()


def _error(response, status, code):
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code, response.get_json()
    return response.get_json()["error"]


@pytest.fixture
def floor(make):
    tenant = make.tenant()
    cashier = make.api(make.staff(tenant, "cashier"))
    dishes = {"辣椒炒肉": create_dish(make, tenant, "辣椒炒肉", 4_200, station="hot"),
              "剁椒鱼头": create_dish(make, tenant, "剁椒鱼头", 12_800, station="hot"),
              "凉拌黄瓜": create_dish(make, tenant, "凉拌黄瓜", 1_600, station="cold", category="凉菜")}
    create_table(make, tenant, code="A1")

    def order(*items, table="A1"):
        answer = cashier.post("/orders", json={
            "store_id": tenant.store.id, "table": table, "idempotency_key": uuid.uuid4().hex,
            "items": [{"dish_id": dishes[name]["id"], "qty": qty} for name, qty in items]})
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()

    return tenant, cashier, dishes, order


def _line(order, name):
    return next(i for i in order["items"] if i["name"] == name)


def test_a_void_changes_the_ticket_and_the_last_void_cancels_it(floor, make):
    tenant, cashier, _dishes, order = floor
    placed = order(("辣椒炒肉", 2), ("剁椒鱼头", 1), ("凉拌黄瓜", 1))
    pork, fish = _line(placed, "辣椒炒肉"), _line(placed, "剁椒鱼头")

    # Given a hot ticket with two dishes, when one is voided, then the ticket changes (version 2).
    assert cashier.post(f"/orders/{placed['id']}/lines/{pork['id']}/void",
                        json={"reason": "客人不要了"}).status_code == 200
    (changed,) = _events(make, tenant.store.id, EventKind.TICKET_CHANGED)
    ticket = KitchenTicket.from_dict(changed.payload)
    assert (ticket.mark, ticket.version, ticket.reason, ticket.station) == ("change", 2, "客人不要了", "hot")
    assert [(i.name, i.qty, i.status, i.was_qty) for i in ticket.items] == [
        ("辣椒炒肉", 2, "cancelled", 2), ("剁椒鱼头", 1, "confirmed", None)]
    assert changed.order_id == placed["id"] and ticket.document_id == f"ticket-{ticket.ticket_id}"

    # When the last dish on it is voided too, the ticket is cancelled (version 3), nothing left.
    assert cashier.post(f"/orders/{placed['id']}/lines/{fish['id']}/void",
                        json={"reason": "太慢了"}).status_code == 200
    (cancelled,) = _events(make, tenant.store.id, EventKind.TICKET_CANCELLED)
    gone = KitchenTicket.from_dict(cancelled.payload)
    assert (gone.mark, gone.version, gone.ticket_id) == ("cancel", 3, ticket.ticket_id)
    assert [(i.name, i.status, i.was_qty) for i in gone.items] == [("辣椒炒肉", "cancelled", None),
                                                                  ("剁椒鱼头", "cancelled", 1)]
    # The cold ticket never heard of it; voiding twice is refused and tells the kitchen nothing.
    assert {KitchenTicket.from_dict(e.payload).station for e in _events(
        make, tenant.store.id, EventKind.TICKET_CHANGED, EventKind.TICKET_CANCELLED)} == {"hot"}
    _error(cashier.post(f"/orders/{placed['id']}/lines/{fish['id']}/void", json={"reason": "再退"}), 409,
           "line_state_conflict")
    assert len(_events(make, tenant.store.id, EventKind.TICKET_CHANGED, EventKind.TICKET_CANCELLED)) == 2


def test_fewer_of_a_dish_is_a_change_with_what_it_was(floor, make):
    tenant, cashier, _dishes, order = floor
    placed = order(("辣椒炒肉", 3))
    pork = _line(placed, "辣椒炒肉")
    answer = cashier.patch(f"/orders/{placed['id']}/lines/{pork['id']}", json={"qty": 1, "reason": "点多了"})
    assert answer.status_code == 200, answer.get_json()
    assert _line(answer.get_json(), "辣椒炒肉")["qty"] == 1 and answer.get_json()["subtotal_cents"] == 4_200
    (changed,) = _events(make, tenant.store.id, EventKind.TICKET_CHANGED)
    ticket = KitchenTicket.from_dict(changed.payload)
    assert [(i.qty, i.was_qty, i.is_changed) for i in ticket.items] == [(1, 3, True)] and ticket.version == 2


def test_bad_changes_are_refused_and_change_nothing(floor, make):
    tenant, cashier, _dishes, order = floor
    placed = order(("辣椒炒肉", 2))
    pork = _line(placed, "辣椒炒肉")
    url = f"/orders/{placed['id']}/lines/{pork['id']}"
    _error(cashier.patch(url, json={"qty": 2, "reason": "一样"}), 422, "qty_not_reduced")
    _error(cashier.patch(url, json={"qty": 5, "reason": "多点"}), 422, "qty_not_reduced")
    _error(cashier.patch(url, json={"qty": 0, "reason": "不要"}), 422, "validation_error")
    _error(cashier.patch(url, json={"qty": "1", "reason": "文字"}), 422, "validation_error")
    _error(cashier.patch(url, json={"qty": 1}), 422, "validation_error")
    _error(cashier.patch(f"/orders/{placed['id']}/lines/999999", json={"qty": 1, "reason": "没有"}), 404, "not_found")
    stranger = make.api(make.tenant().owner)
    _error(stranger.patch(url, json={"qty": 1, "reason": "别家"}), 404, "not_found")
    _error(stranger.post(f"/orders/{placed['id']}/rush"), 404, "not_found")
    _error(stranger.post(f"/orders/{placed['id']}/lines/{pork['id']}/void", json={"reason": "别家"}), 404,
           "not_found")
    assert cashier.get(f"/orders/{placed['id']}").get_json()["items"][0]["qty"] == 2
    assert _events(make, tenant.store.id, EventKind.TICKET_CHANGED, EventKind.TICKET_CANCELLED,
                   EventKind.ORDER_RUSHED) == []


def test_a_refund_before_the_dish_is_served_changes_its_ticket(floor, make):
    tenant, cashier, _dishes, order = floor
    placed = order(("辣椒炒肉", 2), ("剁椒鱼头", 1))
    bill = cashier.get(f"/orders/{placed['id']}/bill").get_json()
    paid = cashier.post(f"/orders/{placed['id']}/settle", json={
        "idempotency_key": uuid.uuid4().hex, "tenders": [{"type": "cash", "amount_cents": bill["payable_cents"]}]})
    assert paid.status_code == 200, paid.get_json()
    pork = _line(placed, "辣椒炒肉")
    refund = cashier.post(f"/orders/{placed['id']}/refund", json={
        "reason": "上菜太慢", "idempotency_key": uuid.uuid4().hex, "lines": [{"line_id": pork["id"], "qty": 1}]})
    assert refund.status_code == 200, refund.get_json()
    (changed,) = _events(make, tenant.store.id, EventKind.TICKET_CHANGED)
    ticket = KitchenTicket.from_dict(changed.payload)
    assert [(i.name, i.qty, i.was_qty) for i in ticket.items] == [("辣椒炒肉", 1, 2), ("剁椒鱼头", 1, None)]
    # The rest refunded: nothing is left to cook on the ticket.
    rest = cashier.post(f"/orders/{placed['id']}/refund",
                        json={"reason": "不吃了", "idempotency_key": uuid.uuid4().hex})
    assert rest.status_code == 200, rest.get_json()
    (cancelled,) = _events(make, tenant.store.id, EventKind.TICKET_CANCELLED)
    assert {i.status for i in KitchenTicket.from_dict(cancelled.payload).items} == {"cancelled"}


def test_the_till_rushes_an_order_once_in_a_while(floor, make, app):
    tenant, cashier, _dishes, order = floor
    placed = order(("辣椒炒肉", 1), ("凉拌黄瓜", 2))
    rushed = cashier.post(f"/orders/{placed['id']}/rush")
    assert rushed.status_code == 201, rushed.get_json()
    assert rushed.get_json()["rush_no"] == 1
    (event,) = _events(make, tenant.store.id, EventKind.ORDER_RUSHED)
    slip = KitchenTicket.from_dict(event.payload)
    assert (slip.mark, slip.document_id, slip.table, slip.rush_no) == (
        "rush", f"rush-{_rush_id(make, placed)}", "A1", 1)
    assert sorted((i.name, i.qty) for i in slip.items) == [("凉拌黄瓜", 2), ("辣椒炒肉", 1)]
    assert len(slip.ticket_ids) == 2 and event.order_id == placed["id"]

    # Again at once: too soon (429), nothing recorded, nothing printed.
    error = _error(cashier.post(f"/orders/{placed['id']}/rush"), 429, "rush_too_soon")
    assert 0 < error["details"]["retry_after_s"] <= app.config["KITCHEN_RUSH_EVERY_MINUTES"] * 60
    assert len(_events(make, tenant.store.id, EventKind.ORDER_RUSHED)) == 1

    # Later, once the cold dish is done, a second rush names only the dish still to cook.
    rush = make.db.session.scalar(sa.select(OrderRush).where(OrderRush.order_id == placed["id"]))
    rush.rushed_at -= timedelta(minutes=app.config["KITCHEN_RUSH_EVERY_MINUTES"] + 1)
    make.db.session.commit()
    cook = make.api(make.staff(tenant, "kitchen"))
    cold = next(t for t in cook.get(f"/stores/{tenant.store.id}/tickets").get_json()["tickets"]
                if t["station"] == "cold")
    assert cold["ticket_id"] in slip.ticket_ids
    assert cook.post(f"/tickets/{cold['ticket_id']}/bump").status_code == 200
    again = cashier.post(f"/orders/{placed['id']}/rush")
    assert again.status_code == 201 and again.get_json()["rush_no"] == 2
    second = KitchenTicket.from_dict(_events(make, tenant.store.id, EventKind.ORDER_RUSHED)[-1].payload)
    assert [(i.name, i.qty) for i in second.items] == [("辣椒炒肉", 1)] and second.rush_no == 2


def _rush_id(make, placed):
    make.db.session.expire_all()
    return make.db.session.scalar(sa.select(OrderRush.id).where(OrderRush.order_id == placed["id"]))


def test_nothing_to_rush_when_every_dish_is_served(floor, make):
    tenant, cashier, _dishes, order = floor
    placed = order(("辣椒炒肉", 1))
    cook = make.api(make.staff(tenant, "kitchen"))
    ticket = cook.get(f"/stores/{tenant.store.id}/tickets").get_json()["tickets"][0]
    assert cook.post(f"/tickets/{ticket['ticket_id']}/bump").status_code == 200
    _error(cashier.post(f"/orders/{placed['id']}/rush"), 409, "nothing_to_rush")
    _error(cashier.post("/orders/999999/rush"), 404, "not_found")
    assert _events(make, tenant.store.id, EventKind.ORDER_RUSHED) == []


def test_the_diners_rush_their_tables_order_from_the_phone(floor, make):
    tenant, _cashier, dishes, _order = floor
    table = create_table(make, tenant, code="B2")
    phone = Phone(make.client, _token(table))
    _error(phone.client.post(f"/t/{phone.token}/rush", headers=phone._headers(), json={}), 409, "nothing_to_rush")
    assert phone.add(dishes["剁椒鱼头"]["id"], 1).status_code == 201
    assert phone.send().status_code == 200
    rushed = phone.client.post(f"/t/{phone.token}/rush", headers=phone._headers(), json={})
    assert rushed.status_code == 200, rushed.get_json()
    assert rushed.get_json() == {"rushed": True, "table": "B2", "rush_no": 1}
    (event,) = _events(make, tenant.store.id, EventKind.ORDER_RUSHED)
    assert KitchenTicket.from_dict(event.payload).table == "B2"
    _error(phone.client.post(f"/t/{phone.token}/rush", headers=phone._headers(), json={}), 429, "rush_too_soon")
    # Without the page's CSRF token, or with a table link that is not valid, nothing happens.
    assert phone.client.post(f"/t/{phone.token}/rush", json={}).status_code in (400, 403)
    assert phone.client.post("/t/not-a-token/rush", headers=phone._headers(), json={}).status_code == 404
    assert len(_events(make, tenant.store.id, EventKind.ORDER_RUSHED)) == 1
