"""Orders and the kitchen: dishes onto an order, confirmed into kitchen tickets (one per station),
voided with a reason, bumped and recalled by the kitchen. Every step is announced on the store
event log in the caller's transaction; nothing here commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm.attributes import set_committed_value

from app.actor import Actor
from app.audit.service import record
from app.db import db
from app.errors import Conflict, NotFound, Unprocessable
from app.events.models import EventKind
from app.events.service import NewEvent
from app.events.service import append as append_event
from app.events.service import append_all as append_events
from app.menu import service as menu
from app.menu.models import Dish, DishAvailability
from app.orders.access import lock_order, require_open
from app.orders.documents import billable_lines, changed_ticket, line_json, ticket_json
from app.orders.models import KitchenTicket, Order, OrderLine
from app.orders.state import LINES, TICKETS, LineEvent, LineStatus, OrderStatus, TicketEvent, TicketStatus
from app.tables.models import DiningTable
from app.tables.service import move_table
from app.tables.state import TableEvent
from app.tenants.models import Store
from tablerules.menu import OptionError, choose_options
from tablerules.state import IllegalTransition


@dataclass(frozen=True)
class ItemRequest:
    dish_id: int
    qty: int
    option_ids: tuple[int, ...] = ()
    note: str = ""
    # The unit price a till showed while its agent was offline: honoured when the sale syncs.
    till_unit_price_cents: int | None = None


# --- dishes onto an order --------------------------------------------------------------------

def dish_for_sale(store_id: int, dish_id: int, merchant_id: int) -> Dish:
    """The merchant's dish, on the menu and not sold out at the store (404 / 409 otherwise)."""
    return dishes_of(store_id, merchant_id, [dish_id])[dish_id]


def dishes_of(store_id: int, merchant_id: int, dish_ids: Sequence[int], *, as_sold: bool = False) -> dict[int, Dish]:
    """The merchant's dishes by id, with their option groups, in one read whatever their number.
    Each must be on the menu and not sold out at the store (404 / 409 for the first, in the order
    asked, that is not) — unless `as_sold`: a sale a till made offline is honoured even if the
    dish was taken off the menu or sold out meanwhile (the sync flags it for the manager)."""
    rows = db.session.execute(_DISHES_AT_STORE, {"store_id": store_id, "merchant_id": merchant_id,
                                                 "dish_ids": list(set(dish_ids))})
    found = {dish.id: (dish, bool(sold_out)) for dish, sold_out in rows}
    for dish_id in dish_ids:
        dish, sold_out = found.get(dish_id, (None, False))
        if dish is None or not (as_sold or dish.is_active):
            raise NotFound("dish", gettext("This dish is not on the menu."))
        if sold_out and not as_sold:
            raise Conflict(gettext("%(name)s is sold out.", name=dish.name), error_code="dish_sold_out",
                           details={"dish_id": dish.id, "name": dish.name})
    return {dish_id: dish for dish_id, (dish, _) in found.items()}


_DISHES_AT_STORE = (
    sa.select(Dish, DishAvailability.is_sold_out)
    .outerjoin(DishAvailability, sa.and_(DishAvailability.dish_id == Dish.id,
                                         DishAvailability.store_id == sa.bindparam("store_id")))
    .where(Dish.id.in_(sa.bindparam("dish_ids", expanding=True)), Dish.merchant_id == sa.bindparam("merchant_id"))
    .options(menu.WITH_OPTIONS)
)


def _line_from(order: Order, dish: Dish, item: ItemRequest, added_by: str, honour_till: bool = False) -> OrderLine:
    try:
        chosen = choose_options(item.option_ids, menu.option_rules(dish))
    except OptionError as error:
        raise menu.option_error(error) from None
    unit_price = dish.price_cents + sum(c.price_delta_cents for c in chosen)
    if honour_till and item.till_unit_price_cents is not None:
        unit_price = item.till_unit_price_cents
    return OrderLine(
        merchant_id=order.merchant_id, order_id=order.id, dish_id=dish.id, name=dish.name, name_en=dish.name_en,
        category_id=dish.category_id, station=dish.station, qty=item.qty, note=item.note,
        unit_price_cents=unit_price,
        options=[{"group": c.group_name, "name": c.name, "price_delta_cents": c.price_delta_cents} for c in chosen],
        is_discountable=dish.is_discountable, status=LineStatus.SUBMITTED, added_by=added_by,
    )


