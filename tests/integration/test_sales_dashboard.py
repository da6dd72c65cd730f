"""The sales dashboard over a hand-built day of real bills: orders settled through the settlement
service at fixed moments (Beijing time), refunded through the API, read by /api/v1/analytics/sales
and /manage/dashboard — exact figures for the day, its week and its month, per store and for the
chain, with a refund in full, a partial refund and members against walk-ins."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.analytics.sales import LOCAL
from app.db import begin_write
from app.members.models import Member
from app.orders.settlement import SettleRequest, TenderRequest, settle_order
from tests.factories import create_dish, create_member, create_table
from tests.integration.test_member_pages import log_in, top_up

DAY = date(2026, 11, 18)  # a Wednesday; its week starts on Monday the 16th


def key() -> str:
    return uuid.uuid4().hex


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL)


class Shop:
    def __init__(self, make, db):
        self.make, self.db = make, db
        self.tenant = make.tenant()
        self.api = make.api(self.tenant.owner)
        self.store1 = self.tenant.store.id
        response = self.api.post("/stores", json={"name": "河西店"})
        assert response.status_code == 201, response.get_json()
        self.store2 = response.get_json()["id"]
        self.fish = create_dish(make, self.tenant, "剁椒鱼头", 12_800)
        self.pork = create_dish(make, self.tenant, "辣椒炒肉", 4_200, category="湘味小炒")
        self.beer = create_dish(make, self.tenant, "青岛啤酒", 1_000, category="酒水")
        self.actor = Actor(merchant_id=self.tenant.merchant.id, staff_id=self.tenant.owner.id, name="owner")

    def member(self, name: str, joined: datetime, **source) -> dict:
        member = create_member(self.make, self.tenant, name=name)
        self.db.session.execute(sa.update(Member).where(Member.id == member["id"])
                                .values(created_at=joined, **source))
        self.db.session.commit()
        return member

    def sale(self, store_id: int, when: datetime, items, tenders, member_id: int | None = None) -> dict:
        response = self.api.post("/orders", json={
            "store_id": store_id, "idempotency_key": key(),
            "items": [{"dish_id": dish["id"], "qty": qty} for dish, qty in items]})
        assert response.status_code == 201, response.get_json()
        order = response.get_json()
        begin_write()
        settle_order(order["id"], SettleRequest(member_id=member_id, tenders=[TenderRequest(t, c) for t, c in tenders]),
                     actor=self.actor, key=key(), now=when)
        self.db.session.commit()
        return order

    def refund(self, order: dict, lines: list | None = None) -> None:
        body = {"reason": "菜品问题", "idempotency_key": key(), **({"lines": lines} if lines else {})}
        response = self.api.post(f"/orders/{order['id']}/refund", json=body)
        assert response.status_code == 200, response.get_json()

    def sales(self, **query) -> dict:
        response = self.api.get("/analytics/sales", query_string={"date": DAY.isoformat(), **query})
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def build(shop: Shop) -> None:
    from tablerules.tenders import TenderType as T

    table = create_table(shop.make, shop.tenant, "A01")
    m1 = shop.member("会员甲", at(DAY, 10), source_store_id=shop.store1, source_table_id=table["id"])
    m2 = shop.member("会员乙", at(DAY, 11), source_campaign="春节拉新")
    shop.member("会员丙", at(DAY, 9), source_store_id=shop.store2)
    shop.member("会员丁", at(DAY, 0, 5))  # no source: joined at the till
    shop.member("老会员", at(date(2026, 10, 30), 12), source_store_id=shop.store1)  # another month
    top_up(shop.make, shop.tenant, m2, 10_000)
    # The day: A member 128 in cash (200 handed over, 72 change); B walk-in 84; C member 148 at the
    # second store, 100 of it stored value; D walk-in 42 refunded in full; E member 138 of which
    # the beer (10) is refunded.
    shop.sale(shop.store1, at(DAY, 12, 30), [(shop.fish, 1)], [(T.CASH, 20_000)], m1["id"])
    shop.sale(shop.store1, at(DAY, 19, 10), [(shop.pork, 2)], [(T.CASH, 8_400)])
    shop.sale(shop.store2, at(DAY, 13), [(shop.fish, 1), (shop.beer, 2)],
              [(T.STORED_VALUE, 10_000), (T.CASH, 4_800)], m2["id"])
    d = shop.sale(shop.store1, at(DAY, 20), [(shop.pork, 1)], [(T.CASH, 4_200)])
    shop.refund(d)
    e = shop.sale(shop.store1, at(DAY, 21), [(shop.fish, 1), (shop.beer, 1)], [(T.CASH, 13_800)], m1["id"])
    beer_line = next(line["id"] for line in e["items"] if line["dish_id"] == shop.beer["id"])
    shop.refund(e, [{"line_id": beer_line, "qty": 1}])
    # Earlier that week (Tuesday, 23:30 Beijing time is still Tuesday): a walk-in at the second store.
    shop.sale(shop.store2, at(date(2026, 11, 17), 23, 30), [(shop.pork, 1)], [(T.CASH, 4_200)])
    # Late on Sunday the 15th: the week before, the same month.
    shop.sale(shop.store1, at(date(2026, 11, 15), 23, 50), [(shop.beer, 3)], [(T.CASH, 3_000)])
    # The month before: nowhere.
    shop.sale(shop.store1, at(date(2026, 10, 31), 20), [(shop.fish, 2)], [(T.CASH, 25_600)], m1["id"])


@pytest.fixture
def shop(make, db):
    shop = Shop(make, db)
    build(shop)
    return shop


def test_the_day_for_the_chain(shop):
    body = shop.sales(period="today")
    assert (body["first_day"], body["last_day"]) == ("2026-11-18", "2026-11-18")
    assert body["start"].startswith("2026-11-17T16:00:00")  # Beijing midnight in UTC
    revenue = 12_800 + 8_400 + 14_800 + 12_800  # D kept nothing, E kept 128
    member = 12_800 + 14_800 + 12_800
    assert body["totals"] == {
        "revenue_cents": revenue, "orders": 4, "avg_spend_cents": revenue // 4,
        "member_revenue_cents": member, "non_member_revenue_cents": 8_400, "member_orders": 3,
        "member_share_permille": 828,  # 404 / 488 = 82.79%
        "refunded_cents": 4_200 + 1_000, "refunded_orders": 1}
    assert {t["tender"]: t["cents"] for t in body["tenders"]} == {
        "cash": 12_800 + 8_400 + 4_800 + 0 + 12_800, "stored_value": 10_000, "wechat": 0}
    assert sum(t["cents"] for t in body["tenders"]) == revenue
    stores = {s["name"]: (s["orders"], s["revenue_cents"], s["member_revenue_cents"]) for s in body["stores"]}
    assert stores == {shop.tenant.store.name: (3, 34_000, 25_600), "河西店": (1, 14_800, 14_800)}
    assert [(d["name"], d["qty"], d["revenue_cents"]) for d in body["top_dishes"]] == [
        ("剁椒鱼头", 3, 38_400), ("辣椒炒肉", 2, 8_400), ("青岛啤酒", 2, 2_000)]
    hours = {b["label"]: (b["revenue_cents"], b["orders"]) for b in body["series"] if b["revenue_cents"] or b["orders"]}
    assert len(body["series"]) == 24
    assert hours == {"12": (12_800, 1), "13": (14_800, 1), "19": (8_400, 1), "21": (12_800, 1)}
    assert body["new_members"] == 4
    assert body["new_members_by_source"] == {"campaign": 1, "table": 1, "store": 1, "none": 1}
    assert [(s["source"], s["label"], s["members"]) for s in body["sources"]] == [
        ("campaign", "春节拉新", 1), ("table", "A01", 1), ("store", "河西店", 1), ("none", "", 1)]


def test_one_store_and_the_week_and_month(shop):
    store1 = shop.sales(period="today", store_id=shop.store1)
    assert (store1["totals"]["orders"], store1["totals"]["revenue_cents"]) == (3, 34_000)
    assert store1["totals"]["member_share_permille"] == 753  # 256 / 340
    assert {t["tender"]: t["cents"] for t in store1["tenders"]}["cash"] == 34_000
    assert [s["store_id"] for s in store1["stores"]] == [shop.store1]
    assert store1["new_members_by_source"] == {"campaign": 0, "table": 1, "store": 0, "none": 0}
    week = shop.sales(period="week")
    assert (week["first_day"], week["last_day"]) == ("2026-11-16", "2026-11-22")
    assert (week["totals"]["orders"], week["totals"]["revenue_cents"]) == (5, 48_800 + 4_200)
    assert [b["label"] for b in week["series"]][:2] == ["2026-11-16", "2026-11-17"]
    assert {b["label"]: b["revenue_cents"] for b in week["series"]}["2026-11-17"] == 4_200
    month = shop.sales(period="month")
    assert (month["first_day"], month["last_day"], len(month["series"])) == ("2026-11-01", "2026-11-30", 30)
    assert (month["totals"]["orders"], month["totals"]["revenue_cents"]) == (6, 48_800 + 4_200 + 3_000)
    assert month["new_members"] == 4  # the October member is not new this month
    assert shop.sales(period="month", date="2026-10-05")["totals"]["revenue_cents"] == 25_600


def test_bad_input_and_tenancy(shop, make):
    assert shop.api.get("/analytics/sales", query_string={"period": "year"}).status_code == 422
    assert shop.api.get("/analytics/sales", query_string={"date": "2026-13-01"}).status_code == 422
    assert shop.api.get("/analytics/sales", query_string={"store_id": "x"}).status_code == 422
    stranger = make.tenant()
    assert shop.api.get("/analytics/sales", query_string={"store_id": stranger.store.id}).status_code == 404
    cashier = make.staff(shop.tenant, "cashier")
    assert make.api(cashier).get("/analytics/sales").status_code == 403
    # The stranger's own dashboard sees none of this merchant's sales.
    assert make.api(stranger.owner).get("/analytics/sales", query_string={
        "date": DAY.isoformat()}).get_json()["totals"]["revenue_cents"] == 0


def test_a_store_manager_sees_their_store(shop, make, db):
    from app.auth.permissions import Role
    from app.auth.service import create_staff

    manager = create_staff(None, merchant_id=shop.tenant.merchant.id, username=f"m{key()[:8]}",
                           password=make.PASSWORD, role=Role.MANAGER, store_id=shop.store2)
    db.session.commit()
    api = make.api(manager)
    body = api.get("/analytics/sales", query_string={"date": DAY.isoformat()}).get_json()
    assert (body["store_id"], body["totals"]["revenue_cents"]) == (shop.store2, 14_800)
    assert api.get("/analytics/sales", query_string={"store_id": shop.store1}).status_code == 404
    log_in(make, manager)
    html = make.client.get(f"/manage/dashboard?date={DAY.isoformat()}&store_id={shop.store1}").get_data(
        as_text=True)
    assert 'id="kpi-revenue">￥148.00<' in html and "data-store=" not in html  # no other store offered


def test_the_dashboard_page(shop, make):
    log_in(make, shop.tenant.owner)
    zh = make.client.get(f"/manage/dashboard?date={DAY.isoformat()}", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200
    html = zh.get_data(as_text=True)
    assert 'id="kpi-revenue">￥488.00<' in html and 'id="kpi-orders">4<' in html
    assert 'id="kpi-member-share">82.8%<' in html and "营业额" in html
    assert "<script" not in html  # server-made charts
    assert "春节拉新" in html and "剁椒鱼头" in html
    store = make.client.get(f"/manage/dashboard?date={DAY.isoformat()}&store_id={shop.store2}&period=week",
                            headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="kpi-revenue">￥190.00<' in store and "Revenue" in store
    assert make.client.get(f"/manage/dashboard?store_id={make.tenant().store.id}").status_code == 404
    assert make.client.get("/manage/dashboard?period=decade").status_code == 200  # back to today
