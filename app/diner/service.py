"""The diner's side of a table: the menu as a phone shows it, the table's cart and order with
their names, the waiter call, and the table's own live stream cut out of the store event log.

Everything here is scoped by one table (what its signed QR token names): nothing of another
table or merchant is read or sent. Nothing here commits.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask_babel import gettext
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from app.actor import Actor
from app.db import db
from app.errors import Conflict
from app.events import feed as feeds
from app.events.models import EventKind, StoreEventCounter
from app.events.service import append as append_event
from app.events.service import last_seq, sse_stream
from app.members.models import Member
from app.menu import service as menu
from app.menu import version as menu_version
from app.menu.models import Dish
from app.menu.search import dish_keys
from app.orders import rush
from app.orders.cart import cart_of
from app.orders.models import Order, OrderRush, SessionStatus, TableSession
from app.orders.state import LineStatus, OrderStatus
from app.tables.models import DiningTable
from tablerules import dish_search

# --- the menu -----------------------------------------------------------------------------------------


def search_keys(name: str, name_en: str = "") -> str:
    """What a search box matches a dish by: its name, its English name, the pinyin of its name
    run together and the pinyin initials ('红烧肉' → 'hongshaorou hsr'), all lower case — the
    same keys the till finds dishes by (`tablerules.dish_search`)."""
    return dish_search.search_text(name, name_en, dish_keys(name))


def member_price(price_cents: int, discount_percent: int, is_discountable: bool) -> int | None:
    """The member's unit price (tier discount floored to the fen as the bill does), or None when
    the member pays the list price for this dish."""
    if not is_discountable or not 0 < discount_percent <= 100:
        return None
    return price_cents - price_cents * discount_percent // 100


@dataclass
class MenuDish:
    id: int
    name: str
    name_en: str
    title: str  # the name in the page's language
    unit: str
    price_cents: int
    member_price_cents: int | None
    is_sold_out: bool
    photo: str
    search: str
    option_groups: list[dict] = field(default_factory=list)


def menu_for(table: DiningTable, member: Member | None, photo_url, english: bool = False) -> list[dict]:
    """The store's menu for a diner at `table`: sections of dishes with the member's price when
    the diner is a member, sold-out flags and the option groups. `photo_url(dish)` names a photo;
    `english` picks the English names where there are some."""
    discount = member.tier.discount_percent if member is not None else 0

    def title(name: str, name_en: str) -> str:
        return name_en if english and name_en else name

    sections = []
    for section in menu.store_menu(table.store):
        dishes = []
        for item in section.dishes:
            dish = item.dish
            dishes.append(MenuDish(
                dish.id, dish.name, dish.name_en, title(dish.name, dish.name_en), dish.unit, dish.price_cents,
                member_price(dish.price_cents, discount, dish.is_discountable), item.is_sold_out,
                photo_url(dish), search_keys(dish.name, dish.name_en),
                [{"id": group.id, "name": title(group.name, group.name_en), "required": group.is_required,
                  "max": group.max_choices,
                  "choices": [{"id": c.id, "name": title(c.name, c.name_en), "delta": c.price_delta_cents}
                              for c in group.choices]}
                 for group in dish.option_groups]))
        sections.append({"id": section.id, "title": title(section.name, section.name_en), "dishes": dishes})
    return sections


# The rendered dishes of a store, kept per process: (store, menu version, member discount, language)
# → RenderedMenu. The version moves with every change of the menu's rows (app.menu.version), so an
# entry is never stale: a change makes a new key, and the old entry ages out of the LRU.
TOKEN_MARK = "__table_token__"
_RENDERED: OrderedDict[tuple, RenderedMenu] = OrderedDict()
_RENDERED_LOCK = threading.Lock()
RENDERED_KEPT = 256


@dataclass(frozen=True)
class RenderedMenu:
    nav_html: str
    dishes_html: str
    dishes: list[dict]  # what the page's script needs of the dishes it can add
    dishes_json: str = field(init=False)  # the same as the page's script data (escaped as `tojson` does)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dishes_json", htmlsafe_json_dumps(self.dishes, dumps=_sorted_json))

    def for_token(self, token: str) -> tuple[Markup, Markup]:
        return Markup(self.nav_html), Markup(self.dishes_html.replace(TOKEN_MARK, token))


@dataclass(frozen=True)
class PageState:
    """What the menu page needs of the merchant and the store besides the table, read at once."""
    menu_version: tuple[int, str]  # as app.menu.version.current gives it
    has_wechat: bool  # the merchant has a WeChat account
    seq: int  # the store log's cursor


def page_state(table: DiningTable, has_wechat: sa.ColumnElement[bool]) -> PageState:
    """The menu version, whether the merchant has a WeChat account (the caller's condition, from
    `app.wechat.notify.has_account`) and the store log's cursor in one statement, read before the
    table's cart, as `table_view` needs the cursor."""
    seq = (sa.select(StoreEventCounter.last_seq).where(StoreEventCounter.store_id == table.store_id)
           .scalar_subquery())
    row = db.session.execute(menu_version.current_query(table.merchant_id).add_columns(has_wechat, seq)).one_or_none()
    if row is None:
        return PageState((0, ""), bool(db.session.scalar(sa.select(has_wechat))), last_seq(table.store_id))
    return PageState(menu_version.from_row(row), bool(row[2]), int(row[3] or 0))


