"""Menu operations: categories, dishes, options and sold-out flags, each change audited."""

from __future__ import annotations

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
from app.menu.models import Category, Dish, DishAvailability, KitchenStation, OptionChoice, OptionGroup
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


def is_sold_out(store_id: int, dish_id: int) -> bool:
    return bool(db.session.scalar(sa.select(DishAvailability.is_sold_out).where(
        DishAvailability.store_id == store_id, DishAvailability.dish_id == dish_id)))


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


def store_menu(store: Store, *, include_inactive: bool = False) -> list[MenuSection]:
    """The categories (those with dishes) of the merchant's menu, with the store's sold-out flags."""
    query = (sa.select(Dish).join(Dish.category).where(Dish.merchant_id == store.merchant_id)
             .options(contains_eager(Dish.category),
                      selectinload(Dish.option_groups).selectinload(OptionGroup.choices))
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


# --- kitchen stations ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Station:
    """A station code as the pages show it: its display names (none set: the code) and how many
    dishes it cooks."""

    code: str
    name: str
    name_en: str
    dishes: int
    is_named: bool


def stations(merchant_id: int) -> list[Station]:
    """Every station the merchant named or a dish uses, named ones first by their order."""
    named = {s.code: s for s in db.session.scalars(sa.select(KitchenStation).where(
        KitchenStation.merchant_id == merchant_id).order_by(KitchenStation.sort_order, KitchenStation.id))}
    used = dict(db.session.execute(sa.select(Dish.station, sa.func.count()).where(
        Dish.merchant_id == merchant_id).group_by(Dish.station)).all())
    rows = [Station(code, row.name, row.name_en, used.get(code, 0), True) for code, row in named.items()]
    rows += [Station(code, code, "", count, False) for code, count in sorted(used.items()) if code not in named]
    return rows


def station_names(merchant_id: int) -> dict[str, KitchenStation]:
    return {s.code: s for s in db.session.scalars(sa.select(KitchenStation).where(
        KitchenStation.merchant_id == merchant_id))}


def save_station(*, actor: Actor, code: str, name: str, name_en: str = "", sort_order: int | None = None
                 ) -> KitchenStation:
    """Give a station code its display names (a new code is a new station); audited."""
    merchant_id = actor.merchant_id
    query = sa.select(KitchenStation).where(KitchenStation.merchant_id == merchant_id, KitchenStation.code == code)
    station = db.session.scalar(query)
    if station is None:
        if sort_order is None:
            highest = db.session.scalar(sa.select(sa.func.max(KitchenStation.sort_order)).where(
                KitchenStation.merchant_id == merchant_id))
            sort_order = (highest or 0) + 1
        station = KitchenStation(merchant_id=merchant_id, code=code, name=name, name_en=name_en,
                                 sort_order=sort_order)
        if not insert_unique(station):
            station = db.session.scalars(query).one()  # named by a concurrent request a moment ago
        else:
            record("station.create", station, actor=actor, code=code, name=name)
            return station
    changes = {"name": name, "name_en": name_en, **({"sort_order": sort_order} if sort_order is not None else {})}
    audit = {key: [getattr(station, key), value] for key, value in changes.items() if getattr(station, key) != value}
    for key, value in changes.items():
        setattr(station, key, value)
    if audit:
        record("station.update", station, actor=actor, code=code, changes=audit)
    return station
