"""Coupons through settle and refund, over the API: a coupon pays once; the refund of the order
that used it gives it back, and its ledger shows each step."""

import uuid

import pytest

from tests.factories import create_coupon_template, create_dish, create_member, issue_coupon


def key() -> str:
    return uuid.uuid4().hex


class Shop:
    def __init__(self, make):
        self.tenant = make.tenant()
        self.api = make.api(self.tenant.owner)
        self.fish = create_dish(make, self.tenant, "剁椒鱼头", 12_800)
        self.rice = create_dish(make, self.tenant, "米饭", 300, category="主食")
        self.member = create_member(make, self.tenant)
        template = create_coupon_template(make, self.tenant, value_cents=2_000)
        self.coupon = issue_coupon(make, self.tenant, self.member["id"], template["id"])

    def order(self, *items):
        items = items or ((self.fish, 1),)
        response = self.api.post("/orders", json={
            "store_id": self.tenant.store.id, "idempotency_key": key(),
            "items": [{"dish_id": dish["id"], "qty": qty} for dish, qty in items]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def bill(self, order_id):
        return self.api.get(f"/orders/{order_id}/bill", query_string={
            "member_id": self.member["id"], "coupon_ids": str(self.coupon["id"])})

    def settle(self, order_id, cash_cents):
        return self.api.post(f"/orders/{order_id}/settle", json={
            "member_id": self.member["id"], "coupon_ids": [self.coupon["id"]], "idempotency_key": key(),
            "tenders": [{"type": "cash", "amount_cents": cash_cents}]})

    def refund(self, order_id, **extra):
        return self.api.post(f"/orders/{order_id}/refund", json={"reason": "顾客退单", "idempotency_key": key(),
                                                                   **extra})

    def coupon_now(self):
        return self.api.get(f"/coupons/{self.coupon['id']}").get_json()

    def events(self):
        return [(e["kind"], e["order_id"]) for e in self.coupon_now()["events"]]


@pytest.fixture
def shop(make):
    return Shop(make)


def _paid_with_coupon(shop, order):
    settled = shop.settle(order["id"], 20_000)
    assert settled.status_code == 200, settled.get_json()
    body = settled.get_json()
    assert body["status"] == "paid"
    assert body["payable_cents"] == order["subtotal_cents"] - 2_000
    assert [line["ref"] for line in body["lines"] if line["kind"] == "coupon"] == [shop.coupon["id"]]
    return body


def test_a_coupon_used_at_settle_cannot_be_used_again(shop):
    first, second = shop.order(), shop.order()
    _paid_with_coupon(shop, first)
    used = shop.coupon_now()
    assert (used["state"], used["redeemed_order_id"]) == ("redeemed", first["id"])
    assert shop.events() == [("issue", None), ("redeem", first["id"])]

    refused = shop.settle(second["id"], 20_000)
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json()["error"]["code"] == "not_active"
    assert refused.get_json()["error"]["details"] == {"coupon_id": shop.coupon["id"]}
    # The bill preview refuses it the same way, and the refused settle changed nothing.
    preview = shop.bill(second["id"])
    assert (preview.status_code, preview.get_json()["error"]["code"]) == (422, "not_active")
    still = shop.api.get(f"/orders/{second['id']}").get_json()
    assert (still["status"], still["paid_cents"], still["member_id"]) == ("open", 0, None)
    assert shop.coupon_now() == used
    assert shop.events() == [("issue", None), ("redeem", first["id"])]


def test_a_whole_refund_restores_the_coupon_for_the_next_bill(shop):
    first, second = shop.order(), shop.order()
    _paid_with_coupon(shop, first)

    refunded = shop.refund(first["id"])
    assert refunded.status_code == 200, refunded.get_json()
    assert refunded.get_json()["status"] == "refunded"
    back = shop.coupon_now()
    assert (back["state"], back["redeemed_order_id"], back["redeemed_at"]) == ("issued", None, None)
    assert shop.events() == [("issue", None), ("redeem", first["id"]), ("restore", first["id"])]

    assert shop.bill(second["id"]).get_json()["coupon_discount_cents"] == 2_000
    _paid_with_coupon(shop, second)
    assert shop.coupon_now()["redeemed_order_id"] == second["id"]
    assert shop.events() == [("issue", None), ("redeem", first["id"]), ("restore", first["id"]),
                             ("redeem", second["id"])]


def test_the_coupon_comes_back_only_with_the_last_of_a_partly_refunded_order(shop):
    order = shop.order((shop.fish, 1), (shop.rice, 2))
    _paid_with_coupon(shop, order)
    fish_line, rice_line = order["items"]

    partly = shop.refund(order["id"], lines=[{"line_id": rice_line["id"], "qty": 2}])
    assert partly.status_code == 200, partly.get_json()
    assert shop.coupon_now()["state"] == "redeemed"
    assert [kind for kind, _ in shop.events()] == ["issue", "redeem"]

    rest = shop.refund(order["id"], lines=[{"line_id": fish_line["id"], "qty": 1}])
    assert rest.status_code == 200, rest.get_json()
    assert rest.get_json()["status"] == "refunded"
    assert shop.coupon_now()["state"] == "issued"
    assert shop.events()[-1] == ("restore", order["id"])


def test_a_replayed_refund_restores_once(shop):
    order = shop.order()
    _paid_with_coupon(shop, order)
    body = {"reason": "顾客退单", "idempotency_key": key()}
    first = shop.api.post(f"/orders/{order['id']}/refund", json=body)
    again = shop.api.post(f"/orders/{order['id']}/refund", json=body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == first.get_json()
    assert [kind for kind, _ in shop.events()] == ["issue", "redeem", "restore"]
