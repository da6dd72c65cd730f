"""A dish photo on the merchant's own image host shows on the diner's menu in a real Chromium: the
page's Content-Security-Policy lets an https image through (a dish without a photo gets the drawn
one from this site)."""

from __future__ import annotations

import pytest

from tests.factories import create_dish, create_table

PHOTO = "https://127.0.0.1:9/dishes/fish.jpg"  # nothing answers there: the browser tries, the policy allows


@pytest.mark.e2e
def test_a_dish_photo_from_an_https_host_is_allowed_on_the_menu(make, live_server, browser):
    tenant = make.tenant()
    table = create_table(make, tenant, code="A01")
    create_dish(make, tenant, "剁椒鱼头", 12_800, image_url=PHOTO)
    create_dish(make, tenant, "蛋炒饭", 1_500)
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 780})
    page = context.new_page()
    page.add_init_script("""window.blocked = [];
        document.addEventListener('securitypolicyviolation', (e) => window.blocked.push(e.blockedURI));""")
    try:
        page.goto(live_server + "/t/" + table["qr_url"].rsplit("/t/", 1)[1])
        photo = page.locator(f"img[src='{PHOTO}']")
        photo.scroll_into_view_if_needed()
        drawn = page.locator("img[src$='.svg']")
        page.wait_for_function("""() => [...document.images].every((i) => i.complete)""")
        assert drawn.count() == 1 and drawn.evaluate("i => i.naturalWidth") > 0  # this site's drawing loaded
        assert page.evaluate("window.blocked") == []
    finally:
        context.close()
