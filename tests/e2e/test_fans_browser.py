"""Fan acquisition in a real Chromium against the WeChat simulator: the manager prints a poster
for a lucky wheel; a phone (360×780) scans the poster's QR in the simulator and follows the
account; the automatic reply links the wheel; the diner signs in through WeChat, spins (the
wheel turns to what the server decided), joins to receive the coupon, finds it in the wallet;
the cashier redeems it at settle by its code; the manager's funnel counts every step. The same
phone then grabs a red envelope."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from app.actor import Actor
from app.coupons.models import Coupon, CouponStatus
from app.fans import service
from app.fans.models import PrizeKind
from tests.e2e.conftest import log_in, screenshots_dir
from tests.factories import create_coupon_template, create_dish

PHONE = {"width": 360, "height": 780}


@pytest.fixture
def public_url(app, oa, oa_live_server):
    """The reply's links point at the app the browser reaches."""
    saved = app.config["PUBLIC_BASE_URL"]
    app.config["PUBLIC_BASE_URL"] = oa_live_server
    yield oa_live_server
    app.config["PUBLIC_BASE_URL"] = saved


@pytest.mark.e2e
def test_poster_qr_to_a_coupon_redeemed_at_settle(app, make, oa, public_url, browser):
    base, shots = public_url, screenshots_dir()
    tenant = oa.tenant
    actor = Actor.system(tenant.merchant.id)
    template = create_coupon_template(make, tenant, name="开业满减券", name_en="Opening voucher", value_cents=2_000,
                                      min_spend_cents=5_000)
    wheel = service.create_wheel(actor=actor, name="开业幸运大转盘", name_en="Opening lucky wheel",
                                 per_person_total=3, per_person_daily=2, prizes=[
                                     {"kind": PrizeKind.COUPON, "label": "20元券", "label_en": "¥20 voucher",
                                      "coupon_template_id": template["id"], "chance_bp": 10_000, "stock": 50},
                                     {"kind": PrizeKind.POINTS, "label": "88积分", "label_en": "88 points",
                                      "points": 88, "chance_bp": 0, "stock": 100},
                                     {"kind": PrizeKind.BONUS, "label": "5元余额", "label_en": "¥5 bonus",
                                      "bonus_cents": 500, "chance_bp": 0, "stock": 20}])
    service.create_poster(actor=actor, name="门口海报", headline="扫码关注 抽开业好礼", wheel_id=wheel.id)
    envelope = service.fund_envelope(actor=actor, name="周末拼手气红包", pool_cents=10_000, shares=10)
    wheel_code, envelope_code = wheel.code, envelope.code
    make.db.session.commit()

    # The manager opens the poster sheet: WeChat makes the scene QR, printed as SVG.
    desk = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    log_in(desk, base, tenant.owner.username, make.PASSWORD, "/manage/fans/")
    desk.wait_for_url(f"{base}/manage/fans/")
    desk.get_by_role("link", name="打印海报").click()
    desk.locator("#poster .qr svg").wait_for()
    desk.screenshot(path=str(shots / "fans-poster.png"), full_page=True)
    qr_url = desk.locator("#poster").get_attribute("data-qr-url")
    assert qr_url and "/q/" in qr_url

    # The phone scans it in WeChat (the simulator): a new user follows the account.
    phone = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    phone.goto(qr_url)
    phone.fill("input[name=nickname]", "小红")
    phone.click("button[type=submit]")
    article = phone.get_by_role("link", name=re.compile("扫码关注 抽开业好礼"))
    article.wait_for()
    phone.screenshot(path=str(shots / "fans-wechat-reply.png"), full_page=True)

    # The reply opens the wheel; WeChat signs the diner in (the simulator asks whom).
    article.click()
    phone.get_by_role("button", name=re.compile("允许")).click()
    phone.wait_for_url(f"{base}/w/{wheel_code}*")
    phone.locator("#spin").wait_for()
    phone.screenshot(path=str(shots / "fans-wheel.png"), full_page=True)
    phone.click("#spin")
    phone.locator("#wheel-page[data-state=won]").wait_for(timeout=10_000)
    assert "20元券" in phone.inner_text("#result-title")
    phone.screenshot(path=str(shots / "fans-wheel-won.png"), full_page=True)

    # Not a member yet: join on the way, and the coupon lands in the wallet.
    phone.click("#result-link")
    phone.wait_for_url(re.compile(r".*/m/join.*"))
    phone.fill("input[name=phone]", "13855556666")
    phone.fill("input[name=name]", "李小红")
    phone.click("button[type=submit]")
    phone.wait_for_url(re.compile(r".*/m/coupons.*"))
    code = re.search(r"CP[0-9A-Z]{10}", phone.inner_text("#coupons")).group(0)
    phone.screenshot(path=str(shots / "fans-wallet.png"), full_page=True)

    # At the till: the coupon's code is scanned and the bill settled with it.
    api = make.api(tenant.owner)
    coupon = api.get("/coupons/lookup", query_string={"code": code}).get_json()
    dish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    order = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                      "items": [{"dish_id": dish["id"], "qty": 1}]}).get_json()
    settled = api.post(f"/orders/{order['id']}/settle", json={
        "member_id": coupon["member_id"], "coupon_ids": [coupon["id"]], "idempotency_key": uuid.uuid4().hex,
        "tenders": [{"type": "cash", "amount_cents": 10_800}]})
    assert settled.status_code == 200, settled.get_json()
    assert settled.get_json()["payable_cents"] == 10_800
    make.db.session.expire_all()
    assert make.db.session.scalar(sa.select(Coupon.state).where(Coupon.code == code)) is CouponStatus.REDEEMED
    phone.reload()
    assert "已使用" in phone.inner_text(f"[data-coupon='{coupon['id']}']")

    # The manager's funnel: one scan (a follow), one spin, one win, redeemed, one paid visit.
    desk.goto(f"{base}/manage/fans/")
    row = desk.locator("#funnel tbody tr").first
    cells = [c.strip() for c in row.locator("td.num").all_inner_texts()]
    assert cells[:6] == ["1", "1", "1", "1", "1", "1"]
    assert cells[6] == "￥108.00" and cells[7] == "￥20.00"
    desk.screenshot(path=str(shots / "fans-manage.png"), full_page=True)

    # The same phone, now a member, grabs a red envelope shared in a group.
    phone.goto(f"{base}/e/{envelope_code}")
    phone.click("#grab")
    phone.locator("#my-amount").wait_for()
    phone.screenshot(path=str(shots / "fans-envelope.png"), full_page=True)


