"""Shift close: totals by tender, refunds, voids and the cash expected in the drawer."""

import uuid

from app.orders.shift import Movement, summarize
from tests.factories import create_dish, create_member


def key():
    return uuid.uuid4().hex


def test_summarize_counts_every_movement_of_cash():
    summary = summarize([Movement("cash", "sale", 10_000), Movement("stored_value", "sale", 5_000),
                         Movement("cash", "refund", 2_000), Movement("cash", "topup", 50_000),
                         Movement("cash", "cashout", 1_000)], voids=1, void_cents=800, opening_float_cents=20_000)
    assert summary["sales_by_tender"] == {"cash": 10_000, "stored_value": 5_000}
    assert summary["expected_cash_cents"] == 20_000 + 10_000 - 2_000 + 50_000 - 1_000
    assert summary["sales_count"] == 2 and summary["voids"] == 1


def test_a_bill_paid_with_two_tenders_is_one_sale():
    summary = summarize([Movement("cash", "sale", 3_000, order_id=7),
                         Movement("stored_value", "sale", 5_000, order_id=7),
                         Movement("cash", "sale", 1_000, order_id=8), Movement("wechat", "sale", 2_000, order_id=9)],
                        voids=0, void_cents=0, opening_float_cents=0)
    assert summary["sales_count"] == 3 and summary["sales_cents"] == 11_000


def test_a_cashiers_shift_over_the_api(make):
    tenant = make.tenant()
    cashier = make.staff(tenant, "cashier")
    api = make.api(cashier)
    dish = create_dish(make, tenant, "酸菜鱼", 8_800)
    member = create_member(make, tenant)
    api.post(f"/members/{member['id']}/topups",
             json={"amount_cents": 50_000, "tender": "cash", "idempotency_key": key()})
    order = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": key(),
                                      "items": [{"dish_id": dish["id"], "qty": 2}]}).get_json()
    api.post(f"/orders/{order['id']}/lines/{order['items'][0]['id']}/void", json={"reason": "点错了"})
    order = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": key(),
                                      "items": [{"dish_id": dish["id"], "qty": 1}]}).get_json()
    api.post(f"/orders/{order['id']}/settle", json={"tenders": [{"type": "cash", "amount_cents": 10_000}],
                                                    "idempotency_key": key()})
    current = api.get("/shifts/current", query_string={"opening_float_cents": 20_000}).get_json()
    summary = current["summary"]
    assert summary["sales_by_tender"] == {"cash": 8_800}
    assert summary["topups_by_tender"] == {"cash": 50_000}
    assert summary["voids"] == 1 and summary["void_cents"] == 17_600
    assert summary["expected_cash_cents"] == 20_000 + 8_800 + 50_000
    closed = api.post("/shifts/close", json={"opening_float_cents": 20_000, "counted_cash_cents": 78_700,
                                             "idempotency_key": key()})
    assert closed.status_code == 201
    assert closed.get_json()["difference_cents"] == -100
    prints = api.get(f"/stores/{tenant.store.id}/events", query_string={"kinds": "print_job"}).get_json()["events"]
    assert prints[-1]["payload"]["kind"] == "shift_summary"
    after = api.get("/shifts/current").get_json()["summary"]
    assert after["sales_cents"] == 0


def test_owner_without_a_store_has_no_shift(make):
    tenant = make.tenant()
    response = make.api(tenant.owner).get("/shifts/current")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "no_store"
