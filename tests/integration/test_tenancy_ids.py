"""Ids that arrive in a body or a query string are the caller's merchant's, or 404.

`test_tenancy.py` walks the ids in URLs; these are the ones a route reads from its input. Each
case is built so that a missing merchant filter would visibly succeed: the other merchant's
member has the same phone, stored value enough to pay, a tier discount that would show.
"""

import uuid

import pytest

from tests.factories import create_dish, create_member

PHONE = "13900001111"
MISSING_ID = 2**31 - 1


def key() -> str:
    return uuid.uuid4().hex


class Side:
    """One merchant with an owner's API client, a dish and a member with stored value."""

    def __init__(self, make, phone: str):
        self.tenant = make.tenant()
        self.api = make.api(self.tenant.owner)
        self.dish = create_dish(make, self.tenant, "剁椒鱼头", 12_800)
        self.member = create_member(make, self.tenant, phone=phone)
        topped = self.api.post(f"/members/{self.member['id']}/topups", json={
            "amount_cents": 300_000, "tender": "cash", "idempotency_key": key()})
        assert topped.status_code == 201, topped.get_json()
        self.member = self.card()

    def card(self):
        return self.api.get(f"/members/{self.member['id']}").get_json()

    def ledger(self):
        return self.api.get(f"/members/{self.member['id']}/ledger").get_json()["entries"]

    def order(self):
        response = self.api.post("/orders", json={"store_id": self.tenant.store.id, "idempotency_key": key(),
                                                  "items": [{"dish_id": self.dish["id"], "qty": 1}]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()


@pytest.fixture
def victim(make):
    return Side(make, PHONE)


@pytest.fixture
def intruder(make, victim):
    return Side(make, PHONE)  # the same diner is a member of both merchants


def _not_found(response):
    assert response.status_code == 404, response.get_json()
    assert response.get_json()["error"]["code"] == "not_found"
    return response.get_json()


def test_the_member_a_till_can_use_has_money_and_a_tier(victim):
    """The baseline the other tests lean on: used by its own merchant, the member pays and is
    discounted, so a 404 below is the merchant filter and nothing else."""
    order = victim.order()
    bill = victim.api.get(f"/orders/{order['id']}/bill", query_string={"member_id": victim.member["id"]})
    assert bill.status_code == 200 and bill.get_json()["tier_discount_cents"] > 0
    settled = victim.api.post(f"/orders/{order['id']}/settle", json={
        "member_id": victim.member["id"], "idempotency_key": key(),
        "tenders": [{"type": "stored_value", "amount_cents": bill.get_json()["payable_cents"]}]})
    assert settled.status_code == 200, settled.get_json()


def test_settle_with_another_merchants_member_is_404_and_changes_nothing(victim, intruder):
    order = intruder.order()
    before = victim.card(), victim.ledger()

    def settle(member_id):
        # Cash may exceed the bill whatever the member's discount, so only the member can fail this.
        return intruder.api.post(f"/orders/{order['id']}/settle", json={
            "member_id": member_id, "idempotency_key": key(),
            "tenders": [{"type": "stored_value", "amount_cents": 1_000}, {"type": "cash", "amount_cents": 20_000}]})

    foreign = _not_found(settle(victim.member["id"]))
    assert foreign == _not_found(settle(MISSING_ID))
    assert (victim.card(), victim.ledger()) == before
    still = intruder.api.get(f"/orders/{order['id']}").get_json()
    assert (still["status"], still["paid_cents"], still["member_id"]) == ("open", 0, None)
    assert intruder.card()["stored_value"] == intruder.member["stored_value"]


def test_bill_preview_with_another_merchants_member_is_404(victim, intruder):
    order = intruder.order()

    def preview(member_id):
        return intruder.api.get(f"/orders/{order['id']}/bill", query_string={"member_id": member_id})

    assert _not_found(preview(victim.member["id"])) == _not_found(preview(MISSING_ID))
    assert preview(intruder.member["id"]).status_code == 200


def test_lookup_by_phone_finds_only_the_callers_member(make, victim, intruder):
    found = intruder.api.get("/members/lookup", query_string={"phone": PHONE})
    assert found.status_code == 200, found.get_json()
    assert found.get_json()["id"] == intruder.member["id"] != victim.member["id"]

    only_victims = create_member(make, victim.tenant, phone="13900002222")
    assert victim.api.get("/members/lookup", query_string={"phone": only_victims["phone"]}).status_code == 200
    foreign = _not_found(intruder.api.get("/members/lookup", query_string={"phone": only_victims["phone"]}))
    assert foreign == _not_found(intruder.api.get("/members/lookup", query_string={"phone": "13900003333"}))
