"""加菜 (`POST /orders/{id}/items`) and the waiter's confirmation of diner picks
(`POST /orders/{id}/lines/confirm`), over the API: what lands, what the kitchen is told, and
every refusal changing nothing."""

import uuid
from urllib.parse import urlsplit

import pytest

from tests.factories import create_dish, create_table


def key() -> str:
    return uuid.uuid4().hex


class Shop:
    def __init__(self, make):
        self.make = make
        self.tenant = make.tenant()
        self.api = make.api(self.tenant.owner)
        self.fish = create_dish(make, self.tenant, "剁椒鱼头", 12_800, station="hot")
        self.salad = create_dish(make, self.tenant, "拍黄瓜", 1_800, category="凉菜", station="cold")
        self.rice = create_dish(make, self.tenant, "米饭", 300, category="主食", station="hot")

    def order(self, *items):
        items = items or ((self.fish, 1),)
        response = self.api.post("/orders", json={"store_id": self.tenant.store.id, "idempotency_key": key(),
                                                  "items": [{"dish_id": d["id"], "qty": q} for d, q in items]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def add(self, order_id, *items, idempotency_key=None):
        return self.api.post(f"/orders/{order_id}/items", json={
            "idempotency_key": idempotency_key or key(),
            "items": [{"dish_id": d["id"], "qty": q} for d, q in items]})

    def get(self, order_id):
        return self.api.get(f"/orders/{order_id}").get_json()

    def events(self, *kinds):
        return self.api.get(f"/stores/{self.tenant.store.id}/events",
                            query_string={"kinds": ",".join(kinds)}).get_json()["events"]

    def tickets(self):
        return self.api.get(f"/stores/{self.tenant.store.id}/tickets").get_json()["tickets"]

    def kitchen_state(self, order_id):
        """Everything a refused call must leave as it was."""
        return self.get(order_id), self.tickets(), self.events()

    def sold_out(self, dish):
        response = self.api.request("PUT", f"/stores/{self.tenant.store.id}/sold-out/{dish['id']}",
                                    json={"is_sold_out": True})
        assert response.status_code == 200, response.get_json()

    def settle_cash(self, order):
        response = self.api.post(f"/orders/{order['id']}/settle", json={
            "idempotency_key": key(), "tenders": [{"type": "cash", "amount_cents": order["subtotal_cents"]}]})
        assert response.status_code == 200, response.get_json()


@pytest.fixture
def shop(make):
    return Shop(make)


def _error(response, status, code):
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code
    return response.get_json()


# --- 加菜 --------------------------------------------------------------------------------------

def test_added_dishes_land_on_the_order_and_reach_the_kitchen_as_additions(shop):
    order = shop.order()
    first_tickets = shop.tickets()
    assert [t["mark"] for t in first_tickets] == ["new"]

    added = shop.add(order["id"], (shop.salad, 1), (shop.rice, 2))
    assert added.status_code == 201, added.get_json()
    body = added.get_json()
    assert body["id"] == order["id"] and body["status"] == "open"
    assert [(i["name"], i["qty"], i["status"]) for i in body["items"]] == [
        ("剁椒鱼头", 1, "confirmed"), ("拍黄瓜", 1, "confirmed"), ("米饭", 2, "confirmed")]
    assert body["subtotal_cents"] == 12_800 + 1_800 + 2 * 300
    assert shop.get(order["id"]) == body

    # One new ticket per station, each marked as an addition (加菜), announced on the event log.
    new = [t for t in shop.tickets() if t not in first_tickets]
    assert sorted((t["station"], t["mark"], [i["name"] for i in t["items"]]) for t in new) == [
        ("cold", "add", ["拍黄瓜"]), ("hot", "add", ["米饭"])]
    announced = shop.events("ticket_new")
    assert [e["order_id"] for e in announced] == [order["id"]] * 3
    assert sorted(e["payload"]["ticket_id"] for e in announced[1:]) == sorted(t["ticket_id"] for t in new)


def test_adding_twice_with_one_key_adds_once(shop):
    order = shop.order()
    same = key()
    first = shop.add(order["id"], (shop.rice, 1), idempotency_key=same)
    again = shop.add(order["id"], (shop.rice, 1), idempotency_key=same)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert len(shop.get(order["id"])["items"]) == 2
    assert len(shop.events("ticket_new")) == 2


def test_a_sold_out_dish_is_409_and_nothing_is_added(shop):
    order = shop.order()
    shop.sold_out(shop.salad)
    before = shop.kitchen_state(order["id"])
    refused = _error(shop.add(order["id"], (shop.rice, 1), (shop.salad, 1)), 409, "dish_sold_out")
    assert refused["error"]["details"]["dish_id"] == shop.salad["id"]
    assert shop.kitchen_state(order["id"]) == before


def test_an_unknown_dish_is_404_and_nothing_is_added(shop):
    order = shop.order()
    before = shop.kitchen_state(order["id"])
    _error(shop.add(order["id"], (shop.rice, 1), ({"id": 2**31 - 1}, 1)), 404, "not_found")
    assert shop.kitchen_state(order["id"]) == before


def test_another_merchants_dish_is_404_like_an_unknown_one(shop, make):
    other = make.tenant()
    foreign = create_dish(make, other, "外家菜", 100)
    order = shop.order()
    before = shop.kitchen_state(order["id"])
    refused = _error(shop.add(order["id"], (foreign, 1)), 404, "not_found")
    assert refused == _error(shop.add(order["id"], ({"id": 2**31 - 1}, 1)), 404, "not_found")
    assert shop.kitchen_state(order["id"]) == before


def test_a_paid_order_takes_no_more_dishes(shop):
    order = shop.order()
    shop.settle_cash(order)
    before = shop.kitchen_state(order["id"])
    refused = _error(shop.add(order["id"], (shop.rice, 1)), 409, "order_not_open")
    assert refused["error"]["details"] == {"status": "paid"}
    assert shop.kitchen_state(order["id"]) == before


@pytest.mark.parametrize("body", [
    {"items": [], "idempotency_key": "k" * 12},
    {"items": [{"dish_id": 1, "qty": 0}], "idempotency_key": "k" * 12},
    {"items": [{"dish_id": 1, "qty": 1.5}], "idempotency_key": "k" * 12},
    {"items": [{"dish_id": "1", "qty": 1}], "idempotency_key": "k" * 12},
    {"items": [{"dish_id": 1, "qty": 1}]},
    {"items": [{"dish_id": 1, "qty": 1, "price_cents": 1}], "idempotency_key": "k" * 12},
    {"items": "米饭", "idempotency_key": "k" * 12},
])
def test_a_bad_body_is_422_and_nothing_is_added(shop, body):
    order = shop.order()
    before = shop.kitchen_state(order["id"])
    _error(shop.api.post(f"/orders/{order['id']}/items", json=body), 422, "validation_error")
    assert shop.kitchen_state(order["id"]) == before


def test_another_merchants_order_is_404_and_unchanged(shop, make):
    order = shop.order()
    intruder = make.tenant()
    intruder_dish = create_dish(make, intruder, "米饭", 300)
    before = shop.kitchen_state(order["id"])
    response = make.api(intruder.owner).post(f"/orders/{order['id']}/items", json={
        "idempotency_key": key(), "items": [{"dish_id": intruder_dish["id"], "qty": 1}]})
    _error(response, 404, "not_found")
    assert shop.kitchen_state(order["id"]) == before


# --- the waiter confirms diner picks -----------------------------------------------------------

@pytest.fixture
def picks(shop, db):
    """A table whose diners' picks wait for the waiter (the store asks for confirmation), with
    two dishes sent from a phone: an open order of two submitted lines."""
    from app.tenants.models import Store

    db.session.get(Store, shop.tenant.store.id).is_waiter_confirm = True
    db.session.commit()
    table = create_table(shop.make, shop.tenant, code="A01")
    token = urlsplit(table["qr_url"]).path.rstrip("/").rsplit("/", 1)[-1]
    phone = f"/api/v1/diner/tables/{token}/cart"
    for dish, qty in ((shop.fish, 1), (shop.salad, 2)):
        added = shop.make.client.post(f"{phone}/lines", json={"dish_id": dish["id"], "qty": qty, "diner": "小王"})
        assert added.status_code == 201, added.get_json()
    sent = shop.make.client.post(f"{phone}/send")
    assert sent.status_code == 200, sent.get_json()
    return shop.get(sent.get_json()["order_id"])


def _confirm(shop, order_id, line_ids):
    return shop.api.post(f"/orders/{order_id}/lines/confirm", json={"line_ids": line_ids})


def test_diner_picks_wait_as_submitted_lines_and_no_ticket(shop, picks):
    assert [(i["name"], i["qty"], i["status"], i["added_by"]) for i in picks["items"]] == [
        ("剁椒鱼头", 1, "submitted", "小王"), ("拍黄瓜", 2, "submitted", "小王")]
    assert picks["subtotal_cents"] == 12_800 + 2 * 1_800
    assert shop.tickets() == [] and shop.events("ticket_new") == []
    submitted = shop.events("order_submitted")
    assert [e["order_id"] for e in submitted] == [picks["id"]]


def test_confirmed_lines_go_to_the_kitchen_and_the_rest_keep_waiting(shop, picks):
    fish, salad = picks["items"]
    confirmed = _confirm(shop, picks["id"], [salad["id"]])
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    assert [(i["id"], i["status"]) for i in body["items"]] == [(fish["id"], "submitted"), (salad["id"], "confirmed")]
    assert body["subtotal_cents"] == picks["subtotal_cents"]
    assert shop.get(picks["id"]) == body
    (ticket,) = shop.tickets()
    assert (ticket["order_id"], ticket["station"], ticket["table"], ticket["mark"]) == (
        picks["id"], "cold", "A01", "new")
    assert [i["name"] for i in ticket["items"]] == ["拍黄瓜"]
    assert [e["payload"]["ticket_id"] for e in shop.events("ticket_new")] == [ticket["ticket_id"]]

    again = _confirm(shop, picks["id"], [fish["id"]])
    assert again.status_code == 200, again.get_json()
    assert {i["status"] for i in again.get_json()["items"]} == {"confirmed"}
    tickets = shop.tickets()
    assert [(t["station"], t["mark"]) for t in tickets] == [("cold", "new"), ("hot", "add")]
    assert len(shop.events("ticket_new")) == 2


def test_confirming_a_line_twice_is_409_and_sends_nothing_more(shop, picks):
    fish, salad = picks["items"]
    assert _confirm(shop, picks["id"], [fish["id"]]).status_code == 200
    before = shop.kitchen_state(picks["id"])
    _error(_confirm(shop, picks["id"], [salad["id"], fish["id"]]), 409, "line_state_conflict")
    assert shop.kitchen_state(picks["id"]) == before


def test_a_line_not_on_the_order_is_404_and_nothing_is_confirmed(shop, picks):
    other_order = shop.order()
    before = shop.kitchen_state(picks["id"])
    own = picks["items"][0]["id"]
    _error(_confirm(shop, picks["id"], [own, other_order["items"][0]["id"]]), 404, "not_found")
    _error(_confirm(shop, picks["id"], [own, 2**31 - 1]), 404, "not_found")
    assert shop.kitchen_state(picks["id"]) == before


def test_a_paid_order_confirms_nothing(shop, picks):
    shop.settle_cash(picks)
    before = shop.kitchen_state(picks["id"])
    _error(_confirm(shop, picks["id"], [picks["items"][0]["id"]]), 409, "order_not_open")
    assert shop.kitchen_state(picks["id"]) == before


@pytest.mark.parametrize("body", [{}, {"line_ids": []}, {"line_ids": ["1"]}, {"line_ids": [0]},
                                  {"line_ids": 1}, {"line_ids": [1], "all": True}])
def test_a_bad_confirm_body_is_422(shop, picks, body):
    before = shop.kitchen_state(picks["id"])
    _error(shop.api.post(f"/orders/{picks['id']}/lines/confirm", json=body), 422, "validation_error")
    assert shop.kitchen_state(picks["id"]) == before


def test_another_merchant_cannot_confirm_the_picks(shop, picks, make):
    intruder = make.tenant()
    before = shop.kitchen_state(picks["id"])
    response = make.api(intruder.owner).post(f"/orders/{picks['id']}/lines/confirm",
                                             json={"line_ids": [i["id"] for i in picks["items"]]})
    _error(response, 404, "not_found")
    assert shop.kitchen_state(picks["id"]) == before
