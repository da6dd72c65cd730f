"""催菜: the till or the diners at the table ask the kitchen to hurry an order's dishes not served
yet. Each rush is recorded (who, when, the order's how-many-th) and announced as
``order_rushed`` with a short slip the agent prints once at each kitchen printer concerned; the
kitchen display lifts the order's tickets to the top. An order is rushed at most once per
``every_minutes`` (the till's and the diners' together). Nothing here commits."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.db import db
from app.errors import APIError, Conflict
from app.events.models import EventKind
from app.events.service import append as append_event
from app.orders.access import lock_order
from app.orders.documents import rush_slip
from app.orders.models import KitchenTicket, Order, OrderRush
from app.orders.state import LineStatus, OrderStatus, TicketStatus
from tablerules.kitchen import rush_wait_seconds

TO_COOK = (LineStatus.CONFIRMED, LineStatus.COOKING)


def unserved_tickets(order: Order) -> list[KitchenTicket]:
    """The order's open tickets with a dish still to cook (not all of it refunded)."""
    ticket_ids = {line.ticket_id for line in order.lines
                  if line.status in TO_COOK and line.ticket_id is not None and line.qty > line.refunded_qty}
    if not ticket_ids:
        return []
    return list(db.session.scalars(sa.select(KitchenTicket).where(
        KitchenTicket.id.in_(ticket_ids), KitchenTicket.status == TicketStatus.OPEN).order_by(KitchenTicket.id)))


def rush_order(order_id: int, *, actor: Actor, is_diner: bool, every_minutes: float, now: datetime) -> OrderRush:
    """Rush the order's unserved dishes (409 ``nothing_to_rush`` when every dish is served or
    cancelled, 429 ``rush_too_soon`` within `every_minutes` of the last rush)."""
    order = lock_order(order_id, actor)
    if order.status not in (OrderStatus.OPEN, OrderStatus.PAID):
        raise Conflict(gettext("This order is not open any more."), error_code="order_not_open",
                       details={"status": order.status.label})
    tickets = unserved_tickets(order)
    if not tickets:
        raise Conflict(gettext("Every dish of this order is served already."), error_code="nothing_to_rush",
                       details={"order_id": order.id})
    last = db.session.scalars(sa.select(OrderRush).where(OrderRush.order_id == order.id)
                              .order_by(OrderRush.rush_no.desc()).limit(1)).one_or_none()
    wait = rush_wait_seconds(last.rushed_at if last else None, now, every_minutes)
    if wait:
        raise APIError(gettext("The kitchen was asked to hurry a moment ago; please wait %(seconds)s s.",
                               seconds=wait),
                       status=429, error_code="rush_too_soon", details={"retry_after_s": wait})
    rush = OrderRush(merchant_id=order.merchant_id, store_id=order.store_id, order_id=order.id,
                     rush_no=(last.rush_no if last else 0) + 1, rushed_by=actor.name[:60], is_diner=is_diner,
                     staff_id=actor.staff_id, rushed_at=now)
    db.session.add(rush)
    db.session.flush()
    append_event(order.merchant_id, order.store_id, EventKind.ORDER_RUSHED,
                 rush_slip(order, rush, tickets).to_dict(), order_id=order.id)
    return rush


def rush_json(rush: OrderRush) -> dict:
    return {"order_id": rush.order_id, "rush_no": rush.rush_no, "rushed_at": rush.rushed_at.isoformat(),
            "rushed_by": rush.rushed_by}


def recent_rushes(store_id: int, order_ids: set[int]) -> dict[int, dict]:
    """The last rush of each of these orders (the kitchen display's 催 after a reload)."""
    if not order_ids:
        return {}
    found: dict[int, dict] = {}
    for rush in db.session.scalars(sa.select(OrderRush).where(
            OrderRush.store_id == store_id, OrderRush.order_id.in_(order_ids)).order_by(OrderRush.rush_no)):
        found[rush.order_id] = rush_json(rush)
    return found
