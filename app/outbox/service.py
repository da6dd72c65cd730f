"""Enqueue in the caller's transaction; deliver after commit, one message per transaction.

`enqueue()` adds a row beside the business change it belongs to, so a rolled-back change sends
nothing and a committed one is never forgotten. The key names the event: the same event
enqueued twice (a replayed request, two code paths) is one row.

`deliver_due()` claims each due row with a conditional UPDATE (pending → sending, only while it
is still pending and due) and commits, so two workers never send one message. It then calls the
kind's handler outside any transaction and records the outcome: sent, a retry after a growing
delay, failed (the receiver refused it for good) or dead (every retry used up). A worker that
dies while sending leaves the row `sending`; after CLAIM_TIMEOUT another worker claims it
again, so a crash at that one moment can send a message twice, never lose it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db import begin_write, db, utcnow
from app.outbox.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

# The wait before each retry; after the last one the message is dead.
RETRY_DELAYS = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
# A claim older than this belongs to a worker that died mid-send.
CLAIM_TIMEOUT = timedelta(minutes=5)
MAX_KEY_LENGTH = 200

Handler = Callable[[OutboxMessage], None]
_HANDLERS: dict[str, Handler] = {}


class PermanentFailure(Exception):
    """Raised by a handler when the receiver refused the message for good: no retry."""


def register(kind: str, function: Handler) -> None:
    """The function that sends messages of `kind`; called at app start (`app.events.subscriptions`)."""
    _HANDLERS[kind] = function


def unregister(kind: str) -> None:
    _HANDLERS.pop(kind, None)


def enqueue(merchant_id: int, kind: str, key: str, payload: dict, *, now: datetime | None = None) -> bool:
    """Add a message in the caller's transaction; False (and nothing added) when `key` was
    already enqueued for this merchant."""
    return enqueue_many(merchant_id, [(kind, key, payload)], now=now or utcnow()) == 1


def enqueue_many(merchant_id: int, messages: Iterable[tuple[str, str, dict]], *, now: datetime) -> int:
    """Add several (kind, key, payload) messages in the caller's transaction with one statement;
    a key already enqueued for this merchant is skipped. Answers how many were added."""
    rows = []
    for kind, key, payload in messages:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"outbox key must be 1 to {MAX_KEY_LENGTH} characters: {key!r}")
        rows.append({"kind": kind, "dedupe_key": key, "payload": payload})
    if not rows:
        return 0
    # On the session's connection, as Core: the ORM's bulk-insert machinery is not needed here.
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        return len(connection.execute(_ENQUEUE_PG, {
            "merchant_id": merchant_id, "status": int(OutboxStatus.PENDING), "now": now,
            "messages": json.dumps(rows, ensure_ascii=False)}).all())
    return len(connection.execute(_ENQUEUE_SQLITE, [
        {**row, "merchant_id": merchant_id, "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now,
         "last_error": "", "created_at": now} for row in rows]).all())


# Both built once (the settlement enqueues every time). On PostgreSQL one constant statement
# whatever the number of messages: they come as one JSON array (one row per subscriber of an
# event would otherwise be a statement of a different shape and size for every count).
# RETURNING counts the rows added; a key already enqueued is skipped.
_ENQUEUE_PG = sa.text("""
    INSERT INTO outbox_message (merchant_id, kind, dedupe_key, payload, status, attempts, next_attempt_at,
                                last_error, created_at)
    SELECT :merchant_id, m.kind, m.dedupe_key, m.payload, :status, 0, :now, '', :now
    FROM json_to_recordset(CAST(:messages AS JSON)) AS m(kind TEXT, dedupe_key TEXT, payload JSON)
    ON CONFLICT (merchant_id, dedupe_key) DO NOTHING
    RETURNING id
""")
_ENQUEUE_SQLITE = sqlite_insert(OutboxMessage.__table__).on_conflict_do_nothing(
    index_elements=["merchant_id", "dedupe_key"]).returning(OutboxMessage.__table__.c.id)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.dead


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now),
        sa.and_(OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.claimed_at <= now - CLAIM_TIMEOUT),
    )


def deliver_due(now: datetime | None = None, limit: int = 50,
                should_stop: Callable[[], bool] = lambda: False) -> DeliveryReport:
    """Send what is due at `now` (oldest first, at most `limit`). Commits after every message:
    call it outside any transaction of your own."""
    now = now or utcnow()
    db.session.commit()
    ids = list(db.session.scalars(sa.select(OutboxMessage.id).where(_due(now))
                                  .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)))
    db.session.commit()
    report = DeliveryReport()
    for message_id in ids:
        if should_stop():
            break
        attempt = _claim(message_id, now)
        if attempt is not None:
            _deliver(message_id, attempt, now, report)
    return report


def _claim(message_id: int, now: datetime) -> int | None:
    """The attempt number this worker now owns, or None when another worker got there first."""
    begin_write()
    attempt = db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id == message_id, _due(now))
        .values(status=OutboxStatus.SENDING, claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .returning(OutboxMessage.attempts).execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    db.session.commit()
    return attempt


def _deliver(message_id: int, attempt: int, now: datetime, report: DeliveryReport) -> None:
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    outcome, error = OutboxStatus.SENT, ""
    try:
        send = _HANDLERS.get(message.kind)
        if send is None:
            raise LookupError(f"no outbox handler for kind {message.kind!r}")
        send(message)
    except PermanentFailure as failure:
        outcome, error = OutboxStatus.FAILED, str(failure)
    except Exception as failure:  # any other trouble sending means "try again later"
        outcome, error = OutboxStatus.PENDING, f"{type(failure).__name__}: {failure}"
    db.session.rollback()  # handlers only read; end that transaction before writing

    values: dict = {"last_error": error[:500], "claimed_at": None}
    if outcome is OutboxStatus.SENT:
        values.update(status=OutboxStatus.SENT, sent_at=now)
        report.sent += 1
    elif outcome is OutboxStatus.FAILED:
        values.update(status=OutboxStatus.FAILED)
        report.failed += 1
        log.warning("outbox message %s refused for good: %s", message_id, error)
    elif attempt > len(RETRY_DELAYS):
        values.update(status=OutboxStatus.DEAD)
        report.dead += 1
        log.error("outbox message %s dead after %s attempts: %s", message_id, attempt, error)
    else:
        values.update(status=OutboxStatus.PENDING, next_attempt_at=now + RETRY_DELAYS[attempt - 1])
        report.retried += 1
        log.info("outbox message %s attempt %s failed, retrying: %s", message_id, attempt, error)
    begin_write()
    # Only while this worker still owns the claim (a stale claim may have been taken over).
    db.session.execute(sa.update(OutboxMessage).where(
        OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.SENDING,
        OutboxMessage.attempts == attempt).values(values).execution_options(synchronize_session=False))
    db.session.commit()
