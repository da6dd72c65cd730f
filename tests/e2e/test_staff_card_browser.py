"""The owner gives the manager a staff card on the staff page (the number printed on it), in a
real Chromium: the row shows the card is set, the number is not shown back, and a card already
given to another account is refused in the owner's language."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.auth.models import Staff
from tests.e2e.conftest import log_in, screenshots_dir


@pytest.mark.e2e
def test_a_staff_card_set_on_the_staff_page(make, db, live_server, browser):
    tenant = make.tenant()
    manager = make.staff(tenant, "manager")
    cashier = make.staff(tenant, "cashier")
    page = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768}).new_page()
    log_in(page, live_server, tenant.owner.username, make.PASSWORD, "/manage/staff/")
    page.wait_for_url("**/manage/staff/")

    page.get_by_role("textbox", name=f"员工卡: {manager.username}").fill("0012345678")
    page.get_by_role("button", name=f"保存员工卡: {manager.username}").click()
    page.locator(".flash").filter(has_text="已为").wait_for()
    row = page.locator(f"tr[data-username={manager.username}]")
    assert "已设卡" in row.inner_text() and "0012345678" not in page.content()
    db.session.rollback()
    assert db.session.scalar(sa.select(Staff.card_no).where(Staff.id == manager.id)) == "0012345678"

    page.get_by_role("textbox", name=f"员工卡: {cashier.username}").fill("0012345678")
    page.get_by_role("button", name=f"保存员工卡: {cashier.username}").click()
    page.locator(f"tr[data-username={cashier.username}]").filter(has_text="这张卡已属于另一位员工").wait_for()
    db.session.rollback()
    assert db.session.scalar(sa.select(Staff.card_no).where(Staff.id == cashier.id)) is None
    page.screenshot(path=str(screenshots_dir() / "manager-staff-card.png"), full_page=True)

    # Left empty, the card is taken away.
    page.get_by_role("textbox", name=f"员工卡: {manager.username}").fill("")
    page.get_by_role("button", name=f"保存员工卡: {manager.username}").click()
    page.locator(".flash").filter(has_text="员工卡已取消").wait_for()
    db.session.rollback()
    assert db.session.scalar(sa.select(Staff.card_no).where(Staff.id == manager.id)) is None
