"""Kitchen tickets: big, short, and impossible to misread from a metre away."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tablerules.documents import KitchenTicket, OrderItem

from .ops import Op
from .page import REPRINT_MARK, Page, local_time

MARKS: dict[str, str] = {"add": "加菜 ADD", "change": "改单 CHANGED", "cancel": "退菜 CANCEL", "rush": "催菜 RUSH"}
def build_kitchen_ticket(
    ticket: KitchenTicket,
    *,
    columns: int,
    timezone: str,
    printed_at: datetime,
    reprint: bool = False,
) -> list[Op]:
    page = Page(columns)
    marks = _marks(ticket, reprint)
    for mark in marks:
        page.text(mark, align="center", bold=True, width=2, height=2)
    page.text(f"桌号 {ticket.table}" if ticket.table else "柜台 Counter", bold=True, width=2, height=2)
    guests = f"   人数 Guests {ticket.guests}" if ticket.guests else ""
    page.text(f"单号 No. {ticket.order_no}{guests}")
    page.text(f"下单 Ordered {local_time(ticket.created_at, timezone)}")
    if ticket.mark == "rush":
        # Short: which dishes the table is waiting for, and how often it asked.
        count = f"  第{ticket.rush_no}次 #{ticket.rush_no}" if ticket.rush_no > 1 else ""
        page.text(f"催菜 Rushed {local_time(ticket.rushed_at or printed_at, timezone)}{count}", bold=True)
    groups = group_by_station(ticket.items)
    for station, items in groups:
        page.rule("=")
        page.text(f"【{station}】", bold=True, height=2)
        for item in items:
            _item(page, item, cancel=ticket.mark == "cancel" or item.is_cancelled)
    page.rule("=")
    if ticket.reason:
        page.text(f"原因 Reason: {ticket.reason}", bold=True)
    if ticket.note:
        page.text(f"整单备注 Note: {ticket.note}", bold=True, height=2)
    if ticket.waiter:
        page.text(f"服务员 Waiter: {ticket.waiter}")
    page.text(f"打印 Printed {local_time(printed_at, timezone, '%H:%M:%S')}")
    # The mark again at the bottom: tickets are speared on a rail and read from either end.
    for mark in marks:
        page.text(mark, align="center", bold=True, width=2, height=2)
    page.cut()
    return page.ops


def _marks(ticket: KitchenTicket, reprint: bool) -> list[str]:
    marks = []
    if reprint or ticket.is_reprint:
        marks.append(REPRINT_MARK)
    if ticket.mark in MARKS:
        marks.append(MARKS[ticket.mark])
    return marks


def _item(page: Page, item: OrderItem, *, cancel: bool) -> None:
    quantity = f"x{item.qty}{item.unit}"
    if cancel:
        page.text(f"退 {item.name} {quantity}", bold=True, width=2, height=2)
    elif item.is_changed:  # 改单: the quantity the kitchen makes now, and what it was
        page.text(f"改 {item.name} {quantity}", bold=True, width=2, height=2)
        page.indented(f"原 Was x{item.was_qty}{item.unit}", bold=True)
    else:
        page.text(f"{item.name} {quantity}", bold=True, width=2, height=2)
    if item.options:
        page.indented(" / ".join(item.options), height=2)
    if item.note:
        page.indented(f"备注: {item.note}", bold=True, height=2)


def group_by_station(items: Sequence[OrderItem]) -> list[tuple[str, list[OrderItem]]]:
    """Items grouped by station in order of first appearance, labelled by the station's name."""
    groups: dict[str, list[OrderItem]] = {}
    names: dict[str, str] = {}
    for item in items:
        groups.setdefault(item.station, []).append(item)
        names.setdefault(item.station, item.station_name or item.station)
    return [(names[station], grouped) for station, grouped in groups.items()]
