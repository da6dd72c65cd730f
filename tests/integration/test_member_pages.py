"""The manager's member pages: list and search, the member's card and ledger, adjustments with a
confirmation step, the rule editors, tenancy and roles."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from app.members.models import LedgerEntry, MemberSettings, MemberVisit, Tier, TopUpRule
from tests.factories import create_member

EN = {"Accept-Language": "en"}


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', html).group(1)


def log_in(make, staff) -> None:
    token = _csrf(make.client.get("/login").get_data(as_text=True))
    response = make.client.post("/login", data={"username": staff.username, "password": make.PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 302


def top_up(make, tenant, member: dict, amount_cents: int) -> None:
    response = make.api(tenant.owner).post(f"/members/{member['id']}/topups", json={
        "amount_cents": amount_cents, "tender": "cash", "idempotency_key": uuid.uuid4().hex})
    assert response.status_code == 201, response.get_json()


def page(make, url: str, **kwargs) -> str:
    response = make.client.get(url, headers=EN, **kwargs)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def shop(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    return tenant


# --- list and detail ---------------------------------------------------------------------------

def test_list_and_search_find_the_member(make, shop):
    wang = create_member(make, shop, phone="13812345678", name="王小明")
    create_member(make, shop, phone="13999990000", name="李雷")

    everyone = page(make, "/manage/members/")
    assert "王小明" in everyone and "李雷" in everyone
    assert "2 members" in everyone

    for query in ("1381234", "小明", wang["member_no"]):
        found = page(make, "/manage/members/", query_string={"q": query})
        assert "王小明" in found and "李雷" not in found, query
        assert f'href="/manage/members/{wang["id"]}"' in found
    assert "No member matches" in page(make, "/manage/members/", query_string={"q": "13700000000"})


def test_list_shows_tier_balance_points_and_a_tier_chart(make, shop):
    member = make.api(shop.owner).post("/members", json={
        "phone": "13812345678", "name": "王小明", "source_store_id": shop.store.id}).get_json()
    create_member(make, shop, name="李雷")
    top_up(make, shop, member, 300_000)  # a single ￥3000 top-up reaches 金卡 (Gold)

    html = page(make, "/manage/members/")
    row = re.search(r"<tr>\s*<td><a[^>]*>\d+</a></td>\s*<td><a[^>]*>王小明</a>.*?</tr>", html, re.S).group(0)
    assert "Gold" in row and "￥3600.00" in row and datetime.now(UTC).strftime("%Y-%m") in row
    assert shop.store.name in row  # where the member joined
    chart = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert "<title>Member: 1</title>" in chart and "<title>Gold: 1</title>" in chart
    assert "<title>Silver: 0</title>" in chart


def test_list_pages_through_many_members(make, shop):
    for n in range(23):
        create_member(make, shop, phone=f"1360000{n:04d}", name=f"会员{n}")
    first = page(make, "/manage/members/")
    assert "Page 1 of 2" in first and "会员22" in first and "会员2<" not in first
    second = page(make, "/manage/members/", query_string={"page": 2})
    assert "会员2<" in second and "会员22" not in second
    assert page(make, "/manage/members/", query_string={"page": "x"})  # junk: the first page


def test_detail_shows_the_card_balances_in_yuan_cards_ledger_visits_and_tiers(make, shop, db):
    member = create_member(make, shop, name="王小明")
    api = make.api(shop.owner)
    top_up(make, shop, member, 300_000)
    api.post(f"/members/{member['id']}/cards", json={"card_no": "0012345678"})
    db.session.add(MemberVisit(merchant_id=shop.merchant.id, member_id=member["id"], order_id=77,
                               store_id=shop.store.id, paid_cents=12_800, points_earned=128,
                               items=[{"name": "宫保鸡丁", "qty": 2, "amount_cents": 7_600}]))
    db.session.commit()

    html = page(make, f"/manage/members/{member['id']}")
    assert member["member_no"] in html
    assert "Gold" in html and "8.8折" in html  # 12% off shown as Chinese menus print it
    assert 'id="stored-value">￥3600.00<' in html
    assert "Principal ￥3000.00" in html and "Bonus ￥600.00" in html
    assert "0012345678" in html and "In use" in html
    ledger = re.search(r'<table class="ledger">.*?</table>', html, re.S).group(0)
    assert "Top-up" in ledger and "+￥3000.00" in ledger and "+￥600.00" in ledger
    assert "宫保鸡丁 ×2" in html and "￥128.00" in html
    assert "A single top-up reached the threshold" in html and "单次充值" in html


def test_detail_is_chinese_by_default(make, shop):
    member = create_member(make, shop, name="王小明")
    html = make.client.get(f"/manage/members/{member['id']}").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "普通会员" in html and "￥0.00" in html


def test_another_merchants_member_is_404(make, shop):
    other = make.tenant()
    stranger = create_member(make, other, name="别家会员")
    for url in (f"/manage/members/{stranger['id']}", f"/manage/members/{stranger['id']}/adjust",
                "/manage/members/999999"):
        response = make.client.get(url)
        assert response.status_code == 404, url
        assert "别家会员" not in response.get_data(as_text=True)
    assert "别家会员" not in page(make, "/manage/members/", query_string={"q": "别家"})


def test_pages_need_a_login(client):
    response = client.get("/manage/members/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- manual adjustments ------------------------------------------------------------------------

def _adjust_form(make, member) -> tuple[str, str]:
    html = page(make, f"/manage/members/{member['id']}/adjust")
    return _csrf(html), _hidden(html, "idempotency_key")


def _entries(db, member) -> list[LedgerEntry]:
    db.session.expire_all()
    return db.session.query(LedgerEntry).filter_by(member_id=member["id"]).order_by(LedgerEntry.id).all()


def test_adjustment_asks_for_confirmation_then_applies_once(make, shop, db):
    member = create_member(make, shop, name="王小明")
    top_up(make, shop, member, 10_000)
    csrf, key = _adjust_form(make, member)
    form = {"csrf_token": csrf, "idempotency_key": key, "account": "principal", "delta": "-20",
            "reason": "收银少收，补记"}
    url = f"/manage/members/{member['id']}/adjust"

    summary = make.client.post(url, data=form, headers=EN)
    assert summary.status_code == 200
    text = summary.get_data(as_text=True)
    assert "Confirm the adjustment?" in text and '<dd class="change minus" id="change">-￥20.00</dd>' in text
    assert 'name="confirm" value="yes"' in text and _hidden(text, "idempotency_key") == key
    assert len(_entries(db, member)) == 1  # only the top-up: nothing applied yet
    back = make.client.post(url, data={**form, "edit": "1"}, headers=EN).get_data(as_text=True)
    assert 'value="-20"' in back and _hidden(back, "idempotency_key") == key  # "Edit" keeps what was typed

    confirmed = {**form, "confirm": "yes"}
    first = make.client.post(url, data=confirmed, headers=EN)
    again = make.client.post(url, data=confirmed, headers=EN)  # a double click, a resent form
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"].endswith(f"/manage/members/{member['id']}")
    entries = _entries(db, member)
    assert [(e.kind.label, e.delta, e.note) for e in entries[1:]] == [("adjust", -2_000, "收银少收，补记")]
    assert entries[-1].staff_id == shop.owner.id

    detail = page(make, f"/manage/members/{member['id']}")
    assert "Adjusted Principal by -￥20.00." in detail and "had already been made" in detail
    ledger = re.search(r'<table class="ledger">.*?</table>', detail, re.S).group(0)
    assert ledger.index("Manual adjustment") < ledger.index("Top-up")  # newest first
    assert "-￥20.00" in ledger and "收银少收，补记" in ledger
    assert 'id="stored-value">￥80.00<' in detail


def test_the_confirmation_asks_in_chinese_by_default(make, shop):
    member = create_member(make, shop)
    csrf, key = _adjust_form(make, member)
    summary = make.client.post(f"/manage/members/{member['id']}/adjust", data={
        "csrf_token": csrf, "idempotency_key": key, "account": "points", "delta": "200", "reason": "补积分"})
    text = summary.get_data(as_text=True)
    assert "确认调整？" in text and "积分" in text and ">+200<" in text


def test_points_adjustment_takes_whole_points(make, shop, db):
    member = create_member(make, shop)
    csrf, key = _adjust_form(make, member)
    form = {"csrf_token": csrf, "idempotency_key": key, "account": "points", "delta": "1.5", "reason": "补积分"}
    url = f"/manage/members/{member['id']}/adjust"
    refused = make.client.post(url, data=form, headers=EN)
    assert refused.status_code == 422 and "Enter whole points" in refused.get_data(as_text=True)
    response = make.client.post(url, data={**form, "delta": "+200", "confirm": "yes"}, headers=EN)
    assert response.status_code == 302
    assert 'id="points">200<' in page(make, f"/manage/members/{member['id']}")


@pytest.mark.parametrize(("change", "message"), [
    ({"reason": ""}, "This field is required."),
    ({"delta": "0"}, "The adjustment cannot be zero."),
    ({"delta": "abc"}, "Enter yuan, such as 20, -15.50."),
    ({"delta": "-500", "confirm": "yes"}, "Not enough stored value."),
    ({"csrf_token": "forged", "confirm": "yes"}, "The request could not be understood."),
])
def test_a_bad_adjustment_shows_why_and_changes_nothing(make, shop, db, change, message):
    member = create_member(make, shop)
    top_up(make, shop, member, 10_000)
    csrf, key = _adjust_form(make, member)
    form = {"csrf_token": csrf, "idempotency_key": key, "account": "principal", "delta": "-20", "reason": "更正"}
    response = make.client.post(f"/manage/members/{member['id']}/adjust", data={**form, **change}, headers=EN)
    assert response.status_code in (400, 409, 422)
    assert message in response.get_data(as_text=True)
    assert len(_entries(db, member)) == 1


def test_cashier_reads_members_but_cannot_adjust_or_edit_rules(make, shop):
    member = create_member(make, shop, name="王小明")
    cashier = make.staff(shop, "cashier")
    make.client.post("/logout", data={"csrf_token": _csrf(page(make, "/manage/"))})
    log_in(make, cashier)
    assert "王小明" in page(make, "/manage/members/")
    detail = page(make, f"/manage/members/{member['id']}")
    assert "Adjust balance" not in detail and "/manage/members/tiers" not in detail
    token = _csrf(detail)
    for url in ("/manage/members/tiers", "/manage/members/points", "/manage/members/topup-rules",
                f"/manage/members/{member['id']}/adjust"):
        assert make.client.get(url).status_code == 403, url
        assert make.client.post(url, data={"csrf_token": token}).status_code == 403, url


# --- rule editors ------------------------------------------------------------------------------

def _tiers(db, shop) -> list[tuple]:
    db.session.expire_all()
    return [(t.name, t.rank, t.discount_percent, t.points_multiplier_percent, t.spend_threshold_cents,
             t.topup_threshold_cents)
            for t in db.session.query(Tier).filter_by(merchant_id=shop.merchant.id).order_by(Tier.rank)]


def _tier_form(make) -> dict:
    """The tier editor's fields as the browser would send them back unchanged."""
    html = page(make, "/manage/members/tiers")
    fields = dict(re.findall(r'<input[^>]*name="(rows-\d+-\w+)"[^>]*value="([^"]*)"', html))
    fields.update({name: "" for name in re.findall(r'<input[^>]*name="(rows-\d+-\w+)"(?![^>]*value=)', html)})
    fields = {k: v for k, v in fields.items() if not k.endswith("-remove")}
    return {"csrf_token": _csrf(html), **fields}


