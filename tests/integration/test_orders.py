"""Orders, bills, settlement and refunds: the API.md semantics, one by one."""

import uuid

import pytest
import sqlalchemy as sa

from app.members.models import LedgerEntry
from app.orders.models import Payment
from tests.factories import create_dish, create_member


def key() -> str:
    return uuid.uuid4().hex


class Shop:
    def __init__(self, make):
        self.make = make
        self.tenant = make.tenant()
        self.api = make.api(self.tenant.owner)
        self.fish = create_dish(make, self.tenant, "剁椒鱼头", 12_800)
        self.pork = create_dish(make, self.tenant, "小炒黄牛肉", 6_800)
        self.beer = create_dish(make, self.tenant, "青岛啤酒", 1_200, category="酒水", discountable=False)

    def order(self, *items):
        items = items or ((self.fish, 1), (self.pork, 2))
        response = self.api.post("/orders", json={
            "store_id": self.tenant.store.id, "idempotency_key": key(),
            "items": [{"dish_id": dish["id"], "qty": qty} for dish, qty in items]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def member(self, topup_cents=0):
        member = create_member(self.make, self.tenant)
        if topup_cents:
            response = self.api.post(f"/members/{member['id']}/topups", json={
                "amount_cents": topup_cents, "tender": "cash", "idempotency_key": key()})
            assert response.status_code == 201
        return member

    def card(self, member_id):
        return self.api.get(f"/members/{member_id}").get_json()

    def settle(self, order_id, tenders, **extra):
        return self.api.post(f"/orders/{order_id}/settle", json={"tenders": tenders, "idempotency_key": key(), **extra})


@pytest.fixture
def shop(make):
    return Shop(make)


def test_create_order_answers_201_open_with_subtotal(shop):
    order = shop.order()
    assert order["status"] == "open"
    assert order["subtotal_cents"] == 12_800 + 2 * 6_800
    assert [(i["name"], i["qty"], i["status"]) for i in order["items"]] == [
        ("剁椒鱼头", 1, "confirmed"), ("小炒黄牛肉", 2, "confirmed")]
    assert shop.api.get(f"/orders/{order['id']}").get_json() == order


def test_unknown_dish_is_404_and_sold_out_is_409(shop):
    body = {"store_id": shop.tenant.store.id, "idempotency_key": key(), "items": [{"dish_id": 999_999, "qty": 1}]}
    assert shop.api.post("/orders", json=body).status_code == 404
    shop.api.request("PUT", f"/stores/{shop.tenant.store.id}/sold-out/{shop.fish['id']}", json={"is_sold_out": True})
    body = {"store_id": shop.tenant.store.id, "idempotency_key": key(),
            "items": [{"dish_id": shop.fish["id"], "qty": 1}]}
    response = shop.api.post("/orders", json=body)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "dish_sold_out"


def test_bill_preview_is_exactly_what_settle_charges(shop):
    member = shop.member(topup_cents=300_000)  # gold: 12% off on discountable dishes
    order = shop.order((shop.fish, 1), (shop.beer, 3))
    preview = shop.api.get(f"/orders/{order['id']}/bill", query_string={"member_id": member["id"],
                                                                        "points": 0}).get_json()
    assert preview["subtotal_cents"] == 12_800 + 3_600
    assert preview["payable_cents"] == 12_800 - 12_800 * 12 // 100 + 3_600  # beer is not discountable
    settled = shop.settle(order["id"], [{"type": "stored_value", "amount_cents": preview["payable_cents"]}],
                          member_id=member["id"]).get_json()
    assert settled["status"] == "paid"
    for field in ("subtotal_cents", "discount_cents", "payable_cents", "lines"):
        assert settled[field] == preview[field]


def test_cash_settle_gives_change(shop):
    order = shop.order()
    response = shop.settle(order["id"], [{"type": "cash", "amount_cents": 30_000}])
    assert response.status_code == 200
    body = response.get_json()
    assert body["payable_cents"] == 26_400 and body["paid_cents"] == 26_400 and body["change_cents"] == 3_600


def test_a_failed_settle_changes_nothing(shop, db):
    member = shop.member(topup_cents=10_000)
    order = shop.order()
    before = shop.card(member["id"])
    response = shop.settle(order["id"], [{"type": "stored_value", "amount_cents": 26_400}], member_id=member["id"])
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "insufficient_balance"
    assert shop.api.get(f"/orders/{order['id']}").get_json()["status"] == "open"
    assert shop.card(member["id"]) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LedgerEntry)
                             .where(LedgerEntry.order_id == order["id"])) == 0


