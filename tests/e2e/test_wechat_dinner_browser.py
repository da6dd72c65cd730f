"""The whole dinner inside WeChat, in a real Chromium against the WeChat simulator: scan the table
QR → WeChat sign-in → join as a member → pick dishes into the table cart → send → the cashier
pushes the bill → the diner opens it from the WeChat message and pays with WeChat Pay → the
notification settles the order, points are earned and the messages are in the phone's inbox."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.demo.seed import DEMO_TEMPLATES
from app.members.models import Member
from app.tables.models import DiningTable
from app.tables.service import table_token
from app.wechat.models import WeChatSettings
from tests import wechat_pay_support as support
from tests.integration.wechat_support import deliver, field, templates_in
from tests.wechat_pay_support import Till

pay_sim, live_url, wechat = support.pay_sim, support.live_url, support.wechat  # the fixtures


@pytest.mark.e2e
def test_scan_join_order_push_and_pay_in_wechat(app, make, wechat, live_url, browser, tmp_path):
    till = Till(make, wechat)
    settings = make.db.session.scalar(sa.select(WeChatSettings).where(
        WeChatSettings.merchant_id == till.tenant.merchant.id))
    settings.templates = DEMO_TEMPLATES
    table = till.table()
    token = table_token(make.db.session.get(DiningTable, table["id"]))
    make.db.session.commit()

    phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}).new_page()
    # 1. Scan the table QR: WeChat asks who the diner is (the simulator's sign-in page).
    phone.goto(f"{live_url}/t/{token}")
    phone.fill("input[name=nickname]", "小王")
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{live_url}/t/{token}*")
    # 2. Join as a member.
    phone.goto(f"{live_url}/m/join")
    phone.fill("input[name=phone]", "13912345678")
    phone.fill("input[name=name]", "王小二")
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{live_url}/m/card*")
    assert "会员码" in phone.content()
    # 3. Dishes into the shared cart, then send (the page's own session, as the phone does).
    cart = f"{live_url}/api/v1/diner/tables/{token}/cart"
    assert phone.request.post(f"{cart}/lines", data={"dish_id": till.fish["id"], "qty": 1, "diner": "小王"}).ok
    sent = phone.request.post(f"{cart}/send").json()
    order_id = sent["order_id"]
    # 4. The cashier pushes the bill; the outbox delivers it to the diner's WeChat.
    pushed = till.api.post(f"/orders/{order_id}/push-bill")
    assert pushed.status_code == 200, pushed.get_json()
    deliver()
    till.fresh()
    openid = till.db.session.scalar(sa.select(Member.openid).where(Member.phone == "13912345678"))
    assert openid
    (bill_message,) = templates_in(wechat, openid, "TPL_BILL")
    # 5. Open the bill from the message and pay with WeChat Pay on the simulator's sheet.
    phone.goto(bill_message["url"])
    phone.get_by_role("button", name="微信支付").click()
    sheet = phone.frame_locator("iframe")
    sheet.get_by_role("button", name="确认支付 Pay").click()
    phone.locator("#paid").wait_for(timeout=15_000)
    phone.screenshot(path=str(tmp_path / "paid.png"), full_page=True)
    # 6. Paid by the verified notification; points earned; the phone's inbox has the story.
    till.fresh()
    order = till.get_order(order_id)
    assert order["status"] == "paid" and order["member_id"]
    card = till.card(order["member_id"])
    assert card["points"] == order["paid_cents"] // 100
    deliver()
    paid_note, = templates_in(wechat, openid, "TPL_PAID")
    assert field(paid_note, "keyword2") == f"￥{order['paid_cents'] // 100}.{order['paid_cents'] % 100:02d}"
    assert templates_in(wechat, openid, "TPL_POINTS")
