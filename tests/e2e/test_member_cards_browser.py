"""A manager in a real Chromium handles a member's physical cards on the member page: binds a new
card, reports the old one lost after a confirmation, replaces it by typing the new number."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app.members.models import MemberCard
from tests.e2e.conftest import log_in, screenshots_dir
from tests.factories import create_member


@pytest.mark.e2e
def test_a_manager_binds_reports_lost_and_replaces_a_card(make, live_server, browser, db):
    tenant = make.tenant()
    member = create_member(make, tenant, phone="13812345678", name="王小明")
    other = create_member(make, tenant, phone="13900001111", name="李雷")
    api = make.api(tenant.owner)
    api.post(f"/members/{member['id']}/topups", json={"amount_cents": 30_000, "tender": "cash",
                                                       "idempotency_key": uuid.uuid4().hex})
    api.post(f"/members/{member['id']}/cards", json={"card_no": "0012345678"})
    api.post(f"/members/{other['id']}/cards", json={"card_no": "0000123456"})
    manager = make.staff(tenant, "manager")
    make.db.session.commit()

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, live_server, manager.username, make.PASSWORD, f"/manage/members/{member['id']}")
    page.wait_for_url(f"**/manage/members/{member['id']}")
    cards = page.locator("table.cards tbody tr")
    assert cards.count() == 1 and "使用中" in cards.first.inner_text()

    # Bind: a number already someone else's is refused beside the field; then a new card.
    page.fill("#card_no", "0000123456")
    page.click("form.bind-card button[type=submit]")
    assert "已被登记" in page.locator("form.bind-card .field-error").inner_text()
    assert page.locator("table.cards tbody tr").count() == 1
    page.fill("#card_no", "0009999999")
    page.click("form.bind-card button[type=submit]")
    page.wait_for_selector("table.cards tr[data-card='0009999999']")
    assert "已绑定" in page.locator("p.flash").first.inner_text()

    # Report lost: a confirmation page says what happens; cancelling changes nothing.
    page.click("tr[data-card='0012345678'] a.report-lost")
    page.wait_for_selector("h1:has-text('确认挂失这张卡')")
    assert "不能恢复" in page.locator("p.warning").inner_text()
    assert page.locator("#card-no").inner_text() == "0012345678"
    page.screenshot(path=str(screenshots_dir() / "member-card-lost.png"), full_page=True)
    page.click("text=取消")
    page.wait_for_selector("table.cards tr[data-card='0012345678'] .status-active")
    page.click("tr[data-card='0012345678'] a.report-lost")
    page.click("button.danger")
    page.wait_for_selector("table.cards tr[data-card='0012345678'] .status-lost")
    assert "已挂失" in page.locator("tr[data-card='0012345678']").inner_text()

    # Replace: type the new card's number; a bad one is refused clearly.
    page.click("tr[data-card='0012345678'] a.replace")
    page.wait_for_selector("h1:has-text('补卡')")
    page.fill("#card_no", "0012345680")
    page.screenshot(path=str(screenshots_dir() / "member-card-replace.png"), full_page=True)
    page.fill("#card_no", "12-34")
    page.click("button[type=submit]:has-text('确认补卡')")
    assert "4–32" in page.locator(".field-error").inner_text()
    assert "已挂失" in page.locator("dl.summary").inner_text()  # nothing changed
    page.fill("#card_no", "0012345680")
    page.click("button[type=submit]:has-text('确认补卡')")
    page.wait_for_selector("table.cards tr[data-card='0012345680'] .status-active")
    assert "已换卡" in page.locator("tr[data-card='0012345678']").inner_text()
    assert page.locator("#stored-value").inner_text() == "￥300.00"
    page.locator("#cards").screenshot(path=str(screenshots_dir() / "member-cards.png"))

    db.session.rollback()
    rows = db.session.scalars(sa.select(MemberCard).where(MemberCard.member_id == member["id"])
                              .order_by(MemberCard.id)).all()
    assert [(c.card_no, c.status.name) for c in rows] == [
        ("0012345678", "REPLACED"), ("0009999999", "ACTIVE"), ("0012345680", "ACTIVE")]
    context.close()
