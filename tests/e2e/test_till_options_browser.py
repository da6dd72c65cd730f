"""Dish options (规格) at the cashier's till, in a real Chromium at 1366×768 against the real
server, the agent process and virtual printers: a dish with option groups opens the chooser,
digits pick, Enter confirms, Esc cancels, a click works too; the same dish with other options is
another line, and the kitchen ticket printed on the virtual printer shows the options."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshots_dir
from tests.e2e.test_till_browser import till
from tests.integration.agent_support import until

__all__ = ["till"]

ENCODING = "gb18030"  # the kitchen printer's text encoding (simulators/printer/decoder.py)


def _with_options(till) -> None:
    """辣椒炒肉 gets 辣度 (required) and 加料 (up to two, with surcharges); the agent's local copy
    is read again and the page reloads its menu."""
    status, session = till.agent.call("POST", "/api/v1/session", {"username": till.manager.username,
                                                                  "password": till.password})
    assert status == 200
    token = session["token"]
    menu = till.agent.call("GET", "/api/v1/till/menu", token=token)[1]
    pork = next(d for d in menu["dishes"] if d["name"] == "辣椒炒肉")
    for group in ({"name": "辣度", "is_required": True, "choices": [{"name": "不辣"}, {"name": "微辣"},
                                                                    {"name": "特辣"}]},
                  {"name": "加料", "max_choices": 2, "choices": [{"name": "加蛋", "price_delta_cents": 200},
                                                                 {"name": "加肉", "price_delta_cents": 800}]}):
        assert till.owner.post(f"/menu/dishes/{pork['id']}/options", json=group).status_code == 201
    assert till.agent.call("POST", "/api/v1/local-copy/resync", {}, token)[0] == 200
    until(lambda: [g["name"] for g in next(d for d in till.agent.call("GET", "/api/v1/till/menu", token=token)[1][
        "dishes"] if d["id"] == pork["id"])["options"]] == ["辣度", "加料"], 20, "the options in the local copy")
    till.page.reload()
    till.page.wait_for_selector("#desk:not([hidden])")
    till.page.wait_for_selector(".tile[data-table=A01]")  # the floor is drawn: F1 and a table code work


def _find(page, query: str) -> None:
    page.keyboard.press("F2")
    page.keyboard.type(query)
    page.keyboard.press("Enter")


@pytest.mark.e2e
def test_options_chosen_by_keys_and_by_touch_reach_the_kitchen_ticket(till):
    page, kitchen = till.page, till.kitchen
    _with_options(till)
    page.keyboard.press("F1")
    page.keyboard.type("A01")
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open]")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    page.wait_for_selector(".tile.ordering[data-table=A01]")

    # By keys: the chooser opens; Enter without the required 辣度 is refused in the dialog.
    _find(page, "ljcr")
    page.wait_for_selector("dialog[open] #chooser")
    assert page.locator("#dialog-title").inner_text() == "辣椒炒肉 · 选规格"
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-error:has-text('请选择辣度')")
    page.keyboard.press("3")  # 特辣; on to 加料
    page.wait_for_selector(".opt-group.on:has-text('加料')")
    page.keyboard.press("1")  # 加蛋
    page.keyboard.press("2")  # 加肉
    page.keyboard.press("2")  # 加肉 again: off
    page.wait_for_selector("#opt-total:has-text('¥50.00')")
    on = page.locator("button.opt.on").all_inner_texts()
    assert len(on) == 2 and "特辣" in on[0] and "加蛋 +¥2.00" in on[1], on
    page.screenshot(path=str(screenshots_dir() / "till-options.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog:not([open])", state="attached")
    page.wait_for_selector("#lines li.draft:has-text('特辣 / 加蛋 +¥2.00')")

    # Esc adds nothing.
    _find(page, "ljcr")
    page.wait_for_selector("dialog[open] #chooser")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog:not([open])", state="attached")
    assert page.locator("#lines li.draft").count() == 1

    # By touch, other options: another line. The same options again: the same line, one more.
    for _ in range(2):
        _find(page, "ljcr")
        page.wait_for_selector("dialog[open] #chooser")
        page.click("button.opt:has-text('微辣')")
        page.click("#dialog-ok")
        page.wait_for_selector("dialog:not([open])", state="attached")
    page.wait_for_selector("#lines li.draft:has-text('2 × 辣椒炒肉'):has-text('微辣')")
    drafts = page.locator("#lines li.draft").all_inner_texts()
    assert len(drafts) == 2 and "¥50.00" in drafts[0] and "¥96.00" in drafts[1], drafts
    page.screenshot(path=str(screenshots_dir() / "till-options-lines.png"))

    # Sent: the server prices the options, and the kitchen ticket's bytes show them.
    page.keyboard.press("F6")
    page.wait_for_selector(".tile.ordered[data-table=A01]:has-text('¥146.00')", timeout=20_000)
    page.wait_for_selector("#lines li.sent:has-text('特辣 / 加蛋')")
    kitchen.wait_for_jobs(1, timeout=20)
    data = kitchen.printed_jobs[0].data
    for words in ("辣椒炒肉", "特辣 / 加蛋", "微辣"):
        assert words.encode(ENCODING) in data, words
    assert "加肉".encode(ENCODING) not in data
    text = "\n".join(kitchen.printed_jobs[0].decoded.lines)
    assert text.count("辣椒炒肉") == 2
