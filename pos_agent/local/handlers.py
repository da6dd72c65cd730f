"""Store-event handlers of the till's side, for the event-log follower's dispatch table.

Each is a plain ``handle(event: dict)`` taking one event of ``GET /api/v1/stores/{id}/events``
(``{seq, kind, order_id, created_at, payload}``). `register_all(register, service)` hands them
to the follower's ``register(kind, handler)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tablerules.documents import StoreEvent

from .db import dumps
from .service import LocalService

Handler = Callable[[dict[str, Any]], None]


def order_paid_handler(service: LocalService) -> Handler:
    """An order this till opened was paid elsewhere (another till, WeChat Pay at the table):
    the local copy of the order says so, so the till does not offer to settle it again."""

    def handle(event: dict[str, Any]) -> None:
        parsed = StoreEvent.from_dict(event)
        if parsed.order_id is None:
            return
        row = service.db.one("SELECT client_order_id, body FROM orders WHERE server_id = ? AND status = 'open'",
                             (parsed.order_id,))
        if row is None:
            return
        body = json.loads(row[1])
        body.update(status="paid", payable_cents=parsed.payload.get("payable_cents", body.get("subtotal_cents")))
        with service.db.transaction() as conn:
            conn.execute("UPDATE orders SET status = 'paid', body = ? WHERE client_order_id = ? AND status = 'open'",
                         (dumps(body), row[0]))

    return handle


def copy_changed_handler(service: LocalService, *, base: bool) -> Handler:
    """The menu, tables, staff or rules changed (``menu_changed``), or a member's card or tier
    (``member_changed``): the local copy is read again now, in the background (the follower
    does not wait for the server's snapshot, and a failed read is tried again next round)."""

    def handle(event: dict[str, Any]) -> None:
        service.want_refresh(base=base)

    return handle


# Store news the till page shows live (diner picks waiting for confirmation, tables, the waiter
# called, bills paid elsewhere, printers): handed to the agent's local feed, which the till reads
# with `GET /api/v1/events?after=N` beside the card swipes and scans.
TILL_NEWS: tuple[str, ...] = ("order_submitted", "cart_changed", "table_changed", "waiter_called", "order_paid",
                              "order_refunded", "bill_pushed", "device_status", "menu_changed", "member_changed")


def register_all(register: Callable[[str, Handler], None], service: LocalService,
                 feed: Handler | None = None) -> None:
    """The till's kinds into the follower's dispatch table; with `feed`, every kind of
    `TILL_NEWS` is also handed to the till page after the local copy has taken it in."""
    own: dict[str, Handler] = {
        "order_paid": order_paid_handler(service),
        "menu_changed": copy_changed_handler(service, base=True),
        "member_changed": copy_changed_handler(service, base=False),
    }
    for kind in dict.fromkeys([*own, *(TILL_NEWS if feed is not None else ())]):
        register(kind, _both(own.get(kind), feed if kind in TILL_NEWS else None))


def _both(first: Handler | None, then: Handler | None) -> Handler:
    def handle(event: dict[str, Any]) -> None:
        if first is not None:
            first(event)
        if then is not None:
            then(event)

    return handle