def test_tenders_must_cover_the_total_and_only_cash_may_exceed_it(shop):
    member = shop.member(topup_cents=100_000)
    order = shop.order()
    short = shop.settle(order["id"], [{"type": "cash", "amount_cents": 100}])
    assert short.status_code == 422 and short.get_json()["error"]["code"] == "tenders_do_not_cover_total"
    over = shop.settle(order["id"], [{"type": "stored_value", "amount_cents": 99_999}], member_id=member["id"])
    assert over.status_code == 422


def test_split_tender_stored_value_and_cash(shop):
    member = shop.member(topup_cents=10_000)
    order = shop.order()
    response = shop.settle(order["id"], [{"type": "stored_value", "amount_cents": 10_000},
                                         {"type": "cash", "amount_cents": 20_000}], member_id=member["id"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["change_cents"] == 10_000 + 20_000 - body["payable_cents"]
    assert shop.card(member["id"])["stored_value"]["total_cents"] == 0


def test_settle_replay_returns_the_same_answer_and_pays_once(shop, db):
    order = shop.order()
    body = {"tenders": [{"type": "cash", "amount_cents": 26_400}], "idempotency_key": key()}
    first = shop.api.post(f"/orders/{order['id']}/settle", json=body)
    second = shop.api.post(f"/orders/{order['id']}/settle", json=body)
    assert (first.status_code, first.get_json()) == (second.status_code, second.get_json())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) == 1
    again = shop.settle(order["id"], [{"type": "cash", "amount_cents": 26_400}])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "order_not_open"


def test_points_are_earned_and_redeemed(shop):
    member = shop.member()
    order = shop.order((shop.pork, 1))
    settled = shop.settle(order["id"], [{"type": "cash", "amount_cents": 6_800}], member_id=member["id"]).get_json()
    assert settled["points_earned"] == 68  # 1 point per yuan, base tier
    assert shop.card(member["id"])["points"] == 68
    order = shop.order((shop.pork, 1))
    settled = shop.settle(order["id"], [{"type": "cash", "amount_cents": 6_800 - 60}],
                          member_id=member["id"], points=60).get_json()
    assert settled["payable_cents"] == 6_740
    assert [line["kind"] for line in settled["lines"]] == ["subtotal", "points", "payable"]
    assert shop.card(member["id"])["points"] == 68 - 60 + 67


def test_refund_restores_the_card_exactly(shop):
    member = shop.member(topup_cents=50_000)
    shop.settle(shop.order((shop.pork, 1))["id"], [{"type": "cash", "amount_cents": 6_800}], member_id=member["id"])
    before = shop.card(member["id"])
    order = shop.order()
    settled = shop.settle(order["id"], [{"type": "stored_value", "amount_cents": 20_000},
                                        {"type": "cash", "amount_cents": 10_000}],
                          member_id=member["id"], points=50).get_json()
    assert settled["status"] == "paid"
    assert shop.card(member["id"]) != before
    response = shop.api.post(f"/orders/{order['id']}/refund", json={"reason": "菜品问题，全单退款",
                                                                     "idempotency_key": key()})
    assert response.status_code == 200
    assert response.get_json()["status"] == "refunded"
    after = shop.card(member["id"])
    for field in ("stored_value", "points"):
        assert after[field] == before[field]
    again = shop.api.post(f"/orders/{order['id']}/refund", json={"reason": "再退一次", "idempotency_key": key()})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "order_not_paid"


def test_ledger_equals_the_balance_after_settles_and_refunds(shop):
    member = shop.member(topup_cents=100_000)
    for _ in range(3):
        order = shop.order()
        shop.settle(order["id"], [{"type": "stored_value", "amount_cents": 24_000},
                                  {"type": "cash", "amount_cents": 10_000}], member_id=member["id"])
    shop.api.post(f"/orders/{order['id']}/refund", json={"reason": "顾客投诉", "idempotency_key": key()})
    card = shop.card(member["id"])
    entries = shop.api.get(f"/members/{member['id']}/ledger", query_string={"limit": 1000}).get_json()["entries"]
    balances = {"principal": card["stored_value"]["principal_cents"],
                "bonus": card["stored_value"]["bonus_cents"], "points": card["points"]}
    for account, balance in balances.items():
        mine = [e for e in entries if e["account"] == account]
        assert sum(e["delta"] for e in mine) == balance
        if mine:
            assert mine[0]["balance_after"] == balance


def test_void_a_line_takes_it_off_the_bill(shop):
    order = shop.order()
    line = order["items"][1]
    response = shop.api.post(f"/orders/{order['id']}/lines/{line['id']}/void", json={"reason": "客人不要了"})
    assert response.status_code == 200
    assert response.get_json()["subtotal_cents"] == 12_800
    audit = shop.api.get("/audit", query_string={"object_type": "order"}).get_json()["entries"]
    assert audit[0]["action"] == "order.void_line"


def test_partial_refunds_by_line_add_up_to_the_whole(shop):
    member = shop.member(topup_cents=50_000)
    before = shop.card(member["id"])
    order = shop.order((shop.fish, 1), (shop.pork, 3), (shop.beer, 2))
    settled = shop.settle(order["id"], [{"type": "stored_value", "amount_cents": 30_000},
                                        {"type": "cash", "amount_cents": 10_000}], member_id=member["id"]).get_json()
    pork = next(i for i in order["items"] if i["name"] == "小炒黄牛肉")
    first = shop.api.post(f"/orders/{order['id']}/refund", json={
        "reason": "少上一份", "idempotency_key": key(), "lines": [{"line_id": pork["id"], "qty": 1}]}).get_json()
    assert first["status"] == "paid" and 0 < first["refunded_cents"] < settled["payable_cents"]
    too_many = shop.api.post(f"/orders/{order['id']}/refund", json={
        "reason": "多退", "idempotency_key": key(), "lines": [{"line_id": pork["id"], "qty": 3}]})
    assert too_many.status_code == 422 and too_many.get_json()["error"]["code"] == "refund_exceeds_qty"
    rest = shop.api.post(f"/orders/{order['id']}/refund", json={"reason": "全部退掉", "idempotency_key": key()})
    body = rest.get_json()
    assert body["status"] == "refunded"
    assert body["total_refunded_cents"] == settled["payable_cents"]
    after = shop.card(member["id"])
    assert after["stored_value"] == before["stored_value"] and after["points"] == before["points"]


def _ledger_matches_the_card(shop, member_id):
    card = shop.card(member_id)
    entries = shop.api.get(f"/members/{member_id}/ledger", query_string={"limit": 1000}).get_json()["entries"]
    points = [e for e in entries if e["account"] == "points"]
    assert sum(e["delta"] for e in points) == card["points"] == (points[0]["balance_after"] if points else 0)
    return card


def test_a_refund_takes_earned_points_already_spent_from_the_members_other_points(shop):
    member = shop.member()
    first = shop.order((shop.pork, 1))
    earned = shop.settle(first["id"], [{"type": "cash", "amount_cents": 6_800}],
                         member_id=member["id"]).get_json()["points_earned"]
    second = shop.order((shop.fish, 1))
    assert shop.settle(second["id"], [{"type": "cash", "amount_cents": 12_800}],
                       member_id=member["id"]).get_json()["points_earned"] > earned
    # The first order's points are the first to be spent (FIFO) ...
    third = shop.order((shop.fish, 1))
    assert shop.settle(third["id"], [{"type": "cash", "amount_cents": 12_800 - earned}], member_id=member["id"],
                       points=earned).status_code == 200
    before = shop.card(member["id"])["points"]

    # ... so refunding it takes what it earned back from the points the member still holds.
    response = shop.api.post(f"/orders/{first['id']}/refund", json={"reason": "退单", "idempotency_key": key()})

    assert response.status_code == 200, response.get_json()
    assert _ledger_matches_the_card(shop, member["id"])["points"] == before - earned


def test_a_refund_whose_earned_points_are_gone_is_refused_and_changes_nothing(shop):
    member = shop.member()
    first = shop.order((shop.fish, 1))
    earned = shop.settle(first["id"], [{"type": "cash", "amount_cents": 12_800}],
                         member_id=member["id"]).get_json()["points_earned"]
    spend = shop.order((shop.fish, 1))
    assert shop.settle(spend["id"], [{"type": "cash", "amount_cents": 12_800 - earned}], member_id=member["id"],
                       points=earned).status_code == 200
    before = shop.card(member["id"])

    refused = shop.api.post(f"/orders/{first['id']}/refund", json={"reason": "退单", "idempotency_key": key()})

    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "points_already_spent"
    assert refused.get_json()["error"]["details"]["to_take_back"] == earned
    assert shop.card(member["id"]) == before
    assert shop.api.get(f"/orders/{first['id']}").get_json()["status"] == "paid"
    # Refunding the order that spent them first gives them back; then the first refunds too, and
    # the member holds exactly what they held before either.
    assert shop.api.post(f"/orders/{spend['id']}/refund",
                         json={"reason": "退单", "idempotency_key": key()}).status_code == 200
    assert shop.api.post(f"/orders/{first['id']}/refund",
                         json={"reason": "退单", "idempotency_key": key()}).status_code == 200
    assert _ledger_matches_the_card(shop, member["id"])["points"] == 0


def test_a_member_settle_reads_no_row_twice(shop, db):
    member = shop.member(topup_cents=100_000)
    order = shop.order((shop.fish, 1))
    payable = shop.api.get(f"/orders/{order['id']}/bill", query_string={"member_id": member["id"]}).get_json()
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        settled = shop.settle(order["id"], [{"type": "stored_value", "amount_cents": payable["payable_cents"]}],
                              member_id=member["id"])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert settled.status_code == 200, settled.get_json()

    def selects(table):
        return [s for s in statements if s.startswith("SELECT") and f" FROM {table} " in s + " "]

    # The member and their tier in one statement; the order (locked) with its lines and store in
    # another; the member's balances on the receipt worked out, not read again.
    assert len(selects("member")) == 1
    assert len(selects("store")) == 0
    assert len(selects("order_line")) == 0
    assert len([s for s in selects("customer_order") if "FOR UPDATE" in s or db.engine.dialect.name == "sqlite"]) <= 2
    assert sum(s.startswith("UPDATE customer_order") for s in statements) == 1


def test_a_member_settle_with_stored_value_stays_within_its_statement_budget(shop, db):
    """The settlement is the hot path of a dinner service: on PostgreSQL at most 15 statements
    (token, order check, idempotency claim and answer, order lock, member with tier and settings,
    one ledger post, payment, visit, points lot, tiers with the 12-month spend, order update, the
    outbox, and the store events in one statement); SQLite adds BEGIN IMMEDIATE and inserts each
    ledger entry and store event on its own."""
    member = shop.member(topup_cents=100_000)
    order = shop.order((shop.fish, 1))
    payable = shop.api.get(f"/orders/{order['id']}/bill", query_string={"member_id": member["id"]}).get_json()
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        settled = shop.settle(order["id"], [{"type": "stored_value", "amount_cents": payable["payable_cents"]}],
                              member_id=member["id"])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert settled.status_code == 200, settled.get_json()
    budget = 15 if db.engine.dialect.name == "postgresql" else 20
    assert len(statements) <= budget, "\n".join(s.split("\n")[0] for s in statements)
    assert sum(s.lstrip().startswith("UPDATE member") for s in statements) == 1


def _statements_of(db, call) -> tuple[object, list[str]]:
    """What `call()` answers, and the SQL statements it sent (whitespace folded)."""
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        return call(), statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)


