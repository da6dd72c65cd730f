"""Every printable document kind in one table: which printers take it and how to lay it out.

Documents are read with the contract the server writes them with (`tablerules.documents`);
the spooler only deals in (kind, JSON) pairs, and this is where they become print operations.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tablerules.documents import Document, DocumentError, KitchenTicket, Receipt, TopUpSlip, parse_document

from ..config import CATCH_ALL_STATION, PrinterConfig, StoreInfo
from .kitchen import build_kitchen_ticket
from .ops import Op
from .receipt import build_receipt
from .shift import build_shift_summary
from .topup import build_topup_slip

__all__ = ["KINDS", "Document", "DocumentError", "build_ops", "parse_document", "route_kitchen_ticket"]

# Document kind -> the role of the printers it goes to.
KINDS: dict[str, str] = {
    "receipt": "receipt",
    "refund": "receipt",
    "kitchen_ticket": "kitchen",
    "shift_summary": "receipt",
    "topup": "receipt",
}


def build_ops(
    document: Document,
    store: StoreInfo,
    *,
    columns: int,
    printed_at: datetime,
    reprint: bool = False,
    open_drawer: bool = False,
) -> list[Op]:
    if isinstance(document, Receipt):
        return build_receipt(
            document, store, columns=columns, printed_at=printed_at, reprint=reprint, open_drawer=open_drawer
        )
    if isinstance(document, KitchenTicket):
        return build_kitchen_ticket(
            document, columns=columns, timezone=store.timezone, printed_at=printed_at, reprint=reprint
        )
    if isinstance(document, TopUpSlip):
        return build_topup_slip(document, store, columns=columns, printed_at=printed_at, reprint=reprint)
    return build_shift_summary(document, store, columns=columns, printed_at=printed_at, reprint=reprint)


def route_kitchen_ticket(
    ticket: KitchenTicket, printers: tuple[PrinterConfig, ...]
) -> list[tuple[PrinterConfig, KitchenTicket]]:
    """Split a ticket by station: each kitchen printer gets the items of the stations it serves.

    A station no printer names goes to the catch-all printer (``stations: ['*']``), or failing
    that to the first kitchen printer, so a dish is never silently left unprinted.
    """
    kitchen = [p for p in printers if p.role == "kitchen"]
    if not kitchen:
        raise DocumentError("", "no kitchen printer is configured")
    fallback = next((p for p in kitchen if CATCH_ALL_STATION in p.stations), kitchen[0])
    routed: list[tuple[PrinterConfig, KitchenTicket]] = []
    for printer in kitchen:
        items = tuple(
            item
            for item in ticket.items
            if item.station in printer.stations
            or (printer is fallback and not any(item.station in p.stations for p in kitchen))
        )
        if items:
            routed.append((printer, replace(ticket, items=items)))
    return routed
