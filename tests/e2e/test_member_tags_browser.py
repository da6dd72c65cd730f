"""Member tags in a real Chromium: the manager writes a tag rule ("spent ≥ ¥2000 in 90 days"), the
members who qualify carry it at once; a tag added by hand on a member's page shows beside it and
finds the member again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db import utcnow
from app.members.models import MemberVisit
from tests.e2e.conftest import log_in, screenshots_dir
from tests.factories import create_member


@pytest.mark.e2e
def test_a_tag_rule_and_a_hand_tag(make, live_server, browser):
    tenant = make.tenant()
    big = create_member(make, tenant, name="赵大户")
    small = create_member(make, tenant, name="钱小户")
    for member, paid in ((big, 260_000), (small, 30_000)):
        make.db.session.add(MemberVisit(merchant_id=tenant.merchant.id, member_id=member["id"], order_id=member["id"],
                                        store_id=tenant.store.id, visited_at=utcnow() - timedelta(days=12),
                                        paid_cents=paid, items=[]))
    make.db.session.commit()

    page = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 900}).new_page()
    log_in(page, live_server, tenant.owner.username, make.PASSWORD, "/manage/members/tag-rules")
    page.fill("#rule-name", "90天消费满2000")
    page.fill("#rule-tag", "高消费")
    page.select_option("#rule-kind", "spend")
    page.fill("input[name=min_yuan]", "2000")
    page.fill("input[name=days]", "90")
    page.click("#new-rule button[type=submit]")
    page.wait_for_selector("#rules td:has-text('90天消费满2000')")
    assert page.inner_text("#tags-in-use").strip() == "高消费 · 1"
    page.screenshot(path=str(screenshots_dir() / "tag-rules.png"), full_page=True)

    page.click("#tags-in-use a")
    page.wait_for_selector("#tagged-members")
    assert "赵大户" in page.inner_text("#tagged-members") and "钱小户" not in page.inner_text("#tagged-members")

    page.goto(f"{live_server}/manage/members/{small['id']}")
    page.fill("#new-tag", "爱吃辣")
    page.click(".add-tag button[type=submit]")
    page.wait_for_selector(".member-tags .tag-hand:has-text('爱吃辣')")
    page.goto(f"{live_server}/manage/members/{big['id']}")
    assert "高消费" in page.inner_text(".member-tags .tag-rule")
    page.locator(".member-tags").screenshot(path=str(screenshots_dir() / "member-tags.png"))
