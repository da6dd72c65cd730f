"""The agent's state, reported to the server: on a printer's change and as a periodic heartbeat.

``POST /api/v1/devices/me/status`` with ``printers`` (each ``name``, ``role``, ``stations``,
``state``, ``message``, ``pending``), ``cursor``, ``outbox_pending`` and ``version``. The server
keeps it on the device (its last seen time, the manager pages) and, when a printer's state
changed, appends a ``device_status`` event to the store's log so the screens can react.

Printer states: ``online``, ``paper_low``, ``paper_out``, ``cover_open``, ``offline``,
``printer_error``, ``unreachable``, ``no_status_reply``, ``unknown`` (not asked yet, or a
printer that does not report).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .remote import Refused, ServerClient, Unreachable

log = logging.getLogger(__name__)

AGENT_VERSION = "0.1.0"
STATUS_PATH = "/api/v1/devices/me/status"
CHANGE_CHECK_S = 1.0  # how often the printers' states are compared with the last report
RETRY_S = 5.0  # after a failed report, try again this soon (not a whole heartbeat later)

PRINTER_STATES: tuple[str, ...] = (
    "online", "paper_low", "paper_out", "cover_open", "offline", "printer_error", "unreachable",
    "no_status_reply", "unknown",
)


def printer_state(status: dict[str, Any] | None) -> tuple[str, str]:
    """(state, message) of a printer from its last known status (`PrinterStatus.as_dict`)."""
    if not status:
        return "unknown", ""
    error = status.get("error")
    if isinstance(error, dict) and error.get("code"):
        code = str(error["code"])
        state = code if code in PRINTER_STATES else "printer_error"
        return state, str(error.get("message") or error.get("message_zh") or "")
    if status.get("paper") == "out":
        return "paper_out", ""
    if status.get("online") is False:
        return "offline", ""
    if status.get("paper") == "low":
        return "paper_low", ""
    if status.get("online") is True:
        return "online", ""
    return "unknown", ""


class StatusReporter:
    """Posts the agent's state in a thread: at once when a printer's state changes, otherwise
    every ``interval_s``. A report that cannot reach the server is simply made again later."""

    def __init__(
        self,
        client: ServerClient,
        snapshot: Callable[[], dict[str, Any]],
        *,
        interval_s: float,
    ) -> None:
        self.client = client
        self.snapshot = snapshot
        self.interval_s = interval_s
        self.last_sent: dict[str, Any] | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="status-report", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def report_now(self) -> None:
        self._wake.set()

    def send(self) -> bool:
        """One report now; True when the server took it."""
        body = self.snapshot()
        try:
            self.client.post(STATUS_PATH, body, timeout_s=10)
        except (Unreachable, Refused) as exc:
            if self.last_error is None:
                log.info("device status not reported: %s", exc)
            self.last_error = str(exc)
            return False
        self.last_sent, self.last_error = body, None
        return True

    def _run(self) -> None:
        due = 0.0  # the first report goes out at once
        retry_at = 0.0  # after a failure, changes wait for this too
        while not self._stop.is_set():
            now = time.monotonic()
            woken = self._wake.is_set()
            changed = now >= retry_at and (
                self.last_sent is None or _printer_states(self.snapshot()) != _printer_states(self.last_sent))
            if now >= due or changed or woken:
                self._wake.clear()
                if self.send():
                    due = time.monotonic() + self.interval_s
                else:
                    retry_at = due = time.monotonic() + min(RETRY_S, self.interval_s)
            self._wake.wait(CHANGE_CHECK_S)


def _printer_states(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["name"], p["state"]) for p in body.get("printers", ())]
