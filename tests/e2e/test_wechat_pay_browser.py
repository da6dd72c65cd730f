"""A diner pays the pushed bill in a real Chromium: the bill page, 微信支付, the simulator's payment
sheet (standing in for WeChat through /jsapi/bridge.js), 确认支付 — and the order is paid once
WeChat Pay's notification has arrived."""

from __future__ import annotations

import pytest

from tests import wechat_pay_support as support
from tests.wechat_pay_support import Till

pay_sim, live_url, wechat = support.pay_sim, support.live_url, support.wechat  # the fixtures


def _diner_session_cookie(app, openid: str, merchant_id: int) -> str:
    """The session the WeChat sign-in leaves behind: the diner's openid for this merchant."""
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.dumps({"wechat_openid": openid, "wechat_merchant_id": merchant_id})


@pytest.mark.e2e
def test_diner_pays_the_bill_with_wechat_pay(app, make, wechat, live_url, browser, tmp_path):
    from app.tables.models import DiningTable
    from app.tables.service import table_token

    till = Till(make, wechat)
    table = till.table()
    order = till.order(table)
    token = table_token(make.db.session.get(DiningTable, table["id"]))
    diner = wechat.state.create_user("小王")
    make.db.session.commit()

    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "url": live_url,
                          "value": _diner_session_cookie(app, diner.openid, till.tenant.merchant.id)}])
    page = context.new_page()
    page.goto(f"{live_url}/t/{token}/bill?order={order['id']}")

    assert "剁椒鱼头" in page.locator("table.items").inner_text()
    assert page.locator("#payable").inner_text() == "￥152.00"
    page.screenshot(path=str(tmp_path / "bill.png"), full_page=True)
    page.get_by_role("button", name="微信支付").click()

    sheet = page.frame_locator("iframe")
    sheet.get_by_text("￥152.00").wait_for()
    sheet.get_by_role("button", name="确认支付 Pay").click()

    page.locator("#paid").wait_for(timeout=15_000)
    page.screenshot(path=str(tmp_path / "paid.png"), full_page=True)
    till.fresh()
    assert till.get_order(order["id"])["status"] == "paid"
    (intent,) = till.intents()
    assert intent.openid == diner.openid and intent.transaction_id
    (delivery,) = wechat.state.notifications("payment", intent.out_trade_no)
    assert delivery.state == "delivered"
    context.close()
