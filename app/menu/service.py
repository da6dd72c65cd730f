"""Menu operations: categories, dishes, options and sold-out flags, each change audited."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext
from sqlalchemy.orm import contains_eager, selectinload

from app.actor import Actor
from app.audit.service import record
from app.db import db, insert_unique
from app.errors import Conflict, Unprocessable
from app.menu.models import Category, Dish, DishAvailability, OptionChoice, OptionGroup, Station
from app.tenants.models import Store
from tablerules import menu as rules

_OPTION_MESSAGES = {
    rules.OPTION_REQUIRED: lazy_gettext("Please choose %(group)s."),
    rules.TOO_MANY_OPTIONS: lazy_gettext("Choose at most %(max_choices)s for %(group)s."),
    rules.UNKNOWN_OPTION: lazy_gettext("This option is not offered for the dish."),
    rules.DUPLICATE_OPTION: lazy_gettext("An option was chosen twice."),
}


# --- categories ------------------------------------------------------------------------------

def create_category(*, actor: Actor, name: str, name_en: str = "", sort_order: int | None = None) -> Category:
    merchant_id = actor.merchant_id
    category = Category(merchant_id=merchant_id, name=name, name_en=name_en,
                        sort_order=_next_sort_order(merchant_id) if sort_order is None else sort_order)
    if not insert_unique(category):
        raise Conflict(gettext("A category with this name already exists."), error_code="category_exists")
    record("category.create", category, actor=actor, name=name)
    return category


def category_by_name(name: str, *, actor: Actor) -> Category:
    """The actor's merchant's category of this name, created (last in the menu) if it is new."""
    merchant_id = actor.merchant_id
    query = sa.select(Category).where(Category.merchant_id == merchant_id, Category.name == name)
    category = db.session.scalar(query)
    if category is not None:
        return category
    category = Category(merchant_id=merchant_id, name=name, sort_order=_next_sort_order(merchant_id))
    if insert_unique(category):
        record("category.create", category, actor=actor, name=name)
        return category
    return db.session.scalars(query).one()  # created by a concurrent request a moment ago


def update_category(category: Category, *, actor: Actor, **changes: Any) -> Category:
    """Rename a category or move it in the menu; audited with what changed."""
    if changes.get("name", category.name) != category.name:
        taken = db.session.scalar(sa.select(Category.id).where(Category.merchant_id == category.merchant_id,
                                                               Category.name == changes["name"]))
        if taken is not None:
            raise Conflict(gettext("A category with this name already exists."), error_code="category_exists")
    audit = {key: [getattr(category, key), value] for key, value in changes.items()
             if getattr(category, key) != value}
    for key, value in changes.items():
        setattr(category, key, value)
    if audit:
        record("category.update", category, actor=actor, changes=audit)
    return category


def _next_sort_order(merchant_id: int) -> int:
    highest = db.session.scalar(sa.select(sa.func.max(Category.sort_order)).where(Category.merchant_id == merchant_id))
    return (highest or 0) + 1


# --- kitchen stations ------------------------------------------------------------------------

STATION_CODE = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


def station_names(merchant_id: int) -> dict[str, str]:
    """code -> the staff's name for it, for the stations that have one."""
    rows = db.session.execute(sa.select(Station.code, Station.name).where(Station.merchant_id == merchant_id))
    return dict(rows.all())


@dataclass(frozen=True)
class StationView:
    """A station code as the API and the pages show it: its names (none set: the code), its
    place in the list and how many dishes it cooks."""

    code: str
    name: str
    name_en: str
    sort_order: int
    is_named: bool
    dishes: int


def stations(merchant_id: int) -> list[StationView]:
    """Every station of the merchant: the named ones (in their order), then the codes used by
    dishes that have no name yet (shown as the code)."""
    named = db.session.scalars(sa.select(Station).where(Station.merchant_id == merchant_id)
                               .order_by(Station.sort_order, Station.id)).all()
    used = dict(db.session.execute(sa.select(Dish.station, sa.func.count()).where(
        Dish.merchant_id == merchant_id).group_by(Dish.station)).all())
    found = [StationView(s.code, s.name, s.name_en, s.sort_order, True, used.get(s.code, 0)) for s in named]
    known = {s.code for s in named}
    found += [StationView(code, code, "", 0, False, count) for code, count in sorted(used.items()) if code not in known]
    return found


