"""The owner of the demo restaurant in a real Chromium: the sales dashboard (this month, one store),
the menu (a dish marked sold out), a new cashier on the staff page (and the confirmation that
deactivation asks for), the rounding changed on the store's settings, and the audit log showing
those changes — from the manager home and its navigation, with no script refused by the CSP.

Screenshots go to $TABLELOOP_SCREENSHOTS when set (docs/screenshots holds the committed ones),
else to a temporary folder (tests/e2e/conftest.py: screenshots_dir)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import log_in, screenshots_dir


@pytest.mark.e2e
def test_dashboard_menu_staff_settings_audit(db, live_server, browser):
    from app.demo.seed import PASSWORD, STORES, load_demo

    assert load_demo(member_count=300)
    shots = screenshots_dir()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, live_server, "owner", PASSWORD, "/manage/")
    page.wait_for_url("**/manage/")
    page.screenshot(path=str(shots / "manager-home.png"), full_page=True)

    # The dashboard: this month's figures, then one store's.
    page.get_by_role("link", name="营业看板").first.click()
    page.wait_for_url("**/manage/dashboard")
    assert page.locator("h1").inner_text() == "营业看板"
    page.locator("a.pill[data-period=month]").click()
    page.wait_for_url("**/manage/dashboard?period=month")
    chain = page.locator("#kpi-revenue").inner_text()
    assert chain.startswith("￥") and chain != "￥0.00"
    assert page.locator("table.by-store tbody tr").count() == 2
    assert page.locator("g.bucket").count() >= 28  # a bar slot per day of the month
    page.screenshot(path=str(shots / "sales-dashboard.png"), full_page=True)
    page.get_by_role("link", name=STORES[1]).first.click()
    page.wait_for_url("**store_id=*")
    assert page.locator("#kpi-revenue").inner_text() != chain

    # The menu: 凉拌黄瓜 sold out at the first store.
    page.locator("header nav").get_by_role("link", name="菜单").click()
    page.wait_for_url("**/manage/menu/")
    page.get_by_role("button", name="设为沽清: 凉拌黄瓜").click()
    page.locator(".flash").filter(has_text="凉拌黄瓜 在").wait_for()
    row = page.locator("tr[data-dish=凉拌黄瓜]")
    assert "已售罄" in row.inner_text() and "sold-out" in row.get_attribute("class")
    page.screenshot(path=str(shots / "manager-menu.png"), full_page=False)
    page.get_by_role("link", name="口味凉粉").click()
    page.wait_for_url("**/manage/menu/dishes/*")
    assert page.locator("#price_yuan").input_value() == "18.00" and "辣度" in page.locator("table.options").inner_text()
    page.screenshot(path=str(shots / "manager-dish.png"), full_page=True)

    # Staff: a new cashier for the first store; deactivation asks before it acts.
    page.locator("header nav").get_by_role("link", name="员工").click()
    page.wait_for_url("**/manage/staff/")
    page.fill("#username", "xiaowang")
    page.fill("#display_name", "收银 小王")
    page.fill("#password", "cashier-pass-1")
    page.select_option("#role", "cashier")
    page.select_option("#store_id", label=STORES[0])
    page.get_by_role("button", name="添加账号").click()
    page.locator(".flash").filter(has_text="xiaowang").wait_for()
    assert "收银员" in page.locator("tr[data-username=xiaowang]").inner_text()
    page.screenshot(path=str(shots / "manager-staff.png"), full_page=True)
    page.get_by_role("link", name="停用: xiaowang").click()
    page.wait_for_url("**/deactivate")
    assert page.locator("h1").inner_text() == "停用这个账号？"
    page.screenshot(path=str(shots / "manager-staff-deactivate.png"))
    page.get_by_role("link", name="取消").click()
    page.wait_for_url("**/manage/staff/")
    assert "在用" in page.locator("tr[data-username=xiaowang]").inner_text()

    # Store settings: round every bill down to whole jiao.
    page.locator("header nav").get_by_role("link", name="管理首页").click()
    page.get_by_role("link", name="门店设置").first.click()
    page.wait_for_url("**/settings")
    page.select_option("#rounding", "to_jiao")
    page.get_by_role("button", name="更新门店设置").click()
    page.locator(".flash").filter(has_text="已保存").wait_for()
    assert page.locator("#rounding").input_value() == "to_jiao"
    page.screenshot(path=str(shots / "store-settings.png"), full_page=True)
    page.locator("p.actions-row").get_by_role("link", name="桌台", exact=True).click()
    page.wait_for_url("**/tables")
    assert page.locator("table.tables tbody tr").count() > 5
    page.screenshot(path=str(shots / "manager-tables.png"), full_page=False)

    # The audit log shows the three changes, newest first, and filters by kind.
    page.locator("header nav").get_by_role("link", name="操作日志").click()
    page.wait_for_url("**/manage/audit")
    kinds = page.locator("table.audit tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert kinds[:3] == ["store.update", "staff.create", "dish.sold_out"]
    page.screenshot(path=str(shots / "audit-log.png"), full_page=False)
    page.select_option("#action", "dish.sold_out")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**action=dish.sold_out*")
    assert page.locator("table.audit tbody tr").count() == 1

    page.goto(f"{live_server}/manage/dashboard?period=month")
    page.click("text=English")
    page.wait_for_url("**/manage/dashboard*")
    assert page.locator("h1").inner_text() == "Sales dashboard"
    assert page.locator("#no-sales").is_visible()  # the demo's bills end before today
    page.locator("a.pill[data-period=month]").click()
    page.wait_for_url("**period=month")
    assert page.locator("#kpi-revenue").inner_text() == chain
    page.screenshot(path=str(shots / "sales-dashboard-en.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    context.close()
