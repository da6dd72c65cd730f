"""The table's shared cart: every phone at the table and the cashier edit one cart (a table
session), and sending it turns the picks into lines of the table's order. Nothing here commits."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.db import db, insert_unique
from app.errors import Conflict, NotFound, Unprocessable
from app.events.models import EventKind
from app.events.service import append as append_event
from app.menu import service as menu
from app.menu.models import Dish
from app.orders.access import lock_order, lock_table
from app.orders.kitchen import (
    ItemRequest,
    add_lines,
    announce_submitted,
    confirm_lines,
    dish_for_sale,
    refresh_subtotal,
)
from app.orders.models import CartLine, Order, SessionStatus, TableSession
from app.orders.state import SESSIONS, OrderStatus, SessionEvent
from app.tables.models import DiningTable
from app.tables.service import move_table
from app.tables.state import TableEvent, TableState
from app.tenants.models import Store


def _open_query(table: DiningTable) -> sa.Select:
    return sa.select(TableSession).where(TableSession.table_id == table.id, TableSession.status == SessionStatus.OPEN)


def _lock_open_session(table: DiningTable) -> TableSession | None:
    """The table's open session, locked until commit (see app/orders/access.py for the order of
    locks). A session closed while we waited is not returned: its WHERE is checked again."""
    session = db.session.scalars(_open_query(table).with_for_update(key_share=True)
                                 .execution_options(populate_existing=True)).one_or_none()
    if session is not None:
        db.session.expire(session, ["cart"])
    return session


def open_session(table: DiningTable, now: datetime | None = None) -> TableSession:
    """The table's open session, locked, opened on first use (a racing twin simply finds it)."""
    session = _lock_open_session(table)
    if session is None:
        session = TableSession(merchant_id=table.merchant_id, store_id=table.store_id, table_id=table.id,
                               **({"opened_at": now} if now is not None else {}))
        if not insert_unique(session):
            session = _lock_open_session(table)
            if session is None:
                raise Conflict(gettext("The table changed just now; please try again."), error_code="cart_changed")
    return session


def close_session(order: Order, now: datetime) -> None:
    """The party paid: the table's session of `order` closes (the next party starts a new cart)."""
    session = db.session.scalar(sa.select(TableSession).where(TableSession.order_id == order.id,
                                                               TableSession.status == SessionStatus.OPEN))
    if session is not None:
        session.status = SESSIONS.next(session.status, SessionEvent.CLOSE)
        session.closed_at = now


def cart_json(session: TableSession | None, table: DiningTable, *, option_names: bool = False) -> dict:
    """The cart as every phone and the till see it; a table nobody has ordered at yet has an
    empty one (no session is opened just to look). `option_names`: each line also names its
    options (`options`), as the phones show them."""
    cart = session.cart if session is not None else []
    dishes = {d.id: d for d in db.session.scalars(sa.select(Dish).where(
        Dish.id.in_([line.dish_id for line in cart])).options(menu.WITH_OPTIONS))} if cart else {}
    lines = []
    for line in cart:
        dish = dishes[line.dish_id]
        unit = menu.unit_price(dish, line.option_ids)
        lines.append({"id": line.id, "dish_id": line.dish_id, "name": dish.name, "name_en": dish.name_en,
                      "qty": line.qty, "option_ids": line.option_ids, "note": line.note,
                      "added_by": line.added_by, "unit_price_cents": unit, "amount_cents": unit * line.qty,
                      "version": line.version})
        if option_names:
            names = {choice.id: choice.name for group in dish.option_groups for choice in group.choices}
            lines[-1]["options"] = [names.get(choice_id, "") for choice_id in line.option_ids]
    return {"session_id": session.id if session else None, "table_id": table.id,
            "version": session.version if session else 0, "order_id": session.order_id if session else None,
            "lines": lines, "total_cents": sum(line["amount_cents"] for line in lines)}


def cart_of(table: DiningTable, *, option_names: bool = False) -> dict:
    """The table's cart, read only."""
    return cart_json(db.session.scalar(_open_query(table)), table, option_names=option_names)