def add_lines(order: Order, picks: Sequence[tuple[ItemRequest, str]], *,
              honour_till: bool = False) -> list[OrderLine]:
    """New submitted lines, each `(item, who added it)`; refused whole if one dish cannot be sold
    (unless `honour_till`: a till's offline sale, at the price it showed)."""
    dishes = dishes_of(order.store_id, order.merchant_id, [item.dish_id for item, _ in picks], as_sold=honour_till)
    lines = [_line_from(order, dishes[item.dish_id], item, added_by, honour_till) for item, added_by in picks]
    if order.id is None:  # a new order: its lines go in with it, at the next flush
        order.lines.extend(lines)
        return lines
    db.session.add_all(lines)
    db.session.flush()
    if "lines" in sa.inspect(order).dict:  # loaded: the new lines join them, with no read back
        set_committed_value(order, "lines", [*order.lines, *lines])
    else:
        db.session.expire(order, ["lines"])
    return lines


def announce_submitted(order: Order, lines: Sequence[OrderLine]) -> None:
    """Lines that wait for the waiter's confirmation: the till sees them arrive."""
    append_event(order.merchant_id, order.store_id, EventKind.ORDER_SUBMITTED,
                 {"order_id": order.id, "table": order.table_code, "items": [line_json(line) for line in lines]},
                 order_id=order.id)


def refresh_subtotal(order: Order) -> None:
    order.subtotal_cents = sum(line.amount_cents for line in billable_lines(order))


def create_order(store: Store, *, table_code: str | None, items: Sequence[ItemRequest], key: str | None,
                 actor: Actor, now: datetime, client_order_id: str | None = None,
                 honour_till: bool = False) -> Order:
    """Open an order (at the store's table `table_code`, if any) with its first dishes; they go
    straight to the kitchen. `client_order_id` is the till's id of an order made through the
    on-site agent; `honour_till` takes a till's offline sale as it was made (its prices, dishes
    sold out since)."""
    table = None
    if table_code:
        table = db.session.scalar(sa.select(DiningTable).where(
            DiningTable.merchant_id == store.merchant_id, DiningTable.store_id == store.id,
            DiningTable.code == table_code))
        if table is None:
            raise Unprocessable(gettext("This store has no such table."), error_code="unknown_table")
    order = Order(merchant_id=store.merchant_id, store_id=store.id, table_id=table.id if table else None,
                  table_code=table.code if table else "", idempotency_key=key, created_by_id=actor.staff_id,
                  status=OrderStatus.OPEN, client_order_id=client_order_id, lines=[])
    if honour_till:
        order.created_at = now
    db.session.add(order)
    # Not flushed before its tickets are: the order, its tickets and its lines go in together
    # (confirm_lines), each line with its status and ticket, the order with its subtotal.
    with db.session.no_autoflush:
        add_items(order, items, actor=actor, confirm=True, now=now, honour_till=honour_till, first=True)
    return order


def add_items(order: Order, items: Sequence[ItemRequest], *, actor: Actor, confirm: bool,
              now: datetime, honour_till: bool = False, first: bool = False) -> list[OrderLine]:
    """More dishes on the order; `confirm` sends them to the kitchen at once, otherwise they wait
    (submitted) for the waiter. `first`: the order's first dishes (no ticket is an addition)."""
    require_open(order)
    if not items:
        raise Unprocessable(gettext("Pick at least one dish."), error_code="no_items")
    lines = add_lines(order, [(item, actor.name) for item in items], honour_till=honour_till)
    refresh_subtotal(order)  # before the kitchen's flush, which then writes it
    if confirm:
        confirm_lines(order, lines, now=now, first=first)
    else:
        announce_submitted(order, lines)
    return lines


def add_to_order(order_id: int, items: Sequence[ItemRequest], *, actor: Actor, now: datetime) -> Order:
    """加菜: more dishes on an open order, straight to the kitchen."""
    order = lock_order(order_id, actor)
    add_items(order, items, actor=actor, confirm=True, now=now)
    return order


# --- the kitchen -----------------------------------------------------------------------------

def _line_move(line: OrderLine, event: LineEvent) -> None:
    try:
        line.status = LINES.next(line.status, event)
    except IllegalTransition:
        raise Conflict(gettext("This dish cannot change that way now."), error_code="line_state_conflict",
                       details={"line_id": line.id, "status": line.status.label, "event": str(event)}) from None


