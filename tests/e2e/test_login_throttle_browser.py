"""The login page after too many wrong passwords, in a real Chromium: a clear message on the
form, in Chinese by default and in English on request."""

from __future__ import annotations

import pytest


def _attempt(page, base: str, username: str, password: str) -> int:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.click("button[type=submit]")
    return posted.value.status


@pytest.mark.e2e
def test_the_login_form_says_when_the_account_is_locked(make, live_server, browser, tmp_path):
    tenant = make.tenant()
    cashier = make.staff(tenant, "cashier")
    context = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 700})
    page = context.new_page()
    for _ in range(5):
        assert _attempt(page, live_server, cashier.username, "wrong-password") == 400
        assert page.locator(".field-error").inner_text() == "用户名或密码错误。"
    assert _attempt(page, live_server, cashier.username, make.PASSWORD) == 429
    message = page.locator(".field-error")
    assert message.inner_text() == "登录失败次数过多，请 15 分钟后再试。"
    assert message.get_attribute("role") == "alert"
    assert page.input_value("input[name=username]") == cashier.username
    page.screenshot(path=str(tmp_path / "login-locked.png"), full_page=True)

    english = browser.new_context(locale="en-US").new_page()
    assert _attempt(english, live_server, cashier.username, make.PASSWORD) == 429
    assert english.locator(".field-error").inner_text() == \
        "Too many failed login attempts. Please try again in 15 minutes."
    context.close()