def _bump_version(session: TableSession) -> None:
    db.session.execute(sa.update(TableSession).where(TableSession.id == session.id)
                       .values(version=TableSession.version + 1))
    db.session.expire(session, ["version"])


def _announce(session: TableSession) -> None:
    append_event(session.merchant_id, session.store_id, EventKind.CART_CHANGED,
                 {"table_id": session.table_id, "session_id": session.id}, order_id=session.order_id)


def add_to_cart(table: DiningTable, item: ItemRequest, *, added_by: str, actor: Actor, now: datetime) -> CartLine:
    """Add a pick to the shared cart. Adds never conflict: two phones adding at once both land."""
    dish = dish_for_sale(table.store_id, item.dish_id, actor.merchant_id)
    menu.unit_price(dish, item.option_ids)  # refuse bad options now, not at send
    session = open_session(table, now)
    line = CartLine(merchant_id=table.merchant_id, session_id=session.id, dish_id=item.dish_id, qty=item.qty,
                    option_ids=list(item.option_ids), note=item.note, added_by=added_by)
    db.session.add(line)
    db.session.flush()
    _bump_version(session)
    _announce(session)
    return line


def change_cart_line(table: DiningTable, line_id: int, *, qty: int, expected_version: int, actor: Actor,
                     now: datetime) -> None:
    """Change or remove (qty 0) a line; a stale `expected_version` answers 409 so the phone reloads."""
    session = _lock_open_session(table)  # before the line: a send locks the session, then deletes lines
    if session is None:
        raise NotFound("cart_line")
    result = db.session.execute(
        (sa.delete(CartLine) if qty == 0 else sa.update(CartLine).values(qty=qty, version=CartLine.version + 1))
        .where(CartLine.id == line_id, CartLine.session_id == session.id, CartLine.version == expected_version)
    )
    if result.rowcount != 1:
        exists = db.session.scalar(sa.select(CartLine.id).where(CartLine.id == line_id,
                                                                CartLine.session_id == session.id))
        if exists is None:
            raise NotFound("cart_line")
        raise Conflict(gettext("Someone at the table changed this dish just now; please look again."),
                       error_code="cart_changed")
    db.session.expire(session, ["cart"])
    _bump_version(session)
    _announce(session)


def send_cart(table: DiningTable, *, actor: Actor, now: datetime) -> Order:
    """Turn the cart into order lines on the table's order (created on the first send). A diner's
    send waits for the waiter when the store asks for confirmation; staff sends go straight on.

    Locks in the code base's order (app/orders/access.py): the table, its session, the order,
    and the store event counter last (the events are written at commit)."""
    lock_table(table)
    session = _lock_open_session(table)
    if session is None or not session.cart:
        raise Unprocessable(gettext("The cart is empty."), error_code="cart_empty")
    store = db.session.get(Store, table.store_id)
    order = lock_order(session.order_id, actor) if session.order_id else None
    if order is None or order.status is not OrderStatus.OPEN:
        order = Order(merchant_id=table.merchant_id, store_id=table.store_id, table_id=table.id,
                      table_code=table.code, status=OrderStatus.OPEN)
        db.session.add(order)
        db.session.flush()
        session.order_id = order.id
    picked = list(session.cart)
    lines = add_lines(order, [(ItemRequest(line.dish_id, line.qty, tuple(line.option_ids), line.note), line.added_by)
                              for line in picked])
    for line in picked:
        db.session.delete(line)
    db.session.flush()
    db.session.expire(session, ["cart"])
    _bump_version(session)
    by_staff = actor.staff_id is not None or actor.device_id is not None
    if by_staff or not store.is_waiter_confirm:
        confirm_lines(order, lines, now=now)  # moves the locked table, then appends the tickets' events
    else:
        if table.state is not TableState.ORDERING:
            move_table(table, TableEvent.ORDER, now)
        announce_submitted(order, lines)
    refresh_subtotal(order)
    _announce(session)
    return order
