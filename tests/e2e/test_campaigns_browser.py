"""A manager in a real Chromium goes from a pyramid layer to a saved segment (its count live as
the filter changes), a campaign with its preview count, the confirmation, the send and the
funnel; then the demo's finished campaign with its hold-out comparison, in Chinese and English.

Screenshots go to $TABLELOOP_SCREENSHOTS when set (docs/screenshots holds the committed ones)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshots_dir


@pytest.mark.e2e
def test_layer_to_segment_to_campaign_to_funnel(db, live_server, browser):
    from app.demo.seed import PASSWORD, load_demo

    assert load_demo(member_count=600)
    shots = screenshots_dir()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, live_server, "manager", PASSWORD, "/manage/analytics/layers/dormant")
    page.wait_for_url("**/manage/analytics/layers/dormant")
    layer_members = int(page.locator("#layer-members").inner_text())

    page.click("#segment-from-layer")
    page.wait_for_url(re.compile(r".*/manage/segments/new\?.*"))
    assert int(page.locator("#live-count").inner_text()) == layer_members
    page.fill("#name", "沉睡会员·回店")
    page.check("input[name=layers][value=lost]")  # the live count follows the form
    expect(page.locator("#live-count")).not_to_have_text(str(layer_members))
    both = int(page.locator("#live-count").inner_text())
    assert both > layer_members
    page.uncheck("input[name=layers][value=lost]")
    expect(page.locator("#live-count")).to_have_text(str(layer_members))
    page.screenshot(path=str(shots / "segment-new.png"), full_page=True)
    page.click("#save-segment")
    page.wait_for_url(re.compile(r".*/manage/segments/\d+$"))
    assert int(page.locator("#segment-members").inner_text()) == layer_members

    page.click("#new-campaign")
    page.wait_for_url(re.compile(r".*/manage/campaigns/new\?segment_id=\d+$"))
    assert int(page.locator("#preview-count").inner_text()) == layer_members
    page.fill("#name", "沉睡会员回店礼")
    page.select_option("#coupon_template_id", index=1)
    page.fill("#message_title", "好久不见")
    page.fill("#message_body", "送您满100减20券")
    page.fill("#holdout_percent", "10")
    page.screenshot(path=str(shots / "campaign-new.png"), full_page=True)
    page.click("#save-campaign")
    page.wait_for_url(re.compile(r".*/manage/campaigns/\d+$"))
    assert int(page.locator("#preview-members").inner_text()) == layer_members

    page.click("#send")
    page.wait_for_url(re.compile(r".*/manage/campaigns/\d+/send$"))
    assert str(layer_members) in page.locator("#confirm-count").inner_text()
    page.screenshot(path=str(shots / "campaign-confirm.png"), full_page=True)
    page.click("#confirm-send")
    page.wait_for_url(re.compile(r".*/manage/campaigns/\d+$"))
    assert page.locator("#campaign-status").inner_text() == "已发送"
    sent = int(page.locator("#f-sent").inner_text())
    assert 0 < sent <= layer_members and page.locator("#f-opened").inner_text() == "0"

    page.goto(f"{live_server}/manage/campaigns")
    page.click("text=老客回店礼")
    page.wait_for_url(re.compile(r".*/manage/campaigns/\d+$"))
    assert int(page.locator("#f-opened").inner_text()) > 0 and int(page.locator("#f-paid").inner_text()) > 0
    assert page.locator("table.holdout-table tbody tr").count() == 2
    page.screenshot(path=str(shots / "campaign-funnel.png"), full_page=True)
    page.goto(f"{live_server}/lang/en?next={page.url.replace(live_server, '')}")
    page.screenshot(path=str(shots / "campaign-funnel-en.png"), full_page=True)
    page.goto(f"{live_server}/manage/campaigns")
    page.screenshot(path=str(shots / "campaigns.png"), full_page=True)
    assert errors == []
    context.close()
