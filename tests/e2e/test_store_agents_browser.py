"""A manager in a real Chromium sees each store's agents: online or not, the sales waiting to
sync, and printer trouble in words ("后厨打印机缺纸"). The agents' reports go through the real
endpoint, with their device tokens."""

from __future__ import annotations

import pytest

from tests.agent_support import Http


@pytest.mark.e2e
def test_manager_sees_agents_last_seen_queue_and_printer_trouble(make, live_server, browser, tmp_path):
    tenant = make.tenant()
    till, till_token = make.device(tenant, "前台收银机")
    spare, _spare_token = make.device(tenant, "备用收银机")
    answer = Http(f"{live_server}/api/v1", till_token).post("/devices/me/status", {
        "printers": [
            {"name": "front", "role": "receipt", "stations": [], "state": "online", "message": ""},
            {"name": "hot-kitchen", "role": "kitchen", "stations": ["hot", "*"], "state": "paper_out",
             "message": "打印机「hot-kitchen」缺纸，请装纸 / Printer 'hot-kitchen' is out of paper", "pending": 2},
        ],
        "cursor": 118, "outbox_pending": 3, "version": "0.1.0", "some_later_field": True}, expect=200)
    assert answer["changed"] is True and answer["device_id"] == till.id
    # Bad input is a clear 422, and changes nothing.
    refused = Http(f"{live_server}/api/v1", till_token).post("/devices/me/status", {
        "printers": [{"name": "front", "role": "receipt", "state": "on fire"}]}, expect=422)
    assert refused["error"]["code"]
    # A staff token cannot report as a device.
    Http(f"{live_server}/api/v1", make.token(tenant.owner)).post("/devices/me/status", {}, expect=403)

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{live_server}/login?next=/manage/")
    page.fill("input[name=username]", tenant.owner.username)
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/manage/")
    page.click("text=门店代理")
    page.wait_for_url("**/manage/devices")

    row = page.locator(f"tr[data-device='{till.id}']")
    assert row.locator(".connection").inner_text() == "在线"
    assert row.locator(".queue").inner_text() == "3"
    assert row.locator("li.printer.alert strong").inner_text() == "后厨打印机缺纸"
    assert row.locator("li.printer.ok strong").inner_text() == "前台打印机正常"
    assert "2 单待打印" in row.locator("li.printer.alert").inner_text()
    other = page.locator(f"tr[data-device='{spare.id}']")
    assert other.locator(".connection").inner_text() == "离线"
    assert "尚无状态报告" in other.inner_text() and "从未" in other.locator(".last-seen").inner_text()
    page.screenshot(path=str(tmp_path / "store-agents.png"), full_page=True)  # docs/screenshots/store-agents.png

    page.goto(f"{live_server}/lang/en?next=/manage/devices")
    page.wait_for_url("**/manage/devices")
    assert row.locator("li.printer.alert strong").inner_text() == "Kitchen printer out of paper"
    assert row.locator(".connection").inner_text() == "Online"
    context.close()
