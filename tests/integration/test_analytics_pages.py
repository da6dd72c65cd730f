"""The pyramid pages over the hand-built members of test_analytics_pyramid: the chart, a layer
with what it likes and its sortable, paged member list, the CSV, roles and tenancy."""

from __future__ import annotations

import csv
import io
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.members.models import Member
from app.orders.models import Order
from tests.integration.test_analytics_pyramid import THRESHOLDS, Shop, build_members
from tests.integration.test_member_pages import log_in

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def shop(make, db):
    shop = Shop(make, db)
    assert shop.api.request("PUT", "/analytics/thresholds", json=THRESHOLDS).status_code == 200
    build_members(shop)
    log_in(make, shop.tenant.owner)
    return shop


def test_the_pyramid_page_shows_every_layer(shop, make):
    response = make.client.get("/manage/analytics/", headers=ZH)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count('class="layer layer-') == 6
    for name in ("核心", "重要", "潜力", "新客", "沉睡", "流失"):
        assert re.search(rf'<text class="name"[^>]*>{name}</text>', html)
    assert re.search(r'data-layer="important".*?<text class="figure" x="520"[^>]*>2</text>', html, re.S)
    assert 'href="/manage/analytics/layers/core"' in html
    assert "<script" not in html  # a server-made chart: nothing for the CSP to allow
    # The flow table: G slipped from core to dormant over the month.
    assert re.search(r'class="num down" data-from="core" data-to="dormant">1<', html)
    assert re.search(r'class="num joined" data-from="joined" data-to="new">2<', html)
    english = make.client.get("/manage/analytics/", headers=EN).get_data(as_text=True)
    assert "Member pyramid" in english and "Dormant" in english


def test_a_layer_page_lists_sorts_and_links_members(shop, make):
    html = make.client.get("/manage/analytics/layers/important?sort=visits&order=desc", headers=EN).get_data(
        as_text=True)
    names = re.findall(r'class="member-name" href="/manage/members/(\d+)">([^<]+)<', html)
    assert [name for _id, name in names] == ["重要B", "重要C"]
    assert "Top dishes by quantity" in html and "剁椒鱼头" in html and "Stir-fried" not in html
    ascending = make.client.get("/manage/analytics/layers/important?sort=visits&order=asc", headers=EN)
    assert [n for _i, n in re.findall(r'class="member-name" href="/manage/members/(\d+)">([^<]+)<',
                                      ascending.get_data(as_text=True))] == ["重要C", "重要B"]
    member_id = names[0][0]
    assert make.client.get(f"/manage/members/{member_id}", headers=EN).status_code == 200
    assert make.client.get("/manage/analytics/layers/vip").status_code == 404
    assert make.client.get("/manage/analytics/layers/core?sort=phone&page=-3").status_code == 200


def test_the_csv_export(shop, make):
    response = make.client.get("/manage/analytics/layers/dormant.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r[1], r[3], r[4], r[5]) for r in rows[1:]] == [("沉睡G", "dormant", "4", "800.00")]


def test_likes_over_the_api(shop):
    body = shop.api.get("/analytics/layers/dormant/likes").get_json()
    assert (body["members"], body["visits"], body["revenue_cents"]) == (1, 4, 80_000)
    assert body["avg_spend_per_visit_cents"] == 20_000
    assert [(d["name"], d["qty"], d["revenue_cents"]) for d in body["top_by_qty"]] == [
        ("青岛啤酒", 12, 12_000), ("剁椒鱼头", 4, 51_200), ("辣椒炒肉", 4, 16_800)]
    assert [d["name"] for d in body["top_by_revenue"]] == ["剁椒鱼头", "辣椒炒肉", "青岛啤酒"]
    assert [(c["name"], c["qty"], c["revenue_cents"]) for c in body["categories"]] == [
        ("热菜", 4, 51_200), ("湘味小炒", 4, 16_800), ("酒水", 12, 12_000)]
    paid = shop.db.session.scalars(sa.select(Order.paid_at).where(Order.member_id == body_member(shop, "沉睡G")))
    local = [moment.astimezone(ZoneInfo("Asia/Shanghai")) for moment in paid]
    assert body["weekdays"] == [sum(m.weekday() == day for m in local) for day in range(7)]
    assert body["hours"] == [sum(m.hour == hour for m in local) for hour in range(24)]
    assert [(s["name"], s["visits"]) for s in body["stores"]] == [(shop.tenant.store.name, 4)]
    assert [b["visits"] for b in body["bill_bands"]] == [0, 0, 0, 4, 0, 0]  # 200 yuan: 200–400
    assert body["bill_bands"][3] == {"from_cents": 20_000, "below_cents": 40_000, "visits": 4}
    empty = shop.api.get("/analytics/layers/core/likes").get_json()
    assert empty["members"] == 1 and empty["visits"] == 3


def body_member(shop, name: str) -> int:
    return shop.db.session.scalar(sa.select(Member.id).where(Member.name == name))


def test_cashiers_and_strangers_are_kept_out(shop, make):
    cashier = make.staff(shop.tenant, "cashier")
    log_in(make, cashier)
    assert make.client.get("/manage/analytics/").status_code == 403
    assert make.client.get("/manage/analytics/layers/core.csv").status_code == 403
    other = make.tenant()
    log_in(make, other.owner)
    html = make.client.get("/manage/analytics/layers/important", headers=EN).get_data(as_text=True)
    assert "重要B" not in html and "No member is in this layer now." in html


def _form_token(make) -> str:
    html = make.client.get("/manage/analytics/", headers=EN).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_the_thresholds_form(shop, make):
    form = {"csrf_token": _form_token(make), "window_months": "12", "active_days": "20", "lost_days": "",
            "frequent_visits": "3", "high_spend_yuan": "800", "new_member_days": ""}
    response = make.client.post("/manage/analytics/thresholds", data=form, headers=EN)
    assert response.status_code == 302
    chosen = shop.api.get("/analytics/thresholds").get_json()["chosen"]
    assert chosen == {"active_days": 20, "lost_days": None, "frequent_visits": 3, "high_spend_cents": 80_000,
                      "new_member_days": None}
    # 核心A (600 yuan) is no longer high-spending, but frequent: important.
    assert shop.layers()["核心A"] == "important"

    bad = make.client.post("/manage/analytics/thresholds", headers=EN, data={
        **form, "csrf_token": _form_token(make), "lost_days": "10"})
    assert bad.status_code == 422
    assert "These thresholds cannot place members sensibly." in bad.get_data(as_text=True)
    nonsense = make.client.post("/manage/analytics/thresholds", headers=EN, data={
        **form, "csrf_token": _form_token(make), "frequent_visits": "many"})
    assert nonsense.status_code == 422
    assert shop.api.get("/analytics/thresholds").get_json()["chosen"] == chosen  # nothing changed
    assert make.client.post("/manage/analytics/thresholds", data={**form, "csrf_token": ""}).status_code == 400

    log_in(make, make.staff(shop.tenant, "cashier"))
    assert make.client.post("/manage/analytics/thresholds", data=form).status_code in (400, 403)
