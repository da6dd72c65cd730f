"""Changed and rushed tickets in a real Chromium.

On the kitchen display: a dish made fewer shows 改 with its new quantity, a voided one struck
through as 退, a ticket with nothing left is marked 已退菜 — live, as the till changes the order;
a rushed order (催菜, from the table's phone) jumps to the top of the screen as 催 with a sound
of its own, and stays there after a reload. At the till: Alt+E rushes the open order, the kitchen
printer prints one 催菜 slip, and a second press at once is refused in the cashier's words.
Screenshots: kitchen-changed-ticket.png, kitchen-rushed-ticket.png, till-rush.png."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.db import utcnow
from app.orders.models import KitchenTicket
from tests.e2e.conftest import screenshots_dir
from tests.e2e.test_kitchen_display_browser import _streams_end_with_the_test  # noqa: F401
from tests.e2e.test_till_browser import till  # noqa: F401
from tests.factories import create_dish, create_table

SHOTS = screenshots_dir()


def _phone(app, table: dict):
    """A diner's phone at the table: its page's CSRF token and a call on the table's link."""
    phone = app.test_client()
    token = table["qr_url"].rsplit("/t/", 1)[1]
    csrf = re.search(r'data-csrf="([^"]+)"', phone.get(f"/t/{token}").get_data(as_text=True)).group(1)

    def post(path, body=None):
        return phone.post(f"/t/{token}{path}", json=body or {},
                          headers={"X-CSRFToken": csrf, "Accept": "application/json"})

    return post