@pytest.mark.e2e
def test_a_manager_sets_up_a_wheel_on_the_form(app, make, live_server, browser):
    tenant = make.tenant()
    template = create_coupon_template(make, tenant, name="满100减20", value_cents=2_000, min_spend_cents=10_000)
    make.db.session.commit()
    desk = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}).new_page()
    log_in(desk, live_server, tenant.owner.username, make.PASSWORD, "/manage/fans/")
    desk.goto(f"{live_server}/lang/en?next=/manage/fans/")
    desk.get_by_role("link", name="New lucky wheel").first.click()
    desk.fill("input[name=name]", "周年庆大转盘")
    desk.fill("input[name=name_en]", "Anniversary wheel")
    desk.select_option("select[name=audience]", "followers")
    rows = [("coupon", "20元券", "¥20 voucher", "", "", "10", "30"),
            ("points", "88积分", "88 points", "88", "", "20", "100"),
            ("bonus", "5元余额", "¥5 bonus", "", "5", "5", "20")]
    for i, (kind, label, label_en, points, bonus, chance, stock) in enumerate(rows):
        desk.select_option(f"select[name=prize-{i}-kind]", kind)
        desk.fill(f"input[name=prize-{i}-label]", label)
        desk.fill(f"input[name=prize-{i}-label_en]", label_en)
        if kind == "coupon":
            desk.select_option(f"select[name=prize-{i}-coupon]", str(template["id"]))
        desk.fill(f"input[name=prize-{i}-points]", points)
        desk.fill(f"input[name=prize-{i}-bonus]", bonus)
        desk.fill(f"input[name=prize-{i}-chance]", chance)
        desk.fill(f"input[name=prize-{i}-stock]", stock)
    desk.screenshot(path=str(screenshots_dir() / "fans-wheel-form.png"), full_page=True)
    desk.get_by_role("button", name="Save").click()
    desk.wait_for_url(f"{live_server}/manage/fans/")
    card = desk.locator("article[data-wheel]")
    assert "Anniversary wheel" in card.inner_text()
    assert "Followers of the official account" in card.inner_text()
    chances = [c.strip() for c in card.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert chances == ["10%", "20%", "5%", "65%"]
