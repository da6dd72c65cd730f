"""A payment code (`auth_code`) pays only a WeChat tender: on a cash or stored-value tender it is
refused with its own error code, and nothing is charged, recorded or remembered."""

import uuid

import pytest

from tests.factories import create_dish, create_member

AUTH_CODE = "134567890123456789"


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def shop(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    dish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    member = create_member(make, tenant)
    topped = api.post(f"/members/{member['id']}/topups", json={
        "amount_cents": 50_000, "tender": "cash", "idempotency_key": key()})
    assert topped.status_code == 201
    order = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": key(),
                                      "items": [{"dish_id": dish["id"], "qty": 1}]}).get_json()
    return api, order, api.get(f"/members/{member['id']}").get_json()


def _refused(response, tender: str) -> None:
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "auth_code_not_allowed"
    assert error["details"] == {"tender": tender}
    assert error["message"]


def _unchanged(api, order, member) -> None:
    now = api.get(f"/orders/{order['id']}").get_json()
    assert (now["status"], now["paid_cents"]) == ("open", 0)
    assert api.get(f"/members/{member['id']}").get_json() == member
    entries = api.get(f"/members/{member['id']}/ledger").get_json()["entries"]
    assert [e["kind"] for e in entries if e["order_id"] == order["id"]] == []


@pytest.mark.parametrize("tender", ["cash", "stored_value"])
def test_settle_refuses_an_auth_code_on_a_non_wechat_tender(shop, tender):
    api, order, member = shop
    body = {"member_id": member["id"], "idempotency_key": key(),
            "tenders": [{"type": tender, "amount_cents": 12_800, "auth_code": AUTH_CODE}]}
    _refused(api.post(f"/orders/{order['id']}/settle", json=body), tender)
    _unchanged(api, order, member)

    # The refused key was not spent: the corrected request goes through under it.
    body["tenders"] = [{"type": tender, "amount_cents": 12_800}]
    settled = api.post(f"/orders/{order['id']}/settle", json=body)
    assert settled.status_code == 200, settled.get_json()
    assert settled.get_json()["status"] == "paid"


def test_settle_refuses_it_beside_a_wechat_tender_too(shop):
    api, order, member = shop
    response = api.post(f"/orders/{order['id']}/settle", json={"idempotency_key": key(), "tenders": [
        {"type": "wechat", "amount_cents": 800, "auth_code": AUTH_CODE},
        {"type": "cash", "amount_cents": 12_000, "auth_code": AUTH_CODE}]})
    _refused(response, "cash")
    _unchanged(api, order, member)


def test_wechat_pay_refuses_it_on_the_other_tenders(shop):
    api, order, member = shop
    response = api.post(f"/orders/{order['id']}/wechat-pay", json={
        "trade_type": "NATIVE", "idempotency_key": key(),
        "tenders": [{"type": "cash", "amount_cents": 800, "auth_code": AUTH_CODE}]})
    _refused(response, "cash")
    _unchanged(api, order, member)


def test_a_cash_top_up_refuses_an_auth_code(shop):
    api, order, member = shop
    ledger = api.get(f"/members/{member['id']}/ledger").get_json()["entries"]
    response = api.post(f"/members/{member['id']}/topups", json={
        "amount_cents": 10_000, "tender": "cash", "auth_code": AUTH_CODE, "idempotency_key": key()})
    _refused(response, "cash")
    assert api.get(f"/members/{member['id']}").get_json() == member
    assert api.get(f"/members/{member['id']}/ledger").get_json()["entries"] == ledger


def test_other_wechat_only_fields_on_cash_stay_plain_validation_errors(shop):
    api, order, member = shop
    response = api.post(f"/orders/{order['id']}/settle", json={"idempotency_key": key(), "tenders": [
        {"type": "cash", "amount_cents": 12_800, "trade_type": "NATIVE"}]})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"
    _unchanged(api, order, member)