@pytest.mark.e2e
def test_changed_and_rushed_tickets_on_the_kitchen_display(make, live_server, browser, app):
    tenant = make.tenant()
    cook = make.staff(tenant, "kitchen")
    api = make.api(tenant.owner)
    for code, name in (("hot", "热菜"), ("cold", "凉菜")):
        assert api.request("PUT", f"/menu/stations/{code}", json={"name": name}).status_code == 200
    pork = create_dish(make, tenant, "辣椒炒肉", 4_200, station="hot")
    fish = create_dish(make, tenant, "剁椒鱼头", 12_800, station="hot")
    cucumber = create_dish(make, tenant, "凉拌黄瓜", 1_600, station="cold", category="凉菜")
    tables = {code: create_table(make, tenant, code) for code in ("A01", "A02", "B05")}

    def send(table, *items):
        body = api.post("/orders", json={"store_id": tenant.store.id, "table": table,
                                         "idempotency_key": uuid.uuid4().hex,
                                         "items": [{"dish_id": d["id"], "qty": q} for d, q in items]})
        assert body.status_code == 201, body.get_json()
        return body.get_json()

    # A01 has waited 12 minutes; A02 was sent just now.
    first = send("A01", (pork, 1), (cucumber, 1))
    make.db.session.execute(sa.update(KitchenTicket).where(KitchenTicket.order_id == first["id"])
                            .values(created_at=utcnow() - timedelta(minutes=12)))
    make.db.session.commit()
    order = send("A02", (pork, 3), (fish, 1), (cucumber, 2))

    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", cook.username)
    page.fill("input[name=password]", make.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/kitchen/")
    page.wait_for_selector("#kds[data-live='1']")

    # The till makes fewer of one dish and voids another: the hot ticket changes live.
    line = {i["name"]: i for i in order["items"]}
    assert api.patch(f"/orders/{order['id']}/lines/{line['辣椒炒肉']['id']}",
                     json={"qty": 2, "reason": "点多了"}).status_code == 200
    hot = page.locator("article.ticket", has_text="A02").filter(has_text="热菜")
    hot.locator("li.changed", has_text="2 × 辣椒炒肉").wait_for(timeout=10_000)
    assert "改" in hot.locator("li.changed").inner_text()
    assert api.post(f"/orders/{order['id']}/lines/{line['剁椒鱼头']['id']}/void",
                    json={"reason": "客人不要了"}).status_code == 200
    hot.locator("li.cancelled", has_text="剁椒鱼头").wait_for(timeout=10_000)
    assert "退" in hot.locator("li.cancelled .tag.void").inner_text()
    # The cold ticket's only dish voided: the ticket shows 已退菜, struck through, until bumped.
    assert api.post(f"/orders/{order['id']}/lines/{line['凉拌黄瓜']['id']}/void",
                    json={"reason": "客人不要了"}).status_code == 200
    cold = page.locator("article.ticket.cancelled", has_text="A02")
    cold.wait_for(timeout=10_000)
    assert "已退菜" in cold.locator(".meta").inner_text()
    allday = page.locator("#kds-allday")
    assert allday.locator("li", has_text="辣椒炒肉").inner_text().split() == ["辣椒炒肉", "3"]  # 1 + 2
    assert allday.locator("li", has_text="剁椒鱼头").count() == 0
    page.screenshot(path=str(SHOTS / "kitchen-changed-ticket.png"))

    # B05's diners send a dish from their phone, wait, and rush it: it goes to the top as 催.
    phone = _phone(app, tables["B05"])
    assert phone("/cart/lines", {"dish_id": fish["id"], "qty": 1}).status_code == 201
    assert phone("/cart/send").status_code == 200
    page.locator("article.ticket", has_text="B05").wait_for(timeout=10_000)
    assert "B05" not in page.locator("article.ticket").first.inner_text()
    beeps = int(page.locator("#kds").get_attribute("data-rush-beeps"))
    rushed = phone("/rush")
    assert rushed.status_code == 200, rushed.get_json()
    page.wait_for_selector("article.ticket.rushed:has-text('B05')", timeout=10_000)
    top = page.locator("article.ticket").first
    assert "B05" in top.inner_text() and "催" in top.locator(".rush-banner").inner_text()
    assert int(page.locator("#kds").get_attribute("data-rush-beeps")) == beeps + 1
    assert page.locator("#kds").get_attribute("data-beeps") == "1"  # B05's ticket itself chimed once
    assert phone("/rush").status_code == 429  # asked again at once: refused, no second sound
    page.wait_for_timeout(500)
    assert int(page.locator("#kds").get_attribute("data-rush-beeps")) == beeps + 1
    page.screenshot(path=str(SHOTS / "kitchen-rushed-ticket.png"))

    # After a reload the rushed ticket is still on top; bumped, the rush is over.
    page.reload()
    page.wait_for_selector("#kds[data-live='1']")
    assert "B05" in page.locator("article.ticket.rushed").first.inner_text()
    assert page.locator("article.ticket").first.get_attribute("class").split().count("rushed") == 1
    page.locator("article.ticket.rushed").first.get_by_role("button", name="出餐").click()
    page.locator("article.ticket", has_text="B05").wait_for(state="detached", timeout=10_000)
    assert page.locator("article.ticket.rushed").count() == 0
    context.close()


@pytest.mark.e2e
def test_alt_e_at_the_till_rushes_the_open_order_once(till):  # noqa: F811
    page, kitchen = till.page, till.kitchen
    page.keyboard.press("F1")
    page.keyboard.type("A02")
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog[open]")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    page.wait_for_selector(".tile.ordering[data-table=A02]")
    page.keyboard.press("F2")
    page.keyboard.type("2*ljcr")
    page.keyboard.press("Enter")
    page.keyboard.press("F6")
    page.wait_for_selector(".tile.ordered[data-table=A02]")
    kitchen.wait_for_jobs(1, timeout=20)

    # Alt+E: the server records the rush; the kitchen printer prints one short 催菜 slip.
    page.keyboard.press("Alt+E")
    page.wait_for_selector(".toast:has-text('已催菜')", timeout=15_000)
    assert "第 1 次" in page.locator(".toast").last.inner_text()
    jobs = kitchen.wait_for_jobs(2, timeout=20)
    slip = jobs[1].decoded.lines
    assert "催菜 RUSH" in slip and "桌号 A02" in slip and "辣椒炒肉 x2" in slip
    page.screenshot(path=str(screenshots_dir() / "till-rush.png"))

    # Again at once: refused in the cashier's words, and nothing more printed.
    page.keyboard.press("Alt+E")
    page.wait_for_selector(".toast.error:has-text('刚催过菜')", timeout=15_000)
    page.wait_for_timeout(1_000)
    assert len(kitchen.printed_jobs) == 2
