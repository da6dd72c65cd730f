"""The on-site agent assembled from its YAML: printers, print ledger, readers, background retry."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from .config import AgentConfig
from .events import EventLog
from .local.service import LocalService
from .printing.adapter import PrinterAdapter
from .printing.ledger import PrintLedger
from .printing.spooler import Clock, PrintSpooler, utc_now
from .readers import ReaderManager

log = logging.getLogger(__name__)

LEDGER_FILE = "print_ledger.sqlite3"


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        ledger_path: str | Path | None = None,
        clock: Clock = utc_now,
        reader_options: dict[str, Any] | None = None,
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

    def start(self) -> None:
        recovered = self.ledger.recover_interrupted()
        if recovered:
            log.warning("%d print job(s) were being sent when the agent stopped; check them", recovered)
        self.readers.start()
        self._loop = threading.Thread(target=self._background, name="print-retry", daemon=True)
        self._loop.start()
        if self.local is not None:
            self.local.start()

    def stop(self) -> None:
        if self.local is not None:
            self.local.stop()
        self._stop.set()
        if self._loop is not None:
            self._loop.join(10)
        self.readers.stop()
        self.ledger.close()

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

    def printer_states(self) -> list[dict[str, Any]]:
        """Each printer's state as last seen: online, paper_out, offline, cover_open, … or unknown."""
        states = []
        for printer in self.config.printers:
            known = self.spooler.known_status(printer.name)
            state = "unknown"
            if known is not None:
                status = known.status
                if status.error:
                    state = str(status.error.get("code") or "error")
                elif status.online is False:
                    state = "offline"
                elif status.paper == "out":
                    state = "paper_out"
                else:
                    state = "online"
            states.append({"name": printer.name, "state": state, "role": printer.role})
        return states

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
        }
