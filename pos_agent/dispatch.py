"""One table from a store event's kind to what the agent does with it.

The follower (`pos_agent.follow`) reads the store event log after its cursor and hands every
event to `Dispatcher.dispatch`. A handler returns only when its effect is durable (a print job
is a committed row of the print ledger); only then is the cursor moved past the event. So a
handler must be idempotent: after a crash the same event comes again, and must change nothing.

- A kind with no handler is skipped (debug log); it never holds the cursor back.
- A handler raising `SkipEvent` (or the contract's `DocumentError`: data it can never use) has
  the event skipped with an error in the log and in the follower's state.
- Any other exception leaves the cursor where it was: the follower reconnects after a pause and
  hands the event over again.

The printed kinds are registered by `register_printing`; the till's local copy registers its own
kinds (diner orders, table and menu changes) with `Dispatcher.register(kind, handler)`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from tablerules.documents import DocumentError, KitchenTicket, Receipt, StoreEvent

from .printing.documents import KINDS
from .printing.spooler import PrintRequest, PrintSpooler

log = logging.getLogger(__name__)

Handler = Callable[[StoreEvent], None]

# What the printing handler puts on paper, by event kind; every other kind is someone else's.
PRINT_KINDS: tuple[str, ...] = ("ticket_new", "ticket_changed", "ticket_cancelled", "order_rushed", "print_job")


class SkipEvent(Exception):
    """The handler can never use this event; the cursor moves past it and the reason is logged."""


class Dispatcher:
    """The one table kind → handler. Thread-safe to register while the follower runs."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def register(self, kind: str, handler: Handler, *, replace: bool = False) -> None:
        """Route events of ``kind`` (the log's name, e.g. ``"order_submitted"``) to ``handler``.

        A kind has one handler: registering a second is an error unless ``replace=True``.
        """
        if not kind or not isinstance(kind, str):
            raise ValueError("kind must be a non-empty string")
        with self._lock:
            if kind in self._handlers and not replace:
                raise ValueError(f"a handler for {kind!r} is already registered")
            self._handlers[kind] = handler

    def handler(self, kind: str) -> Handler | None:
        with self._lock:
            return self._handlers.get(kind)

    def kinds(self) -> list[str]:
        with self._lock:
            return sorted(self._handlers)

    def dispatch(self, event: StoreEvent) -> bool:
        """Hand the event to its handler; False when no handler takes its kind."""
        handler = self.handler(event.kind)
        if handler is None:
            log.debug("event %s (%s): no handler, skipped", event.seq, event.kind)
            return False
        handler(event)
        return True


def printed_here(payload: Any, device_id: int | None) -> bool:
    """Whether this agent already printed the document itself, while the server was unreachable:
    the sync endpoint marks such events ``printed_at_source: true`` with the selling device's id."""
    if not isinstance(payload, dict) or payload.get("printed_at_source") is not True:
        return False
    source = payload.get("source_device_id")
    return device_id is not None and source is not None and str(source) == str(device_id)


class PrintHandler:
    """Print jobs (receipt, refund slip, shift summary) → the receipt printer; kitchen tickets →
    the kitchen printer of each station (`printing.documents.route_kitchen_ticket`).

    The ledger key is the document's own ``(document_id, version)`` for each target printer, so
    an event handed over again prints nothing. A ``ticket_changed`` prints as a change slip
    (改单), a ``ticket_cancelled`` as a cancel slip (退菜) and an ``order_rushed`` as a rush slip
    (催菜) whatever ``mark`` the payload carries. The handler records the jobs (committed,
    durable) and returns; ``send`` is told which printers have new jobs, and sends them outside
    the follower's loop.
    """

    def __init__(self, spooler: PrintSpooler, *, device_id: Callable[[], int | None],
                 send: Callable[[Iterable[str]], None],
                 claim: Callable[[str, str], bool] | None = None) -> None:
        self.spooler = spooler
        self.device_id = device_id
        self.send = send
        # `claim(client_order_id, what)`: whether the server's paper of a sale made at this
        # agent's till may print (False when the till already printed it itself, offline).
        self.claim = claim

    def __call__(self, event: StoreEvent) -> None:
        document = event.document()
        if document is None:
            return
        if printed_here(event.payload, self.device_id()):
            log.info("event %s (%s): %s was printed here while offline; not again",
                     event.seq, event.kind, document.document_id)
            return
        if not self._claimed(event):
            log.info("event %s (%s): the till printed %s's paper itself; not again",
                     event.seq, event.kind, getattr(event.body, "client_order_id", ""))
            return
        role = KINDS[document.kind]
        if not self.spooler.config.printers_with_role(role):  # type: ignore[arg-type]
            log.debug("event %s: no %s printer configured, %s not printed", event.seq, role, document.document_id)
            return
        data = print_data(event)
        try:
            outcomes = self.spooler.submit(PrintRequest.for_document(data), send=False)
        except DocumentError as exc:
            raise SkipEvent(f"{document.document_id}: {exc}") from exc
        fresh = [o.job.printer for o in outcomes if not o.duplicate]
        if fresh:
            self.send(dict.fromkeys(fresh))


    def _claimed(self, event: StoreEvent) -> bool:
        """A till sale's first paper — its kitchen tickets as first sent, its paid receipt — is
        printed by whoever claims it first: the till offline, or this handler. An online forward
        whose answer was lost is sold again offline, and both would print without this."""
        body = event.body
        cid = getattr(body, "client_order_id", "")
        if not cid or self.claim is None or getattr(body, "is_reprint", False):
            return True
        if isinstance(body, KitchenTicket):
            return body.mark != "new" or event.kind != "ticket_new" or self.claim(cid, "kitchen")
        if isinstance(body, Receipt) and body.kind == "receipt" and body.is_paid:
            return self.claim(cid, "receipt")
        return True


def print_data(event: StoreEvent) -> dict[str, Any]:
    """The document of a printed event as the ledger keeps it (its identity is its key)."""
    data = dict(event.payload)
    if isinstance(event.body, KitchenTicket):
        if event.kind == "ticket_changed":
            data["mark"] = "change"
            if event.body.version <= 1:
                # A change is a new version of the ticket; one that still says version 1 would
                # meet the original's ledger row and never print. Its event is its identity then.
                data["document_id"] = f"{event.body.document_id}-change-{event.seq}"
        elif event.kind == "ticket_cancelled":
            data["mark"] = "cancel"
        elif event.kind == "order_rushed":
            data["mark"] = "rush"
    return data


def register_printing(dispatcher: Dispatcher, handler: PrintHandler) -> None:
    for kind in PRINT_KINDS:
        dispatcher.register(kind, handler)
