"""Finding an order of the acting merchant — read, or locked for a change — and the guard every
change of an open order starts with."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import joinedload

from app.actor import Actor
from app.db import db
from app.errors import Conflict, NotFound
from app.orders.models import Order
from app.orders.state import OrderStatus
from app.tables.models import DiningTable

# The order of row locks, for the whole code base. A transaction takes the rows it changes in
# this order and never goes back to an earlier kind, so two transactions cannot each hold a row
# the other waits for (on PostgreSQL that would be a deadlock, answered 500):
#
#   1. a payment intent (a paid trade marks its intent, then settles the order); refund rows
#      are locked only in transactions of their own
#   2. the dining table (`lock_table`; `lock_order` takes it for an order at a table)
#   3. the table's session (app/orders/cart.py), then its cart lines
#   4. the order (`lock_order`), its lines and kitchen tickets
#   5. the member (settlement, ledger), then their coupons in id order
#   6. the store event counter — always last: appended events are written at commit, as the
#      transaction's last statement (app/events/service.py)
#
# Settlement closes the table's session after locking the order; that is safe because it holds
# the table, and the only transactions that take a session without its table (cart adds and
# changes) take nothing after it but the event counter. Table and session are locked FOR NO
# KEY UPDATE, so inserting rows that refer to them (orders, cart lines) is never blocked.


def lock_table(table: DiningTable) -> DiningTable:
    """The table, locked until the transaction ends and read afresh (its state may have moved)."""
    return db.session.scalars(sa.select(DiningTable).where(DiningTable.id == table.id)
                              .with_for_update(key_share=True).execution_options(populate_existing=True)).one()


# The merchant's order with its lines and its store, in one statement built once (every read
# and change of an order runs it).
_FIND_ORDER = (sa.select(Order)
               .where(Order.id == sa.bindparam("order_id"), Order.merchant_id == sa.bindparam("merchant_id"))
               .options(joinedload(Order.lines), joinedload(Order.store)))
# The same, the order's row locked — after its table's, when it has one (the sub-select in WHERE
# takes the table's lock before the order row itself is locked).
_LOCK_ORDER = (
    _FIND_ORDER.where(sa.or_(Order.table_id.is_(None),
                             sa.select(DiningTable.id).where(DiningTable.id == Order.table_id)
                             .with_for_update(key_share=True).correlate(Order).exists()))
    .with_for_update(of=Order).execution_options(populate_existing=True))


def lock_order(order_id: int, actor: Actor) -> Order:
    """The order, locked until the transaction ends, with its lines and its store (every change
    reads them)."""
    return _the_order(_LOCK_ORDER, order_id, actor)


def find_order(order_id: int, actor: Actor) -> Order:
    """The order with its lines and store, read without a lock (the bill preview and the checks
    before a payment provider is asked: they price the lines with the store's rounding)."""
    return _the_order(_FIND_ORDER, order_id, actor)


def _the_order(statement: sa.Select, order_id: int, actor: Actor) -> Order:
    order = db.session.scalars(statement, {"order_id": order_id, "merchant_id": actor.merchant_id}
                               ).unique().one_or_none()
    if order is None:
        raise NotFound("order")
    return order


def require_open(order: Order) -> None:
    if order.status is not OrderStatus.OPEN:
        raise Conflict(gettext("This order is not open any more."), error_code="order_not_open",
                       details={"status": order.status.label})


def list_orders(actor: Actor, *, store_id: int | None, status: OrderStatus | None, limit: int,
                client_order_id: str | None = None, before_id: int | None = None) -> list[Order]:
    """The merchant's latest orders; a store-bound caller sees their own store's unless they name one.
    `client_order_id` finds an order made at a till through the on-site agent."""
    query = sa.select(Order).where(Order.merchant_id == actor.merchant_id).order_by(Order.id.desc()).limit(limit)
    store_id = store_id or actor.store_id
    if store_id:
        query = query.where(Order.store_id == store_id)
    if client_order_id is not None:
        query = query.where(Order.client_order_id == client_order_id)
    if status is not None:
        query = query.where(Order.status == status)
    if before_id is not None:
        query = query.where(Order.id < before_id)
    return list(db.session.scalars(query))
