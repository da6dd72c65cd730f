"""The owner sets the merchant's own WeChat account in a real Chromium: the values, the secrets
shown only as 已设置 / 未设置, the connection test against the WeChat simulator (ok, then
WeChat's refusal), clearing a secret after a confirmation, and the page in English."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import log_in, screenshots_dir
from tests.integration.wechat_support import OWN_APPID, OWN_SECRET

SCREENSHOTS = screenshots_dir()
TOKEN = "CallbackToken42"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
API_KEY = "PayApiKey0123456789abcdefghijKLM"
SECRETS = (OWN_SECRET, TOKEN, AES_KEY, API_KEY)


@pytest.mark.e2e
def test_owner_sets_the_wechat_account_and_tests_the_connection(make, own_account, oa_live_server, browser):
    base = oa_live_server
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    make.db.session.commit()
    log_in(page, base, own_account.tenant.owner.username, make.PASSWORD, "/manage/wechat")
    page.wait_for_url("**/manage/wechat")
    assert page.locator(".state[data-state=unset]").count() == 4

    page.fill("#appid", OWN_APPID)
    page.fill("#app_secret", OWN_SECRET)
    page.fill("#token", TOKEN)
    page.fill("#encoding_aes_key", AES_KEY)
    page.fill("#mch_id", "1230000109")
    page.fill("#api_key", API_KEY)
    page.fill("input[name=template_bill_pushed]", "TPL_BILL")
    page.fill("input[name=fields_bill_pushed]", "first, keyword1, keyword2, keyword3, remark")
    page.get_by_role("button", name="保存").click()

    page.locator(".flash").wait_for()
    assert "已保存" in page.locator(".flash").inner_text()
    assert page.locator(".state[data-state=set]").count() == 4
    for box in ("#app_secret", "#token", "#encoding_aes_key", "#api_key"):
        assert page.input_value(box) == ""
        assert page.get_attribute(box, "placeholder") == "留空则保持不变"
    assert page.locator("#callback-url").inner_text().endswith(f"/wechat/callback/{OWN_APPID}")
    html = page.content()
    assert not any(secret in html for secret in SECRETS)

    page.get_by_role("button", name="测试连接").click()
    result = page.locator("#connection-result")
    result.wait_for()
    assert result.get_attribute("data-code") == "ok"
    assert "连接正常" in result.inner_text() and "已连接" in result.inner_text()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "wechat_settings.png"), full_page=True)

    # A secret WeChat refuses: the page says so, with WeChat's errcode.
    page.fill("#app_secret", OWN_SECRET[::-1])
    page.get_by_role("button", name="保存").click()
    page.locator(".flash").wait_for()
    page.get_by_role("button", name="测试连接").click()
    result.wait_for()
    assert result.get_attribute("data-code") == "wechat_refused"
    assert "连接失败" in result.inner_text() and "40001" in result.inner_text()
    assert "AppSecret" in result.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "wechat_settings_refused.png"), full_page=True)

    # Clearing asks first.
    page.locator("#secret-api_key a.clear").click()
    page.wait_for_url("**/manage/wechat/clear/api_key")
    assert "微信支付将停止工作" in page.locator("main").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "wechat_settings_clear.png"), full_page=True)
    page.locator("#confirm-clear").click()
    page.wait_for_url("**/manage/wechat")
    assert page.locator("#secret-api_key .state").get_attribute("data-state") == "unset"
    assert page.locator(".state[data-state=set]").count() == 3

    # English on request.
    page.get_by_role("link", name="English").click()
    page.get_by_role("button", name="Test the connection").click()
    result.wait_for()
    assert "Connection failed" in result.inner_text() and "WeChat does not accept the AppSecret" in result.inner_text()
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    context.close()