def rendered_menu(table: DiningTable, member: Member | None, english: bool, render,
                  version: tuple[int, str] | None = None) -> RenderedMenu:
    """The store's dishes as the menu page shows them to this diner, rendered once per key.
    `render(sections)` gives (nav_html, dishes_html); photo links carry TOKEN_MARK for the token.
    `version`: the merchant's menu version, when the caller read it already."""
    discount = member.tier.discount_percent if member is not None else 0
    if version is None:
        version = menu_version.current(table.merchant_id)
    key = (table.store_id, version, discount, english)  # the version first
    with _RENDERED_LOCK:
        found = _RENDERED.get(key)
        if found is not None:
            _RENDERED.move_to_end(key)
            return found
    sections = menu_for(table, member, _marked_photo, english)
    nav_html, dishes_html = render(sections)
    made = RenderedMenu(nav_html, dishes_html, [
        {"id": d.id, "name": d.title, "price": d.price_cents, "member_price": d.member_price_cents,
         "groups": d.option_groups}
        for section in sections for d in section["dishes"] if not d.is_sold_out])
    with _RENDERED_LOCK:
        _RENDERED[key] = made
        while len(_RENDERED) > RENDERED_KEPT:
            _RENDERED.popitem(last=False)
    return made


def _sorted_json(value, **kwargs) -> str:
    return json.dumps(value, sort_keys=True, **kwargs)  # as the app's `tojson` writes it


def _marked_photo(dish) -> str:
    return dish.image_url or f"/t/{TOKEN_MARK}/photos/{dish.id}.svg"


def dish_of_table(table: DiningTable, dish_id: int) -> Dish | None:
    dish = db.session.get(Dish, dish_id)
    return dish if dish is not None and dish.merchant_id == table.merchant_id else None


_PALETTES = (("#f6d365", "#fda085"), ("#a1c4fd", "#c2e9fb"), ("#fbc2eb", "#a6c1ee"), ("#84fab0", "#8fd3f4"),
             ("#ffecd2", "#fcb69f"), ("#fddb92", "#d1fdff"), ("#e0c3fc", "#8ec5fc"), ("#f5576c", "#f093fb"),
             ("#43e97b", "#38f9d7"), ("#fa709a", "#fee140"))


def demo_photo_svg(dish: Dish) -> str:
    """A drawn photo for a dish without one: a plate on a coloured cloth with the dish's first
    characters, coloured by its name. Made here, so the demo needs no network."""
    digest = hashlib.sha256(dish.name.encode()).digest()
    light, dark = _PALETTES[digest[0] % len(_PALETTES)]
    label = escape(dish.name[:2] if len(dish.name) > 1 else dish.name)
    angle = digest[1] % 360
    return f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 240" width="240" height="240">
