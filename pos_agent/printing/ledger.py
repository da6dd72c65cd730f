"""The print ledger: one row per (document, version, printer, copy), in SQLite on the till.

Its UNIQUE key is what keeps a kitchen from cooking a dish twice: a document that arrives again
(a retried HTTP call, a replayed server event) finds its row and prints nothing. A reprint is a
new row with a higher ``copy`` number, made only on request, and its paper says so.

States move one way::

    pending ──claim──▶ printing ──▶ printed
       ▲                  │
       └── not ready ─────┤
                          └──▶ uncertain ──resolve──▶ printed | pending

``printing`` is taken in a conditional UPDATE, so two threads (or a retry racing a new job)
cannot both send the same row. A row still ``printing`` after a crash may or may not have
reached the paper: it becomes ``uncertain`` and waits for a person, never for a blind retry.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES: tuple[str, ...] = ("pending", "printing", "printed", "uncertain")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS print_job (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    printer TEXT NOT NULL,
    copy INTEGER NOT NULL DEFAULT 0 CHECK (copy >= 0),
    kind TEXT NOT NULL,
    document TEXT NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'printing', 'printed', 'uncertain')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    printed_at TEXT,
    CONSTRAINT uq_print_job_document UNIQUE (document_id, version, printer, copy)
);
CREATE INDEX IF NOT EXISTS ix_print_job_state ON print_job (state, printer, id);
"""

_COLUMNS = (
    "id, document_id, version, printer, copy, kind, document, payload, state, attempts, "
    "error_code, error_message, created_at, printed_at"
)


@dataclass(frozen=True)
class PrintJob:
    id: int
    document_id: str
    version: int
    printer: str
    copy: int
    kind: str
    document: dict[str, Any]
    payload: bytes
    state: str
    attempts: int
    error_code: str | None
    error_message: str | None
    created_at: str
    printed_at: str | None

    @property
    def is_reprint(self) -> bool:
        return self.copy > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "document_id": self.document_id,
            "version": self.version,
            "printer": self.printer,
            "copy": self.copy,
            "reprint": self.is_reprint,
            "kind": self.kind,
            "state": self.state,
            "attempts": self.attempts,
            "error": ({"code": self.error_code, "message": self.error_message} if self.error_code else None),
            "created_at": self.created_at,
            "printed_at": self.printed_at,
        }