def test_tier_editor_saves_discounts_multipliers_and_thresholds_in_yuan(make, shop, db):
    form = _tier_form(make)
    assert form["rows-2-name"] == "金卡" and form["rows-2-discount"] == "8.8"
    assert form["rows-2-spend_threshold"] == "5000.00" and form["rows-2-multiplier"] == "1.5"
    form.update({"rows-2-discount": "8.5折", "rows-2-multiplier": "1.8", "rows-2-spend_threshold": "4000",
                 "rows-4-name": "黑金卡", "rows-4-rank": "4", "rows-4-discount": "75", "rows-4-multiplier": "3",
                 "rows-4-topup_threshold": "20000"})
    response = make.client.post("/manage/members/tiers", data=form, headers=EN)
    assert response.status_code == 302, response.get_data(as_text=True)
    tiers = _tiers(db, shop)
    assert tiers[2] == ("金卡", 2, 15, 180, 400_000, 300_000)
    assert tiers[4] == ("黑金卡", 4, 25, 300, None, 2_000_000)
    assert "The tiers are saved." in page(make, "/manage/members/tiers")


@pytest.mark.parametrize(("change", "message"), [
    ({"rows-2-spend_threshold": "50块"}, "Enter an amount in yuan, such as 100 or 88.50."),
    ({"rows-2-discount": "0"}, "Enter the discount as on a menu"),
    ({"rows-2-multiplier": "lots"}, "Enter a multiplier such as 1, 1.2 or 1.5."),
    ({"rows-2-spend_threshold": "", "rows-2-topup_threshold": ""},
     "A tier above the base needs a spend or a top-up threshold."),
    ({"rows-0-spend_threshold": "100"}, "The base tier (rank 0) takes no thresholds"),
    ({"rows-3-rank": "2"}, "Two tiers have the same rank."),
    ({"rows-3-name": "金卡"}, "Two tiers have the same name."),
    ({"rows-1-name": ""}, "Give every tier a name."),
])
def test_tier_editor_refuses_bad_input_with_a_message_and_changes_nothing(make, shop, db, change, message):
    form = _tier_form(make)
    before = _tiers(db, shop)
    response = make.client.post("/manage/members/tiers", data={**form, **change}, headers=EN)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'class="invalid"' in html
    assert _tiers(db, shop) == before


