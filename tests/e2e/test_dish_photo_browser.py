"""Dish photos in a real Chromium: one on the merchant's own image host shows on the diner's menu
(the page's Content-Security-Policy lets an https image through; a dish without a photo gets the
drawn one from this site), and one the manager uploads on the dish page shows there and on the
menu."""

from __future__ import annotations

import struct
import zlib

import pytest

from tests.e2e.conftest import log_in, screenshots_dir
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


def _plate_png(size: int = 240) -> bytes:
    """A photo-like picture: a red dish on a white plate on a wooden table (a real PNG)."""
    rows = []
    middle = size / 2
    for y in range(size):
        row = bytearray(b"\x00")
        for x in range(size):
            r2 = (x - middle) ** 2 + (y - middle) ** 2
            if r2 < (size * 0.22) ** 2:
                pixel = (196, 52, 36) if (x * 7 + y * 3) % 23 else (240, 170, 60)  # the fish, with chilli
            elif r2 < (size * 0.42) ** 2:
                pixel = (246, 244, 238)
            else:
                pixel = (150, 100, 60) if (y // 12) % 2 else (160, 110, 68)
            row += bytes(pixel)
        rows.append(bytes(row))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


@pytest.mark.e2e
def test_the_manager_uploads_a_dish_photo_and_diners_see_it(make, live_server, browser):
    tenant = make.tenant()
    table = create_table(make, tenant, code="A01")
    dish = create_dish(make, tenant, "剁椒鱼头", 12_800)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        log_in(page, live_server, tenant.owner.username, make.PASSWORD, f"/manage/menu/dishes/{dish['id']}")
        page.wait_for_url(f"**/manage/menu/dishes/{dish['id']}")
        assert "还没有图片" in page.locator(".dish-photo").inner_text()
        page.set_input_files("input[name=photo]", files=[{"name": "鱼头.png", "mimeType": "image/png",
                                                          "buffer": _plate_png()}])
        page.get_by_role("button", name="上传图片").click()
        page.locator(".flash").filter(has_text="图片已保存").wait_for()
        preview = page.locator(".dish-photo img.photo-preview")
        assert preview.evaluate("i => i.complete && i.naturalWidth") == 240
        page.locator("#photo-section").evaluate("h => h.scrollIntoView()")  # the section at the top
        page.screenshot(path=str(screenshots_dir() / "manager-dish-photo.png"))

        phone = context.new_page()
        phone.set_viewport_size({"width": 360, "height": 780})
        phone.goto(live_server + "/t/" + table["qr_url"].rsplit("/t/", 1)[1])
        photo = phone.locator(f"img[src='{preview.get_attribute('src')}']")
        photo.wait_for()
        phone.wait_for_function("""() => [...document.images].every((i) => i.complete)""")
        assert photo.evaluate("i => i.naturalWidth") == 240
        phone.screenshot(path=str(screenshots_dir() / "diner-menu-photo.png"))
        assert errors == []
    finally:
        context.close()
