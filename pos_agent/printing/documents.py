"""Every printable document kind in one table: how to read it and how to lay it out.

The spooler only deals in (kind, JSON) pairs; this is where they become print operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..config import CATCH_ALL_STATION, PrinterConfig, StoreInfo
from .kitchen import build_kitchen_ticket
from .models import DocumentError, KitchenTicket, Receipt, ShiftSummary
from .ops import Op
from .receipt import build_receipt
from .shift import build_shift_summary

Document = Receipt | KitchenTicket | ShiftSummary


@dataclass(frozen=True)
class DocumentKind:
    name: str
    parse: Callable[[Any], Document]
    role: str  # which printers it goes to: "receipt" or "kitchen"


KINDS: dict[str, DocumentKind] = {
    "receipt": DocumentKind("receipt", Receipt.from_dict, "receipt"),
    "kitchen_ticket": DocumentKind("kitchen_ticket", KitchenTicket.from_dict, "kitchen"),
    "shift_summary": DocumentKind("shift_summary", ShiftSummary.from_dict, "receipt"),
}


def parse_document(kind: str, data: Any) -> Document:
    if kind not in KINDS:
        raise DocumentError("kind", f"must be one of {', '.join(KINDS)}")
    return KINDS[kind].parse(data)


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