def test_a_tier_members_hold_cannot_be_removed(make, shop, db):
    member = create_member(make, shop)
    top_up(make, shop, member, 100_000)  # reaches 银卡 (Silver)
    form = _tier_form(make)
    before = _tiers(db, shop)
    response = make.client.post("/manage/members/tiers", data={**form, "rows-1-remove": "y"}, headers=EN)
    assert response.status_code == 422
    assert "A tier that members hold or have held cannot be removed." in response.get_data(as_text=True)
    assert _tiers(db, shop) == before
    # A tier nobody ever held goes.
    form = _tier_form(make)
    assert make.client.post("/manage/members/tiers", data={**form, "rows-3-remove": "y"}).status_code == 302
    assert [t[0] for t in _tiers(db, shop)] == ["普通会员", "银卡", "金卡"]


def _topup_rules(db, shop) -> list[tuple]:
    db.session.expire_all()
    return [(r.min_cents, r.bonus_cents, r.is_repeat) for r in
            db.session.query(TopUpRule).filter_by(merchant_id=shop.merchant.id).order_by(TopUpRule.min_cents)]


def test_topup_rule_editor_saves_rows_and_refuses_bad_ones(make, shop, db):
    html = page(make, "/manage/members/topup-rules")
    assert "Top up ￥500, get ￥50" in html
    csrf = _csrf(html)
    good = {"csrf_token": csrf, "rows-0-min_yuan": "100", "rows-0-bonus_yuan": "20",
            "rows-1-min_yuan": "1000", "rows-1-bonus_yuan": "250.50", "rows-1-is_repeat": "y"}
    assert make.client.post("/manage/members/topup-rules", data=good).status_code == 302
    assert _topup_rules(db, shop) == [(10_000, 2_000, False), (100_000, 25_050, True)]
    assert "Every ￥1000 topped up gets ￥250.50" in page(make, "/manage/members/topup-rules")

    for change, message in [({"rows-1-min_yuan": "100"}, "two rules cannot start at the same amount"),
                            ({"rows-0-min_yuan": "0"}, "The amount must be more than zero."),
                            ({"rows-0-bonus_yuan": "-5"}, "The amount cannot be negative."),
                            ({"rows-0-bonus_yuan": ""}, "Enter the bonus (0 for none)."),
                            ({"rows-1-min_yuan": "一百"}, "Enter an amount in yuan")]:
        response = make.client.post("/manage/members/topup-rules", data={**good, **change}, headers=EN)
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
        assert _topup_rules(db, shop) == [(10_000, 2_000, False), (100_000, 25_050, True)]


