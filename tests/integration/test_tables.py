"""Areas and tables over HTTP, the signed table QR codes, the diner landing page and the QR sheet."""

import re

import pytest
import qrcode

from app.actor import Actor
from app.audit.models import AuditEntry
from app.errors import Conflict
from app.tables import service
from app.tables.models import DiningTable
from app.tables.state import TableState
from app.tenants.service import create_store
from tests.factories import create_table


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _log_in(make, staff):
    token = _csrf(make.client.get("/login").get_data(as_text=True))
    response = make.client.post("/login", data={"username": staff.username, "password": make.PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 302


def _token(url: str) -> str:
    return url.rsplit("/t/", 1)[1]


# --- areas and tables --------------------------------------------------------------------------

def test_areas_and_tables_of_a_store(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    hall = api.post(f"/stores/{tenant.store.id}/areas", json={"name": "大厅", "name_en": "Hall"})
    assert hall.status_code == 201
    hall = hall.get_json()
    room = api.post(f"/stores/{tenant.store.id}/areas", json={"name": "包间"}).get_json()
    assert room["sort_order"] == hall["sort_order"] + 1
    response = api.post(f"/stores/{tenant.store.id}/tables", json={"code": "A01", "seats": 4, "area_id": hall["id"]})
    assert response.status_code == 201
    table = response.get_json()
    assert table["code"] == "A01" and table["seats"] == 4 and table["area"] == "大厅" and table["state"] == "free"
    assert table["qr_url"].startswith("http://127.0.0.1:8000/t/")
    api.post(f"/stores/{tenant.store.id}/tables", json={"code": "V1", "seats": 10, "area_id": room["id"]})

    listing = make.api(make.staff(tenant, "cashier")).get(f"/stores/{tenant.store.id}/tables").get_json()
    assert [a["name"] for a in listing["areas"]] == ["大厅", "包间"]
    assert [(t["code"], t["area"]) for t in listing["tables"]] == [("A01", "大厅"), ("V1", "包间")]
    assert listing["tables"][0] == table


def test_table_codes_are_unique_per_store(make, db):
    tenant = make.tenant()
    second = create_store(Actor.system(tenant.merchant.id), name="二店")
    db.session.commit()
    api = make.api(tenant.owner)
    create_table(make, tenant, "A01")
    response = api.post(f"/stores/{tenant.store.id}/tables", json={"code": "A01"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "table_exists"
    create_table(make, tenant, "A01", store=second)


@pytest.mark.parametrize("body", [
    {}, {"code": ""}, {"code": "A 01"}, {"code": "A" * 11}, {"code": "A01", "seats": 0},
    {"code": "A01", "seats": 100}, {"code": "A01", "seats": "4"}, {"code": "A01", "area_id": 0},
])
def test_bad_tables_get_422(make, db, body):
    tenant = make.tenant()
    response = make.api(tenant.owner).post(f"/stores/{tenant.store.id}/tables", json=body)
    assert response.status_code == 422, response.get_json()
    assert db.session.query(DiningTable).count() == 0


def test_an_area_of_another_store_or_merchant_is_refused(make, db):
    tenant, other = make.tenant(), make.tenant()
    second = create_store(Actor.system(tenant.merchant.id), name="二店")
    db.session.commit()
    api = make.api(tenant.owner)
    foreign_area = api.post(f"/stores/{second.id}/areas", json={"name": "大厅"}).get_json()
    others_area = make.api(other.owner).post(f"/stores/{other.store.id}/areas", json={"name": "大厅"}).get_json()
    for area_id in (foreign_area["id"], others_area["id"]):
        response = api.post(f"/stores/{tenant.store.id}/tables", json={"code": "A01", "area_id": area_id})
        assert response.status_code == 422
        assert "area_id" in response.get_json()["error"]["details"]["fields"]


def test_patching_a_table(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    create_table(make, tenant, "A02")
    table = create_table(make, tenant, "A01")
    room = api.post(f"/stores/{tenant.store.id}/areas", json={"name": "包间"}).get_json()
    response = api.patch(f"/tables/{table['id']}", json={"code": "V9", "seats": 12, "area_id": room["id"]})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["code"], body["seats"], body["area"]) == ("V9", 12, "包间")
    assert api.patch(f"/tables/{table['id']}", json={"code": "A02"}).status_code == 409
    assert api.patch(f"/tables/{table['id']}", json={}).status_code == 422
    assert api.patch(f"/tables/{table['id']}", json={"area_id": None}).get_json()["area"] is None
    assert api.get(f"/tables/{table['id']}").get_json()["code"] == "V9"
    audit = db.session.query(AuditEntry).filter_by(action="table.update").first()
    assert audit.details["changes"]["seats"] == [4, 12]
    cashier = make.api(make.staff(tenant, "cashier"))
    assert cashier.patch(f"/tables/{table['id']}", json={"seats": 2}).status_code == 403


def test_table_state_moves_only_through_the_transition_table(make, db):
    tenant = make.tenant()
    table = db.session.get(DiningTable, create_table(make, tenant)["id"])
    service.move_table(table, "seat")
    service.move_table(table, "order")
    assert table.state is TableState.ORDERING and table.state_changed_at is not None
    with pytest.raises(Conflict) as raised:
        service.move_table(table, "seat")
    assert raised.value.error_code == "table_state_conflict"
    db.session.commit()
    assert make.api(tenant.owner).get(f"/tables/{table.id}").get_json()["state"] == "ordering"


# --- signed QR URLs ----------------------------------------------------------------------------

def test_the_qr_token_round_trips_to_its_table(make, db):
    tenant = make.tenant()
    body = create_table(make, tenant, "A01")
    table = db.session.get(DiningTable, body["id"])
    assert service.table_url(table) == body["qr_url"]
    assert service.resolve_table_token(_token(body["qr_url"])) == table

    page = make.client.get(f"/t/{_token(body['qr_url'])}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert tenant.store.name in html and "A01" in html
    english = make.client.get(f"/t/{_token(body['qr_url'])}", headers={"Accept-Language": "en"})
    assert "Table A01" in english.get_data(as_text=True)


def test_rotating_the_secret_voids_old_stickers(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    old_url = create_table(make, tenant, "A01")["qr_url"]
    assert api.post(f"/stores/{tenant.store.id}/tables/qr-secret/rotate", json={"confirm": False}).status_code == 422
    assert api.post(f"/stores/{tenant.store.id}/tables/qr-secret/rotate", json={}).status_code == 422
    assert service.resolve_table_token(_token(old_url)) is not None

    response = api.post(f"/stores/{tenant.store.id}/tables/qr-secret/rotate", json={"confirm": True})
    assert response.status_code == 200 and response.get_json()["rotated_at"]
    assert service.resolve_table_token(_token(old_url)) is None
    assert make.client.get(f"/t/{_token(old_url)}").status_code == 404
    new_url = api.get(f"/stores/{tenant.store.id}/tables").get_json()["tables"][0]["qr_url"]
    assert new_url != old_url
    assert make.client.get(f"/t/{_token(new_url)}").status_code == 200
    assert db.session.query(AuditEntry).filter_by(action="table_qr.rotate").one().store_id == tenant.store.id


def test_tampered_or_foreign_tokens_are_refused(make, db):
    tenant, other = make.tenant(), make.tenant()
    first = create_table(make, tenant, "A01")
    second = create_table(make, tenant, "A02")
    foreign = create_table(make, other, "A01")
    token = _token(first["qr_url"])
    payload, signature = token.split(".")
    other_payload = _token(second["qr_url"]).split(".")[0]
    foreign_signature = _token(foreign["qr_url"]).split(".")[1]
    # The first character: the last one of a base64 signature also carries padding bits.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (
        f"{other_payload}.{signature}",  # another table under this table's signature
        f"{payload}.{flipped}",
        f"{payload}.{foreign_signature}",
        payload,
        "",
        "not-a-token",
        "W3siYSI6MX0sMiwzXQ.abc",  # a payload of the wrong shape
        "WzEsMSw5OTk5OTk5OTk5OTk5OTld.abc",  # [1,1,999999999999999]: out of range ids
        token + "x" * 300,
    ):
        assert service.resolve_table_token(bad) is None, bad
    assert make.client.get(f"/t/{payload}.{flipped}").status_code == 404
    assert make.client.get("/t/x").status_code == 404


def test_a_deactivated_table_no_longer_resolves(make):
    tenant = make.tenant()
    table = create_table(make, tenant)
    make.api(tenant.owner).patch(f"/tables/{table['id']}", json={"is_active": False})
    assert service.resolve_table_token(_token(table["qr_url"])) is None


def _svg_matrix(svg: str) -> list[list[bool]]:
    """The module grid drawn by qrcode's SvgPathImage (one rectangle per run of dark modules)."""
    size = float(re.search(r'viewBox="0 0 ([\d.]+) [\d.]+"', svg).group(1))
    rects = re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H[\d.]+z", re.search(r' d="([^"]+)"', svg).group(1))
    unit = min(float(x2) - float(x) for x, _y, x2, _y2 in rects)
    modules = round(size / unit)
    grid = [[False] * modules for _ in range(modules)]
    for x, y, x2, y2 in rects:
        for row in range(round(float(y) / unit), round(float(y2) / unit)):
            for col in range(round(float(x) / unit), round(float(x2) / unit)):
                grid[row][col] = True
    return grid


def test_the_qr_svg_encodes_the_table_url(make):
    tenant = make.tenant()
    table = create_table(make, tenant, "A01")
    response = make.api(tenant.owner).get(f"/tables/{table['id']}/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    expected = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    expected.add_data(table["qr_url"])
    expected.make(fit=True)
    assert _svg_matrix(response.get_data(as_text=True)) == expected.get_matrix()
    assert make.api(make.staff(tenant, "cashier")).get(f"/tables/{table['id']}/qr.svg").status_code == 403


# --- the printable sheet -------------------------------------------------------------------------

def test_the_qr_sheet_needs_a_manager_login(make):
    tenant = make.tenant()
    url = f"/manage/stores/{tenant.store.id}/qr-sheet"
    response = make.client.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    _log_in(make, make.staff(tenant, "cashier"))
    assert make.client.get(url).status_code == 403


def test_the_qr_sheet_shows_every_active_table(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    hall = api.post(f"/stores/{tenant.store.id}/areas", json={"name": "大厅"}).get_json()
    codes = [f"A{n:02d}" for n in range(1, 8)]
    for code in codes:
        api.post(f"/stores/{tenant.store.id}/tables", json={"code": code, "seats": 4, "area_id": hall["id"]})
    hidden = create_table(make, tenant, "X9")
    api.patch(f"/tables/{hidden['id']}", json={"is_active": False})
    _log_in(make, make.staff(tenant, "manager"))
    response = make.client.get(f"/manage/stores/{tenant.store.id}/qr-sheet")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.findall(r'data-table-code="([^"]+)"', html) == codes
    assert html.count("<svg") == len(codes)
    assert html.count("扫码点餐") == len(codes) and "Scan to order" in html
    assert tenant.store.name in html and "qr_sheet.css" in html


def test_the_qr_sheet_of_another_merchants_store_is_404(make):
    tenant, other = make.tenant(), make.tenant()
    create_table(make, other)
    _log_in(make, tenant.owner)
    assert make.client.get(f"/manage/stores/{other.store.id}/qr-sheet").status_code == 404
    assert make.client.get("/manage/stores/99999999999/qr-sheet").status_code == 404


# --- demo data -----------------------------------------------------------------------------------

def test_demo_load_creates_the_menu_and_the_tables(app, db):
    import sqlalchemy as sa

    from app.demo.seed import describe, load_demo
    from app.menu.models import Category, Dish, OptionGroup
    from app.tenants.models import Store

    assert load_demo(member_count=40) is True
    dishes = db.session.scalars(sa.select(Dish)).all()
    assert 55 <= len(dishes) <= 70
    assert db.session.query(Category).count() >= 8
    assert len({dish.station for dish in dishes}) >= 4
    prices = {dish.name: dish.price_cents for dish in dishes}
    assert prices["剁椒鱼头"] == 12800
    assert not any(d.is_discountable for d in dishes if d.category.name == "酒水")
    assert not next(d for d in dishes if d.name == "茶位费").is_discountable
    assert all(d.name_en for d in dishes)
    assert db.session.query(OptionGroup).filter_by(name="辣度").count() >= 5

    first, second = db.session.scalars(sa.select(Store).order_by(Store.id)).all()
    codes = {s.id: sorted(t.code for t in db.session.scalars(sa.select(DiningTable).filter_by(store_id=s.id)))
             for s in (first, second)}
    assert codes[first.id] == [f"A{n:02d}" for n in range(1, 13)] + ["V1", "V2", "V3", "V4"]
    assert len(codes[second.id]) == 6

    assert load_demo(member_count=40) is False
    assert db.session.query(Dish).count() == len(dishes)

    text = describe("http://diner.example/")
    assert f"http://diner.example/manage/stores/{first.id}/qr-sheet" in text
    assert "http://127.0.0.1:8765/till" in text  # the cashier's till, on the store agent
    # The virtual card reader's default card belongs to a demo member: a swipe at the till finds them.
    from app.demo.seed import DEMO_CARD_NO
    from app.members.models import MemberCard

    assert db.session.scalar(sa.select(MemberCard.member_id).where(MemberCard.card_no == DEMO_CARD_NO)) is not None
    token = re.search(r"http://diner\.example/t/(\S+)", text).group(1)
    table = service.resolve_table_token(token)
    assert (table.store_id, table.code) == (first.id, "A01")


def test_the_manager_home_links_each_stores_qr_sheet(make):
    tenant = make.tenant()
    _log_in(make, tenant.owner)
    home = make.client.get("/manage/").get_data(as_text=True)
    assert f'href="/manage/stores/{tenant.store.id}/qr-sheet"' in home
