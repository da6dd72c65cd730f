"""One reader of a store's event log per worker process, shared by every live stream of the store.

If each stream read the log on every ring of the doorbell, N screens of one store would make N
identical reads per new event. A feed instead holds the store's one doorbell listener in a
thread, reads what is new once, and keeps the newest events in memory; the streams take theirs
from that buffer, and read the log themselves only to catch up from a cursor older than it.
The log stays the truth: the buffer holds every event after its base, in seq order, and nothing
else, so a stream that serves from it still never loses or repeats an event.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from app.db import db
from app.events.service import event_json, last_seq, read_after

BUFFER_SIZE = 2_000  # newest events kept; a stream further behind reads the log itself
PAGE = 500  # events per read of the log
STOP_POLL_SECONDS = 1.0  # how soon a feed nobody uses lets go of its listener


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    kind: str
    text: str  # the whole SSE message, rendered once for every stream that sends it
    # What a diner's stream filters on (app.diner): the table and order an event is about.
    table_id: int | None = None
    order_id: int | None = None
    # What the streams work out from the event once for all of them (a diner's table view),
    # kept as long as the entry is.
    memo: dict = field(default_factory=dict, compare=False, repr=False)


def render(event: dict) -> Entry:
    data = json.dumps(event, ensure_ascii=False)
    table_id = event["payload"].get("table_id") if isinstance(event.get("payload"), dict) else None
    return Entry(event["seq"], event["kind"], f"id: {event['seq']}\nevent: {event['kind']}\ndata: {data}\n\n",
                 table_id if type(table_id) is int else None, event.get("order_id"))


class FeedStopped(Exception):
    """The feed's thread failed (database or doorbell gone): the stream ends and its client
    reconnects with its cursor."""


class StoreFeed:
    def __init__(self, app, store_id: int) -> None:
        self.app, self.store_id = app, store_id
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)  # the streams of no table, and the feed's own state
        # A diner's stream waits on its table's condition (same lock): a change at one table wakes
        # that table's phones, not the 300 phones of the whole store.
        self._tables: dict[int, threading.Condition] = {}
        self._entries: deque[Entry] = deque()
        # The buffer holds every event with base < seq <= last, once the baseline is read.
        self._base = self._last = 0
        self._ready = self._failed = False
        self._stopping = threading.Event()
        self._users = 0
        self._thread = threading.Thread(target=self._run, name=f"store-feed-{store_id}", daemon=True)

    def covers(self, pos: int) -> bool:
        """Whether the buffer holds every event after `pos`."""
        with self._cond:
            return self._ready and pos >= self._base

    def after(self, pos: int, timeout: float, table_id: int | None = None) -> list[Entry] | None:
        """The buffered events after `pos`, waiting up to `timeout` seconds for the first of them
        ([] when none came); None when the buffer no longer reaches back to `pos`: read the log.
        With `table_id`, only an event of that table, or of no table, ends the wait (the others
        are still in the answer, for the caller to skip)."""
        deadline = time.monotonic() + timeout
        cond = self._cond if table_id is None else self._table_cond(table_id)
        with cond:  # state is checked under the lock the feed publishes under: no lost wake-up
            while True:
                if self._failed:
                    raise FeedStopped
                if self._ready:
                    if pos < self._base:
                        return None
                    if self._last > pos:
                        newer = []
                        for entry in reversed(self._entries):
                            if entry.seq <= pos:
                                break
                            newer.append(entry)
                        newer.reverse()
                        return newer
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                cond.wait(remaining)

    def _table_cond(self, table_id: int) -> threading.Condition:
        with self._cond:
            cond = self._tables.get(table_id)
            if cond is None:
                cond = self._tables[table_id] = threading.Condition(self._lock)
            return cond

    def _wake(self, entries: list[Entry] | None = None) -> None:
        """Wake the streams an event concerns (all of them without `entries`); the lock is held."""
        self._cond.notify_all()
        tables = None if entries is None else {e.table_id for e in entries}
        if tables is None or None in tables:
            for cond in self._tables.values():
                cond.notify_all()
        else:
            for table_id in tables:
                if (cond := self._tables.get(table_id)) is not None:
                    cond.notify_all()

    def wait(self, timeout: float) -> None:
        """Until the feed next changes, or `timeout`."""
        with self._cond:
            if self._failed:
                raise FeedStopped
            self._cond.wait(timeout)

    def _run(self) -> None:
        heartbeat = self.app.config["EVENT_HEARTBEAT_SECONDS"]
        listener = None
        try:
            listener = self.app.extensions["tableloop_doorbell"].listener(self.store_id)  # before reading
            rung, due = True, 0.0
            while not self._stopping.is_set():
                if rung or time.monotonic() >= due:  # a ring, or the heartbeat's safety-net read
                    self._pull()
                    due = time.monotonic() + heartbeat
                rung = listener.wait(max(0.0, min(STOP_POLL_SECONDS, due - time.monotonic())))
        except Exception:
            self.app.logger.warning("the event feed of store %s stopped", self.store_id, exc_info=True)
            _forget(self)
            with self._cond:
                self._failed = True
                self._wake()
        finally:
            if listener is not None:
                listener.close()

    def _pull(self) -> None:
        with self.app.app_context():
            try:
                if not self._ready:
                    self._reset(last_seq(self.store_id))
                found = False
                while True:
                    page = [render(event_json(e)) for e in read_after(self.store_id, self._last, None, PAGE)]
                    if page:
                        found = True
                        self._publish(page)
                    if len(page) < PAGE:
                        break
                if not found and (head := last_seq(self.store_id)) < self._last:
                    # The log went back (a restored database): start again from its head.
                    self._reset(head)
            finally:
                db.session.remove()

    def _reset(self, head: int) -> None:
        with self._cond:
            self._entries.clear()
            self._base = self._last = head
            self._ready = True
            self._wake()

    def _publish(self, entries: list[Entry]) -> None:
        with self._cond:
            self._entries.extend(entries)
            self._last = entries[-1].seq
            while len(self._entries) > BUFFER_SIZE:
                self._base = self._entries.popleft().seq
            self._wake(entries)


_feeds: dict[tuple[object, int], StoreFeed] = {}
_feeds_lock = threading.Lock()


def join(app, store_id: int) -> StoreFeed:
    """The store's feed in this process, started with its first stream; `leave` it when done."""
    with _feeds_lock:
        feed = _feeds.get((app, store_id))
        if feed is None:
            feed = _feeds[(app, store_id)] = StoreFeed(app, store_id)
            feed._thread.start()
        feed._users += 1
        return feed


def leave(feed: StoreFeed) -> None:
    """The last stream to leave stops the feed: its thread ends and closes the listener."""
    with _feeds_lock:
        feed._users -= 1
        if feed._users == 0:
            if _feeds.get((feed.app, feed.store_id)) is feed:
                del _feeds[(feed.app, feed.store_id)]
            feed._stopping.set()


def _forget(feed: StoreFeed) -> None:
    with _feeds_lock:
        if _feeds.get((feed.app, feed.store_id)) is feed:
            del _feeds[(feed.app, feed.store_id)]