def _settings(db, shop) -> tuple:
    db.session.expire_all()
    s = db.session.query(MemberSettings).filter_by(merchant_id=shop.merchant.id).one()
    return (s.points_per_yuan, sorted(s.earning_tenders), s.points_expiry_kind, s.points_expiry_days,
            s.points_expiry_months, s.cents_per_point, s.max_points_share_percent)


def test_points_rules_editor_saves_and_refuses_bad_input(make, shop, db):
    html = page(make, "/manage/members/points")
    base = {"csrf_token": _csrf(html), "points_per_yuan": "2", "earn_cash": "y", "earn_wechat": "y",
            "points_expiry_kind": "days", "points_expiry_days": "365", "points_expiry_months": "",
            "yuan_per_point": "0.05", "max_points_share_percent": "30"}
    assert make.client.post("/manage/members/points", data=base).status_code == 302
    saved = (2, ["cash", "wechat"], "days", 365, None, 5, 30)
    assert _settings(db, shop) == saved

    for change, message in [({"points_expiry_days": ""}, "Enter after how many days points expire."),
                            ({"points_expiry_kind": "end_of_month_after"},
                             "Enter after how many months points expire."),
                            ({"yuan_per_point": "0"}, "The amount must be more than zero."),
                            ({"yuan_per_point": "五分"}, "Enter an amount in yuan"),
                            ({"max_points_share_percent": "120"}, "Number must be between 0 and 100."),
                            ({"points_expiry_kind": "sometimes"}, "Not a valid choice.")]:
        response = make.client.post("/manage/members/points", data={**base, **change}, headers=EN)
        assert response.status_code == 422, change
        assert message in response.get_data(as_text=True), change
        assert _settings(db, shop) == saved


def test_rule_editor_errors_come_in_chinese_by_default(make, shop, db):
    html = make.client.get("/manage/members/points").get_data(as_text=True)
    response = make.client.post("/manage/members/points", data={
        "csrf_token": _csrf(html), "points_per_yuan": "", "points_expiry_kind": "never", "yuan_per_point": "0.01",
        "max_points_share_percent": "50"})
    assert response.status_code == 422
    assert "该字段是必填字段。" in response.get_data(as_text=True)  # WTForms' own zh catalogue


def test_home_has_tiles_for_the_member_pages(make, shop):
    home = page(make, "/manage/")
    assert 'href="/manage/members/"' in home and 'href="/manage/members/tiers"' in home
