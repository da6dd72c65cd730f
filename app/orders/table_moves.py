"""转台 and 并台: a party moves to a free table with its open order, or one table's open order
joins another table's (its lines move over: one bill). The kitchen is not sent the dishes again;
its tickets take the new table code. Nothing here commits.

Locks in the code base's order (app/orders/access.py): both tables (by id), their open sessions,
the orders, and the store event counter last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.audit.service import record
from app.db import db
from app.errors import Conflict, NotFound
from app.events.models import EventKind
from app.events.service import append as append_event
from app.orders.access import lock_order, lock_table
from app.orders.cart import _lock_open_session, open_session
from app.orders.kitchen import refresh_subtotal
from app.orders.models import BillSplit, CartLine, KitchenTicket, Order, SplitStatus
from app.orders.state import ORDERS, SESSIONS, OrderEvent, OrderStatus, SessionEvent
from app.tables.models import DiningTable
from app.tables.service import move_table
from app.tables.state import TableEvent, TableState


def _target(source: DiningTable, target_id: int, actor: Actor) -> DiningTable:
    """The other table: of the same store (404 otherwise, as for a missing one), not the same."""
    target = db.session.scalar(sa.select(DiningTable).where(
        DiningTable.id == target_id, DiningTable.merchant_id == actor.merchant_id,
        DiningTable.store_id == source.store_id))
    if target is None or not target.is_active:
        raise NotFound("table")
    if target.id == source.id:
        raise Conflict(gettext("Choose another table."), error_code="same_table",
                       details={"table": source.code})
    return target


def _lock_pair(source: DiningTable, target: DiningTable) -> tuple[DiningTable, DiningTable]:
    locked = {t.id: lock_table(t) for t in sorted((source, target), key=lambda t: t.id)}
    return locked[source.id], locked[target.id]


# Who can tell that an order is being paid outside the orders package (a WeChat Pay trade still
# waiting): filled at app start (`app._register_subscribers`), since payments builds on orders and
# orders does not import payments.
PAYING_ELSEWHERE: list[Callable[[Sequence[int]], bool]] = []


def _open_orders(table: DiningTable, actor: Actor) -> list[Order]:
    ids = db.session.scalars(sa.select(Order.id).where(
        Order.table_id == table.id, Order.status == OrderStatus.OPEN).order_by(Order.id)).all()
    return [lock_order(order_id, actor) for order_id in ids]


def _refuse_billing(table: DiningTable, orders: list[Order]) -> None:
    """A bill pushed to the diners, split or being paid by WeChat stays where it is."""
    ids = [order.id for order in orders]
    busy = table.state is TableState.AWAITING_PAYMENT
    if ids and not busy:
        busy = db.session.scalar(sa.select(sa.func.count()).select_from(BillSplit).where(
            BillSplit.order_id.in_(ids), BillSplit.status == SplitStatus.OPEN)) > 0
        busy = busy or any(paying(ids) for paying in PAYING_ELSEWHERE)
    if busy:
        raise Conflict(gettext("Table %(code)s is paying its bill; it cannot move now.", code=table.code),
                       error_code="table_paying", details={"table": table.code})


def _retable(order: Order, table: DiningTable) -> None:
    order.table_id, order.table_code = table.id, table.code
    db.session.execute(sa.update(KitchenTicket).where(KitchenTicket.order_id == order.id)
                       .values(table_code=table.code))


def announce_table_change(source: DiningTable, target: DiningTable, action: str, order_ids: list[int]) -> None:
    """`table_changed` on the store event log: the tills redraw both tables."""
    append_event(source.merchant_id, source.store_id, EventKind.TABLE_CHANGED,
                 {"action": action, "from": source.code, "to": target.code, "from_table_id": source.id,
                  "to_table_id": target.id, "order_ids": order_ids},
                 order_id=order_ids[0] if order_ids else None)


def move_to_table(table: DiningTable, target_id: int, *, actor: Actor, now: datetime) -> Order:
    """转台: the table's open order (and its cart) to a free table of the same store."""
    target = _target(table, target_id, actor)
    source, target = _lock_pair(table, target)
    session = _lock_open_session(source)
    if _lock_open_session(target) is not None or target.state is not TableState.FREE:
        raise Conflict(gettext("Table %(code)s is not free.", code=target.code), error_code="table_not_free",
                       details={"table": target.code, "state": target.state.label})
    orders = _open_orders(source, actor)
    if not orders:
        raise Conflict(gettext("Table %(code)s has no open order.", code=source.code), error_code="no_open_order",
                       details={"table": source.code})
    _refuse_billing(source, orders)
    if db.session.scalar(sa.select(Order.id).where(Order.table_id == target.id, Order.status == OrderStatus.OPEN)
                         .limit(1)) is not None:
        raise Conflict(gettext("Table %(code)s is not free.", code=target.code), error_code="table_not_free",
                       details={"table": target.code, "state": "ordering"})
    for order in orders:
        _retable(order, target)
    if session is not None:
        session.table_id = target.id
    move_table(target, TableEvent.ORDER, now)
    move_table(source, TableEvent.CLEAR, now)
    db.session.flush()
    record("table.move", orders[-1], actor=actor, store_id=source.store_id, from_table=source.code,
           to_table=target.code, order_ids=[o.id for o in orders])
    announce_table_change(source, target, "move", [o.id for o in orders])
    return orders[-1]


def merge_into_table(table: DiningTable, target_id: int, *, actor: Actor, now: datetime) -> Order:
    """并台: the table's open orders join the other table's open order — their lines (sent or
    waiting for the waiter) and kitchen tickets move over, one bill; the emptied orders are
    voided and the table is free. The diners' cart follows to the other table."""
    target = _target(table, target_id, actor)
    source, target = _lock_pair(table, target)
    session = _lock_open_session(source)
    target_session = _lock_open_session(target)
    into = _open_orders(target, actor)
    if not into:
        raise Conflict(gettext("Table %(code)s has no open order.", code=target.code), error_code="no_open_order",
                       details={"table": target.code})
    joining = _open_orders(source, actor)
    if not joining:
        raise Conflict(gettext("Table %(code)s has no open order.", code=source.code), error_code="no_open_order",
                       details={"table": source.code})
    _refuse_billing(source, joining)
    _refuse_billing(target, into)
    order = into[-1]
    for other in [*into[:-1], *joining]:
        for line in list(other.lines):
            line.order_id = order.id
        db.session.execute(sa.update(KitchenTicket).where(KitchenTicket.order_id == other.id)
                           .values(order_id=order.id, table_code=target.code))
        other.status = ORDERS.next(other.status, OrderEvent.VOID)
        other.subtotal_cents = 0
    if session is not None:
        if session.cart:
            target_session = target_session or open_session(target, now)
            db.session.execute(sa.update(CartLine).where(CartLine.session_id == session.id)
                               .values(session_id=target_session.id))
        session.status = SESSIONS.next(session.status, SessionEvent.CLOSE)
        session.closed_at = now
    db.session.flush()
    db.session.expire(order, ["lines"])
    refresh_subtotal(order)
    if target.state is not TableState.ORDERING:
        move_table(target, TableEvent.ORDER, now)
    move_table(source, TableEvent.CLEAR, now)
    merged = [o.id for o in joining]
    record("table.merge", order, actor=actor, store_id=source.store_id, from_table=source.code,
           to_table=target.code, merged_order_ids=merged)
    announce_table_change(source, target, "merge", [order.id, *merged])
    return order
