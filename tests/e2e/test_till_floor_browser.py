"""转台, 并台 and 确认下单 at the cashier's till, in a real Chromium at 1366×768 against the real
server, the agent process and virtual printers: the kitchen cooks nothing twice."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import screenshots_dir
from tests.e2e.test_till_browser import _order_at, _texts, till

__all__ = ["till"]


@pytest.mark.e2e
def test_a_table_moves_and_then_merges_at_the_till(till):
    page, kitchen = till.page, till.kitchen
    _order_at(page, "A01", ["ljcr"], guests="2")
    _order_at(page, "A02", ["dcf"], guests="3")
    kitchen.wait_for_jobs(2, timeout=20)

    # 转台: A01's party to A03, by keys; the dialog names the free tables.
    page.click(".tile[data-table=A01]")
    page.wait_for_selector("#order-title:has-text('A01')")
    page.keyboard.press("Alt+G")
    page.wait_for_selector("dialog[open] input[name=code]")
    assert "A03" in page.locator("#move-choices").inner_text()
    assert "A02" not in page.locator("#move-choices").inner_text()
    page.keyboard.type("a03")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-title:has-text('确认把 A01 转到 A03')")
    page.screenshot(path=str(screenshots_dir() / "till-move.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已把 A01 转到 A03')", timeout=20_000)
    page.wait_for_selector(".tile.free[data-table=A01]")
    page.wait_for_selector(".tile.ordered[data-table=A03]:has-text('2 人')")
    assert "辣椒炒肉" in page.locator("#lines").inner_text()

    # A move to a table that is not free is refused in the cashier's words; nothing changes.
    page.keyboard.press("Alt+G")
    page.wait_for_selector("dialog[open] input[name=code]")
    page.keyboard.type("A02")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-title:has-text('A02')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-error:has-text('不是空桌')")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog:not([open])", state="attached")

    # 并台: A03 into A02, one bill.
    page.keyboard.press("Alt+H")
    page.wait_for_selector("dialog[open] input[name=code]")
    page.keyboard.type("A02")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog-title:has-text('确认把 A03 并到 A02')")
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已把 A03 并到 A02')", timeout=20_000)
    page.wait_for_selector(".tile.free[data-table=A03]")
    page.wait_for_selector(".tile.ordered[data-table=A02]:has-text('¥63.00')")
    lines = page.locator("#lines").inner_text()
    assert "辣椒炒肉" in lines and "蛋炒饭" in lines
    page.wait_for_selector("#steps tr.payable:has-text('63.00')")

    # The kitchen was told nothing again: still the two first tickets.
    time.sleep(1.5)
    assert len(kitchen.printed_jobs) == 2


@pytest.mark.e2e
def test_diners_picks_wait_for_the_cashier_who_confirms_them(till, make):
    page, kitchen, owner = till.page, till.kitchen, till.owner
    assert owner.patch(f"/stores/{till.store_id}", json={"diner_orders_need_confirmation": True}).status_code == 200
    b01 = next(t for t in owner.get(f"/stores/{till.store_id}/tables").get_json()["tables"] if t["code"] == "B01")
    token = urlsplit(b01["qr_url"]).path.rstrip("/").rsplit("/", 1)[-1]
    dishes = {d["name"]: d for d in page.evaluate(
        "async () => (await (await fetch('/api/v1/till/menu', {headers: {Authorization: "
        "'Bearer ' + sessionStorage.getItem('till.token')}})).json()).dishes")}

    # Two diners at B01 pick from their phones and send; the store waits for the waiter.
    cart = f"/api/v1/diner/tables/{token}/cart"
    assert make.client.post(f"{cart}/lines", json={"dish_id": dishes["辣椒炒肉"]["id"], "qty": 1,
                                                   "diner": "小王"}).status_code == 201
    assert make.client.post(f"{cart}/lines", json={"dish_id": dishes["蛋炒饭"]["id"], "qty": 2,
                                                   "diner": "小李"}).status_code == 201
    assert make.client.post(f"{cart}/send").status_code == 200

    page.keyboard.press("Alt+2")  # 包间
    page.wait_for_selector(".tile[data-table=B01] .badge:has-text('待确认 3')", timeout=20_000)
    page.click(".tile[data-table=B01]")
    page.wait_for_selector("#lines li.picked >> nth=1")
    assert "小王" in page.locator("#lines").inner_text()
    assert len(kitchen.printed_jobs) == 0

    page.keyboard.press("Alt+O")
    page.wait_for_selector("#picks-list li >> nth=1")
    assert "2 × 蛋炒饭" in page.locator("#picks-list").inner_text()
    page.screenshot(path=str(screenshots_dir() / "till-picks.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast:has-text('已确认 2 道菜')", timeout=20_000)
    page.wait_for_selector(".tile[data-table=B01] .badge", state="detached", timeout=20_000)
    assert page.locator("#lines li.picked").count() == 0

    # The kitchen ticket prints once, with the table and both dishes.
    kitchen.wait_for_jobs(1, timeout=20)
    time.sleep(1.5)
    texts = _texts(kitchen)
    assert len(texts) == 1 and "B01" in texts[0] and "辣椒炒肉" in texts[0] and "蛋炒饭" in texts[0]
