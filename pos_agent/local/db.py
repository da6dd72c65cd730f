"""The agent's own SQLite file: the local copy of the store, the till's orders and settlements,
the outbox of what the server has not seen yet, and till sessions.

WAL with ``synchronous=FULL``: a transaction that returned is on disk, so a sale the till was
told about survives ``kill -9`` and a power cut. One connection, one lock: the till's requests,
the pusher and the refresher take turns (every transaction here is a few rows).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCAL_FILE = "local.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dishes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staff (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS member_keys (key TEXT PRIMARY KEY, member_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS logins (
    staff_id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, salt TEXT NOT NULL, hash TEXT NOT NULL,
    staff TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (token_hash TEXT PRIMARY KEY, staff TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY, order_no TEXT NOT NULL, server_id INTEGER, status TEXT NOT NULL,
    body TEXT NOT NULL, offline INTEGER NOT NULL, printed INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settlements (
    idempotency_key TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL, body TEXT NOT NULL, offline INTEGER NOT NULL, printed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, client_order_id TEXT NOT NULL,
    member_id INTEGER, stored_value_cents INTEGER NOT NULL DEFAULT 0, op TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', batch_key TEXT, result TEXT, created_at TEXT NOT NULL, done_at TEXT);
-- 加菜 on an order made offline and not on the server yet: the lines joined the order's body
-- (each with "added": number); its kitchen ticket prints once.
CREATE TABLE IF NOT EXISTS additions (
    idempotency_key TEXT PRIMARY KEY, client_order_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
    number INTEGER NOT NULL, printed INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
    UNIQUE (client_order_id, number));
-- Who prints a till sale's kitchen tickets (what='kitchen') and receipt (what='receipt'): the
-- till itself while offline ('local'), or the server's event log ('server'); the first to
-- claim a sale's paper prints it, the other never does. A 加菜 made offline has a claim of its
-- own (what='kitchen:' + the addition's idempotency key): only the till prints it. A top-up's
-- drawer kick is claimed once, by 'topup:' + its idempotency key (what='drawer').
CREATE TABLE IF NOT EXISTS paper (
    client_order_id TEXT NOT NULL, what TEXT NOT NULL, source TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (client_order_id, what));
CREATE INDEX IF NOT EXISTS ix_outbox_state ON outbox (state, seq);
CREATE INDEX IF NOT EXISTS ix_outbox_member ON outbox (member_id, created_at);
"""


class LocalDB:
    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.lock = threading.RLock()
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT), under the lock; rolled back on error."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def claim_paper(self, client_order_id: str, what: str, source: str, now: str) -> bool:
        """Whether `source` ('local' or 'server') prints the sale's `what` ('kitchen', 'receipt'):
        the first to ask claims it; the same source may print it again (its ledger keeps that
        once), the other one never."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO paper (client_order_id, what, source, at) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT DO NOTHING", (client_order_id, what, source, now))
            owner = conn.execute("SELECT source FROM paper WHERE client_order_id = ? AND what = ?",
                                 (client_order_id, what)).fetchone()[0]
        return owner == source

    def claim_once(self, key: str, what: str, now: str) -> bool:
        """True for the first caller only, ever (a paper claim of the till's own): what must happen
        once per key, like a top-up's drawer kick, survives a retried request and a restart."""
        with self.transaction() as conn:
            cursor = conn.execute("INSERT INTO paper (client_order_id, what, source, at) VALUES (?, ?, 'local', ?) "
                                  "ON CONFLICT DO NOTHING", (key, what, now))
        return cursor.rowcount == 1

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        row = self.one(sql, params)
        return row[0] if row else None

    # --- meta: small JSON values ------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return default if value is None else json.loads(value)

    @staticmethod
    def put_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, dumps(value)))


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
