"""The manager's everyday pages: menu (categories, dishes, options, stations, sold out), tables
and areas, staff and roles, store settings and the audit log — each write through the page,
checked in the database and the audit log; bad input answers 4xx with the reason on the form;
another merchant's ids answer 404; roles without the right answer 403."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.audit.models import AuditEntry
from app.auth.models import Staff
from app.auth.permissions import Role
from app.menu.models import Category, Dish, DishAvailability, Station
from app.tables.models import Area, DiningTable
from app.tenants.models import Store
from tests.factories import create_dish, create_table
from tests.integration.test_member_pages import _csrf, log_in

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def owner(make):
    tenant = make.tenant()
    log_in(make, tenant.owner)
    return tenant


def post(make, page: str, path: str, data: dict, **kw):
    """Post `data` to `path` with the CSRF token of `page` (GET first, as a browser does)."""
    token = _csrf(make.client.get(page).get_data(as_text=True))
    return make.client.post(path, data={"csrf_token": token, **data}, headers=EN, **kw)


def actions(db, merchant_id: int) -> list[str]:
    db.session.commit()
    return list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.merchant_id == merchant_id)
                                   .order_by(AuditEntry.id)))


# --- menu ----------------------------------------------------------------------------------------

def test_menu_categories_dishes_and_options(owner, make, db):
    merchant_id = owner.merchant.id
    assert post(make, "/manage/menu/", "/manage/menu/categories",
                {"name": "凉菜", "name_en": "Cold dishes"}).status_code == 302
    again = post(make, "/manage/menu/", "/manage/menu/categories", {"name": "凉菜"})
    assert again.status_code == 409 and "A category with this name already exists." in again.get_data(as_text=True)
    assert post(make, "/manage/menu/", "/manage/menu/categories", {"name": ""}).status_code == 422
    category = db.session.scalar(sa.select(Category).where(Category.merchant_id == merchant_id))
    renamed = post(make, "/manage/menu/", f"/manage/menu/categories/{category.id}",
                   {"name": "冷菜", "name_en": "Cold starters", "sort_order": "5"})
    assert renamed.status_code == 302
    db.session.refresh(category)
    assert (category.name, category.name_en, category.sort_order) == ("冷菜", "Cold starters", 5)

    new = "/manage/menu/dishes/new"
    bad = post(make, new, new, {"name": "拍黄瓜", "category": "冷菜", "price_yuan": "12.345", "unit": "份",
                                "station": "cold"})
    assert bad.status_code == 422 and "Enter an amount in yuan" in bad.get_data(as_text=True)
    assert post(make, new, new, {"name": "拍黄瓜", "category": "冷菜", "price_yuan": "16", "unit": "份",
                                 "station": "Cold!"}).status_code == 422
    assert post(make, new, new, {"name": "拍黄瓜", "category": "没有", "price_yuan": "16", "unit": "份",
                                 "station": "cold"}).status_code == 422  # not a category of the menu
    made = post(make, new, new, {"name": "拍黄瓜", "name_en": "Smashed cucumber", "category": "冷菜",
                                 "price_yuan": "16.50", "unit": "例", "station": "cold", "is_discountable": "y"})
    assert made.status_code == 302
    dish = db.session.scalar(sa.select(Dish).where(Dish.merchant_id == merchant_id, Dish.name == "拍黄瓜"))
    assert (dish.price_cents, dish.unit, dish.station, dish.is_discountable) == (1650, "例", "cold", True)
    page = f"/manage/menu/dishes/{dish.id}"
    assert post(make, page, page, {"name": "拍黄瓜", "name_en": "Smashed cucumber", "category": "冷菜",
                                   "price_yuan": "18", "unit": "例", "station": "cold", "is_discountable": "y",
                                   "is_active": "y"}).status_code == 302
    db.session.refresh(dish)
    assert dish.price_cents == 1800
    options = f"/manage/menu/dishes/{dish.id}/options"
    bad_options = post(make, page, options, {"group_name": "辣度", "choices": "不辣\n微辣 = abc", "max_choices": "1"})
    assert bad_options.status_code == 422 and "is not an amount in yuan" in bad_options.get_data(as_text=True)
    assert post(make, page, options, {"group_name": "辣度", "choices": "不辣\n不辣", "max_choices": "1"}).status_code \
        == 422
    assert post(make, page, options, {"group_name": "辣度", "group_name_en": "Spice",
                                      "choices": "不辣\n微辣\n加辣 = 1.5", "max_choices": "1",
                                      "is_required": "y"}).status_code == 302
    db.session.refresh(dish)
    group = dish.option_groups[0]
    assert [(c.name, c.price_delta_cents) for c in group.choices] == [("不辣", 0), ("微辣", 0), ("加辣", 150)]
    assert group.is_required and group.max_choices == 1
    html = make.client.get("/manage/menu/", headers=ZH).get_data(as_text=True)
    assert "拍黄瓜" in html and "辣度" in html and "￥18.00/例" in html
    assert actions(db, merchant_id)[-5:] == ["category.create", "category.update", "dish.create",
                                             "dish.price_change", "dish.option_group_add"]


def test_sold_out_and_stations(owner, make, db):
    dish = create_dish(make, owner, "剁椒鱼头", 12_800)
    menu = "/manage/menu/"
    store_id = owner.store.id
    answer = post(make, menu, f"/manage/menu/dishes/{dish['id']}/sold-out", {"store_id": store_id, "sold_out": "yes"})
    assert answer.status_code == 302
    db.session.commit()
    row = db.session.scalar(sa.select(DishAvailability).where(DishAvailability.dish_id == dish["id"]))
    assert row.is_sold_out and row.store_id == store_id
    html = make.client.get(menu, headers=EN).get_data(as_text=True)
    assert 'class=" sold-out"' in html and "Back on sale" in html
    assert post(make, menu, f"/manage/menu/dishes/{dish['id']}/sold-out",
                {"store_id": store_id, "sold_out": "no"}).status_code == 302
    db.session.refresh(row)
    assert not row.is_sold_out
    assert make.api(owner.owner).get(f"/stores/{store_id}/sold-out").get_json()["dish_ids"] == []

    stations = "/manage/menu/stations"
    assert post(make, stations, stations, {"code": "Hot Wok", "name": "炒锅"}).status_code == 422
    assert post(make, stations, stations, {"code": "hot", "name": "热菜档口", "name_en": "Wok"}).status_code == 302
    assert post(make, stations, stations, {"code": "hot", "name": "炒锅档口", "name_en": "Wok"}).status_code == 302
    named = db.session.scalars(sa.select(Station).where(Station.merchant_id == owner.merchant.id)).all()
    assert [(s.code, s.name) for s in named] == [("hot", "炒锅档口")]
    assert "炒锅档口" in make.client.get(menu).get_data(as_text=True)
    body = make.api(owner.owner).get("/menu/stations").get_json()
    assert body["stations"] == [{"code": "hot", "name": "炒锅档口", "name_en": "Wok", "dishes": 1, "is_named": True,
                                 "sort_order": 1}]
    assert actions(db, owner.merchant.id)[-4:] == ["dish.sold_out", "dish.back_in_stock", "station.create",
                                                   "station.update"]


def test_menu_tenancy_and_roles(owner, make, db):
    stranger = make.tenant()
    dish = create_dish(make, stranger, "外家菜", 1_000)
    category_id = db.session.scalar(sa.select(Dish.category_id).where(Dish.id == dish["id"]))
    assert make.client.get(f"/manage/menu/dishes/{dish['id']}").status_code == 404
    assert make.client.get(f"/manage/menu/categories/{category_id}").status_code == 404
    assert post(make, "/manage/menu/", f"/manage/menu/dishes/{dish['id']}/sold-out",
                {"store_id": owner.store.id, "sold_out": "yes"}).status_code == 404
    mine = create_dish(make, owner, "自家菜", 1_000)
    assert post(make, "/manage/menu/", f"/manage/menu/dishes/{mine['id']}/sold-out",
                {"store_id": stranger.store.id, "sold_out": "yes"}).status_code == 404
    assert make.client.get(f"/manage/menu/?store_id={stranger.store.id}").status_code == 404
    cashier = make.staff(owner, "cashier")
    log_in(make, cashier)
    assert make.client.get("/manage/menu/").status_code == 403


# --- tables and areas ----------------------------------------------------------------------------

def test_tables_and_areas(owner, make, db):
    page = f"/manage/stores/{owner.store.id}/tables"
    assert post(make, page, f"/manage/stores/{owner.store.id}/areas", {"name": "大厅", "name_en": "Hall"}).status_code \
        == 302
    assert post(make, page, f"/manage/stores/{owner.store.id}/areas", {"name": "大厅"}).status_code == 409
    area = db.session.scalar(sa.select(Area).where(Area.store_id == owner.store.id))
    assert post(make, page, page, {"code": "A01", "seats": "4", "area_id": str(area.id)}).status_code == 302
    duplicate = post(make, page, page, {"code": "A01", "seats": "4", "area_id": "0"})
    assert duplicate.status_code == 409 and "already has a table with this code" in duplicate.get_data(as_text=True)
    assert post(make, page, page, {"code": "A 01!", "seats": "4", "area_id": "0"}).status_code == 422
    assert post(make, page, page, {"code": "A02", "seats": "0", "area_id": "0"}).status_code == 422
    assert post(make, page, page, {"code": "A02", "seats": "2", "area_id": "999999"}).status_code == 422
    table = db.session.scalar(sa.select(DiningTable).where(DiningTable.store_id == owner.store.id))
    assert (table.code, table.seats, table.area_id) == ("A01", 4, area.id)
    edit = f"/manage/tables/{table.id}"
    assert post(make, f"{page}?edit={table.id}", edit, {"code": "A1", "seats": "6", "area_id": "0"}).status_code == 302
    db.session.refresh(table)
    assert (table.code, table.seats, table.area_id, table.is_active) == ("A1", 6, None, False)  # box left unticked
    html = make.client.get(page, headers=EN).get_data(as_text=True)
    assert f'href="/manage/stores/{owner.store.id}/qr-sheet"' in html and 'data-table="A1"' in html
    assert actions(db, owner.merchant.id)[-3:] == ["area.create", "table.create", "table.update"]
    stranger = make.tenant()
    theirs = create_table(make, stranger, "B01")
    assert make.client.get(f"/manage/stores/{stranger.store.id}/tables").status_code == 404
    assert post(make, page, f"/manage/tables/{theirs['id']}", {"code": "X", "seats": "2", "area_id": "0"}
                ).status_code == 404
    assert make.client.get(f"{page}?edit={theirs['id']}").status_code == 404


# --- staff ---------------------------------------------------------------------------------------

def test_staff_add_change_role_and_deactivate(owner, make, db):
    page = "/manage/staff/"
    short = post(make, page, page, {"username": "xiaoli", "password": "short", "role": "cashier",
                                    "store_id": str(owner.store.id)})
    assert short.status_code == 422
    no_store = post(make, page, page, {"username": "xiaoli", "password": "password123", "role": "cashier",
                                       "store_id": "0"})
    assert no_store.status_code == 422 and "must belong to a store" in no_store.get_data(as_text=True)
    assert post(make, page, page, {"username": "xiaoli", "display_name": "小李", "password": "password123",
                                   "role": "cashier", "store_id": str(owner.store.id)}).status_code == 302
    taken = post(make, page, page, {"username": "xiaoli", "password": "password123", "role": "manager",
                                    "store_id": "0"})
    assert taken.status_code == 409 and "This username is taken." in taken.get_data(as_text=True)
    staff = db.session.scalar(sa.select(Staff).where(Staff.username == "xiaoli"))
    assert (staff.role, staff.store_id, staff.display_name) == (Role.CASHIER, owner.store.id, "小李")

    role = f"/manage/staff/{staff.id}/role"
    assert post(make, page, role, {"role": "kitchen", "store_id": "0"}).status_code == 422
    assert post(make, page, role, {"role": "emperor", "store_id": "0"}).status_code == 422
    assert post(make, page, role, {"role": "manager", "store_id": "0"}).status_code == 302
    db.session.refresh(staff)
    assert (staff.role, staff.store_id) == (Role.MANAGER, None)

    confirm = f"/manage/staff/{staff.id}/deactivate"
    asked = make.client.get(confirm, headers=EN)
    assert asked.status_code == 200 and "Deactivate this account?" in asked.get_data(as_text=True)
    db.session.refresh(staff)
    assert staff.is_active  # asking changes nothing
    assert post(make, confirm, confirm, {}).status_code == 400  # not confirmed
    assert post(make, confirm, confirm, {"confirm": "yes"}).status_code == 302
    db.session.refresh(staff)
    assert not staff.is_active
    myself = f"/manage/staff/{owner.owner.id}/deactivate"
    refused = post(make, myself, myself, {"confirm": "yes"})
    assert refused.status_code == 409 and "You cannot deactivate your own account." in refused.get_data(as_text=True)
    assert actions(db, owner.merchant.id)[-3:] == ["staff.create", "staff.role_change", "staff.deactivate"]
    stranger = make.tenant()
    assert make.client.get(f"/manage/staff/{stranger.owner.id}/deactivate").status_code == 404
    assert post(make, page, f"/manage/staff/{stranger.owner.id}/role", {"role": "manager", "store_id": "0"}
                ).status_code == 404


def test_a_manager_manages_only_cashiers_and_kitchen(owner, make, db):
    manager = make.staff(owner, "manager")
    log_in(make, manager)
    page = "/manage/staff/"
    html = make.client.get(page).get_data(as_text=True)
    assert 'value="owner"' not in html and 'value="manager"' not in html
    assert post(make, page, page, {"username": "boss2", "password": "password123", "role": "owner",
                                   "store_id": "0"}).status_code == 422
    refused = post(make, page, f"/manage/staff/{owner.owner.id}/role", {"role": "cashier",
                                                                        "store_id": str(owner.store.id)})
    assert refused.status_code == 403  # the owner's row shows no form to a manager; a post anyway is refused
    assert "You cannot manage an account with this role." in refused.get_data(as_text=True)
    db.session.commit()
    assert db.session.get(Staff, owner.owner.id).role is Role.OWNER
    # Over the API, too.
    answer = make.api(manager).patch(f"/staff/{owner.owner.id}", json={"role": "cashier",
                                                                       "store_id": owner.store.id})
    assert answer.status_code == 403


# --- store settings ------------------------------------------------------------------------------

def test_store_settings(owner, make, db):
    page = f"/manage/stores/{owner.store.id}/settings"
    html = make.client.get(page, headers=ZH).get_data(as_text=True)
    assert 'name="diner_orders_need_confirmation"' in html and 'name="rounding"' in html
    bad = post(make, page, page, {"name": owner.store.name, "rounding": "to_yuan", "offline_allowance_yuan": "-5"})
    assert bad.status_code == 422 and "Enter an amount in yuan" in bad.get_data(as_text=True)
    assert post(make, page, page, {"name": owner.store.name, "rounding": "to_cents",
                                   "offline_allowance_yuan": "100"}).status_code == 422
    assert post(make, page, page, {"name": "", "rounding": "none", "offline_allowance_yuan": "100"}).status_code == 422
    saved = post(make, page, page, {"name": "五一店", "address": "长沙市五一大道 1 号", "phone": "0731-1234",
                                    "rounding": "to_jiao", "offline_allowance_yuan": "350.5"})
    assert saved.status_code == 302
    db.session.commit()
    store = db.session.get(Store, owner.store.id)
    assert (store.name, store.rounding, store.offline_allowance_cents) == ("五一店", "to_jiao", 35_050)
    assert make.api(owner.owner).get(f"/stores/{store.id}").get_json()["rounding"] == "to_jiao"
    ordering = f"/manage/stores/{owner.store.id}/ordering"
    assert post(make, page, ordering, {"diner_orders_need_confirmation": "y"}).status_code == 302
    db.session.commit()
    assert db.session.get(Store, owner.store.id).is_waiter_confirm
    assert actions(db, owner.merchant.id)[-2:] == ["store.update", "store.update"]
    response = make.api(owner.owner).patch(f"/stores/{store.id}", json={"rounding": "to_cents"})
    assert response.status_code == 422
    stranger = make.tenant()
    assert make.client.get(f"/manage/stores/{stranger.store.id}/settings").status_code == 404
    assert post(make, page, f"/manage/stores/{stranger.store.id}/settings",
                {"name": "x", "rounding": "none", "offline_allowance_yuan": "1"}).status_code == 404


# --- audit log and the home page -----------------------------------------------------------------

def test_audit_log_pages_and_filters(owner, make, db):
    cook = make.staff(owner, "kitchen")
    for n in range(55):
        create_dish(make, owner, f"菜{n:02d}", 1_000 + n)
    menu = "/manage/menu/"
    post(make, menu, "/manage/menu/categories", {"name": "新类"})
    html = make.client.get("/manage/audit", headers=EN).get_data(as_text=True)
    rows = re.findall(r'data-action="([^"]+)" data-id="(\d+)"', html)
    assert len(rows) == 50 and rows[0][0] == "category.create"
    assert "Category added" in html and 'rel="next"' in html
    older = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    rest = re.findall(r'data-action="([^"]+)" data-id="(\d+)"', make.client.get(older).get_data(as_text=True))
    ids = [int(i) for _a, i in rows + rest]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert len(ids) == len(actions(db, owner.merchant.id))  # every entry exactly once over the pages
    only = make.client.get("/manage/audit?action=category.create").get_data(as_text=True)
    assert re.findall(r'data-action="([^"]+)"', only) == ["category.create", "category.create"]
    family = make.client.get("/manage/audit?action=dish.").get_data(as_text=True)
    assert set(re.findall(r'data-action="([^"]+)"', family)) == {"dish.create"}
    by_cook = make.client.get(f"/manage/audit?staff_id={cook.id}").get_data(as_text=True)
    assert re.findall(r'data-action="([^"]+)"', by_cook) == []
    assert make.client.get("/manage/audit?before_id=abc&staff_id=-1").status_code == 200
    api = make.api(owner.owner)
    assert [e["action"] for e in api.get("/audit", query_string={"action": "category.create"}).get_json()["entries"]] \
        == ["category.create", "category.create"]
    assert api.get("/audit", query_string={"staff_id": owner.owner.id, "limit": 2}).status_code == 200
    assert api.get("/audit", query_string={"staff_id": "x"}).status_code == 422
    stranger = make.tenant()
    assert make.api(stranger.owner).get("/audit", query_string={"action": "dish."}).get_json()["entries"] == []
    log_in(make, cook)
    assert make.client.get("/manage/audit").status_code == 403


def test_the_home_page_reaches_every_manager_page(owner, make):
    html = make.client.get("/manage/", headers=EN).get_data(as_text=True)
    store = owner.store.id
    for path in ("/manage/dashboard", "/manage/analytics/", "/manage/members/", "/manage/coupons/",
                 "/manage/menu/", "/manage/staff/", "/manage/audit", "/manage/devices", "/manage/wechat",
                 f"/manage/stores/{store}/settings", f"/manage/stores/{store}/tables"):
        assert f'href="{path}"' in html, path
        assert make.client.get(path).status_code == 200, path
