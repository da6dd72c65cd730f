"""A manager in a real Chromium: log in, find a member by phone, open the card."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import create_member


@pytest.mark.e2e
def test_manager_finds_a_member_and_opens_the_card(make, live_server, browser, tmp_path):
    tenant = make.tenant()
    member = create_member(make, tenant, phone="13812345678", name="王小明")
    create_member(make, tenant, phone="13900001111", name="李雷")
    api = make.api(tenant.owner)
    api.post(f"/members/{member['id']}/topups", json={"amount_cents": 300_000, "tender": "cash",
                                                       "idempotency_key": uuid.uuid4().hex})
    api.post(f"/members/{member['id']}/cards", json={"card_no": "0012345678"})
    username = tenant.owner.username
    make.db.session.commit()

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server}/manage/members/")
    # Not logged in: the login page, in Chinese.
    assert page.locator("h1").inner_text() == "登录"
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/manage/members/")
    assert page.locator("table.members tbody tr").count() == 2
    assert page.locator("figure.tier-chart svg g").count() == 4  # one bar per tier

    page.fill("#q", "1381234")
    page.press("#q", "Enter")
    page.wait_for_url("**/manage/members/?q=1381234")
    rows = page.locator("table.members tbody tr")
    assert rows.count() == 1
    assert "王小明" in rows.first.inner_text() and "￥3600.00" in rows.first.inner_text()
    page.screenshot(path=str(tmp_path / "member-list.png"), full_page=True)

    page.click("table.members tbody tr >> text=王小明")
    page.wait_for_url(f"**/manage/members/{member['id']}")
    page.screenshot(path=str(tmp_path / "member-detail.png"), full_page=True)

    assert page.locator("h1").inner_text().startswith("王小明")
    assert page.locator("#stored-value").inner_text() == "￥3600.00"
    card = page.locator("section.member-card").inner_text()
    assert "金卡" in card and "8.8折" in card and "￥3000.00" in card and "￥600.00" in card
    assert page.get_by_text("0012345678").is_visible()
    ledger = page.locator("table.ledger tbody tr")
    assert ledger.count() == 2 and "+￥3000.00" in ledger.nth(0).inner_text() + ledger.nth(1).inner_text()
    assert (tmp_path / "member-detail.png").stat().st_size > 10_000
    context.close()