def set_station(code: str, *, actor: Actor, name: str, name_en: str = "", sort_order: int | None = None
                ) -> StationView:
    """Name the station `code` (created on first use, renamed after), audited. Without a
    `sort_order`, a new station goes last and a named one keeps its place."""
    if not STATION_CODE.match(code):
        raise Unprocessable(gettext("A station code is lower-case letters, digits and _."),
                            error_code="bad_station_code", details={"fields": {"code": ["Not a station code."]}})
    merchant_id = actor.merchant_id
    query = sa.select(Station).where(Station.merchant_id == merchant_id, Station.code == code).with_for_update()
    station = db.session.scalar(query)
    if station is None:
        if sort_order is None:
            highest = db.session.scalar(sa.select(sa.func.max(Station.sort_order)).where(
                Station.merchant_id == merchant_id))
            sort_order = (highest or 0) + 1
        station = Station(merchant_id=merchant_id, code=code, name=name, name_en=name_en, sort_order=sort_order)
        if insert_unique(station):
            record("station.create", station, actor=actor, code=code, name=name, name_en=name_en)
            return _station_view(station)
        station = db.session.scalars(query).one()  # named by a concurrent request a moment ago: rename that one
    changes = {"name": name, "name_en": name_en, "sort_order": station.sort_order if sort_order is None else sort_order}
    audit = {key: [getattr(station, key), value] for key, value in changes.items() if getattr(station, key) != value}
    for key, value in changes.items():
        setattr(station, key, value)
    db.session.flush()
    if audit:
        record("station.update", station, actor=actor, code=code, changes=audit)
    return _station_view(station)


def _station_view(station: Station) -> StationView:
    dishes = db.session.scalar(sa.select(sa.func.count()).select_from(Dish).where(
        Dish.merchant_id == station.merchant_id, Dish.station == station.code)) or 0
    return StationView(station.code, station.name, station.name_en, station.sort_order, True, dishes)


# --- dishes ----------------------------------------------------------------------------------

_DISH_FIELDS = ("name", "name_en", "price_cents", "unit", "is_discountable", "station", "image_url",
                "sort_order", "is_active")


def create_dish(*, actor: Actor, name: str, price_cents: int, category: str, **fields: Any) -> Dish:
    """A new dish; `category` is a category name, created if new (API.md)."""
    dish = Dish(merchant_id=actor.merchant_id, name=name, price_cents=price_cents,
                category=category_by_name(category, actor=actor),
                **{key: value for key, value in fields.items() if key in _DISH_FIELDS})
    if not insert_unique(dish):
        raise _dish_exists()
    record("dish.create", dish, actor=actor, name=name, price_cents=price_cents, category=dish.category.name)
    return dish


def update_dish(dish: Dish, *, actor: Actor, **changes: Any) -> Dish:
    """Change a dish. A price change is audited on its own, with the old and new price."""
    if changes.get("name", dish.name) != dish.name:
        taken = db.session.scalar(sa.select(Dish.id).where(Dish.merchant_id == dish.merchant_id,
                                                           Dish.name == changes["name"]))
        if taken is not None:
            raise _dish_exists()
    audit: dict[str, list] = {}
    if "category" in changes:
        category = category_by_name(changes.pop("category"), actor=actor)
        if category.id != dish.category_id:
            audit["category"] = [dish.category.name, category.name]
            dish.category = category
    old_price = dish.price_cents
    for key, value in changes.items():
        if getattr(dish, key) != value:
            audit[key] = [getattr(dish, key), value]
            setattr(dish, key, value)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError:
        raise _dish_exists() from None
    if audit.pop("price_cents", None) is not None:
        record("dish.price_change", dish, actor=actor, old_price_cents=old_price, new_price_cents=dish.price_cents)
    if audit:
        record("dish.update", dish, actor=actor, changes=audit)
    return dish


def _dish_exists() -> Conflict:
    return Conflict(gettext("A dish with this name already exists."), error_code="dish_exists")


def add_option_group(dish: Dish, *, actor: Actor, name: str, choices: list[dict], name_en: str = "",
                     is_required: bool = False, max_choices: int = 1) -> OptionGroup:
    if any(group.name == name for group in dish.option_groups):
        raise _option_group_exists()
    # By id, not through dish.option_groups: the savepoint below must not flush a half-added group.
    group = OptionGroup(merchant_id=dish.merchant_id, dish_id=dish.id, name=name, name_en=name_en,
                        is_required=is_required, max_choices=max_choices,
                        sort_order=1 + max((group.sort_order for group in dish.option_groups), default=0),
                        choices=[OptionChoice(merchant_id=dish.merchant_id, sort_order=position, **choice)
                                 for position, choice in enumerate(choices, start=1)])
    if not insert_unique(group):
        raise _option_group_exists()
    db.session.expire(dish, ["option_groups"])
    record("dish.option_group_add", dish, actor=actor, group=name, choices=[choice["name"] for choice in choices])
    return group


