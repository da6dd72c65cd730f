"""The menu over HTTP: dishes per API.md, categories, options, sold-out flags, and who may do what."""

import pytest

from app.actor import Actor
from app.audit.models import AuditEntry
from app.errors import Unprocessable
from app.menu import service
from app.menu.models import Category, Dish
from app.tenants.service import create_store
from tests.factories import create_dish


def _menu(api, store_id, **query):
    response = api.get("/menu", query_string={"store_id": store_id, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _dishes(menu):
    return {dish["name"]: dish for section in menu["categories"] for dish in section["dishes"]}


# --- POST /menu/dishes (API.md) ----------------------------------------------------------------

def test_create_dish_answers_201_with_the_dish(make):
    tenant = make.tenant()
    response = make.api(tenant.owner).post("/menu/dishes", json={
        "name": "剁椒鱼头", "price_cents": 12800, "category": "热菜"})
    assert response.status_code == 201
    dish = response.get_json()
    assert isinstance(dish["id"], int)
    assert dish["name"] == "剁椒鱼头" and dish["price_cents"] == 12800
    assert dish["category"] == "热菜" and dish["discountable"] is True and dish["station"] == "hot"
    assert dish["unit"] == "份" and dish["is_active"] is True and dish["options"] == []


def test_the_category_is_named_and_created_once(make, db):
    tenant = make.tenant()
    first = create_dish(make, tenant, "辣椒炒肉", 4200, category="湘味小炒")
    second = create_dish(make, tenant, "小炒黄牛肉", 6800, category="湘味小炒")
    third = create_dish(make, tenant, "青岛啤酒", 1200, category="酒水", discountable=False, station="bar")
    assert first["category_id"] == second["category_id"] != third["category_id"]
    assert third["discountable"] is False and third["station"] == "bar"
    categories = make.api(tenant.owner).get("/menu/categories").get_json()["categories"]
    assert [c["name"] for c in categories] == ["湘味小炒", "酒水"]
    assert db.session.query(Category).filter_by(merchant_id=tenant.merchant.id).count() == 2


@pytest.mark.parametrize("body", [
    {"price_cents": 100, "category": "热菜"},
    {"name": "x", "category": "热菜"},
    {"name": "x", "price_cents": 100},
    {"name": "x", "price_cents": -1, "category": "热菜"},
    {"name": "x", "price_cents": 12.5, "category": "热菜"},
    {"name": "x", "price_cents": "1200", "category": "热菜"},
    {"name": "x", "price_cents": 10**13, "category": "热菜"},
    {"name": "   ", "price_cents": 100, "category": "热菜"},
    {"name": "x", "price_cents": 100, "category": ""},
    {"name": "x", "price_cents": 100, "category": "热菜", "discountable": "yes"},
    {"name": "x", "price_cents": 100, "category": "热菜", "discountable": 1},
    {"name": "x", "price_cents": 100, "category": "热菜", "station": "Hot Wok!"},
    {"name": "x", "price_cents": 100, "category": "热菜", "image_url": "javascript:alert(1)"},
    {"name": "x", "price_cents": 100, "category": "热菜", "image_url": "http://img.example.com/fish.jpg"},
    {"name": "x", "price_cents": 100, "category": "热菜", "colour": "red"},
])
def test_bad_dishes_get_422_and_nothing_is_created(make, db, body):
    tenant = make.tenant()
    response = make.api(tenant.owner).post("/menu/dishes", json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_error"
    assert db.session.query(Dish).count() == 0
    assert db.session.query(Category).count() == 0


def test_a_free_dish_is_allowed_and_names_are_trimmed(make):
    dish = create_dish(make, make.tenant(), "  米饭 ", 0, category=" 主食 ")
    assert dish["name"] == "米饭" and dish["category"] == "主食" and dish["price_cents"] == 0


def test_dish_names_are_unique_per_merchant(make):
    tenant, other = make.tenant(), make.tenant()
    create_dish(make, tenant, "口味虾")
    response = make.api(tenant.owner).post("/menu/dishes", json={
        "name": "口味虾", "price_cents": 1, "category": "别的"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "dish_exists"
    create_dish(make, other, "口味虾")  # another merchant's menu is its own


def test_categories_can_be_created_ahead_and_are_unique(make):
    api = make.api(make.tenant().owner)
    response = api.post("/menu/categories", json={"name": "凉菜", "name_en": "Cold dishes"})
    assert response.status_code == 201
    assert response.get_json()["name_en"] == "Cold dishes"
    assert api.post("/menu/categories", json={"name": "凉菜"}).get_json()["error"]["code"] == "category_exists"


# --- GET /menu ---------------------------------------------------------------------------------

def test_the_menu_of_a_store_has_categories_dishes_options_and_flags(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    api.post("/menu/categories", json={"name": "凉菜", "sort_order": 1})
    api.post("/menu/categories", json={"name": "热菜", "sort_order": 2})
    fish = create_dish(make, tenant, "剁椒鱼头", 12800, category="热菜")
    create_dish(make, tenant, "凉拌黄瓜", 1600, category="凉菜")
    api.post(f"/menu/dishes/{fish['id']}/options", json={
        "name": "辣度", "is_required": True, "choices": [{"name": "微辣"}, {"name": "特辣"}]})
    menu = _menu(make.api(make.staff(tenant, "kitchen")), tenant.store.id)
    assert menu["store_id"] == tenant.store.id
    assert [(c["name"], [d["name"] for d in c["dishes"]]) for c in menu["categories"]] == [
        ("凉菜", ["凉拌黄瓜"]), ("热菜", ["剁椒鱼头"])]
    dish = _dishes(menu)["剁椒鱼头"]
    assert dish["is_sold_out"] is False
    assert [choice["name"] for choice in dish["options"][0]["choices"]] == ["微辣", "特辣"]


def test_the_menu_needs_a_store_of_ones_own(make):
    tenant, other = make.tenant(), make.tenant()
    api = make.api(tenant.owner)
    assert api.get("/menu").status_code == 422
    response = api.get("/menu", query_string={"store_id": other.store.id})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_an_on_site_device_reads_the_menu(make):
    tenant = make.tenant()
    create_dish(make, tenant, "米饭", 200, category="主食")
    _device, token = make.device(tenant)
    assert "米饭" in _dishes(_menu(make.api(token=token), tenant.store.id))


def test_inactive_dishes_leave_the_menu(make):
    tenant = make.tenant()
    dish = create_dish(make, tenant, "冬笋炒腊肉")
    api = make.api(tenant.owner)
    assert api.patch(f"/menu/dishes/{dish['id']}", json={"is_active": False}).status_code == 200
    assert "冬笋炒腊肉" not in _dishes(_menu(api, tenant.store.id))
    assert "冬笋炒腊肉" in _dishes(_menu(api, tenant.store.id, include_inactive="true"))


# --- sold out ----------------------------------------------------------------------------------

def test_sold_out_shows_in_the_menu_at_once_and_only_for_that_store(make, db):
    tenant = make.tenant()
    second = create_store(Actor.system(tenant.merchant.id), name="二店")
    db.session.commit()
    dish = create_dish(make, tenant, "口味虾", 12800)
    cashier = make.api(make.staff(tenant, "cashier"))
    response = cashier.request("PUT", f"/stores/{tenant.store.id}/sold-out/{dish['id']}", json={"is_sold_out": True})
    assert response.status_code == 200
    assert response.get_json()["is_sold_out"] is True
    assert _dishes(_menu(cashier, tenant.store.id))["口味虾"]["is_sold_out"] is True
    assert _dishes(_menu(cashier, second.id))["口味虾"]["is_sold_out"] is False
    assert cashier.get(f"/stores/{tenant.store.id}/sold-out").get_json()["dish_ids"] == [dish["id"]]
    assert service.sold_out_dish_ids(tenant.store.id) == {dish["id"]}

    cashier.request("PUT", f"/stores/{tenant.store.id}/sold-out/{dish['id']}", json={"is_sold_out": False})
    assert _dishes(_menu(cashier, tenant.store.id))["口味虾"]["is_sold_out"] is False
    actions = [e.action for e in db.session.query(AuditEntry).filter_by(object_type="dish").order_by(AuditEntry.id)]
    assert actions == ["dish.create", "dish.sold_out", "dish.back_in_stock"]


def test_setting_the_same_flag_twice_is_harmless_and_audited_once(make, db):
    tenant = make.tenant()
    dish = create_dish(make, tenant)
    api = make.api(tenant.owner)
    for _ in range(2):
        response = api.request("PUT", f"/stores/{tenant.store.id}/sold-out/{dish['id']}", json={"is_sold_out": True})
        assert response.status_code == 200
    assert db.session.query(AuditEntry).filter_by(action="dish.sold_out").count() == 1


def test_a_cashier_toggles_only_their_own_store_and_kitchen_not_at_all(make, db):
    tenant = make.tenant()
    second = create_store(Actor.system(tenant.merchant.id), name="二店")
    db.session.commit()
    dish = create_dish(make, tenant)
    url = f"/stores/{second.id}/sold-out/{dish['id']}"
    assert make.api(make.staff(tenant, "cashier")).request("PUT", url, json={"is_sold_out": True}).status_code == 403
    kitchen = make.api(make.staff(tenant, "kitchen", store=second))
    assert kitchen.request("PUT", url, json={"is_sold_out": True}).status_code == 403
    assert make.api(make.staff(tenant, "cashier", store=second)).request(
        "PUT", url, json={"is_sold_out": True}).status_code == 200


def test_sold_out_needs_a_boolean(make):
    tenant = make.tenant()
    dish = create_dish(make, tenant)
    api = make.api(tenant.owner)
    for body in ({}, {"is_sold_out": "true"}, {"is_sold_out": 1}, {"is_sold_out": None}):
        response = api.request("PUT", f"/stores/{tenant.store.id}/sold-out/{dish['id']}", json=body)
        assert response.status_code == 422, body


# --- options -----------------------------------------------------------------------------------

def _add_options(api, dish_id, **group):
    response = api.post(f"/menu/dishes/{dish_id}/options", json=group)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_options_price_a_line(make, db):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    dish = create_dish(make, tenant, "口味虾", 12800)
    spice = _add_options(api, dish["id"], name="辣度", name_en="Spice level", is_required=True,
                         choices=[{"name": n} for n in ("不辣", "微辣", "中辣", "特辣")])
    size = _add_options(api, dish["id"], name="份量", is_required=True,
                        choices=[{"name": "小份"}, {"name": "大份", "price_delta_cents": 1000}])
    assert spice["is_required"] is True and spice["max_choices"] == 1 and len(spice["choices"]) == 4
    assert [g["name"] for g in api.get(f"/menu/dishes/{dish['id']}").get_json()["options"]] == ["辣度", "份量"]

    row = db.session.get(Dish, dish["id"])
    mild, large = spice["choices"][1]["id"], size["choices"][1]["id"]
    assert service.unit_price(row, [mild, size["choices"][0]["id"]]) == 12800
    assert service.unit_price(row, [large, mild]) == 13800
    for chosen, code in (([mild], "option_required"), ([mild, spice["choices"][2]["id"], large], "too_many_options"),
                         ([mild, large, 999_999], "unknown_option")):
        with pytest.raises(Unprocessable) as raised:
            service.unit_price(row, chosen)
        assert raised.value.error_code == code
        assert raised.value.code == 422
    with pytest.raises(Unprocessable) as raised:
        service.unit_price(row, [mild])
    assert "份量" in raised.value.description


def test_bad_option_groups_are_refused(make):
    tenant = make.tenant()
    api = make.api(tenant.owner)
    dish = create_dish(make, tenant)
    url = f"/menu/dishes/{dish['id']}/options"
    for body in (
        {"name": "辣度", "choices": []},
        {"name": "辣度", "choices": [{"name": "微辣"}, {"name": "微辣"}]},
        {"name": "加料", "max_choices": 3, "choices": [{"name": "蛋"}, {"name": "肉"}]},
        {"name": "加料", "choices": [{"name": "蛋", "price_delta_cents": -100}]},
        {"name": "加料", "choices": [{"name": ""}]},
        {"name": "加料", "choices": "蛋"},
        {"choices": [{"name": "蛋"}]},
    ):
        response = api.post(url, json=body)
        assert response.status_code == 422, (body, response.get_json())
    _add_options(api, dish["id"], name="辣度", choices=[{"name": "微辣"}])
    response = api.post(url, json={"name": "辣度", "choices": [{"name": "中辣"}]})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "option_group_exists"


# --- PATCH -------------------------------------------------------------------------------------

def test_patching_a_dish_audits_the_price_change(make, db):
    tenant = make.tenant()
    dish = create_dish(make, tenant, "毛氏红烧肉", 6800, category="热菜")
    api = make.api(tenant.owner)
    response = api.patch(f"/menu/dishes/{dish['id']}", json={
        "price_cents": 7200, "name_en": "Red-braised pork", "category": "招牌菜", "discountable": False})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["price_cents"] == 7200 and body["category"] == "招牌菜" and body["discountable"] is False
    assert api.get(f"/menu/dishes/{dish['id']}").get_json() == body

    entries = {e.action: e for e in db.session.query(AuditEntry).filter_by(object_type="dish", object_id=dish["id"])}
    assert entries["dish.price_change"].details == {"old_price_cents": 6800, "new_price_cents": 7200}
    assert entries["dish.price_change"].staff_id == tenant.owner.id
    assert entries["dish.update"].details["changes"]["category"] == ["热菜", "招牌菜"]
    assert entries["dish.update"].details["changes"]["is_discountable"] == [True, False]


def test_patch_refusals(make):
    tenant = make.tenant()
    create_dish(make, tenant, "东安子鸡")
    dish = create_dish(make, tenant, "啤酒鸭")
    api = make.api(tenant.owner)
    assert api.patch(f"/menu/dishes/{dish['id']}", json={}).status_code == 422
    assert api.patch(f"/menu/dishes/{dish['id']}", json={"price_cents": -5}).status_code == 422
    response = api.patch(f"/menu/dishes/{dish['id']}", json={"name": "东安子鸡"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "dish_exists"
    assert api.get(f"/menu/dishes/{dish['id']}").get_json()["name"] == "啤酒鸭"
    cashier = make.api(make.staff(tenant, "cashier"))
    assert cashier.patch(f"/menu/dishes/{dish['id']}", json={"price_cents": 1}).status_code == 403
    assert cashier.get(f"/menu/dishes/{dish['id']}").status_code == 200


def test_the_database_refuses_a_negative_price(make, db):
    import sqlalchemy as sa

    tenant = make.tenant()
    dish = create_dish(make, tenant)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Dish).where(Dish.id == dish["id"]).values(price_cents=-1))
    db.session.rollback()
