"""The on-site agent assembled from its YAML: printers, print ledger, readers, background retry,
and the link to the server: the event-log follower, its dispatch table and the status reports."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tablerules.documents import StoreEvent

from .config import AgentConfig
from .dispatch import Dispatcher, PrintHandler, register_printing
from .events import EventLog
from .follow import CURSOR_FILE, CursorStore, Follower, FollowState
from .local.service import LocalService
from .printing.adapter import PrinterAdapter
from .printing.ledger import PrintLedger
from .printing.spooler import Clock, PrintSpooler, utc_now
from .readers import ReaderManager
from .remote import ServerClient
from .report import AGENT_VERSION, StatusReporter, printer_state

log = logging.getLogger(__name__)


def _with_dict(handle: Callable[[dict[str, Any]], None]) -> Callable[[StoreEvent], None]:
    """A handler written for the log's JSON (``{seq, kind, order_id, created_at, payload}``)."""
    return lambda event: handle(event.to_dict())

LEDGER_FILE = "print_ledger.sqlite3"


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        ledger_path: str | Path | None = None,
        clock: Clock = utc_now,
        reader_options: dict[str, Any] | None = None,
        follow: bool | None = None,
        cursor_path: str | Path | None = None,
        outbox_pending: Callable[[], int] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.ledger = PrintLedger(ledger_path if ledger_path is not None else config.data_dir / LEDGER_FILE)
        self.adapters = {p.name: PrinterAdapter(p) for p in config.printers}
        self.spooler = PrintSpooler(config, self.ledger, self.adapters, clock=clock)
        self.events = EventLog()
        self.readers = ReaderManager(config.readers, self.events, **(reader_options or {}))
        # The till's sales, local copy and outbox: only with the store's number on the server.
        self.local = LocalService(config, self.spooler, clock=clock) if config.store_number is not None else None
        self.started_at = clock()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._send_wake = threading.Event()
        self._sender: threading.Thread | None = None
        # The link to the server. `dispatch` is the one table of event kinds; other parts of the
        # agent add theirs with `agent.dispatch.register(kind, handler)` before `start()`.
        # `outbox_pending` counts sales not yet on the server (0 until an outbox provides it).
        self.outbox_pending: Callable[[], int] | None = outbox_pending
        self.dispatch = Dispatcher()
        self.client = ServerClient(config.server_url, config.device_token)
        self.follower: Follower | None = None
        self.reporter: StatusReporter | None = None
        self.cursors: CursorStore | None = None
        if config.follow.enabled if follow is None else follow:
            self.cursors = CursorStore(cursor_path if cursor_path is not None else config.data_dir / CURSOR_FILE)
            self.follower = Follower(self.client, config.store_id, self.cursors, self.dispatch, config.follow)
            self.reporter = StatusReporter(self.client, self.device_report,
                                           interval_s=config.follow.report_interval_s)
        claim = self.local.server_paper if self.local is not None else None
        register_printing(self.dispatch, PrintHandler(self.spooler, device_id=self.device_id, send=self.send_soon,
                                                      claim=claim))
        if self.local is not None:
            # The till's kinds (orders paid elsewhere…) in the same table; its status shows our cursor,
            # and the device report its outbox.
            from .local import handlers as local_handlers

            local_handlers.register_all(lambda kind, handle: self.dispatch.register(kind, _with_dict(handle)),
                                        self.local, feed=self._till_news)
            self.local.cursor_provider = lambda: (self.follower.cursor or 0) if self.follower is not None else 0
            self.local.device_id_provider = self.device_id
            if self.outbox_pending is None:
                self.outbox_pending = self.local.outbox.pending_sales

    def _till_news(self, event: dict[str, Any]) -> None:
        """Store news for the till page, in the same local feed as the readers' swipes and scans."""
        self.events.append("server", event["kind"], str(event.get("order_id") or ""),
                           store_seq=event["seq"], payload=event.get("payload") or {})

    def start(self) -> None:
        recovered = self.ledger.recover_interrupted()
        if recovered:
            log.warning("%d print job(s) were being sent when the agent stopped; check them", recovered)
        self.readers.start()
        self._loop = threading.Thread(target=self._background, name="print-retry", daemon=True)
        self._loop.start()
        if self.local is not None:
            self.local.start()
        self._sender = threading.Thread(target=self._send_loop, name="print-send", daemon=True)
        self._sender.start()
        if self.follower is not None:
            self.follower.start()
        if self.reporter is not None:
            self.reporter.start()

    def stop(self) -> None:
        # The follower and the reporter first: they call into the till's side (its handlers, its outbox).
        if self.follower is not None:
            self.follower.stop()
        if self.reporter is not None:
            self.reporter.stop()
        if self.local is not None:
            self.local.stop()
        self._stop.set()
        self._send_wake.set()
        for thread in (self._loop, self._sender):
            if thread is not None:
                thread.join(10)
        self.readers.stop()
        self.ledger.close()
        if self.cursors is not None:
            self.cursors.close()

    # --- the link to the server --------------------------------------------------------------

    def device_id(self) -> int | None:
        """This agent's device id on the server (`GET /api/v1/devices/me`), once it has been asked."""
        return self.follower.device_id if self.follower is not None else None

    def follow_state(self) -> FollowState | None:
        """``online`` and ``cursor`` of `GET /api/v1/status` come from here (None: not following)."""
        return self.follower.state() if self.follower is not None else None

    def send_soon(self, printers: Iterable[str] = ()) -> None:
        """Jobs were recorded for these printers: send them now, outside the caller's thread."""
        self._send_wake.set()

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._send_wake.wait()
            self._send_wake.clear()
            if self._stop.is_set():
                return
            try:
                self.spooler.retry_pending()
            except Exception:
                log.exception("sending print jobs failed")

    def printer_states(self) -> list[dict[str, Any]]:
        """Each printer's state as the server and the till are told it."""
        pending: dict[str, int] = {}
        for job in self.ledger.pending():
            pending[job.printer] = pending.get(job.printer, 0) + 1
        states = []
        for printer in self.config.printers:
            known = self.spooler.known_status(printer.name)
            state, message = printer_state(known.status.as_dict() if known else None)
            states.append({"name": printer.name, "role": printer.role, "stations": list(printer.stations),
                           "state": state, "message": message, "pending": pending.get(printer.name, 0)})
        return states

    def device_report(self) -> dict[str, Any]:
        """The body of the status report to the server (`pos_agent.report`)."""
        follow = self.follow_state()
        outbox = 0
        if self.outbox_pending is not None:
            try:
                outbox = int(self.outbox_pending())
            except Exception:
                log.exception("counting the outbox failed")
        return {
            "printers": self.printer_states(),
            "cursor": follow.cursor if follow is not None else None,
            "outbox_pending": outbox,
            "version": AGENT_VERSION,
        }

    def _background(self) -> None:
        """Retry waiting jobs often; ask idle printers how they are now and then."""
        last_check = float("-inf")
        while True:
            try:
                self.spooler.retry_pending()
                if time.monotonic() - last_check >= self.config.status_interval_s:
                    last_check = time.monotonic()
                    busy = {job.printer for job in self.ledger.pending()}
                    for name in self.adapters:
                        if name not in busy and not self._stop.is_set():
                            self.spooler.refresh_status(name)
            except Exception:  # keep retrying whatever went wrong this round
                log.exception("background print round failed")
            if self._stop.wait(self.config.retry_interval_s):
                return

    def sync_status(self) -> dict[str, Any]:
        """``GET /api/v1/status`` (AGENT-API.md)."""
        base = {"online": False, "outbox_pending": 0, "last_synced_at": None, "cursor": 0}
        if self.local is not None:
            base.update(self.local.status())
        return {**base, "printers": self.printer_states()}

    def status(self) -> dict[str, Any]:
        counts = self.ledger.counts()
        printers = []
        for printer in self.config.printers:
            known = self.spooler.known_status(printer.name)
            printers.append(
                {
                    "name": printer.name,
                    "type": printer.type,
                    "address": printer.address,
                    "role": printer.role,
                    "stations": list(printer.stations),
                    "paper_width_mm": printer.paper_width_mm,
                    "columns": printer.columns,
                    "status": known.status.as_dict() if known else None,
                    "checked_at": known.at.isoformat(timespec="seconds") if known else None,
                    "jobs": counts.get(printer.name, {}),
                }
            )
        return {
            "store_id": self.config.store_id,
            "store_name": self.config.store.name,
            "server_url": self.config.server_url,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "printers": printers,
            "readers": self.readers.status(),
            "last_event": self.events.last_seq,
            "follow": follow.as_dict() if (follow := self.follow_state()) is not None else None,
        }
