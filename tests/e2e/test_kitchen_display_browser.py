"""The kitchen display in a real Chromium: a ticket appears live when an order is sent, and
leaves when the cook bumps it."""

import uuid

import pytest

from tests.e2e.conftest import log_in
from tests.factories import create_dish


@pytest.mark.e2e
def test_a_sent_order_appears_live_and_is_bumped(make, live_server, browser, tmp_path):
    tenant = make.tenant()
    cook = make.staff(tenant, "kitchen")
    api = make.api(tenant.owner)
    dish = create_dish(make, tenant, "剁椒鱼头", 12_800, station="hot")
    username = cook.username
    make.db.session.commit()

    page = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800}).new_page()
    log_in(page, live_server, username, make.PASSWORD, "/kitchen/")
    page.wait_for_selector("#kds-empty")
    assert page.locator("#kds-empty").is_visible()

    order = api.post("/orders", json={"store_id": tenant.store.id, "idempotency_key": uuid.uuid4().hex,
                                      "items": [{"dish_id": dish["id"], "qty": 2, "note": "少辣"}]}).get_json()
    ticket = page.wait_for_selector("article.ticket", timeout=10_000)
    text = ticket.inner_text()
    assert "2 × 剁椒鱼头" in text and "少辣" in text
    page.screenshot(path=str(tmp_path / "kds.png"))

    ticket.query_selector("button").click()
    page.wait_for_selector("article.ticket", state="detached", timeout=10_000)
    tickets = api.get(f"/stores/{tenant.store.id}/tickets", query_string={"status": "bumped"}).get_json()
    assert [t["order_id"] for t in tickets["tickets"]] == [order["id"]]

    page.click("#kds-recall")
    assert "剁椒鱼头" in page.wait_for_selector("article.ticket", timeout=10_000).inner_text()

    # More dishes on the same order: a second ticket, marked as an addition (加菜).
    api.post(f"/orders/{order['id']}/items", json={"idempotency_key": uuid.uuid4().hex,
                                                   "items": [{"dish_id": dish["id"], "qty": 1}]})
    added = page.wait_for_selector("article.ticket:has(.mark)", timeout=10_000)
    assert "1 × 剁椒鱼头" in added.inner_text()
    assert page.locator("article.ticket").count() == 2
