"""Two phones at one table, 360 px wide, in real Chromium against the WeChat simulator: a member
passes a coupon to the other by a share link opened in the friend's WeChat; the friend splits the
table's bill in two with the coupon on it; each pays a share (stored value, then WeChat Pay) and
the other phone's bill turns paid by itself. Screenshots of the phones go to docs/screenshots."""

from __future__ import annotations

import uuid

import pytest

from app.demo.seed import _demo_table, load_demo
from app.tables.service import table_token
from tests import wechat_pay_support as support
from tests.e2e.conftest import screenshots_dir
from tests.e2e.test_diner_table_browser import (  # noqa: F401 - the autouse fixture too
    _dish_card,
    _join,
    _owner_api,
    _sign_in,
    _streams_end_with_the_test,
)

pay_sim, live_url, wechat = support.pay_sim, support.live_url, support.wechat  # the fixtures

SHOTS = screenshots_dir()


@pytest.mark.e2e
def test_a_coupon_by_share_link_then_a_split_bill_paid_by_both(app, make, wechat, live_url, browser):
    load_demo(member_count=40)
    table = _demo_table()
    token = table_token(table)
    make.db.session.commit()
    staff = _owner_api(make)

    giver, friend = _sign_in(browser, live_url, token, "大刘"), _sign_in(browser, live_url, token, "小美")
    _join(giver, live_url, "13900006666", "刘大")
    _join(friend, live_url, "13900007777", "美美")
    ids = {phone: staff.get("/members", query_string={"q": phone}).get_json()["members"][0]["id"]
           for phone in ("13900006666", "13900007777")}
    for member_id in ids.values():
        assert staff.post(f"/members/{member_id}/topups", json={
            "amount_cents": 20_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex}).status_code == 201
    template = staff.post("/coupon-templates", json={
        "name": "满100减20", "kind": "cash", "value_cents": 2000, "min_spend_cents": 10_000, "valid_days": 30,
        "is_transferable": True, "max_transfer_chain": 1}).get_json()
    assert staff.post(f"/members/{ids['13900006666']}/coupons", json={
        "template_id": template["id"], "idempotency_key": uuid.uuid4().hex}).status_code == 201

    # 大刘 shares the coupon as a link; 小美 opens it in her WeChat and claims it.
    giver.goto(f"{live_url}/m/coupons")
    giver.get_by_text("转赠好友").click()
    giver.get_by_role("link", name="或者分享链接到微信").click()
    link = giver.locator("#share-url").input_value()
    assert "/m/coupons/claim/" in link
    giver.screenshot(path=str(SHOTS / "diner-coupon-share-link.png"), full_page=True)
    friend.goto(link)
    assert "刘* 分享" in friend.locator("#claim-coupon").inner_text()
    friend.screenshot(path=str(SHOTS / "diner-coupon-claim.png"), full_page=True)
    friend.get_by_role("button", name="领取优惠券").click()
    friend.get_by_text("领取成功，优惠券已放入你的券包。").wait_for()
    assert "来自 刘* 的转赠" in friend.locator("#coupons li.usable").inner_text()
    giver.goto(link)  # the link is spent
    assert giver.locator("#claim-mine, #claim-taken").count() == 1

    # 小美 orders for the table and splits the bill in two, with her coupon on it.
    friend.goto(f"{live_url}/t/{token}")
    _dish_card(friend, "卤味拼盘").locator("button.plus").click()
    friend.locator("#cart-count").filter(has_text="1").wait_for()
    for count in ("2", "3"):  # tap by tap, as a diner watches the count go up
        _dish_card(friend, "卤味拼盘").locator("button.plus").click()
        friend.locator("#cart-count").filter(has_text=count).wait_for()
    friend.get_by_role("button", name="选好了").click()
    friend.get_by_role("button", name="下单，送厨房").click()
    friend.locator("#ordered li").filter(has_text="卤味拼盘").first.wait_for(timeout=15_000)
    friend.get_by_role("link", name="查看账单").click()
    friend.get_by_text("分摊账单").click()
    friend.locator("#split-count").select_option("2")
    friend.locator(".split-coupons input[type=checkbox]").check()
    friend.get_by_role("button", name="分摊", exact=True).click()
    shares = friend.locator("#split li.share")
    shares.first.wait_for()
    assert shares.count() == 2
    assert "共 ￥94.00" in friend.locator("#split h2").inner_text()  # 3 × 38.00 less the coupon's 20.00
    assert [s.locator(".num").inner_text() for s in shares.all()] == ["￥47.00", "￥47.00"]
    bill_url = friend.url.split("#")[0]

    # 大刘 opens the same bill; 小美 pays share 1 with stored value, 大刘's page shows it paid.
    giver.goto(bill_url)
    giver.locator("#share-1.is-open").wait_for()
    friend.locator("#share-1").get_by_role("link", name="储值").click()
    friend.get_by_text("确认用储值支付 ￥47.00？").wait_for()
    friend.screenshot(path=str(SHOTS / "diner-bill-split.png"), full_page=True)
    friend.get_by_role("button", name="确认支付 ￥47.00").click()
    friend.get_by_text("你的份额已支付，谢谢！").wait_for()
    giver.locator("#share-1.is-paid").filter(has_text="小美").wait_for(timeout=15_000)

    # 大刘 pays share 2 with WeChat Pay; the order is paid, and 小美's page turns paid by itself.
    giver.locator("#share-2").get_by_role("button", name="微信支付").click()
    sheet = giver.frame_locator("iframe")
    sheet.get_by_text("￥47.00").wait_for()
    sheet.get_by_role("button", name="确认支付 Pay").click()
    giver.locator("#paid").wait_for(timeout=15_000)
    friend.locator("#paid").wait_for(timeout=15_000)
    assert friend.locator("#split li.share.is-paid").count() == 2
    friend.screenshot(path=str(SHOTS / "diner-bill-split-paid.png"), full_page=True)

    make.db.session.commit()
    friend.goto(f"{live_url}/m/coupons")
    assert "已使用" in friend.locator("#coupons").inner_text()
