"""/api/v1/menu and /api/v1/stores/{id}/sold-out."""

from __future__ import annotations

from flask_babel import gettext

from app.api import Blueprint
from app.auth.guard import current_actor, id_argument, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, scoped, utcnow
from app.errors import Forbidden
from app.menu import schemas, service
from app.menu.models import Category, Dish
from app.tenants.models import Store

blp = Blueprint("menu", __name__, url_prefix="/api/v1", description="Menu: categories, dishes, options, sold-out")

id_argument("dish_id", Dish)


@blp.route("/menu", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.arguments(schemas.MenuQuery, location="query")
@blp.response(200, schemas.MenuOut)
def get_menu(query):
    """The whole menu as one store sells it: categories with their dishes, options and sold-out flags."""
    store = get_scoped_or_404(Store, query["store_id"])
    return {"store_id": store.id,
            "categories": service.store_menu(store, include_inactive=query["include_inactive"])}


@blp.route("/menu/categories", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.response(200, schemas.CategoryList)
def list_categories():
    return {"categories": db.session.scalars(scoped(Category).order_by(Category.sort_order, Category.id)).all()}


@blp.route("/menu/categories", methods=["POST"])
@requires(Permission.MENU_MANAGE)
@blp.arguments(schemas.CategoryIn)
@blp.response(201, schemas.CategoryOut)
def create_category(data):
    category = service.create_category(actor=current_actor(), **data)
    db.session.commit()
    return category


@blp.route("/menu/stations", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.response(200, schemas.StationList)
def list_stations():
    """The kitchen stations: every code set on a dish or named here, with the staff's name for it."""
    return {"stations": service.stations(current_actor().merchant_id)}


@blp.route("/menu/stations/<code>", methods=["PUT"])
@requires(Permission.MENU_MANAGE)
@blp.arguments(schemas.StationIn)
@blp.response(200, schemas.StationOut)
def set_station(data, code):
    """Name a kitchen station (e.g. `hot` → 热菜): kitchen displays and printed tickets show the name."""
    station = service.set_station(code, actor=current_actor(), **data)
    db.session.commit()
    return station


@blp.route("/menu/dishes", methods=["POST"])
@requires(Permission.MENU_MANAGE)
@blp.arguments(schemas.DishIn)
@blp.response(201, schemas.DishOut)
def create_dish(data):
    """Add a dish; `category` is the category's name, created if new."""
    dish = service.create_dish(actor=current_actor(), **data)
    db.session.commit()
    return dish


@blp.route("/menu/dishes/<id:dish_id>", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.response(200, schemas.DishOut)
def get_dish(dish_id):
    return get_scoped_or_404(Dish, dish_id)


@blp.route("/menu/dishes/<id:dish_id>", methods=["PATCH"])
@requires(Permission.MENU_MANAGE)
@blp.arguments(schemas.DishUpdate)
@blp.response(200, schemas.DishOut)
def update_dish(data, dish_id):
    """Change a dish (price changes are audited with the old and new price)."""
    dish = service.update_dish(get_scoped_or_404(Dish, dish_id), actor=current_actor(), **data)
    db.session.commit()
    return dish


@blp.route("/menu/dishes/<id:dish_id>/options", methods=["POST"])
@requires(Permission.MENU_MANAGE)
@blp.arguments(schemas.OptionGroupIn)
@blp.response(201, schemas.OptionGroupOut)
def add_option_group(data, dish_id):
    """Add an option group (e.g. 辣度 with 不辣/微辣/中辣/特辣) with its choices to a dish."""
    group = service.add_option_group(get_scoped_or_404(Dish, dish_id), actor=current_actor(), **data)
    db.session.commit()
    return group


@blp.route("/stores/<id:store_id>/sold-out", methods=["GET"])
@requires(Permission.MENU_READ, devices=True)
@blp.response(200, schemas.SoldOutList)
def list_sold_out(store_id):
    """The dishes a store cannot sell right now."""
    return {"store_id": store_id, "dish_ids": sorted(service.sold_out_dish_ids(store_id))}


@blp.route("/stores/<id:store_id>/sold-out/<id:dish_id>", methods=["PUT"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.SoldOutIn)
@blp.response(200, schemas.SoldOutOut)
def set_sold_out(data, store_id, dish_id):
    """Mark a dish sold out (沽清) at a store, or back in stock; it takes effect at once."""
    actor = current_actor()
    store = get_scoped_or_404(Store, store_id)
    if not actor.works_at(store.id):
        raise Forbidden(gettext("You can only change your own store."))
    availability = service.set_sold_out(store, get_scoped_or_404(Dish, dish_id), data["is_sold_out"], actor=actor,
                                        now=utcnow())
    db.session.commit()
    return availability


id_argument("category_id", Category)


@blp.route("/menu/categories/<id:category_id>", methods=["PATCH"])
@requires(Permission.MENU_MANAGE)
@blp.arguments(schemas.CategoryUpdate)
@blp.response(200, schemas.CategoryOut)
def update_category(data, category_id):
    """Rename a category or move it in the menu."""
    category = service.update_category(get_scoped_or_404(Category, category_id), actor=current_actor(), **data)
    db.session.commit()
    return category