<defs><linearGradient id="g" gradientTransform="rotate({angle} .5 .5)"><stop offset="0" stop-color="{light}"/>
<stop offset="1" stop-color="{dark}"/></linearGradient>
<radialGradient id="p"><stop offset=".7" stop-color="#fff"/><stop offset="1" stop-color="#eee"/></radialGradient></defs>
<rect width="240" height="240" fill="url(#g)"/>
<circle cx="120" cy="124" r="92" fill="#000" opacity=".08"/>
<circle cx="120" cy="120" r="92" fill="url(#p)"/>
<circle cx="120" cy="120" r="66" fill="{dark}" opacity=".35"/>
<text x="120" y="138" font-size="48" text-anchor="middle" fill="#5a3210"
 font-family="'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif" font-weight="700">{label}</text>
</svg>"""


# --- the cart and the order, as the table's phones show them ------------------------------------------

LINE_STATES = {LineStatus.SUBMITTED: "submitted", LineStatus.CONFIRMED: "ordered", LineStatus.COOKING: "cooking",
               LineStatus.DONE: "served", LineStatus.CANCELLED: "cancelled"}


def open_session_of(table: DiningTable) -> TableSession | None:
    return db.session.scalar(sa.select(TableSession).where(TableSession.table_id == table.id,
                                                          TableSession.status == SessionStatus.OPEN))


def table_view(table: DiningTable, seen_order_id: int | None = None, seq: int | None = None) -> dict:
    """The table's shared cart (with each pick's options by name) and its open order's lines with
    their state: what every phone at the table shows. `seen_order_id`, the order the phone last
    showed, is shown again after the table's session closed (paid), if it is this table's.
    `seq` is the store log's cursor read before all this (here, unless the caller read it just
    before): the table's stream goes on from it."""
    if seq is None:
        seq = last_seq(table.store_id)
    cart = cart_of(table, option_names=True)
    cart["seq"] = seq
    if cart["order_id"] is None and seen_order_id is not None:
        cart["order_id"] = seen_order_id
    order = db.session.get(Order, cart["order_id"]) if cart["order_id"] else None
    ordered = []
    if order is not None and order.table_id == table.id and order.merchant_id == table.merchant_id:
        for line in order.lines:
            if line.status is LineStatus.CANCELLED:
                continue
            ordered.append({"id": line.id, "name": line.name, "name_en": line.name_en, "qty": line.qty,
                            "options": [o.get("name", "") if isinstance(o, dict) else str(o) for o in line.options],
                            "added_by": line.added_by, "state": LINE_STATES[line.status],
                            "amount_cents": line.unit_price_cents * line.qty})
    cart["order"] = None if order is None else {
        "id": order.id, "status": order.status.label, "lines": ordered,
        "subtotal_cents": sum(line["amount_cents"] for line in ordered)}
    cart["paid"] = order is not None and order.status is OrderStatus.PAID
    return cart


def call_waiter(table: DiningTable, *, diner: str, now: datetime) -> None:
    """A diner asks for the waiter: the staff screens show it from the store event log."""
    session = open_session_of(table)
    append_event(table.merchant_id, table.store_id, EventKind.WAITER_CALLED,
                 {"table_id": table.id, "table": table.code, "diner": diner, "at": now.isoformat()},
                 order_id=session.order_id if session is not None else None)


def rush_table(table: DiningTable, *, actor: Actor, every_minutes: float, now: datetime) -> OrderRush:
    """催菜 from the table's phone: the dishes of the table's order not served yet (409
    ``nothing_to_rush`` when the table has sent nothing)."""
    session = open_session_of(table)
    if session is None or session.order_id is None:
        raise Conflict(gettext("Nothing has been sent to the kitchen from this table yet."),
                       error_code="nothing_to_rush")
    return rush.rush_order(session.order_id, actor=actor, is_diner=True, every_minutes=every_minutes, now=now)