def _option_group_exists() -> Conflict:
    return Conflict(gettext("This dish already has an option group with this name."),
                    error_code="option_group_exists")


# --- pricing a line --------------------------------------------------------------------------

def option_rules(dish: Dish) -> tuple[rules.OptionGroup, ...]:
    return tuple(
        rules.OptionGroup(id=group.id, name=group.name, is_required=group.is_required,
                          max_choices=group.max_choices,
                          choices=tuple(rules.OptionChoice(c.id, c.name, c.price_delta_cents) for c in group.choices))
        for group in dish.option_groups
    )


def unit_price(dish: Dish, choice_ids: Iterable[int]) -> int:
    """The unit price of a line of `dish` with these options; 422 with the rule's code if they do not fit."""
    try:
        return rules.line_price(dish.price_cents, choice_ids, groups=option_rules(dish))
    except rules.OptionError as error:
        raise option_error(error) from None


def option_error(error: rules.OptionError) -> Unprocessable:
    message = _OPTION_MESSAGES[error.code] % {"group": error.details.get("group", ""),
                                               "max_choices": error.details.get("max_choices", "")}
    return Unprocessable(message, error_code=error.code, details=error.details)


# --- sold out per store ------------------------------------------------------------------------

def set_sold_out(store: Store, dish: Dish, is_sold_out: bool, *, actor: Actor, now: datetime) -> DishAvailability:
    """Mark a dish sold out (沽清) or back in stock at one store; orders see it at once."""
    query = sa.select(DishAvailability).where(DishAvailability.store_id == store.id,
                                              DishAvailability.dish_id == dish.id)
    row = db.session.scalar(query)
    if row is None:  # no row means available
        row = DishAvailability(merchant_id=store.merchant_id, store_id=store.id, dish_id=dish.id, is_sold_out=False)
        if not insert_unique(row):
            row = db.session.scalars(query).one()
    if row.is_sold_out != is_sold_out:
        record("dish.sold_out" if is_sold_out else "dish.back_in_stock", dish, actor=actor, store_id=store.id)
    row.is_sold_out = is_sold_out
    row.updated_at = now
    db.session.flush()
    return row


def sold_out_dish_ids(store_id: int) -> set[int]:
    return set(db.session.scalars(sa.select(DishAvailability.dish_id).where(
        DishAvailability.store_id == store_id, DishAvailability.is_sold_out.is_(True))))


# --- the menu as a store sells it --------------------------------------------------------------

@dataclass(frozen=True)
class StoreDish:
    """A dish with its availability at one store; reads every other attribute from the dish."""

    dish: Dish
    is_sold_out: bool

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dish, name)


@dataclass(frozen=True)
class MenuSection:
    id: int
    name: str
    name_en: str
    sort_order: int
    dishes: list[StoreDish]


# Loads the option groups and their choices of the dishes a query selects (two statements
# whatever the number of dishes), for what prices lines with options.
WITH_OPTIONS = selectinload(Dish.option_groups).selectinload(OptionGroup.choices)


def store_menu(store: Store, *, include_inactive: bool = False) -> list[MenuSection]:
    """The categories (those with dishes) of the merchant's menu, with the store's sold-out flags."""
    query = (sa.select(Dish).join(Dish.category).where(Dish.merchant_id == store.merchant_id)
             .options(contains_eager(Dish.category), WITH_OPTIONS)
             .order_by(Category.sort_order, Category.id, Dish.sort_order, Dish.id))
    if not include_inactive:
        query = query.where(Dish.is_active.is_(True))
    sold_out = sold_out_dish_ids(store.id)
    sections: dict[int, MenuSection] = {}
    for dish in db.session.scalars(query):
        category = dish.category
        if category.id not in sections:
            sections[category.id] = MenuSection(category.id, category.name, category.name_en, category.sort_order, [])
        sections[category.id].dishes.append(StoreDish(dish, dish.id in sold_out))
    return list(sections.values())
