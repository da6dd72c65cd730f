"""Follow the store event log from the agent's saved cursor: dial out, never listen.

With its device token the agent reads ``/api/v1/stores/{id}/events`` after its cursor — the SSE
stream ``…/events/stream`` with ``Last-Event-ID``, or paged ``GET …/events?after=N`` when the
stream cannot be had — and hands each event to the dispatch table (`pos_agent.dispatch`).

- **The cursor** is the seq of the last event whose effect is durable. It lives in SQLite in
  ``data_dir`` (``follow.sqlite3``, ``synchronous=FULL``) and is saved after the handler
  returned; a crash in between hands the event over again, and the handlers are idempotent
  (the print ledger's UNIQUE key), so nothing is lost and nothing prints twice.
- **A fresh agent** (no cursor) starts at the store's head (``head_seq``): it never prints the past.
- **A connection** starts by catching up page by page, then streams. The stream sends a heartbeat
  comment every 15 s; no byte for ``stream_timeout_s`` means the line is dead (a NAT dropped it, the
  server vanished): the agent reconnects. Every failure waits an exponential backoff with jitter
  before the next try, so a hundred stores do not all knock at once when the server comes back.
- **Fallback**: in ``auto`` mode, a stream the server (or a proxy) will not give — a refusal or an
  answer that is not ``text/event-stream`` — makes the agent poll the pages for a while
  (``SSE_RETRY_AFTER_S``) before it tries the stream again.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tablerules.documents import DocumentError, StoreEvent, event_from_sse

from .config import FollowConfig
from .dispatch import Dispatcher, SkipEvent
from .remote import Refused, ServerClient, Unreachable

log = logging.getLogger(__name__)

CURSOR_FILE = "follow.sqlite3"
SSE_RETRY_AFTER_S = 300.0  # after the stream was refused, poll this long before trying it again
MAX_LINE = 4 * 1024 * 1024  # one SSE line (an event's JSON) longer than this is a broken stream


class StreamBroken(Exception):
    """The stream ended, timed out or sent something that is not SSE: reconnect."""


class StreamUnavailable(Exception):
    """The server answered, but not with a stream: poll instead for a while."""


class HandlerFailed(Exception):
    """A handler failed for a reason that may pass (a disk, a lock): hand the event over again later."""


# --- the cursor --------------------------------------------------------------------------------


class CursorStore:
    """The follower's cursor per store, in its own small SQLite file (durable on every save)."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 5000")
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS follow_cursor (store_id TEXT PRIMARY KEY, seq INTEGER NOT NULL"
            " CHECK (seq >= 0), updated_at TEXT NOT NULL)"
        )

    def get(self, store_id: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT seq FROM follow_cursor WHERE store_id = ?", (store_id,)).fetchone()
        return None if row is None else int(row[0])

    def save(self, store_id: str, seq: int) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock:
            self._db.execute(
                "INSERT INTO follow_cursor (store_id, seq, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (store_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
                (store_id, seq, now),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --- backoff -----------------------------------------------------------------------------------


class Backoff:
    """Exponential backoff with "equal jitter": the n-th wait in a row is uniformly drawn from
    ``[d/2, d]`` with ``d = min(maximum, initial * 2**n)``. Never zero, never above ``maximum``,
    and two agents that failed together drift apart."""

    def __init__(self, initial_s: float, maximum_s: float, *, rng: Callable[[], float] = random.random) -> None:
        if initial_s <= 0 or maximum_s < initial_s:
            raise ValueError("need 0 < initial_s <= maximum_s")
        self.initial_s, self.maximum_s, self.rng = initial_s, maximum_s, rng
        self.failures = 0

    def ceiling(self) -> float:
        """The upper bound of the next wait."""
        return min(self.maximum_s, self.initial_s * 2 ** min(self.failures, 60))

    def next(self) -> float:
        ceiling = self.ceiling()
        self.failures += 1
        return ceiling / 2 + self.rng() * ceiling / 2

    def reset(self) -> None:
        self.failures = 0


# --- the follower ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowState:
    """What `GET /api/v1/status` and the status page show of the link to the server."""

    online: bool
    cursor: int | None
    mode: str  # "stream" | "poll" | "" (not connected)
    device_id: int | None
    last_contact_at: str | None  # the last answer or stream byte from the server
    last_event_at: str | None
    last_error: str | None
    skipped: int  # events a handler could never use (logged)
    reconnects: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "online": self.online, "cursor": self.cursor, "mode": self.mode, "device_id": self.device_id,
            "last_contact_at": self.last_contact_at, "last_event_at": self.last_event_at,
            "last_error": self.last_error, "skipped": self.skipped, "reconnects": self.reconnects,
        }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Follower:
    """Reads the store's event log in a thread of its own and dispatches every event once."""

    def __init__(
        self,
        client: ServerClient,
        store_id: str,
        cursors: CursorStore,
        dispatcher: Dispatcher,
        settings: FollowConfig,
        *,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.store_id = str(store_id)
        self.cursors = cursors
        self.dispatcher = dispatcher
        self.settings = settings
        self.backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, rng=rng)
        self.device_id: int | None = None
        self.device: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # The open stream's socket, kept apart from its connection: http.client hands the socket
        # to the response (conn.sock becomes None) when the server will close after it, and stop()
        # must still be able to wake the blocking read.
        self._sock: socket.socket | None = None
        self._cursor = cursors.get(self.store_id)
        self._online = False
        self._mode = ""
        self._last_contact: str | None = None
        self._last_event: str | None = None
        self._last_error: str | None = None
        self._skipped = 0
        self._reconnects = 0
        self._stream_refused_until = 0.0
        self._connected = threading.Event()

    # --- life --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="event-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._lock:
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):  # wake a blocking read of the stream
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def cursor(self) -> int | None:
        with self._lock:
            return self._cursor

    @property
    def online(self) -> bool:
        with self._lock:
            return self._online

    def state(self) -> FollowState:
        with self._lock:
            return FollowState(
                online=self._online, cursor=self._cursor, mode=self._mode if self._online else "",
                device_id=self.device_id, last_contact_at=self._last_contact, last_event_at=self._last_event,
                last_error=self._last_error, skipped=self._skipped, reconnects=self._reconnects,
            )

    def wait_connected(self, timeout: float) -> bool:
        """Until the follower has caught up with the log once (tests, benchmarks)."""
        return self._connected.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
                error = None
            except Refused as exc:
                error = f"refused: {exc}"
                if exc.status in (401, 403):
                    log.error("the server refuses this agent's device token (%s); check device_token", exc)
            except (Unreachable, StreamBroken, HandlerFailed, OSError, http.client.HTTPException) as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # keep following whatever went wrong
                log.exception("following the event log failed")
                error = f"{type(exc).__name__}: {exc}"
            if self._stop.is_set():
                break
            wait = self.backoff.next()
            with self._lock:
                was_online = self._online
                self._online, self._last_error = False, error
                self._reconnects += 1
            (log.warning if was_online else log.info)(
                "event log: %s; trying again in %.1f s", error or "connection ended", wait)
            self._stop.wait(wait)
        with self._lock:
            self._online = False

    # --- one connection ----------------------------------------------------------------------

    def _session(self) -> None:
        if self.device_id is None:
            self.device = self.client.get("/api/v1/devices/me")
            self.device_id = int(self.device["id"])
            if str(self.device.get("store_id")) != self.store_id:
                log.error("this device token belongs to store %s, the configuration says store %s",
                          self.device.get("store_id"), self.store_id)
        self._catch_up()
        with self._lock:
            self._online, self._last_error = True, None
        self.backoff.reset()
        self._connected.set()
        use_stream = self.settings.mode == "stream" or (
            self.settings.mode == "auto" and time.monotonic() >= self._stream_refused_until)
        if use_stream:
            try:
                self._stream()
                return
            except StreamUnavailable as exc:
                if self.settings.mode == "stream":
                    raise StreamBroken(str(exc)) from exc
                log.warning("the event stream is not available (%s); polling for %.0f s", exc, SSE_RETRY_AFTER_S)
                self._stream_refused_until = time.monotonic() + SSE_RETRY_AFTER_S
        self._poll()

    def _events_path(self) -> str:
        return f"/api/v1/stores/{self.store_id}/events"

    def _page(self, after: int, limit: int) -> dict[str, Any]:
        page = self.client.get(self._events_path(), {"after": after, "limit": limit},
                               timeout_s=self.settings.stream_timeout_s)
        self._touch()
        if not isinstance(page, dict) or not isinstance(page.get("events"), list):
            raise Unreachable("the events page is not what the server sends")
        return page

    def _catch_up(self) -> None:
        """Read pages after the cursor until the log's head; a fresh agent starts at the head."""
        cursor = self.cursor
        if cursor is None:
            head = int(self._page(0, 1)["head_seq"])
            self._save(head)
            log.info("first start: following the store's event log from its head, seq %s", head)
            return
        while not self._stop.is_set():
            page = self._page(cursor, self.settings.page_size)
            head = int(page.get("head_seq", 0))
            if not page["events"] and head < cursor:
                # The server's log is shorter than our cursor: its database was replaced. Waiting
                # for seq > cursor would ignore the new log for ever; start at its head.
                log.warning("the store's event log went back from %s to %s; following from its head", cursor, head)
                self._save(head)
                return
            for data in page["events"]:
                self._handle_data(data)
            cursor = self.cursor or 0
            if len(page["events"]) < self.settings.page_size:
                return

    def _poll(self) -> None:
        with self._lock:
            self._mode = "poll"
        while not self._stop.wait(self.settings.poll_interval_s):
            if self.settings.mode == "auto" and time.monotonic() >= self._stream_refused_until:
                return  # reconnect and try the stream again
            self._catch_up()

    def _stream(self) -> None:
        conn = self.client.connection(self.settings.stream_timeout_s)
        headers = self.client.headers({"Accept": "text/event-stream", "Cache-Control": "no-cache",
                                       "Last-Event-ID": str(self.cursor or 0)})
        try:
            try:
                conn.connect()
                with self._lock:
                    self._sock = conn.sock
                if self._stop.is_set():
                    return
                conn.request("GET", self.client.url(self._events_path() + "/stream"), headers=headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise Unreachable(f"event stream: {exc}") from exc
            if response.status >= 500:
                raise Unreachable(f"event stream: HTTP {response.status}")
            content_type = response.getheader("Content-Type", "")
            if response.status != 200 or not content_type.startswith("text/event-stream"):
                body = response.read(2000)
                if 400 <= response.status < 500 and response.status not in (404, 405, 406, 501):
                    raise _refusal(response.status, body)
                raise StreamUnavailable(f"HTTP {response.status} {content_type or 'no content type'}")
            with self._lock:
                self._mode = "stream"
            self._read_stream(response)
        finally:
            with self._lock:
                self._sock = None
            conn.close()

    def _read_stream(self, response: http.client.HTTPResponse) -> None:
        lines: list[str] = []
        while not self._stop.is_set():
            try:
                raw = response.readline(MAX_LINE + 1)
            except TimeoutError as exc:
                raise StreamBroken(f"no heartbeat for {self.settings.stream_timeout_s:.0f} s") from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise StreamBroken(f"event stream: {exc}") from exc
            if not raw:
                raise StreamBroken("the server closed the event stream")
            if len(raw) > MAX_LINE:
                raise StreamBroken("an event stream line is too long")
            self._touch()
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line:
                lines.append(line)
                continue
            if lines:
                message, lines = "\n".join(lines), []
                self._handle_message(message)

    # --- one event ---------------------------------------------------------------------------

    def _handle_message(self, message: str) -> None:
        try:
            event = event_from_sse(message)
        except DocumentError as exc:
            seq = _seq_of_message(message)
            if seq is None:
                raise StreamBroken(f"an event stream message is not an event: {exc}") from exc
            self._skip(seq, "?", exc)
            return
        if event is not None:
            self._handle(event)

    def _handle_data(self, data: Any) -> None:
        try:
            event = StoreEvent.from_dict(data)
        except DocumentError as exc:
            seq = data.get("seq") if isinstance(data, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise Unreachable(f"an event of the log has no seq: {exc}") from exc
            self._skip(seq, str(data.get("kind")), exc)
            return
        self._handle(event)

    def _handle(self, event: StoreEvent) -> None:
        cursor = self.cursor or 0
        if event.seq <= cursor:
            return  # already handled (a page and the stream may overlap)
        if event.seq != cursor + 1:
            log.warning("event log: seq %s follows %s", event.seq, cursor)
        try:
            self.dispatcher.dispatch(event)
        except (SkipEvent, DocumentError) as exc:
            self._skip(event.seq, event.kind, exc)
            return
        except Exception as exc:
            log.exception("event %s (%s): handler failed; it will be handed over again", event.seq, event.kind)
            raise HandlerFailed(f"event {event.seq} ({event.kind}): {exc}") from exc
        self._save(event.seq)
        with self._lock:
            self._last_event = _now_iso()

    def _skip(self, seq: int, kind: str, exc: Exception) -> None:
        if seq <= (self.cursor or 0):
            return
        log.error("event %s (%s) cannot be used and is skipped: %s", seq, kind, exc)
        with self._lock:
            self._skipped += 1
        self._save(seq)

    def _save(self, seq: int) -> None:
        self.cursors.save(self.store_id, seq)
        with self._lock:
            self._cursor = seq

    def _touch(self) -> None:
        with self._lock:
            self._last_contact = _now_iso()


def _seq_of_message(message: str) -> int | None:
    for line in message.splitlines():
        if line.startswith("id:"):
            value = line[3:].strip()
            if value.isdigit():
                return int(value)
    for line in message.splitlines():
        if line.startswith("data:"):
            try:
                seq = json.loads(line[5:]).get("seq")
            except (ValueError, AttributeError):
                return None
            return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    return None


def _refusal(status: int, body: bytes) -> Refused:
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    return Refused(status, str(error.get("code") or f"http_{status}"), str(error.get("message") or f"HTTP {status}"))
