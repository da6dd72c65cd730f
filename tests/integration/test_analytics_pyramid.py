"""The member pyramid over real bills: orders settled through the settlement service (at past
moments), refunded through the API, scored by /api/v1/analytics — exact layers for a
hand-built set of members, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.db import begin_write, utcnow
from app.members.models import Member
from app.orders.settlement import SettleRequest, TenderRequest, settle_order
from tablerules.tenders import TenderType
from tests.factories import create_dish, create_member

DAY = timedelta(days=1)
THRESHOLDS = {"active_days": 30, "lost_days": 120, "frequent_visits": 3, "high_spend_cents": 50_000,
              "new_member_days": 60}


def key() -> str:
    return uuid.uuid4().hex


class Shop:
    def __init__(self, make, db):
        self.make, self.db = make, db
        self.tenant = make.tenant()
        self.api = make.api(self.tenant.owner)
        self.fish = create_dish(make, self.tenant, "剁椒鱼头", 12_800)
        self.pork = create_dish(make, self.tenant, "辣椒炒肉", 4_200, category="湘味小炒")
        self.beer = create_dish(make, self.tenant, "青岛啤酒", 1_000, category="酒水")
        self.actor = Actor(merchant_id=self.tenant.merchant.id, staff_id=self.tenant.owner.id, name="owner")

    def member(self, name: str, joined_days_ago: int = 0) -> int:
        member_id = create_member(self.make, self.tenant, name=name)["id"]
        if joined_days_ago:
            self.db.session.execute(sa.update(Member).where(Member.id == member_id)
                                    .values(created_at=utcnow() - joined_days_ago * DAY))
            self.db.session.commit()
        return member_id

    def visit(self, member_id: int, days_ago: float, *items) -> dict:
        """An order taken through the API and settled in cash `days_ago` days back."""
        response = self.api.post("/orders", json={
            "store_id": self.tenant.store.id, "idempotency_key": key(),
            "items": [{"dish_id": dish["id"], "qty": qty} for dish, qty in items]})
        assert response.status_code == 201, response.get_json()
        order = response.get_json()
        begin_write()
        paid = settle_order(order["id"], SettleRequest(member_id=member_id, tenders=[
            TenderRequest(TenderType.CASH, order["subtotal_cents"])]), actor=self.actor, key=key(),
            now=utcnow() - days_ago * DAY)
        assert paid.payable_cents == order["subtotal_cents"]  # no tier discount for these members
        self.db.session.commit()
        return order

    def pyramid(self) -> dict:
        response = self.api.get("/analytics/pyramid")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def layers(self) -> dict[str, str]:
        """Member name -> layer."""
        placed = {}
        for layer in ("core", "important", "potential", "new", "dormant", "lost"):
            body = self.api.get(f"/analytics/layers/{layer}/members", query_string={"per_page": 200}).get_json()
            placed.update({m["name"]: layer for m in body["members"]})
        return placed


@pytest.fixture
def shop(make, db):
    shop = Shop(make, db)
    assert shop.api.request("PUT", "/analytics/thresholds", json=THRESHOLDS).status_code == 200
    return shop


def build_members(shop: Shop) -> dict[str, int]:
    fish, pork, beer = shop.fish, shop.pork, shop.beer
    ids = {}
    ids["核心A"] = a = shop.member("核心A", 400)
    for days in (5, 10, 20):
        shop.visit(a, days, (fish, 1), (pork, 1), (beer, 3))  # 200 yuan each
    ids["重要B"] = b = shop.member("重要B", 400)
    for days in (2, 8, 15):
        shop.visit(b, days, (pork, 1))
    ids["重要C"] = c = shop.member("重要C", 400)
    shop.visit(c, 10, (fish, 5))  # one banquet, 640 yuan
    ids["潜力D"] = d = shop.member("潜力D", 400)
    for days in (3, 25):
        shop.visit(d, days, (pork, 1))
    ids["新客E"] = e = shop.member("新客E")
    shop.visit(e, 0.01, (pork, 1), (beer, 1))
    ids["新客F"] = shop.member("新客F")  # joined today, nothing paid yet
    ids["沉睡G"] = g = shop.member("沉睡G", 400)
    for days in (40, 50, 60, 70):
        shop.visit(g, days, (fish, 1), (pork, 1), (beer, 3))
    ids["流失H"] = h = shop.member("流失H", 400)
    shop.visit(h, 200, (fish, 1))
    ids["流失I"] = i = shop.member("流失I", 500)
    shop.visit(i, 380, (fish, 2))  # before the 12-month window
    return ids


EXPECTED = {"核心A": "core", "重要B": "important", "重要C": "important", "潜力D": "potential", "新客E": "new",
            "新客F": "new", "沉睡G": "dormant", "流失H": "lost", "流失I": "lost"}


def test_exact_layers_and_pyramid(shop):
    build_members(shop)
    assert shop.layers() == EXPECTED
    body = shop.pyramid()
    rows = {row["layer"]: row for row in body["layers"]}
    assert [row["layer"] for row in body["layers"]] == ["core", "important", "potential", "new", "dormant", "lost"]
    assert [row["name_zh"] for row in body["layers"]] == ["核心", "重要", "潜力", "新客", "沉睡", "流失"]
    counts = {layer: (row["members"], row["visits"], row["revenue_cents"]) for layer, row in rows.items()}
    assert counts == {
        "core": (1, 3, 60_000),
        "important": (2, 4, 3 * 4_200 + 64_000),
        "potential": (1, 2, 8_400),
        "new": (2, 1, 5_200),
        "dormant": (1, 4, 80_000),
        "lost": (2, 1, 12_800),  # H's visit; I's is outside the window
    }
    total = 60_000 + 76_600 + 8_400 + 5_200 + 80_000 + 12_800
    assert body["totals"] == {"members": 9, "visits": 15, "revenue_cents": total}
    assert rows["core"]["revenue_share_permille"] == (2 * 1000 * 60_000 + total) // (2 * total)
    assert rows["important"]["avg_spend_per_visit_cents"] == 76_600 // 4
    assert rows["important"]["avg_spend_per_member_cents"] == 76_600 // 2
    assert rows["new"]["avg_spend_per_member_cents"] == 2_600
    assert body["thresholds"] == THRESHOLDS
    assert body["window"]["months"] == 12


def test_a_refund_leaves_the_figures(shop):
    ids = build_members(shop)
    banquet = shop.visit(shop.member("退款J", 400), 5, (shop.fish, 5))
    assert shop.layers()["退款J"] == "important"
    before = {row["layer"]: row for row in shop.pyramid()["layers"]}

    response = shop.api.post(f"/orders/{banquet['id']}/refund", json={"reason": "菜品问题", "idempotency_key": key()})
    assert response.status_code == 200 and response.get_json()["status"] == "refunded"
    assert shop.layers()["退款J"] == "lost"  # no counted visit left, joined 400 days ago
    after = {row["layer"]: row for row in shop.pyramid()["layers"]}
    assert after["important"]["members"] == before["important"]["members"] - 1
    assert after["important"]["revenue_cents"] == before["important"]["revenue_cents"] - 64_000
    assert (after["lost"]["members"], after["lost"]["revenue_cents"]) == (3, before["lost"]["revenue_cents"])
    member = shop.api.get(f"/analytics/members/{ids['重要C']}").get_json()
    assert (member["visits"], member["spend_cents"], member["layer"]) == (1, 64_000, "important")


def test_a_partial_refund_counts_what_was_kept(shop):
    member_id = shop.member("部分退款", 400)
    order = shop.visit(member_id, 10, (shop.fish, 5))
    line = order["items"][0]["id"]
    response = shop.api.post(f"/orders/{order['id']}/refund", json={
        "reason": "少上两份", "idempotency_key": key(), "lines": [{"line_id": line, "qty": 2}]})
    assert response.status_code == 200, response.get_json()
    figures = shop.api.get(f"/analytics/members/{member_id}").get_json()
    # Still a visit, now of 384 yuan: below the high-spend line, one visit, an old member.
    assert (figures["visits"], figures["spend_cents"], figures["layer"]) == (1, 38_400, "potential")
    assert figures["recency_days"] == 10 and figures["detail_url"] == f"/manage/members/{member_id}"


def test_member_list_sorts_pages_and_exports(shop):
    ids = build_members(shop)
    first = shop.api.get("/analytics/layers/important/members",
                         query_string={"sort": "spend", "order": "desc", "per_page": 1}).get_json()
    assert (first["total"], first["pages"], [m["name"] for m in first["members"]]) == (2, 2, ["重要C"])
    second = shop.api.get("/analytics/layers/important/members",
                          query_string={"sort": "spend", "order": "desc", "per_page": 1, "page": 2}).get_json()
    assert [m["name"] for m in second["members"]] == ["重要B"]
    by_visits = shop.api.get("/analytics/layers/important/members",
                             query_string={"sort": "visits", "order": "desc"}).get_json()
    assert [m["name"] for m in by_visits["members"]] == ["重要B", "重要C"]
    assert by_visits["members"][0]["visits"] == 3 and by_visits["members"][0]["detail_url"] == \
        f"/manage/members/{ids['重要B']}"

    response = shop.api.get("/analytics/layers/lost/members.csv", query_string={"sort": "name", "order": "asc"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:6] == ["member_no", "name", "phone", "layer", "visits", "spend_yuan"]
    assert [(r[1], r[3], r[4], r[5]) for r in rows[1:]] == [("流失H", "lost", "1", "128.00"),
                                                           ("流失I", "lost", "0", "0.00")]


def test_bad_queries_are_4xx(shop):
    api = shop.api
    assert api.get("/analytics/layers/vip/members").status_code == 404
    for path in ("/analytics/pyramid", "/analytics/movement", "/analytics/layers/core/likes"):
        assert api.get(path, query_string={"as_of": "0001-01-01T00:00:00Z"}).status_code == 422
    assert api.get("/analytics/pyramid", query_string={"as_of": "2001-01-01T00:00:00Z"}).get_json()[
        "totals"]["members"] == 0  # nobody had joined yet
    for query in ({"sort": "phone"}, {"order": "up"}, {"page": 0}, {"per_page": 1000}, {"as_of": "yesterday"},
                  {"as_of": "2026-01-01T00:00:00"}, {"as_of": "0001-01-01T00:00:00Z"},
                  {"as_of": "9999-12-31T23:59:59+14:00"}):
        response = api.get("/analytics/layers/core/members", query_string=query)
        assert response.status_code == 422, (query, response.get_json())
        assert response.get_json()["error"]["code"]


def test_thresholds_are_kept_per_merchant_and_checked(shop, make):
    api = shop.api
    body = api.get("/analytics/thresholds").get_json()
    assert body["chosen"] == THRESHOLDS and body["in_force"] == THRESHOLDS and body["window_months"] == 12
    bad = api.request("PUT", "/analytics/thresholds", json={"active_days": 200})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_thresholds"
    assert "active_days" in bad.get_json()["error"]["details"]["fields"]
    for wrong in ({"lost_days": 1}, {"frequent_visits": "3"}, {"window_months": 0}, {"color": 1}):
        assert api.request("PUT", "/analytics/thresholds", json=wrong).status_code == 422
    assert api.get("/analytics/thresholds").get_json()["chosen"] == THRESHOLDS  # nothing changed

    cleared = api.request("PUT", "/analytics/thresholds", json={"high_spend_cents": None, "window_months": 6})
    assert cleared.status_code == 200
    body = cleared.get_json()
    assert body["chosen"]["high_spend_cents"] is None and body["window_months"] == 6
    assert body["in_force"]["high_spend_cents"] == body["defaults"]["high_spend_cents"]

    other = make.tenant()
    other_body = make.api(other.owner).get("/analytics/thresholds").get_json()
    assert other_body["chosen"] == dict.fromkeys(THRESHOLDS)  # another merchant's are its own


def test_roles_and_tenancy(shop, make):
    ids = build_members(shop)
    cashier = make.api(make.staff(shop.tenant, "cashier"))
    assert cashier.get("/analytics/pyramid").status_code == 403
    assert cashier.get("/analytics/layers/core/members").status_code == 403
    assert cashier.request("PUT", "/analytics/thresholds", json={"active_days": 10}).status_code == 403
    manager = make.api(make.staff(shop.tenant, "manager"))
    assert manager.get("/analytics/pyramid").get_json()["totals"]["members"] == 9

    other = make.tenant()
    stranger = make.api(other.owner)
    create_member(make, other, name="别家会员")
    body = stranger.get("/analytics/pyramid").get_json()
    assert body["totals"] == {"members": 1, "visits": 0, "revenue_cents": 0}
    assert stranger.get(f"/analytics/members/{ids['核心A']}").status_code == 404
    names = {m["name"] for layer in ("core", "new", "lost")
             for m in stranger.get(f"/analytics/layers/{layer}/members").get_json()["members"]}
    assert names == {"别家会员"}
    assert "/api/v1/analytics/pyramid" in shop.api.get("/api/openapi.json").get_json()["paths"]


def test_month_over_month_movement(shop):
    build_members(shop)
    response = shop.api.get("/analytics/movement")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    cells = {(row["from"], layer): n for row in body["rows"] for layer, n in row["to"].items() if n}
    # A month ago A, B, C and D had not come for 370+ days (lost); G was a regular; E and F had
    # not joined; H and I were already gone.
    assert cells == {("lost", "core"): 1, ("lost", "important"): 2, ("lost", "potential"): 1,
                     ("core", "dormant"): 1, ("lost", "lost"): 2, (None, "new"): 2}
    assert (body["moved_up"], body["moved_down"], body["stayed"], body["joined"]) == (4, 1, 2, 2)
    assert body["thresholds"] == THRESHOLDS
    assert shop.api.get("/analytics/movement", query_string={"months": 13}).status_code == 422


def test_the_pyramid_counted_in_sql_is_the_rule_in_python(shop, db):
    """`service.pyramid` (the rule as an SQL CASE, defaults from quantiles in SQL) gives exactly
    what scoring every member with `tablerules.rfm` gives — with the merchant's thresholds and
    with the defaults from the data, now and a month ago."""
    from app.analytics import service
    from app.db import utcnow

    build_members(shop)
    merchant_id = shop.tenant.merchant.id
    for when in (utcnow(), utcnow() - 31 * DAY):
        in_sql = service.pyramid(merchant_id, when)
        in_python = service.score_members(merchant_id, when)
        assert in_sql.thresholds == in_python.thresholds
        assert in_sql.layers == in_python.summary()
    assert shop.api.request("PUT", "/analytics/thresholds", json=dict.fromkeys(THRESHOLDS)).status_code == 200
    for when in (utcnow(), utcnow() - 31 * DAY, utcnow() - 400 * DAY):
        in_sql = service.pyramid(merchant_id, when)
        in_python = service.score_members(merchant_id, when)
        assert in_sql.thresholds == in_python.thresholds == in_python.defaults
        assert in_sql.layers == in_python.summary()
