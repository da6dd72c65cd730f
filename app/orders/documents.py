"""What the server hands the on-site agent and the screens, built from the orders' rows: kitchen
tickets, receipts (and refund slips), as plain data."""

from __future__ import annotations

from app.db import db, utcnow
from app.orders.models import KitchenTicket, Order, OrderLine
from app.orders.state import BILLABLE
from app.tenants.models import Store


def billable_lines(order: Order) -> list[OrderLine]:
    return [line for line in order.lines if line.status in BILLABLE]


def line_json(line: OrderLine) -> dict:
    return {"line_id": line.id, "dish_id": line.dish_id, "name": line.name, "name_en": line.name_en,
            "qty": line.qty, "options": line.options, "note": line.note, "status": line.status.label,
            "unit_price_cents": line.unit_price_cents, "added_by": line.added_by}


def ticket_json(ticket: KitchenTicket) -> dict:
    return {"ticket_id": ticket.id, "order_id": ticket.order_id, "station": ticket.station,
            "table": ticket.table_code, "status": ticket.status.label, "is_addition": ticket.is_addition,
            "created_at": (ticket.created_at or utcnow()).isoformat(),
            "items": [line_json(line) for line in ticket.lines]}


def receipt_document(order: Order, *, kind: str = "receipt") -> dict:
    """The customer receipt as plain data for the on-site agent's printer."""
    store = db.session.get(Store, order.store_id)
    bill = order.bill or {}
    return {
        "document": kind, "document_id": f"{kind}-{order.id}", "version": 1,
        "store": {"name": store.name, "address": store.address, "phone": store.phone},
        "order_id": order.id, "table": order.table_code,
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        "items": [{"name": line.name, "name_en": line.name_en, "qty": line.qty,
                   "unit_price_cents": line.unit_price_cents, "amount_cents": line.amount_cents,
                   "options": [o["name"] for o in line.options], "note": line.note}
                  for line in billable_lines(order)],
        "steps": bill.get("lines", []),
        "tenders": bill.get("tenders", []),
        "change_cents": order.change_cents,
        "member": bill.get("member"),
        "points_earned": bill.get("points_earned", 0),
    }
