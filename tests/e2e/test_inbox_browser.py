"""The customer-service inbox in a real Chromium, against the WeChat simulator: the manager sets a
keyword auto-reply and a canned reply, a follower writes "我想订位" from the simulator's chat page,
the message appears in the open inbox page by itself, staff answer with the canned reply, and the
answer reaches the follower's chat; "菜单" is answered at once without staff."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.members.models import Member, MemberVisit
from tests.e2e.conftest import log_in, screenshots_dir
from tests.factories import create_member
from tests.integration.wechat_support import deliver, new_user


@pytest.mark.e2e
def test_a_follower_writes_staff_answer_in_the_inbox(make, oa, oa_live_server, browser):
    base, tenant = oa_live_server, oa.tenant
    openid = new_user(oa.sim, "小红")
    member = create_member(make, tenant, name="林小红")
    api = make.api(tenant.owner)
    tagged = api.request("PUT", f"/members/{member['id']}/tags", json={"tags": ["爱吃辣", "生日在12月"]})
    assert tagged.status_code == 200
    row = make.db.session.get(Member, member["id"])
    row.openid = openid
    for days, paid, dishes in ((3, 26_800, [("剁椒鱼头", 1), ("小炒黄牛肉", 1)]), (17, 18_800, [("剁椒鱼头", 1)])):
        make.db.session.add(MemberVisit(merchant_id=tenant.merchant.id, member_id=row.id, order_id=90_000 + days,
                                        store_id=tenant.store.id, visited_at=utcnow() - timedelta(days=days),
                                        paid_cents=paid, items=[{"name": n, "qty": q} for n, q in dishes]))
    make.db.session.commit()

    staff = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860}).new_page()
    log_in(staff, base, tenant.owner.username, make.PASSWORD, "/manage/inbox/settings")
    staff.fill("input[name=keyword]", "菜单")
    staff.fill("form.add-row:has(input[name=keyword]) textarea[name=text]",
               "今日菜单：剁椒鱼头、小炒黄牛肉。点击菜单栏「点餐」即可下单。")
    staff.click("form.add-row:has(input[name=keyword]) button[type=submit]")
    staff.wait_for_selector("td:has-text('菜单')")
    staff.fill("input[name=title]", "订位确认")
    staff.fill("form.add-row:has(input[name=title]) textarea[name=text]",
               "好的，已为您预留今晚 18:30 的位子，几位用餐？")
    staff.click("form.add-row:has(input[name=title]) button[type=submit]")
    staff.wait_for_selector("td:has-text('订位确认')")
    staff.screenshot(path=str(screenshots_dir() / "inbox-settings.png"), full_page=True)
    staff.goto(f"{base}/manage/inbox")
    staff.wait_for_selector("#inbox")

    phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 760}).new_page()
    phone.goto(f"{oa.sim.url}/chat/{openid}")
    phone.fill("#say", "我想订位")
    phone.click("#send")
    phone.wait_for_selector(".row.me .bubble:has-text('我想订位')")

    # The open inbox shows it by itself, within 2 seconds.
    staff.wait_for_selector("#conversation-list .conversation:has-text('林小红')", timeout=2000)
    assert staff.inner_text("#unread-total") == "1"
    staff.click("#conversation-list .conversation")
    staff.wait_for_selector("#thread-messages .message.in:has-text('我想订位')")
    assert "剁椒鱼头 ×2" in staff.inner_text(".member-card") and "爱吃辣" in staff.inner_text(".member-card")
    staff.select_option("#canned_id", label="订位确认")
    assert "18:30" in staff.input_value("#reply-text")
    staff.click("#reply button[type=submit]")
    staff.wait_for_selector("#thread-messages .message.out:has-text('18:30')")

    make.db.session.commit()
    assert deliver().sent == 1  # the outbox worker's turn: the customer-service message goes out
    phone.wait_for_selector(".row:not(.me) .bubble:has-text('18:30')", timeout=5000)

    # A keyword is answered at once, without staff.
    phone.fill("#say", "看看菜单")
    phone.click("#send")
    phone.wait_for_selector(".row[data-kind=reply] .bubble:has-text('今日菜单')")
    staff.reload()
    staff.wait_for_selector("#thread-messages .message.auto:has-text('今日菜单')")
    staff.screenshot(path=str(screenshots_dir() / "inbox.png"), full_page=True)
    phone.screenshot(path=str(screenshots_dir() / "inbox-follower-chat.png"), full_page=True)
