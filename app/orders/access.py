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


def lock_order(order_id: int, actor: Actor) -> Order:
    """The order, locked until the transaction ends, with its lines and its store (every change
    reads them): one statement, only the order's row locked."""
    order = db.session.scalars(
        sa.select(Order).where(Order.id == order_id, Order.merchant_id == actor.merchant_id)
        .options(joinedload(Order.lines), joinedload(Order.store))
        .with_for_update(of=Order).execution_options(populate_existing=True)
    ).unique().one_or_none()
    if order is None:
        raise NotFound("order")
    return order


def find_order(order_id: int, actor: Actor) -> Order:
    """The order, read without a lock (previews and checks that change nothing)."""
    order = db.session.scalar(sa.select(Order).where(Order.id == order_id, Order.merchant_id == actor.merchant_id))
    if order is None:
        raise NotFound("order")
    return order


def require_open(order: Order) -> None:
    if order.status is not OrderStatus.OPEN:
        raise Conflict(gettext("This order is not open any more."), error_code="order_not_open",
                       details={"status": order.status.label})


def list_orders(actor: Actor, *, store_id: int | None, status: OrderStatus | None, limit: int) -> list[Order]:
    """The merchant's latest orders; a store-bound caller sees their own store's unless they name one."""
    query = sa.select(Order).where(Order.merchant_id == actor.merchant_id).order_by(Order.id.desc()).limit(limit)
    store_id = store_id or actor.store_id
    if store_id:
        query = query.where(Order.store_id == store_id)
    if status is not None:
        query = query.where(Order.status == status)
    return list(db.session.scalars(query))
