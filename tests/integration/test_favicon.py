"""Every page has an icon: `/favicon.ico` answers (browsers ask for it whatever a page links),
and the staff, diner and kitchen layouts link the icon files, which are served."""

import re
from urllib.parse import urlsplit

from simulators.wechat import create_simulator
from tests.factories import create_table

ICO_HEADER = b"\x00\x00\x01\x00"  # reserved 0, type 1 (icon)


def _icon_links(html: str) -> list[str]:
    return re.findall(r'<link rel="icon" href="([^"]+)"', html)


def _served(client, href: str) -> bytes:
    with client.get(href) as response:
        assert response.status_code == 200, href
        assert response.mimetype in {"image/vnd.microsoft.icon", "image/svg+xml"}, (href, response.mimetype)
        return response.data


def test_favicon_ico_answers_without_login(client):
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/vnd.microsoft.icon"
        assert response.data.startswith(ICO_HEADER)
        assert int.from_bytes(response.data[4:6], "little") >= 1  # at least one image in it
        assert "max-age" in response.headers["Cache-Control"]


def test_the_staff_layout_links_icons_that_are_served(client):
    page = client.get("/login")
    assert page.status_code == 200
    links = _icon_links(page.get_data(as_text=True))
    assert "/favicon.ico" in links
    svg = next(href for href in links if href.endswith(".svg"))
    assert b"<svg" in _served(client, svg)
    assert _served(client, "/favicon.ico").startswith(ICO_HEADER)


def test_the_diner_layout_links_the_icons(make):
    tenant = make.tenant()
    table = create_table(make, tenant, code="A01")
    page = make.client.get(urlsplit(table["qr_url"]).path)
    assert page.status_code == 200
    links = _icon_links(page.get_data(as_text=True))
    assert "/favicon.ico" in links
    for href in links:
        _served(make.client, href)


def test_the_kitchen_display_links_the_icons(make):
    tenant = make.tenant()
    cook = make.staff(tenant, "kitchen")
    html = make.client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    login = make.client.post("/login", data={"username": cook.username, "password": make.PASSWORD,
                                              "csrf_token": token})
    assert login.status_code == 302
    page = make.client.get("/kitchen/")
    assert page.status_code == 200
    assert "/favicon.ico" in _icon_links(page.get_data(as_text=True))


def test_the_wechat_simulator_pages_have_their_own_icon():
    sim = create_simulator().test_client()
    page = sim.get("/")
    assert page.status_code == 200
    (href,) = _icon_links(page.get_data(as_text=True))
    assert href.startswith("data:image/svg+xml,")  # inline: the simulator serves no /favicon.ico