# --- the table's live stream ------------------------------------------------------------------------

_ORDER_KINDS = frozenset({EventKind.TICKET_NEW.label, EventKind.TICKET_CHANGED.label,
                          EventKind.TICKET_CANCELLED.label, EventKind.TICKET_BUMPED.label,
                          EventKind.TICKET_RECALLED.label, EventKind.ORDER_SUBMITTED.label,
                          EventKind.ORDER_PAID.label, EventKind.ORDER_REFUNDED.label,
                          EventKind.BILL_PUSHED.label, EventKind.BILL_SPLIT_CHANGED.label})


_VIEWS_LOCK = threading.Lock()


def _view_json(app, entry: feeds.Entry, table_id: int, seen_order_id: int | None) -> str:
    """The table's view as of `entry`, read once for all the table's phones in this process (the
    six phones a change wakes share one read, kept on the entry, and none of them asks the web
    process for `cart.json`); "{}" when it cannot be read now: the phone then reads it itself."""
    key = ("table_view", table_id, seen_order_id)
    with _VIEWS_LOCK:
        slot = entry.memo.setdefault(key, [threading.Lock(), None])
    with slot[0]:  # the table's other phones wait for the one read
        if slot[1] is None:
            slot[1] = _read_view(app, entry.seq, table_id, seen_order_id) or ""
        return slot[1] or "{}"


def _read_view(app, seq: int, table_id: int, seen_order_id: int | None) -> str | None:
    with app.app_context():
        try:
            table = db.session.get(DiningTable, table_id)
            if table is None:
                return None
            return json.dumps(table_view(table, seen_order_id, seq), ensure_ascii=False, separators=(",", ":"))
        except Exception:  # the stream goes on; the phone reads the view itself
            app.logger.warning("the view of table %s could not be read for its stream", table_id, exc_info=True)
            return None
        finally:
            db.session.remove()


class TableFilter:
    """Cuts one table's events out of the store's stream: "cart" and "order" carry the table's
    view as `cart.json` answers it (without the phone's own name), "waiter" nothing; each with
    the cursor. Nothing of another table, nor of the events' own payloads, goes out here."""

    def __init__(self, app, table_id: int, order_ids: set[int]) -> None:
        self.app, self.table_id, self.order_ids = app, table_id, set(order_ids)

    def __call__(self, entry: feeds.Entry) -> str | None:
        if entry.kind == EventKind.CART_CHANGED.label and entry.table_id == self.table_id:
            if entry.order_id is not None:
                self.order_ids.add(entry.order_id)
            return self._message(entry.seq, "cart", _view_json(self.app, entry, self.table_id, None))
        if entry.kind == EventKind.WAITER_CALLED.label and entry.table_id == self.table_id:
            return self._message(entry.seq, "waiter", "{}")
        if entry.order_id is not None and entry.order_id in self.order_ids and entry.kind in _ORDER_KINDS:
            # The order as of this event, also once the table's session has closed (paid).
            return self._message(entry.seq, "order", _view_json(self.app, entry, self.table_id, entry.order_id))
        return None

    @staticmethod
    def _message(seq: int, name: str, data: str) -> str:
        return f"id: {seq}\nevent: {name}\ndata: {data}\n\n"


def table_stream(app, table: DiningTable, cursor: int) -> Iterator[str]:
    """The table's live stream after `cursor` (a seq of the store log, as Last-Event-ID)."""
    orders = set(db.session.scalars(sa.select(Order.id).where(Order.table_id == table.id,
                                                             Order.status == OrderStatus.OPEN)))
    session = open_session_of(table)
    if session is not None and session.order_id:
        orders.add(session.order_id)
    return sse_stream(app, table.store_id, cursor, None, select=TableFilter(app, table.id, orders),
                      table_id=table.id)