def test_opening_an_order_stays_within_its_statement_budget(shop, db):
    """A new order goes in with its tickets and its lines in one flush: each line inserted with
    its confirmed status and its ticket, the order with its subtotal (no UPDATE of either);
    nothing looks for an earlier ticket of a new order, the lines are not read back, and the
    dishes are one read whatever their number. On PostgreSQL at most 11 statements."""
    tea = create_dish(shop.make, shop.tenant, "柠檬茶", 1_500, station="bar")  # another station: two tickets
    body = {"store_id": shop.tenant.store.id, "idempotency_key": key(),
            "items": [{"dish_id": shop.fish["id"], "qty": 2}, {"dish_id": tea["id"], "qty": 1},
                      {"dish_id": shop.pork["id"], "qty": 1}]}
    answer, statements = _statements_of(db, lambda: shop.api.post("/orders", json=body))
    assert answer.status_code == 201, answer.get_json()
    assert [(i["name"], i["qty"], i["status"]) for i in answer.get_json()["items"]] == [
        ("剁椒鱼头", 2, "confirmed"), ("柠檬茶", 1, "confirmed"), ("小炒黄牛肉", 1, "confirmed")]
    assert answer.get_json()["subtotal_cents"] == 12_800 * 2 + 1_500 + 6_800
    assert not [s for s in statements if s.startswith("SELECT") and " FROM order_line" in s]
    assert not [s for s in statements if s.startswith("SELECT") and " FROM kitchen_ticket" in s]
    assert not [s for s in statements if s.startswith(("UPDATE order_line", "UPDATE customer_order"))]
    assert sum(s.startswith("SELECT") and " FROM dish " in s for s in statements) == 1
    assert sum(" FROM kitchen_station" in s for s in statements) == 1
    order = shop.api.get(f"/orders/{answer.get_json()['id']}").get_json()
    assert order == answer.get_json()  # what the answer showed is what was written
    tickets = shop.api.get(f"/stores/{shop.tenant.store.id}/tickets", query_string={"status": "open"}).get_json()
    mine = [t for t in tickets["tickets"] if t["order_id"] == order["id"]]
    assert sorted(item["line_id"] for t in mine for item in t["items"]) == sorted(i["id"] for i in order["items"])
    assert sorted((t["station"], t["mark"]) for t in mine) == [("bar", "new"), ("hot", "new")]

    one_dish = {**body, "idempotency_key": key(), "items": body["items"][:1]}
    answer, fewer = _statements_of(db, lambda: shop.api.post("/orders", json=one_dish))
    assert answer.status_code == 201, answer.get_json()
    if db.engine.dialect.name == "postgresql":  # SQLite inserts row by row to learn each id
        assert len(fewer) == len(statements), "\n".join(statements)  # one dish or three: the same statements
        assert len(fewer) <= 11, "\n".join(fewer)


