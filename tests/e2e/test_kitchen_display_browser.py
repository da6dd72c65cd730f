"""The kitchen display in a real Chromium, one service: the cook logs in and lands on the display
with the store's station names; tickets waiting long are yellow and red; a sent order appears
live with a chime (and none once muted); one dish is bumped, then the ticket; after a reload the
bumped ticket is recalled; an addition and a voided dish are marked; a diner's waiter call shows
as a banner until the cook acknowledges it, and a reload does not bring it back. Screenshots go
to docs/screenshots (kitchen-display.png, kitchen-waiter-call.png, kitchen-display-en.png)."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.orders.models import KitchenTicket
from tests.e2e.conftest import screenshots_dir
from tests.factories import create_dish, create_table

SHOTS = screenshots_dir()


@pytest.fixture(autouse=True)
def _streams_end_with_the_test(app):
    """No store feed left from an earlier test (a fresh database starts the log again at 1), and
    a short heartbeat so the server notices a closed browser soon."""
    from app.events import feed

    def feeds_gone() -> None:
        deadline = time.monotonic() + 30
        while any(key[0] is app for key in list(feed._feeds)) and time.monotonic() < deadline:
            time.sleep(0.05)

    feeds_gone()
    saved = app.config["EVENT_HEARTBEAT_SECONDS"]
    app.config["EVENT_HEARTBEAT_SECONDS"] = 0.5
    yield
    feeds_gone()
    app.config["EVENT_HEARTBEAT_SECONDS"] = saved


def _call_waiter(app, table: dict) -> None:
    """A diner at the table presses 呼叫服务员 on the phone page."""
    phone = app.test_client()
    token = table["qr_url"].rsplit("/t/", 1)[1]
    csrf = re.search(r'data-csrf="([^"]+)"', phone.get(f"/t/{token}").get_data(as_text=True)).group(1)
    called = phone.post(f"/t/{token}/call-waiter", json={}, headers={"X-CSRFToken": csrf, "Accept": "application/json"})
    assert called.status_code == 200, called.get_data(as_text=True)


@pytest.mark.e2e
def test_a_service_on_the_kitchen_display(make, live_server, browser, app):
    tenant = make.tenant()
    cook = make.staff(tenant, "kitchen")
    api = make.api(tenant.owner)
    for code, name in (("hot", "热菜"), ("cold", "凉菜"), ("bar", "吧台")):
        assert api.request("PUT", f"/menu/stations/{code}", json={"name": name}).status_code == 200
    pork = create_dish(make, tenant, "辣椒炒肉", 4_200, station="hot")
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800, station="hot")
    cucumber = create_dish(make, tenant, "凉拌黄瓜", 1_600, station="cold", category="凉菜")
    tables = {code: create_table(make, tenant, code) for code in ("A01", "A02", "A03")}

    def send(table, *items):
        body = api.post("/orders", json={"store_id": tenant.store.id, "table": table,
                                         "idempotency_key": uuid.uuid4().hex,
                                         "items": [{"dish_id": d["id"], "qty": q, **extra} for d, q, extra in items]})
        assert body.status_code == 201, body.get_json()
        return body.get_json()

    # Two tables have waited a while: 25 and 12 minutes.
    for table, minutes in (("A01", 25), ("A02", 12)):
        placed = send(table, (pork, 1, {}), (cucumber, 1, {}))
        make.db.session.execute(sa.update(KitchenTicket).where(KitchenTicket.order_id == placed["id"])
                                .values(created_at=utcnow() - timedelta(minutes=minutes)))
    make.db.session.commit()

    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", cook.username)
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/kitchen/")  # kitchen staff land on their display
    nav = page.locator("header nav").inner_text()
    assert "热菜" in nav and "凉菜" in nav and "吧台" in nav and "hot" not in nav
    page.wait_for_selector("#kds[data-live='1']")
    assert page.locator("article.ticket.late").count() == 2  # A01's hot and cold tickets
    assert page.locator("article.ticket.warn").count() == 2
    stations = page.locator("article.ticket .station").all_inner_texts()
    assert sorted(stations) == ["凉菜", "凉菜", "热菜", "热菜"]

    # A new order appears live, with a chime.
    order = send("A03", (pork, 2, {"note": "少辣"}), (fish, 1, {}))
    ticket = page.locator("article.ticket", has_text="A03")
    ticket.wait_for(timeout=10_000)
    assert "2 × 辣椒炒肉" in ticket.inner_text() and "少辣" in ticket.inner_text()
    assert page.locator("#kds").get_attribute("data-beeps") == "1"
    allday = page.locator("#kds-allday")
    assert allday.locator("li", has_text="辣椒炒肉").inner_text().split() == ["辣椒炒肉", "4"]

    # One dish done: struck through, and the all-day count goes down.
    ticket.locator("li", has_text="辣椒炒肉").click()
    page.wait_for_selector("article.ticket:has-text('A03') li.done")
    page.wait_for_function("document.querySelector('#kds-allday').innerText.includes('辣椒炒肉\\t2') || "
                           "document.querySelector('#kds-allday').innerText.includes('辣椒炒肉\\n2')")
    page.screenshot(path=str(SHOTS / "kitchen-display.png"))

    # The whole ticket done; after a reload it can still be recalled.
    ticket.get_by_role("button", name="出餐").click()
    ticket.wait_for(state="detached", timeout=10_000)
    page.reload()
    page.wait_for_selector("#kds[data-live='1']")
    assert page.locator("article.ticket", has_text="A03").count() == 0
    assert page.locator("#kds-recall").is_enabled()
    page.click("#kds-recall")
    recalled = page.locator("article.ticket", has_text="A03")
    recalled.wait_for(timeout=10_000)
    assert "剁椒鱼头" in recalled.inner_text()

    # Muted: an addition (加菜) arrives silently, marked; a voided dish shows struck through as 退.
    page.click("#kds-sound")
    assert page.locator("#kds-sound").inner_text() == "提示音：关"
    api.post(f"/orders/{order['id']}/items", json={"idempotency_key": uuid.uuid4().hex,
                                                   "items": [{"dish_id": fish["id"], "qty": 1}]})
    added = page.locator("article.ticket:has(.mark)", has_text="A03")
    added.wait_for(timeout=10_000)
    assert page.locator("#kds").get_attribute("data-beeps") == "0"  # chimes since the reload: none
    line = next(i for i in order["items"] if i["dish_id"] == fish["id"])
    assert api.post(f"/orders/{order['id']}/lines/{line['id']}/void", json={"reason": "客人不要了"}).status_code == 200
    page.wait_for_selector("article.ticket li.cancelled .tag.void", timeout=10_000)

    # A diner calls the waiter: a banner with the table and the time, until acknowledged.
    _call_waiter(app, tables["A01"])
    banner = page.locator("#kds-calls .call")
    banner.wait_for(timeout=10_000)
    assert "A01" in banner.inner_text() and re.search(r"\d\d:\d\d", banner.inner_text())
    page.screenshot(path=str(SHOTS / "kitchen-waiter-call.png"))
    banner.get_by_role("button", name="知道了").click()
    banner.wait_for(state="detached", timeout=10_000)
    page.reload()
    page.wait_for_selector("#kds[data-live='1']")
    assert page.locator("#kds-calls .call").count() == 0
    assert page.locator("#kds-sound").inner_text() == "提示音：关"  # the screen remembers it is muted

    # English is one click away; the stations keep the store's names unless English ones are set.
    page.click("header .user a[lang=en]")
    page.wait_for_selector("#kds[data-live='1']")
    assert page.locator("#kds-allday-title").inner_text() == "All day"
    assert "热菜" in page.locator("header nav").inner_text()
    page.screenshot(path=str(SHOTS / "kitchen-display-en.png"))
    context.close()
