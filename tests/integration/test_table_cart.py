"""The shared table cart: phones and the cashier edit one cart; nothing is lost."""

import threading

import pytest
from flask import g

from app.tables.models import DiningTable
from tests.factories import create_dish


@pytest.fixture
def table(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    created = api.post(f"/stores/{tenant.store.id}/tables", json={"code": "A01", "seats": 4})
    assert created.status_code == 201, created.get_json()
    dishes = [create_dish(make, tenant, "口味虾", 16_800), create_dish(make, tenant, "米饭", 200, category="主食")]
    row = db.session.get(DiningTable, created.get_json()["id"])
    with make.client.application.test_request_context():
        g.merchant_id = tenant.merchant.id
        from app.tables.service import table_token

        token = table_token(row)
    return tenant, api, dishes, created.get_json(), token


def test_diners_and_the_cashier_see_one_cart_with_who_added_what(table, client):
    tenant, api, dishes, tbl, token = table
    phone = f"/api/v1/diner/tables/{token}/cart"
    client.post(f"{phone}/lines", json={"dish_id": dishes[0]["id"], "qty": 1, "diner": "小王"})
    api.post(f"/tables/{tbl['id']}/cart/lines", json={"dish_id": dishes[1]["id"], "qty": 3})
    diner_view = client.get(phone).get_json()
    cashier_view = api.get(f"/tables/{tbl['id']}/cart").get_json()
    assert diner_view == cashier_view
    assert [(line["name"], line["qty"], line["added_by"]) for line in diner_view["lines"]] == [
        ("口味虾", 1, "小王"), ("米饭", 3, tenant.owner.display_name)]
    assert diner_view["total_cents"] == 16_800 + 600


def test_a_stale_edit_is_409_and_a_fresh_one_lands(table, client):
    tenant, api, dishes, tbl, token = table
    phone = f"/api/v1/diner/tables/{token}/cart"
    line = client.post(f"{phone}/lines", json={"dish_id": dishes[0]["id"], "qty": 1}).get_json()["lines"][0]
    assert client.patch(f"{phone}/lines/{line['id']}", json={"qty": 2, "version": line["version"]}).status_code == 200
    stale = client.patch(f"{phone}/lines/{line['id']}", json={"qty": 5, "version": line["version"]})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "cart_changed"
    assert client.get(phone).get_json()["lines"][0]["qty"] == 2


def test_two_phones_and_a_cashier_adding_at_once_lose_nothing(table, app):
    tenant, api, dishes, tbl, token = table
    barrier = threading.Barrier(3)
    errors = []

    def phone(name):
        client = app.test_client()
        barrier.wait()
        for _ in range(5):
            r = client.post(f"/api/v1/diner/tables/{token}/cart/lines",
                            json={"dish_id": dishes[0]["id"], "qty": 1, "diner": name})
            if r.status_code != 201:
                errors.append(r.get_json())

    def cashier():
        client = app.test_client()
        barrier.wait()
        for _ in range(5):
            r = client.post(f"/api/v1/tables/{tbl['id']}/cart/lines", json={"dish_id": dishes[1]["id"], "qty": 1},
                            headers={"Authorization": f"Bearer {api.token}"})
            if r.status_code != 201:
                errors.append(r.get_json())

    threads = [threading.Thread(target=phone, args=("甲",)), threading.Thread(target=phone, args=("乙",)),
               threading.Thread(target=cashier)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    cart = api.get(f"/tables/{tbl['id']}/cart").get_json()
    assert len(cart["lines"]) == 15
    assert cart["version"] == 15
    assert sorted({line["added_by"] for line in cart["lines"]}) == sorted({"甲", "乙", tenant.owner.display_name})


def test_send_turns_the_cart_into_order_lines_and_more_goes_to_the_same_order(table, client):
    tenant, api, dishes, tbl, token = table
    phone = f"/api/v1/diner/tables/{token}/cart"
    client.post(f"{phone}/lines", json={"dish_id": dishes[0]["id"], "qty": 1, "diner": "小李"})
    sent = client.post(f"{phone}/send").get_json()
    assert sent["lines"] == [] and sent["order_id"]
    client.post(f"{phone}/lines", json={"dish_id": dishes[1]["id"], "qty": 2, "diner": "小李"})
    again = client.post(f"{phone}/send").get_json()
    assert again["order_id"] == sent["order_id"]
    order = api.get(f"/orders/{sent['order_id']}").get_json()
    assert [(i["name"], i["qty"], i["added_by"], i["status"]) for i in order["items"]] == [
        ("口味虾", 1, "小李", "confirmed"), ("米饭", 2, "小李", "confirmed")]
    assert order["table"] == "A01"
    tickets = api.get(f"/stores/{tenant.store.id}/events", query_string={"kinds": "ticket_new"}).get_json()["events"]
    assert [t["payload"]["mark"] for t in tickets] == ["new", "add"]


def test_a_tampered_table_token_is_404(client):
    assert client.get("/api/v1/diner/tables/not-a-token/cart").status_code == 404