def test_a_dish_added_later_makes_an_addition_ticket(shop):
    """The first dishes' tickets are not additions; a later dish's is (the kitchen prints 加菜)."""
    order = shop.order((shop.fish, 1))
    added = shop.api.post(f"/orders/{order['id']}/items", json={
        "idempotency_key": key(), "items": [{"dish_id": shop.pork["id"], "qty": 1}]})
    assert added.status_code in (200, 201), added.get_json()
    tickets = shop.api.get(f"/stores/{shop.tenant.store.id}/tickets", query_string={"status": "open"}).get_json()
    mine = sorted((t for t in tickets["tickets"] if t["order_id"] == order["id"]), key=lambda t: t["ticket_id"])
    assert [t["mark"] for t in mine] == ["new", "add"]
    assert added.get_json()["subtotal_cents"] == 12_800 + 6_800


def test_the_bill_preview_reads_the_order_with_its_lines_and_store_at_once(shop, db):
    member = shop.member(topup_cents=100_000)
    order = shop.order((shop.fish, 1))
    answer, statements = _statements_of(db, lambda: shop.api.get(
        f"/orders/{order['id']}/bill", query_string={"member_id": member["id"]}))
    assert answer.status_code == 200, answer.get_json()
    assert not [s for s in statements if s.startswith("SELECT") and (" FROM order_line" in s or " FROM store " in s)]
    assert not [s for s in statements if s.startswith("SELECT") and " FROM member_settings " in s]  # with the member
    if db.engine.dialect.name == "postgresql":
        assert len(statements) <= 4, "\n".join(statements)  # token, the URL's order, the order, the member