def confirm_lines(order: Order, lines: Iterable[OrderLine], *, now: datetime,
                  first: bool = False) -> list[KitchenTicket]:
    """Send lines to the kitchen: one ticket per station, each announced on the event log.
    `first`: the order's first lines, so no ticket of it exists yet (no need to look)."""
    lines = list(lines)
    for line in lines:
        _line_move(line, LineEvent.CONFIRM)
    is_addition = not first and db.session.scalar(
        sa.select(KitchenTicket.id).where(KitchenTicket.order_id == order.id).limit(1)) is not None
    by_station: dict[str, list[OrderLine]] = defaultdict(list)
    for line in lines:
        by_station[line.station].append(line)
    # The tickets are made with their lines, then flushed at once: each line's new status and
    # ticket go out in one UPDATE (in its INSERT, on a new order), and no ticket's (empty) lines
    # are read back.
    tickets = [KitchenTicket(merchant_id=order.merchant_id, store_id=order.store_id, order=order,
                             station=station, table_code=order.table_code, is_addition=is_addition,
                             status=TicketStatus.OPEN, lines=station_lines)
               for station, station_lines in sorted(by_station.items())]
    db.session.add_all(tickets)
    db.session.flush()
    if order.table_id is not None:
        move_table(db.session.get(DiningTable, order.table_id), TableEvent.ORDER, now)
    names = menu.station_names(order.merchant_id)
    append_events(order.merchant_id, order.store_id,
                  [NewEvent(EventKind.TICKET_NEW, ticket_json(ticket, names), order.id) for ticket in tickets])
    return tickets


def confirm_order_lines(order_id: int, line_ids: Iterable[int], *, actor: Actor, now: datetime) -> Order:
    """The waiter confirms diner picks (submitted lines of an open order); they go to the kitchen."""
    order = lock_order(order_id, actor)
    require_open(order)
    wanted = set(line_ids)
    lines = [line for line in order.lines if line.id in wanted]
    if len(lines) != len(wanted):
        raise NotFound("order_line")
    confirm_lines(order, lines, now=now)
    return order


def void_line(order_id: int, line_id: int, *, reason: str, actor: Actor, now: datetime) -> Order:
    """退菜: cancel a line with a reason (audited); the kitchen is told (`ticket_changes`)."""
    order = lock_order(order_id, actor)
    require_open(order)
    line = _order_line(order, line_id)
    was = line.qty - line.refunded_qty
    _line_move(line, LineEvent.CANCEL)
    line.void_reason = reason
    record("order.void_line", order, actor=actor, line_id=line.id, dish=line.name, qty=line.qty,
           amount_cents=line.amount_cents, reason=reason)
    refresh_subtotal(order)
    append_events(order.merchant_id, order.store_id, ticket_changes(order, {line.id: was}, reason=reason))
    return order


def reduce_line(order_id: int, line_id: int, *, qty: int, reason: str, actor: Actor, now: datetime) -> Order:
    """Fewer of a dish not served yet (改单): the line keeps `qty` (less than it had, at least one;
    none is 退菜, more is 加菜). Audited; the kitchen is told (`ticket_changes`)."""
    order = lock_order(order_id, actor)
    require_open(order)
    line = _order_line(order, line_id)
    if line.status not in (LineStatus.SUBMITTED, LineStatus.CONFIRMED, LineStatus.COOKING):
        raise Conflict(gettext("This dish cannot change that way now."), error_code="line_state_conflict",
                       details={"line_id": line.id, "status": line.status.label})
    if not 1 <= qty < line.qty:
        raise Unprocessable(gettext("Only fewer of a dish can be asked for here (at least one; none is a void)."),
                            error_code="qty_not_reduced", details={"line_id": line.id, "qty": line.qty})
    was = line.qty
    record("order.reduce_line", order, actor=actor, line_id=line.id, dish=line.name, qty_before=was, qty=qty,
           amount_cents=line.unit_price_cents * (was - qty), reason=reason)
    line.qty = qty
    refresh_subtotal(order)
    append_events(order.merchant_id, order.store_id, ticket_changes(order, {line.id: was}, reason=reason))
    return order


def _order_line(order: Order, line_id: int) -> OrderLine:
    line = next((line for line in order.lines if line.id == line_id), None)
    if line is None:
        raise NotFound("order_line")
    return line


