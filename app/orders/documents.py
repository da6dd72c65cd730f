"""What the server hands the on-site agent and the screens, built from the orders' rows through
the one document contract (`tablerules.documents`): kitchen tickets, receipts and refund slips,
and the order lines of the store event log.

Orders have no short number of their own yet: a document's `order_no` is the order's id as text
and a ticket's `ticket_no` the ticket's id as text (`order_no`, `ticket_no` below); the numeric
ids travel beside them as `order_id` / `ticket_id`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from app.auth.models import Staff
from app.db import db, utcnow
from app.menu.service import station_names
from app.orders.models import KitchenTicket, Order, OrderLine, OrderRush
from app.orders.state import BILLABLE
from app.tenants.models import Store
from tablerules import documents as contract


def billable_lines(order: Order) -> list[OrderLine]:
    return [line for line in order.lines if line.status in BILLABLE]


def order_no(order_id: int) -> str:
    return str(order_id)


def ticket_no(ticket_id: int) -> str:
    return str(ticket_id)


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _option_names(options: Iterable[dict]) -> tuple[str, ...]:
    return tuple(option["name"] for option in options or ())


# --- order lines and kitchen tickets ----------------------------------------------------------

def order_item(line: OrderLine, station_name: str = "") -> contract.OrderItem:
    return contract.OrderItem(
        name=line.name, qty=line.qty, station=line.station, station_name=station_name,
        line_id=line.id, dish_id=line.dish_id,
        name_en=line.name_en, options=_option_names(line.options), note=line.note,
        unit_price_cents=line.unit_price_cents, added_by=line.added_by, status=line.status.label)


def line_json(line: OrderLine) -> dict:
    return order_item(line).to_dict()


def kitchen_item(line: OrderLine, station_name: str = "", was_qty: int | None = None) -> contract.OrderItem:
    """A line as the kitchen sees it: what is still to make of it. A refund of a dish not yet
    served takes its refunded quantity off; all of it refunded, the dish is cancelled."""
    item = order_item(line, station_name)
    left = line.qty - line.refunded_qty
    if left <= 0:
        item = replace(item, status="cancelled")
    elif left != line.qty:
        item = replace(item, qty=left)
    return replace(item, was_qty=was_qty) if was_qty is not None else item


def kitchen_ticket(ticket: KitchenTicket, *, lines: Sequence[OrderLine] | None = None,
                   mark: contract.TicketMark | None = None, reason: str = "",
                   document_id: str | None = None, names: dict[str, str] | None = None,
                   was: Mapping[int, int] | None = None) -> contract.KitchenTicket:
    """The ticket with its lines (or just `lines` of it); each item carries its station's name as
    the store calls it (热菜, 凉菜 …), when one is set on the menu (`names`: the merchant's
    `station_names`, when the caller already has them). `was` marks the lines a change touched
    with the quantity the kitchen had before ({line_id: qty})."""
    if names is None:
        names = station_names(ticket.merchant_id)
    was = was or {}
    order = db.session.get(Order, ticket.order_id)
    return contract.KitchenTicket(
        document_id=document_id or f"ticket-{ticket.id}", version=ticket.version or 1,
        ticket_no=ticket_no(ticket.id), order_no=order_no(ticket.order_id),
        ticket_id=ticket.id, order_id=ticket.order_id,
        created_at=(ticket.created_at or utcnow()).isoformat(),
        items=tuple(kitchen_item(line, names.get(line.station, ""), was.get(line.id))
                    for line in (ticket.lines if lines is None else lines)),
        mark=mark or ("add" if ticket.is_addition else "new"),
        status=ticket.status.label, station=ticket.station, table=ticket.table_code, reason=reason,
        client_order_id=(order.client_order_id or "") if order is not None else "")


def ticket_json(ticket: KitchenTicket, names: dict[str, str] | None = None) -> dict:
    """The ticket as the kitchen display, the ticket API and the store event log show it."""
    return kitchen_ticket(ticket, names=names).to_dict()


def is_left_to_cook(item: contract.OrderItem) -> bool:
    return item.status not in ("cancelled", "done")


def changed_ticket(ticket: KitchenTicket, *, was: Mapping[int, int], reason: str) -> contract.KitchenTicket:
    """改单 / 退菜: the whole ticket as its next version, the lines the change touched marked
    (`was`: their quantity before). Mark ``change`` while something is left on it, ``cancel``
    when every dish is cancelled."""
    names = station_names(ticket.merchant_id)
    document = kitchen_ticket(ticket, names=names, was=was)
    left = any(item.status != "cancelled" for item in document.items)
    return replace(document, mark="change" if left else "cancel", reason=reason)


def rush_slip(order: Order, rush: OrderRush, tickets: Sequence[KitchenTicket]) -> contract.KitchenTicket:
    """催菜: the order's dishes not served yet, on one short slip per kitchen printer (the agent
    routes the items by station); printed once (its document is the rush)."""
    names = station_names(order.merchant_id)
    items = tuple(item for ticket in tickets for line in ticket.lines
                  if is_left_to_cook(item := kitchen_item(line, names.get(line.station, ""))))
    return contract.KitchenTicket(
        document_id=f"rush-{rush.id}", ticket_no=",".join(ticket_no(t.id) for t in tickets),
        order_no=order_no(order.id), order_id=order.id, created_at=(order.created_at or utcnow()).isoformat(),
        items=items, mark="rush", table=order.table_code, waiter=rush.rushed_by,
        rushed_at=rush.rushed_at.isoformat(), rush_no=rush.rush_no, ticket_ids=tuple(t.id for t in tickets),
        client_order_id=order.client_order_id or "")


# --- receipts and refund slips ----------------------------------------------------------------

def receipt(order: Order, *, kind: str = "receipt", refunded_cents: int | None = None, reason: str = "",
            document_id: str | None = None) -> contract.Receipt:
    """The customer receipt from the bill as charged; with kind ``refund``, the refund slip of
    `refunded_cents` (default: everything refunded so far)."""
    store = db.session.get(Store, order.store_id)
    bill = order.charged_bill
    cashier = db.session.get(Staff, order.settled_by_id) if order.settled_by_id else None
    is_refund = kind == "refund"
    member = None
    # A refund slip leaves the member out: the bill's snapshot is their standing before the refund.
    if bill is not None and bill.member is not None and not is_refund:
        member = contract.MemberSummary(
            name=bill.member.name, member_no=bill.member.member_no, tier=bill.member.tier,
            points_earned=bill.points_earned, points_redeemed=bill.priced.points_redeemed,
            points_balance=bill.member.points, balance_cents=bill.member.stored_value_cents)
    return contract.Receipt(
        kind=kind,  # type: ignore[arg-type]
        document_id=document_id or f"{kind}-{order.id}",
        order_no=order_no(order.id), order_id=order.id,
        items=tuple(contract.ReceiptItem(
            name=line.name, name_en=line.name_en, qty=line.qty, unit_price_cents=line.unit_price_cents,
            amount_cents=line.amount_cents, options=_option_names(line.options), note=line.note)
            for line in billable_lines(order)),
        payable_cents=order.payable_cents,
        steps=contract.steps_from_bill(bill.priced.steps) if bill else (),
        tenders=tuple(contract.TenderLine(type=t.type.label, amount_cents=t.amount_cents)
                      for t in (bill.tenders if bill else ())),
        change_cents=order.change_cents,
        table=order.table_code,
        cashier=cashier.display_name if cashier else "",
        paid_at=_iso(order.paid_at),
        member=member,
        store=contract.StoreHeader(name=store.name, address=store.address or "", phone=store.phone or ""),
        refunded_cents=(order.refunded_cents if refunded_cents is None else refunded_cents) if is_refund else None,
        refunded_at=_iso(order.refunded_at) if is_refund else "",
        reason=reason,
        client_order_id=order.client_order_id or "",
    )


def receipt_document(order: Order, *, kind: str = "receipt") -> dict:
    """The receipt (or, kind ``refund``, the refund slip) as the print job's payload."""
    return receipt(order, kind=kind).to_dict()


def refund_slip_document(order: Order, *, refunded_cents: int, reason: str, key: str) -> dict:
    """The refund slip of one refund (`key` is its idempotency key: one slip per refund)."""
    return receipt(order, kind="refund", refunded_cents=refunded_cents, reason=reason,
                   document_id=f"refund-{order.id}-{key[:16]}").to_dict()