def test_an_order_with_every_dish_voided_is_cancelled_and_its_table_freed(shop):
    """撤单: a party leaves; each dish is voided with its reason, then the empty order is closed
    and its table is free for the next party. Not while a dish is still on it."""
    store_id = shop.tenant.store.id
    table = shop.api.post(f"/stores/{store_id}/tables", json={"code": "T9", "seats": 4}).get_json()
    order = shop.api.post("/orders", json={
        "store_id": store_id, "table": "T9", "idempotency_key": key(),
        "items": [{"dish_id": shop.fish["id"], "qty": 1}, {"dish_id": shop.beer["id"], "qty": 2}]}).get_json()
    url = f"/orders/{order['id']}/cancel"
    assert shop.api.get(f"/tables/{table['id']}").get_json()["state"] == "ordering"

    refused = shop.api.post(url, json={"reason": "客人离开"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "order_not_empty", refused.get_json()
    assert refused.get_json()["error"]["details"] == {"lines": 2}
    assert shop.api.post(url, json={"reason": "x"}).status_code == 422
    void = shop.api.post(f"/orders/{order['id']}/lines/{order['items'][0]['id']}/void", json={"reason": "客人离开"})
    assert void.status_code == 200
    assert shop.api.post(url, json={"reason": "客人离开"}).get_json()["error"]["details"] == {"lines": 1}
    assert shop.api.get(f"/orders/{order['id']}").get_json()["status"] == "open"  # refused: nothing changed

    void = shop.api.post(f"/orders/{order['id']}/lines/{order['items'][1]['id']}/void", json={"reason": "客人离开"})
    assert void.status_code == 200 and void.get_json()["subtotal_cents"] == 0
    cancelled = shop.api.post(url, json={"reason": "客人离开"})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["status"] == "voided" and cancelled.get_json()["paid_cents"] == 0
    assert shop.api.get(f"/tables/{table['id']}").get_json()["state"] == "free"
    again = shop.api.post(url, json={"reason": "客人离开"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "order_not_open"

    entries = shop.api.get("/audit", query_string={"object_type": "order"}).get_json()["entries"]
    assert [(e["action"], e["details"]) for e in entries if e["action"] == "order.cancel"] == [
        ("order.cancel", {"reason": "客人离开", "table": "T9"})]
    events = shop.api.get(f"/stores/{store_id}/events").get_json()["events"]
    assert [e["payload"]["action"] for e in events if e["kind"] == "table_changed"] == ["cancel"]
    # The next party at T9 has an order of its own.
    second = shop.api.post("/orders", json={"store_id": store_id, "table": "T9", "idempotency_key": key(),
                                            "items": [{"dish_id": shop.pork["id"], "qty": 1}]})
    assert second.status_code == 201 and second.get_json()["id"] != order["id"]
    assert second.get_json()["subtotal_cents"] == 6_800


def test_cancelling_one_of_two_open_orders_leaves_the_table_taken(shop):
    store_id = shop.tenant.store.id
    table = shop.api.post(f"/stores/{store_id}/tables", json={"code": "T8", "seats": 4}).get_json()
    first, second = (shop.api.post("/orders", json={
        "store_id": store_id, "table": "T8", "idempotency_key": key(),
        "items": [{"dish_id": shop.fish["id"], "qty": 1}]}).get_json() for _ in range(2))
    assert shop.api.post(f"/orders/{first['id']}/lines/{first['items'][0]['id']}/void",
                         json={"reason": "点重了"}).status_code == 200
    assert shop.api.post(f"/orders/{first['id']}/cancel", json={"reason": "点重了"}).status_code == 200
    assert shop.api.get(f"/tables/{table['id']}").get_json()["state"] == "ordering"  # the other order is still on
    assert shop.api.get(f"/orders/{second['id']}").get_json()["status"] == "open"


def test_an_order_a_diner_is_paying_by_wechat_is_not_cancelled(shop, db):
    """A WeChat trade still waiting on the order (the bill pushed before its dishes were voided):
    the diner may be paying it now, so the order stays as it is."""
    from app.payments.models import IntentKind, PaymentIntent, TradeType

    order = shop.order((shop.fish, 1))
    db.session.add(PaymentIntent(merchant_id=shop.tenant.merchant.id, store_id=shop.tenant.store.id,
                                 kind=IntentKind.ORDER, trade_type=TradeType.NATIVE, order_id=order["id"],
                                 amount_cents=12_800, out_trade_no="TLO-cancel-paying-0001",
                                 idempotency_key="cancel-paying-1", params={},
                                 code_url="weixin://wxpay/bizpayurl?pr=test"))
    db.session.commit()
    for item in order["items"]:
        assert shop.api.post(f"/orders/{order['id']}/lines/{item['id']}/void",
                             json={"reason": "客人离开"}).status_code == 200
    refused = shop.api.post(f"/orders/{order['id']}/cancel", json={"reason": "客人离开"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "order_paying", refused.get_json()
    assert "微信支付" in shop.api.post(f"/orders/{order['id']}/cancel", json={"reason": "客人离开"},
                                      headers={"Accept-Language": "zh-CN"}).get_json()["error"]["message"]
    assert shop.api.get(f"/orders/{order['id']}").get_json()["status"] == "open"


def test_a_settlement_takes_the_store_event_counter_as_its_last_statement(shop, db):
    """The store's event counter is locked until the commit, and every writer of the store waits
    for it: the settlement's events go in after its answer is recorded, just before the COMMIT."""
    member = shop.member(topup_cents=100_000)
    order = shop.order((shop.fish, 1))
    payable = shop.api.get(f"/orders/{order['id']}/bill", query_string={"member_id": member["id"]}).get_json()
    settled, statements = _statements_of(db, lambda: shop.settle(
        order["id"], [{"type": "stored_value", "amount_cents": payable["payable_cents"]}], member_id=member["id"]))
    assert settled.status_code == 200, settled.get_json()
    counter = [i for i, s in enumerate(statements) if "store_event_counter" in s]
    assert len(counter) == 1, statements
    answer = next(i for i, s in enumerate(statements) if s.startswith("UPDATE idempotency_record"))
    assert answer < counter[0]
    # After it, only the events themselves (SQLite inserts them one by one).
    assert all(s.startswith("INSERT INTO store_event ") for s in statements[counter[0] + 1:]), statements
