"""快捷键一览 at the cashier's till, in a real Chromium at 1366×768: F12 opens the list of every key
by group with what it does (中文, English after Alt+L), the page's keys wait while it is open, Esc
or F12 closes it, and the footer's button opens it too. The list, the buttons' keys and the
footer's short line all come from the one table (keys.js), so they say the same."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshots_dir
from tests.e2e.test_till_browser import till

__all__ = ["till"]

GROUPS_ZH = ["桌台", "点菜", "会员", "结账", "优惠券", "会员卡", "其他"]


def _row(page, group: str, action: str):
    return page.locator(f"#keys-help .kgroup[data-group={group}] tr[data-help={action}]")


def _help_open(page) -> bool:
    return page.locator("#keys-help[open]").count() == 1


@pytest.mark.e2e
def test_the_keys_help_lists_every_key_by_group(till):
    page = till.page

    # The footer stays short and ends with the help's key.
    footer = page.locator("footer.hints").inner_text().strip()
    assert footer.startswith("F1 桌台 · F2 点菜 · ↑/↓ 选菜 · Enter 加入")
    assert footer.endswith("Esc 返回 · F12 快捷键")
    assert "Alt+G" not in footer and "Alt+I" not in footer

    # F12 opens it: the groups in the cashier's order, each key with its Chinese words.
    page.keyboard.press("F1")
    page.keyboard.press("F12")
    page.wait_for_selector("#keys-help[open]")
    assert page.locator("#keys-help-title").inner_text() == "快捷键一览"
    assert page.locator("#keys-help .kgroup h3").all_inner_texts() == GROUPS_ZH
    expected = {
        ("tables", "move-table"): ("Alt+G", "转台"),
        ("tables", "merge-table"): ("Alt+H", "并台"),
        ("tables", "confirm-picks"): ("Alt+O", "确认下单"),
        ("order", "rush"): ("Alt+E", "催菜"),
        ("pay", "pay"): ("F4", "结账"),
        ("pay", "qr-pay"): ("Alt+W", "扫码支付"),
        ("coupons", "coupon"): ("Alt+J/K/N/U/V/Y", "优惠券"),
        ("cards", "card-issue"): ("Alt+I", "发卡"),
        ("cards", "card-lost"): ("Alt+Z", "挂失"),
        ("cards", "card-replace"): ("Alt+A", "补卡"),
        ("other", "reprint"): ("Alt+P", "补打小票"),
        ("other", "help"): ("F12", "快捷键一览"),
    }
    for (group, action), (key, words) in expected.items():
        row = _row(page, group, action)
        assert row.locator("th").inner_text() == key, action
        assert words in row.locator("td").inner_text(), action
    # A key that works in one place says where.
    assert "搜索框" in _row(page, "order", "add-dish").locator(".where").inner_text()
    assert "识别会员后" in _row(page, "cards", "card-issue").locator(".where").inner_text()

    # Every key of the table is listed, and every button on the page shows the key the list gives it.
    listed = page.eval_on_selector_all("#keys-help tr[data-help]", "rows => rows.map(r => r.dataset.help)")
    assert listed == page.evaluate("window.TILL_KEYS.keys.map(k => k.action)")
    assert len(listed) > 40
    buttons = page.eval_on_selector_all(
        "button[data-action]", "bs => bs.map(b => [b.dataset.action, b.querySelector('kbd').textContent])")
    assert len(buttons) > 25
    for action, key in buttons:
        assert action in listed, action
        assert page.locator(f"#keys-help tr[data-help={action}] th").inner_text() == key, action
    page.screenshot(path=str(screenshots_dir() / "till-keys-help.png"))

    # While it is open the page's keys wait: F2 does not move the focus, Alt+L keeps the language.
    page.keyboard.press("F2")
    page.keyboard.press("Alt+L")
    assert _help_open(page)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"

    # Esc closes it, and the cashier is back where they were (the dialog's close event brings the focus back).
    page.keyboard.press("Escape")
    page.wait_for_selector("#keys-help:not([open])", state="attached")
    page.wait_for_function("document.activeElement.id === 'table-code'")
    page.keyboard.press("F2")  # the page's keys work again
    assert page.evaluate("document.activeElement.id") == "search"

    # F12 again closes it.
    page.keyboard.press("F12")
    page.wait_for_selector("#keys-help[open]")
    page.keyboard.press("F12")
    page.wait_for_selector("#keys-help:not([open])", state="attached")

    # The footer's button opens it; its close button closes it.
    page.click("footer.hints button[data-action=help]")
    page.wait_for_selector("#keys-help[open]")
    page.click("#keys-help-close")
    page.wait_for_selector("#keys-help:not([open])", state="attached")

    # In English: the footer, the groups and the words follow Alt+L.
    page.keyboard.press("Alt+L")
    assert page.locator("footer.hints").inner_text().strip().endswith("Esc back · F12 Keys")
    page.keyboard.press("F12")
    page.wait_for_selector("#keys-help[open]")
    assert page.locator("#keys-help-title").inner_text() == "Keyboard keys"
    assert page.locator("#keys-help .kgroup h3").first.inner_text() == "Tables"
    assert "Move" in _row(page, "tables", "move-table").locator("td").inner_text()
    assert "Issue a card" in _row(page, "cards", "card-issue").locator("td").inner_text()
    page.keyboard.press("Escape")
    page.wait_for_selector("#keys-help:not([open])", state="attached")


@pytest.mark.e2e
def test_an_area_tab_shows_only_a_key_that_switches_to_it(till):
    """Alt+1 and Alt+5 are cash keys: the first area's tab shows no key, the second shows Alt+2,
    which switches to it. Alt+PageUp and Alt+PageDown step through every area, the first too."""
    page = till.page
    tabs = page.locator("#areas button")
    assert tabs.nth(0).inner_text().strip() == "大厅"
    assert tabs.nth(1).locator("kbd").inner_text() == "Alt+2"
    page.keyboard.press("Alt+2")
    page.wait_for_selector("#areas button.on:has-text('包间')")
    page.wait_for_selector(".tile[data-table=B01]")
    page.keyboard.press("Alt+PageUp")  # back to the first area, which has no digit key
    page.wait_for_selector("#areas button.on:has-text('大厅')")
    page.keyboard.press("Alt+PageUp")  # round to the last
    page.wait_for_selector(f"#areas button.on:has-text('{tabs.last.inner_text().split()[0]}')")
    page.keyboard.press("Alt+PageDown")
    page.wait_for_selector("#areas button.on:has-text('大厅')")
    page.keyboard.press("F12")  # 快捷键一览 names them as the keycaps do
    page.wait_for_selector("#keys-help[open]")
    assert _row(page, "tables", "area-step").locator("kbd").all_inner_texts() == ["Alt+PgUp", "Alt+PgDn"]
    page.keyboard.press("Escape")


@pytest.mark.e2e
def test_a_card_key_before_a_member_is_identified_says_so(till):
    """The card keys' buttons show only with a member; the key itself answers as Alt+T does."""
    page = till.page
    assert page.locator("button[data-action=card-issue]").count() == 0
    page.keyboard.press("Alt+I")
    page.wait_for_selector(".toast.error:has-text('请先识别会员（F3）')")
    assert page.locator("dialog[open]").count() == 0
