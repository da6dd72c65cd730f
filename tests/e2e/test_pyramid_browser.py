"""A manager in a real Chromium walks the member pyramid of the demo restaurant: the pyramid,
a layer (what it likes, its members sorted), a member's page; then the same in English.

Screenshots go to $TABLELOOP_SCREENSHOTS when set (docs/screenshots holds the committed ones),
else to a temporary folder (tests/e2e/conftest.py: screenshots_dir)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import log_in, screenshots_dir


@pytest.mark.e2e
def test_pyramid_to_layer_to_member(db, live_server, browser, tmp_path):
    from app.demo.seed import PASSWORD, load_demo

    assert load_demo(member_count=600)
    shots = screenshots_dir()
    shots.mkdir(parents=True, exist_ok=True)

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, live_server, "manager", PASSWORD, "/manage/analytics/")
    page.wait_for_url("**/manage/analytics/")
    assert page.locator("h1").inner_text() == "会员金字塔"
    layers = page.locator("figure.pyramid svg a.layer")
    assert layers.count() == 6
    counts = {layer: int(page.locator(f"a.layer-{layer} text.figure").first.text_content())
              for layer in ("core", "important", "potential", "new", "dormant", "lost")}
    assert sum(counts.values()) == 600 == int(page.locator("#kpi-members").inner_text())
    assert all(count > 0 for count in counts.values()), counts  # the demo fills every layer
    page.screenshot(path=str(shots / "pyramid.png"), full_page=True)

    page.locator("a.layer-core polygon").click()
    page.wait_for_url("**/manage/analytics/layers/core")
    assert page.locator("#layer-members").inner_text() == str(counts["core"])
    assert page.locator("section.likes ol.bars li").count() > 5
    page.click("th a[data-sort=visits]")
    page.wait_for_url("**/layers/core?sort=visits&order=desc")
    visits = [int(cell) for cell in page.locator("table.layer-members tbody td:nth-child(5)").all_inner_texts()]
    assert visits == sorted(visits, reverse=True) and len(visits) == min(25, counts["core"])
    page.screenshot(path=str(shots / "pyramid-layer.png"), full_page=True)

    with page.expect_download() as download:
        page.click("#csv")
    assert download.value.suggested_filename.startswith("members-core-")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert len(text.strip().splitlines()) == counts["core"] + 1

    first = page.locator("table.layer-members tbody a.member-name").first
    name = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r".*/manage/members/\d+$"))
    assert page.locator("h1").inner_text().startswith(name)
    page.screenshot(path=str(shots / "pyramid-member.png"), full_page=True)

    page.goto(f"{live_server}/manage/analytics/")
    page.click("text=English")
    page.wait_for_url("**/manage/analytics/")
    assert page.locator("h1").inner_text() == "Member pyramid"
    assert page.locator("a.layer-dormant text.name").text_content() == "Dormant"
    page.screenshot(path=str(shots / "pyramid-en.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    context.close()
