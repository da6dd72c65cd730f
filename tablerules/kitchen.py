"""The kitchen floor's figures: what is still to cook across the open tickets, and how long a
ticket has waited.

``all_day`` sums, per dish, the quantities still to cook (items sent and not yet bumped or
cancelled) over the open tickets a screen shows — the cook's "all day" count: 辣椒炒肉 × 5 across
three tables. ``wait_level`` says how a ticket's age is highlighted: ``ok``, ``warn`` (yellow)
from ``warn_minutes``, ``late`` (red) from ``late_minutes``. The kitchen display's script counts
the same way as the page changes. ``rush_wait_seconds`` is how long an order waits before it may
be rushed (催菜) again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tablerules.documents import KitchenTicket

TO_COOK = frozenset({"confirmed", "cooking"})  # item statuses still on the cook's list
DEFAULT_WARN_MINUTES = 10
DEFAULT_LATE_MINUTES = 20


@dataclass(frozen=True)
class AllDay:
    name: str
    qty: int
    tickets: int  # on how many tickets the dish waits


def all_day(tickets: Iterable[KitchenTicket], *, station: str = "") -> list[AllDay]:
    """Quantities still to cook per dish (by name), most first, then by name; `station` keeps
    only that station's items. Bumped or cancelled tickets count nothing."""
    qty: dict[str, int] = {}
    seen: dict[str, set[str]] = {}
    for ticket in tickets:
        if ticket.status != "open":
            continue
        for item in ticket.items:
            if item.status not in TO_COOK or (station and item.station != station):
                continue
            qty[item.name] = qty.get(item.name, 0) + item.qty
            seen.setdefault(item.name, set()).add(ticket.ticket_no)
    return sorted((AllDay(name, count, len(seen[name])) for name, count in qty.items()),
                  key=lambda row: (-row.qty, row.name))


def wait_level(age_minutes: float, *, warn_minutes: int = DEFAULT_WARN_MINUTES,
               late_minutes: int = DEFAULT_LATE_MINUTES) -> str:
    if age_minutes >= late_minutes:
        return "late"
    if age_minutes >= warn_minutes:
        return "warn"
    return "ok"


def rush_wait_seconds(last_rushed_at: datetime | None, now: datetime, every_minutes: float) -> int:
    """催菜 once per `every_minutes` per order: the whole seconds still to wait before the order may
    be rushed again (0: it may be now)."""
    if last_rushed_at is None:
        return 0
    left = (last_rushed_at + timedelta(minutes=every_minutes) - now).total_seconds()
    return max(0, math.ceil(left))