def ticket_changes(order: Order, was: dict[int, int], *, reason: str) -> list[NewEvent]:
    """改单 / 退菜 for the kitchen: each ticket holding a line of `was` ({line_id: the quantity the
    kitchen had}) as its next version — ``ticket_changed`` while something is left on it,
    ``ticket_cancelled`` when nothing is. Lines not sent yet (no ticket) tell the kitchen nothing.
    The caller appends the events."""
    tickets: dict[int, KitchenTicket] = {}
    for line in order.lines:
        if line.id in was and line.ticket_id is not None and line.ticket_id not in tickets:
            tickets[line.ticket_id] = db.session.get(KitchenTicket, line.ticket_id)
    events = []
    for ticket in sorted(tickets.values(), key=lambda t: t.id):
        ticket.version = (ticket.version or 1) + 1
        document = changed_ticket(ticket, was=was, reason=reason)
        kind = EventKind.TICKET_CHANGED if document.mark == "change" else EventKind.TICKET_CANCELLED
        events.append(NewEvent(kind, document.to_dict(), order.id))
    return events


def _lock_ticket(ticket_id: int, actor: Actor) -> KitchenTicket:
    ticket = db.session.scalars(sa.select(KitchenTicket).where(
        KitchenTicket.id == ticket_id, KitchenTicket.merchant_id == actor.merchant_id).with_for_update()
        .execution_options(populate_existing=True)).one_or_none()
    if ticket is None:
        raise NotFound("kitchen_ticket")
    if not actor.works_at(ticket.store_id):
        raise NotFound("store")
    return ticket


def set_ticket(ticket_id: int, *, bumped: bool, actor: Actor, now: datetime) -> KitchenTicket:
    """Bump (all done) or recall a ticket of the actor's store; its lines follow."""
    ticket = _lock_ticket(ticket_id, actor)
    event = TicketEvent.BUMP if bumped else TicketEvent.RECALL
    try:
        ticket.status = TICKETS.next(ticket.status, event)
    except IllegalTransition:
        raise Conflict(gettext("The ticket is already in that state."), error_code="ticket_state_conflict") from None
    line_event = LineEvent.BUMP if bumped else LineEvent.RECALL
    for line in ticket.lines:
        # A bump leaves the dishes already bumped one by one as they are; a recall brings back the done.
        if line.status is not LineStatus.CANCELLED and (line.status is LineStatus.DONE) is not bumped:
            _line_move(line, line_event)
    ticket.bumped_at = now if bumped else None
    kind = EventKind.TICKET_BUMPED if bumped else EventKind.TICKET_RECALLED
    append_event(ticket.merchant_id, ticket.store_id, kind, ticket_json(ticket), order_id=ticket.order_id)
    return ticket


def set_line(line_id: int, *, bumped: bool, actor: Actor, now: datetime) -> KitchenTicket:
    """Bump one dish of a ticket (it is done) or recall it (back to cooking). Bumping the last dish
    still to cook bumps the ticket; recalling a dish of a bumped ticket brings the ticket back.
    Announced as ``ticket_bumped`` / ``ticket_recalled`` with the whole ticket: its ``status``
    says whether the ticket is done, its items which dishes are."""
    ticket_id = db.session.scalar(sa.select(OrderLine.ticket_id).where(
        OrderLine.id == line_id, OrderLine.merchant_id == actor.merchant_id))
    if ticket_id is None:
        raise NotFound("order_line")
    ticket = _lock_ticket(ticket_id, actor)
    line = next((line for line in ticket.lines if line.id == line_id), None)
    if line is None:  # moved off the ticket meanwhile
        raise NotFound("order_line")
    db.session.refresh(line)
    _line_move(line, LineEvent.BUMP if bumped else LineEvent.RECALL)
    cooking = [other for other in ticket.lines if other.status in (LineStatus.CONFIRMED, LineStatus.COOKING)]
    if bumped and not cooking and ticket.status is TicketStatus.OPEN:
        ticket.status = TICKETS.next(ticket.status, TicketEvent.BUMP)
        ticket.bumped_at = now
    elif not bumped and ticket.status is TicketStatus.BUMPED:
        ticket.status = TICKETS.next(ticket.status, TicketEvent.RECALL)
        ticket.bumped_at = None
    kind = EventKind.TICKET_BUMPED if bumped else EventKind.TICKET_RECALLED
    append_event(ticket.merchant_id, ticket.store_id, kind, ticket_json(ticket), order_id=ticket.order_id)
    return ticket


def recently_bumped(store_id: int, *, station: str = "", limit: int = 10) -> list[KitchenTicket]:
    """The store's bumped tickets, the last bumped first: what a kitchen screen can recall."""
    query = sa.select(KitchenTicket).where(KitchenTicket.store_id == store_id,
                                           KitchenTicket.status == TicketStatus.BUMPED)
    if station:
        query = query.where(KitchenTicket.station == station)
    return list(db.session.scalars(query.order_by(KitchenTicket.bumped_at.desc(), KitchenTicket.id.desc())
                                   .limit(limit)))
