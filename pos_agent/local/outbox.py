"""The durable outbox and its pusher.

Every sale the till made while the server could not be reached is appended here in the same
SQLite transaction that records it locally, before the till gets its answer. The pusher sends
the outbox in order, in batches: a batch's key is written beside its operations before it is
sent, so after a crash or a lost answer the same batch goes again with the same key, and the
server (which applies every operation at most once, by its own key) answers it as before.
While the server is unreachable the pusher backs off (doubling up to 10 s, with jitter).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from tablerules.documents import DocumentError
from tablerules.sync import SyncBatch, SyncOperation, SyncResult

from ..remote import Refused, ServerClient, Unreachable
from .connectivity import Connectivity
from .db import LocalDB, dumps

log = logging.getLogger(__name__)

BATCH_SIZE = 50
MAX_BACKOFF_S = 10.0  # a store back online syncs within seconds, not minutes


class Outbox:
    def __init__(self, db: LocalDB, batch_size: int = BATCH_SIZE) -> None:
        self.db = db
        self.batch_size = batch_size

    @staticmethod
    def add(conn, op: SyncOperation, *, member_id: int | None, stored_value_cents: int, now: str) -> None:
        """Append an operation (in the caller's transaction); the same key twice is one row."""
        conn.execute("INSERT INTO outbox (key, client_order_id, member_id, stored_value_cents, op, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                     (op.key, op.client_order_id, member_id, stored_value_cents, dumps(op.to_dict()), now))

    def pending_sales(self) -> int:
        """Sales (an order with its settlement) not yet on the server."""
        return int(self.db.scalar("SELECT COUNT(DISTINCT client_order_id) FROM outbox WHERE state = 'pending'") or 0)

    def pending_ops(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'") or 0)

    def oldest_pending_at(self) -> str | None:
        return self.db.scalar("SELECT MIN(created_at) FROM outbox WHERE state = 'pending'")

    def refused(self) -> list[dict]:
        return [{"key": key, "client_order_id": cid, "error": json.loads(result or "{}").get("error")}
                for key, cid, result in self.db.all(
                    "SELECT key, client_order_id, result FROM outbox WHERE state = 'refused' ORDER BY seq")]

    def is_pending(self, client_order_id: str) -> bool:
        return self.db.one("SELECT 1 FROM outbox WHERE client_order_id = ? AND state = 'pending'",
                           (client_order_id,)) is not None

    def next_batch(self) -> SyncBatch | None:
        """The batch to send next: the one already keyed and not acknowledged, or a new one of
        the oldest pending operations (its key written before it is sent)."""
        with self.db.transaction() as conn:
            first = conn.execute("SELECT batch_key FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT 1").fetchone()
            if first is None:
                return None
            batch_key = first[0]
            if batch_key is None:
                batch_key = f"batch-{uuid.uuid4().hex}"
                conn.execute("UPDATE outbox SET batch_key = ? WHERE seq IN (SELECT seq FROM outbox "
                             "WHERE state = 'pending' AND batch_key IS NULL ORDER BY seq LIMIT ?)",
                             (batch_key, self.batch_size))
            rows = conn.execute("SELECT op FROM outbox WHERE batch_key = ? AND state = 'pending' ORDER BY seq",
                                (batch_key,)).fetchall()
        return SyncBatch(batch_key, tuple(SyncOperation.from_dict(json.loads(op)) for (op,) in rows))

    def record(self, result: SyncResult, now: str) -> list[SyncOperation]:
        """The server's answer: each operation done (or refused), the local orders told their
        server id. Returns the operations that were applied or already there."""
        by_key = result.by_key()
        done = []
        with self.db.transaction() as conn:
            for key, answer in by_key.items():
                row = conn.execute("SELECT op FROM outbox WHERE key = ? AND state = 'pending'", (key,)).fetchone()
                if row is None:
                    continue
                state = "refused" if answer.status == "refused" else "done"
                conn.execute("UPDATE outbox SET state = ?, result = ?, done_at = ? WHERE key = ?",
                             (state, dumps(answer.to_dict()), now, key))
                op = SyncOperation.from_dict(json.loads(row[0]))
                if answer.order and answer.order.get("id"):
                    conn.execute("UPDATE orders SET server_id = ? WHERE client_order_id = ?",
                                 (answer.order["id"], op.client_order_id))
                if state == "done":
                    done.append(op)
                else:
                    log.error("the server refused %s: %s", key, answer.error)
        return done

    def refuse_batch(self, batch: SyncBatch, error: dict, now: str) -> None:
        with self.db.transaction() as conn:
            for op in batch.operations:
                conn.execute("UPDATE outbox SET state = 'refused', result = ?, done_at = ? WHERE key = ? "
                             "AND state = 'pending'", (dumps({"error": error}), now, op.key))


class Pusher:
    """The background loop: push the outbox when there is something to push, otherwise check
    now and then that the server answers; refresh the local copy every `resync_interval_s`."""

    def __init__(self, outbox: Outbox, client: ServerClient, connectivity: Connectivity, *,
                 interval_s: float, resync_interval_s: float, refresh: Callable[[], None],
                 clock: Callable[[], datetime], timeout_s: float,
                 refresh_members: Callable[[], None] | None = None) -> None:
        self.outbox = outbox
        self.client = client
        self.connectivity = connectivity
        self.interval_s = interval_s
        self.resync_interval_s = resync_interval_s
        self.refresh = refresh
        self.refresh_members = refresh_members
        self.clock = clock
        self.timeout_s = timeout_s
        self.last_synced_at: str | None = outbox.db.get_meta("last_synced_at")
        self._push_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = 0.0
        self._refreshed_at = float("-inf")
        self.refresh_wanted = threading.Event()
        self.refresh_wanted.set()  # a full read of the local copy at start

    def mark_refreshed(self) -> None:
        self._refreshed_at = time.monotonic()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-pusher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.connectivity.wake.set()
        if self._thread is not None:
            self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.is_set():
            reachable = True
            try:
                reachable = self.push_now() if self.outbox.pending_ops() else self._ping()
                due = time.monotonic() - self._refreshed_at >= self.resync_interval_s
                if reachable and (due or self.refresh_wanted.is_set()):
                    self.refresh_wanted.clear()
                    self._refreshed_at = time.monotonic()
                    self.refresh()
                elif reachable and self.refresh_members is not None:
                    self.refresh_members()  # balances and allowances change all day: keep up with them
            except Unreachable:
                self.connectivity.mark_offline()
                reachable = False
            except Exception:  # keep pushing whatever went wrong this round
                log.exception("outbox round failed")
            if reachable:
                self._backoff = 0.0
                wait = self.interval_s
            else:
                self._backoff = min(MAX_BACKOFF_S, max(self.interval_s, self._backoff * 2 or self.interval_s))
                wait = self._backoff * random.uniform(0.8, 1.2)
            self.connectivity.wake.wait(wait)
            self.connectivity.wake.clear()

    def _ping(self) -> bool:
        """Tell the server how the outbox stands (it also learns the agent is alive)."""
        try:
            self.client.post("/api/v1/sync/state", {
                "outbox_pending": self.outbox.pending_sales(), "oldest_unsynced_at": self.outbox.oldest_pending_at(),
                "last_synced_at": self.last_synced_at}, timeout_s=self.timeout_s)
        except Unreachable:
            self.connectivity.mark_offline()
            return False
        except Refused:
            pass
        self.connectivity.mark_online()
        return True

    def push_now(self) -> bool:
        """Push every pending operation, in order. True when the outbox is empty afterwards,
        False when the server could not be reached (what is left stays for later)."""
        with self._push_lock:
            while True:
                batch = self.outbox.next_batch()
                if batch is None:
                    return True
                try:
                    answer = self.client.post("/api/v1/sync/batches", batch.to_dict(),
                                              timeout_s=max(self.timeout_s, 30))
                except Unreachable:
                    self.connectivity.mark_offline()
                    return False
                except Refused as refused:
                    self.connectivity.mark_online()
                    if refused.status == 422:
                        # The batch itself cannot be read by the server: keep it for a person.
                        self.outbox.refuse_batch(batch, {"code": refused.code, "message": refused.message,
                                                         "details": refused.details}, self._now())
                        continue
                    log.error("the server refused the sync: %s", refused)
                    return False
                self.connectivity.mark_online()
                try:
                    result = SyncResult.from_dict(answer)
                except DocumentError as exc:
                    log.error("the server's sync answer cannot be read: %s", exc)
                    return False
                before = self.outbox.pending_ops()
                applied = self.outbox.record(result, self._now())
                self.last_synced_at = self._now()
                with self.outbox.db.transaction() as conn:
                    LocalDB.put_meta(conn, "last_synced_at", self.last_synced_at)
                if self.outbox.pending_ops() >= before:
                    log.error("the server's answer to %s left every operation pending", batch.batch_key)
                    return False
                if any(op.allowance is not None or op.member_id for op in applied):
                    self.refresh_wanted.set()  # the members' balances and allowances moved

    def _now(self) -> str:
        return self.clock().isoformat(timespec="seconds")