class PrintLedger:
    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # Autocommit; each method is one statement or an explicit short transaction.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 5000")
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
        # A recorded job is on disk when record() returns: the event-log cursor moves past the
        # event only after that, and a replayed event then finds its row and prints nothing.
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(
        self,
        *,
        document_id: str,
        version: int,
        printer: str,
        kind: str,
        document: dict[str, Any],
        payload: bytes,
        now: str,
        copy: int = 0,
    ) -> tuple[PrintJob, bool]:
        """Add a pending job; if the same (document, version, printer, copy) exists, return it.

        The boolean is True when this call created the row.
        """
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO print_job (document_id, version, printer, copy, kind, document, payload,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (document_id, version, printer, copy) DO NOTHING",
                (document_id, version, printer, copy, kind, _dumps(document), payload, now),
            )
            created = cursor.rowcount == 1
            job = self._one(
                "WHERE document_id = ? AND version = ? AND printer = ? AND copy = ?",
                (document_id, version, printer, copy),
            )
        assert job is not None
        return job, created

    def claim(self, job_id: int) -> bool:
        """pending → printing; False if someone else got there first or it is not pending."""
        return self._move(job_id, ("pending",), "printing", attempts=True)

    def mark_printed(self, job_id: int, now: str) -> None:
        self._move(job_id, ("printing", "uncertain"), "printed", printed_at=now, error=(None, None))

    def release(self, job_id: int, code: str, message: str) -> None:
        """printing → pending: nothing reached the printer; it will be tried again."""
        self._move(job_id, ("printing",), "pending", error=(code, message))

    def mark_uncertain(self, job_id: int, code: str, message: str) -> None:
        self._move(job_id, ("printing",), "uncertain", error=(code, message))

    def requeue(self, job_id: int) -> bool:
        """uncertain → pending, when a person has checked the paper and it did not print."""
        return self._move(job_id, ("uncertain",), "pending", error=(None, None))

    def recover_interrupted(self) -> int:
        """At start-up: jobs left ``printing`` by a crash may have printed; let a person decide."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE print_job SET state = 'uncertain', error_code = 'interrupted',"
                " error_message = 'agent stopped while printing' WHERE state = 'printing'"
            )
            return cursor.rowcount

    def get(self, job_id: int) -> PrintJob | None:
        return self._one("WHERE id = ?", (job_id,))

    def pending(self, printer: str | None = None) -> list[PrintJob]:
        if printer is None:
            return self._many("WHERE state = 'pending' ORDER BY id", ())
        return self._many("WHERE state = 'pending' AND printer = ? ORDER BY id", (printer,))

    def find(self, document_id: str, version: int | None = None) -> list[PrintJob]:
        if version is None:
            return self._many("WHERE document_id = ? ORDER BY id", (document_id,))
        return self._many("WHERE document_id = ? AND version = ? ORDER BY id", (document_id, version))

    def latest(self, kind: str) -> PrintJob | None:
        """The last original (not a reprint) of this kind recorded here: the slip to print again."""
        return self._one("WHERE kind = ? AND copy = 0 ORDER BY id DESC LIMIT 1", (kind,))

    def next_copy(self, document_id: str, version: int, printer: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(MAX(copy), -1) + 1 FROM print_job"
                " WHERE document_id = ? AND version = ? AND printer = ?",
                (document_id, version, printer),
            ).fetchone()
        return int(row[0])

    def recent(self, limit: int = 50) -> list[PrintJob]:
        return self._many("ORDER BY id DESC LIMIT ?", (limit,))

    def counts(self) -> dict[str, dict[str, int]]:
        """{printer: {state: n}}"""
        with self._lock:
            rows = self._db.execute("SELECT printer, state, COUNT(*) FROM print_job GROUP BY printer, state").fetchall()
        out: dict[str, dict[str, int]] = {}
        for printer, state, count in rows:
            out.setdefault(printer, {})[state] = count
        return out

    # --- internals ---------------------------------------------------------------------------

    def _move(
        self,
        job_id: int,
        from_states: tuple[str, ...],
        to_state: str,
        *,
        attempts: bool = False,
        printed_at: str | None = None,
        error: tuple[str | None, str | None] | None = None,
    ) -> bool:
        sets = ["state = ?"]
        params: list[Any] = [to_state]
        if attempts:
            sets.append("attempts = attempts + 1")
        if printed_at is not None:
            sets.append("printed_at = ?")
            params.append(printed_at)
        if error is not None:
            sets.extend(["error_code = ?", "error_message = ?"])
            params.extend(error)
        placeholders = ", ".join("?" for _ in from_states)
        with self._lock:
            cursor = self._db.execute(
                f"UPDATE print_job SET {', '.join(sets)} WHERE id = ? AND state IN ({placeholders})",
                (*params, job_id, *from_states),
            )
            return cursor.rowcount == 1

    def _one(self, where: str, params: tuple[Any, ...]) -> PrintJob | None:
        rows = self._many(where, params)
        return rows[0] if rows else None

    def _many(self, where: str, params: tuple[Any, ...]) -> list[PrintJob]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM print_job {where}", params).fetchall()
        return [_job(row) for row in rows]


def _dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _job(row: tuple[Any, ...]) -> PrintJob:
    (
        job_id,
        document_id,
        version,
        printer,
        copy,
        kind,
        document,
        payload,
        state,
        attempts,
        error_code,
        error_message,
        created_at,
        printed_at,
    ) = row
    return PrintJob(
        id=job_id,
        document_id=document_id,
        version=version,
        printer=printer,
        copy=copy,
        kind=kind,
        document=json.loads(document),
        payload=bytes(payload),
        state=state,
        attempts=attempts,
        error_code=error_code,
        error_message=error_message,
        created_at=created_at,
        printed_at=printed_at,
    )
