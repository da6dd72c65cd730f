"""A dish's photo uploaded on the manager's dish page: known by its bytes (JPEG, PNG, WebP), kept
in the database, served to everyone at an address that changes with the photo, shown on the
diners' menu; a replaced photo's address is gone; anything else is refused and changes nothing."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import sqlalchemy as sa

from app.menu.models import Dish, DishPhoto
from tests.factories import create_dish, create_table
from tests.integration.test_manager_pages import actions
from tests.integration.test_member_pages import _csrf, log_in

EN = {"Accept-Language": "en"}


def png(width: int = 4, height: int = 4, rgb: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    """A real PNG of one colour (no imaging library needed)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def dish(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    made = create_dish(make, tenant, "剁椒鱼头", 12_800)
    return tenant, made


def upload(make, dish_id: int, data: bytes, name: str = "fish.png", **extra):
    page = f"/manage/menu/dishes/{dish_id}"
    token = _csrf(make.client.get(page).get_data(as_text=True))
    return make.client.post(f"{page}/photo", data={"csrf_token": token, "photo": (io.BytesIO(data), name), **extra},
                            content_type="multipart/form-data", headers=EN)


def _dish(db, dish_id: int) -> Dish:
    db.session.rollback()
    return db.session.get(Dish, dish_id)


def test_an_uploaded_photo_is_served_shown_on_the_menu_and_replaced(dish, make, db):
    tenant, made = dish
    picture = png()
    answer = upload(make, made["id"], picture)
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    url = _dish(db, made["id"]).image_url
    assert url.startswith("/media/dishes/") and url.endswith(".png")
    served = make.client.application.test_client().get(url)  # no login: the diners' phones fetch it
    assert served.status_code == 200 and served.data == picture and served.mimetype == "image/png"
    assert "immutable" in served.headers["Cache-Control"]
    page = make.client.get(f"/manage/menu/dishes/{made['id']}", headers=EN).get_data(as_text=True)
    assert f'src="{url}"' in page and "Replace photo" in page
    table = create_table(make, tenant)
    menu = make.client.application.test_client().get("/t/" + table["qr_url"].rsplit("/t/", 1)[1])
    assert menu.status_code == 200 and f'src="{url}"' in menu.get_data(as_text=True)

    # Replaced: a new address; the old one answers 404 (a year-long cache never shows a stale photo).
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\x00" * 64 + b"\xff\xd9"
    assert upload(make, made["id"], jpeg, "fish.jpg").status_code == 302
    new_url = _dish(db, made["id"]).image_url
    assert new_url != url and new_url.endswith(".jpg")
    client = make.client.application.test_client()
    assert client.get(url).status_code == 404
    assert client.get(new_url).data == jpeg
    assert client.get(new_url.replace(".jpg", ".png")).status_code == 404  # the address names the type too
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DishPhoto)) == 1
    assert actions(db, tenant.merchant.id).count("dish.update") == 2  # each photo audited


def test_anything_but_a_photo_is_refused_on_the_form_and_changes_nothing(dish, make, db, app):
    tenant, made = dish
    app.config["DISH_PHOTO_MAX_BYTES"] = 1024
    try:
        for data, name, status, words in (
                (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "fish.png", 422,
                 "must be a JPEG, PNG or WebP"),
                (b"GIF89a" + b"\x00" * 20, "fish.gif", 422, "must be a JPEG, PNG or WebP"),
                (b"", "empty.png", 422, "Choose a photo"),
                (png(40, 40) + b"\x00" * 2048, "big.png", 422, "larger than"),
                (png(200, 200, (1, 2, 3)) + bytes(range(256)) * 400, "huge.png", 413, "larger than")):
            answer = upload(make, made["id"], data, name)
            assert answer.status_code == status, (name, answer.status_code)
            assert words in answer.get_data(as_text=True), name
        page = f"/manage/menu/dishes/{made['id']}/photo"
        without_token = make.client.post(page, data={"photo": (io.BytesIO(png()), "fish.png")},
                                         content_type="multipart/form-data", headers=EN)
        assert without_token.status_code == 400
    finally:
        app.config["DISH_PHOTO_MAX_BYTES"] = 2 * 1024 * 1024
    assert _dish(db, made["id"]).image_url == ""
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DishPhoto)) == 0


def test_removing_needs_the_box_ticked_and_another_merchants_dish_is_404(dish, make, db):
    tenant, made = dish
    assert upload(make, made["id"], png()).status_code == 302
    url = _dish(db, made["id"]).image_url
    page = f"/manage/menu/dishes/{made['id']}"
    remove = f"{page}/photo/remove"
    token = _csrf(make.client.get(page).get_data(as_text=True))
    unticked = make.client.post(remove, data={"csrf_token": token}, headers=EN)
    assert unticked.status_code == 422 and "Tick the box" in unticked.get_data(as_text=True)
    assert _dish(db, made["id"]).image_url == url

    other = make.tenant()
    theirs = create_dish(make, other, "小炒肉", 3_800)
    assert upload(make, theirs["id"], png()).status_code == 404
    assert make.client.post(f"/manage/menu/dishes/{theirs['id']}/photo/remove",
                            data={"csrf_token": token, "confirm": "y"}, headers=EN).status_code == 404

    assert make.client.post(remove, data={"csrf_token": token, "confirm": "y"}, headers=EN).status_code == 302
    assert _dish(db, made["id"]).image_url == ""
    assert make.client.get(url).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DishPhoto)) == 0
    assert make.client.get("/media/dishes/1-zzz.png").status_code == 404


@pytest.mark.parametrize("path", ["/media/dishes/99999999999999999999-0123456789ab.png",
                                  "/media/dishes/0-0123456789ab.png", "/media/dishes/1-x.png",
                                  "/media/dishes/1-0123456789ab.svg", "/media/dishes/abc.png"])
def test_an_address_that_names_no_photo_is_404(client, db, path):
    assert client.get(path).status_code == 404
