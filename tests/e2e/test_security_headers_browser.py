"""The Content-Security-Policy in a real Chromium: the pages still work and nothing is refused."""

from __future__ import annotations

import pytest

from tests.factories import create_member, create_table


@pytest.mark.e2e
def test_pages_run_under_the_policy_without_violations(make, live_server, browser):
    tenant = make.tenant()
    member = create_member(make, tenant, phone="13812345678", name="王小明")
    create_table(make, tenant)
    make.db.session.commit()

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    refused = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)

    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", tenant.owner.username)
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/manage/**")

    page.goto(f"{live_server}/manage/members/{member['id']}")
    page.goto(f"{live_server}/manage/stores/{tenant.store.id}/qr-sheet")
    assert page.locator(".qr-card svg").count() == 1
    # The print button's handler is a nonce'd script: it must be attached.
    page.evaluate("() => { window.print = () => { window.__printed = true; }; }")
    page.click("#print-sheet")
    assert page.evaluate("window.__printed === true")

    page.goto(f"{live_server}/kitchen/")
    page.wait_for_selector("body")

    page.goto(f"{live_server}/api/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "TableLoop API" in page.locator(".swagger-ui .info .title").inner_text()

    assert refused == [], refused
    context.close()
