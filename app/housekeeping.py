"""Housekeeping: rows that served their purpose are deleted, so a year of service stays small.

- Idempotency records answer a retried request with its first answer. A client retries within
  minutes (an on-site agent within its offline days), so a record is kept for
  IDEMPOTENCY_RETENTION_DAYS after its request, then deleted. Where the change itself keeps
  the key under a UNIQUE constraint (orders, ledger entries: top-ups, stored value and points
  spent or refunded, adjustments; coupon events), a key sent again after that is refused
  (409 `idempotency_key_expired`); for the rest (adding items to an order, a refund of cash
  only, a shift close) the record is the only memory of the key, so the retention must outlast
  every client's retries by far.
- Outbox messages: a sent one is kept OUTBOX_RETENTION_DAYS after it was sent (its key still
  stops the same event from being queued again), a refused or dead one
  OUTBOX_FAILED_RETENTION_DAYS after its last attempt, for inspection. A pending message, or
  one a worker is sending, is never deleted.

Deletion goes in batches of HOUSEKEEPING_BATCH_SIZE ids, one short transaction each, and every
DELETE repeats its conditions, so a row that changed in between is left alone. It runs daily from
the scheduler (`housekeeping`) and by hand with `flask housekeeping run`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from app.db import begin_write, db, utcnow
from app.idempotency import IdempotencyRecord
from app.outbox.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

FINAL_OUTBOX = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.DEAD)


@dataclass
class Report:
    idempotency_records: int = 0
    outbox_sent: int = 0
    outbox_failed: int = 0


@dataclass(frozen=True)
class Retention:
    idempotency: timedelta
    outbox_sent: timedelta
    outbox_failed: timedelta
    batch_size: int

    @classmethod
    def from_config(cls, config) -> Retention:
        days = {name: int(config[name]) for name in
                ("IDEMPOTENCY_RETENTION_DAYS", "OUTBOX_RETENTION_DAYS", "OUTBOX_FAILED_RETENTION_DAYS")}
        short = [name for name, value in days.items() if value < 1]
        if short:
            raise ValueError(f"{', '.join(short)} must be at least 1 day")
        batch = int(config["HOUSEKEEPING_BATCH_SIZE"])
        if not 1 <= batch <= 5000:
            raise ValueError("HOUSEKEEPING_BATCH_SIZE must be between 1 and 5000")
        return cls(timedelta(days=days["IDEMPOTENCY_RETENTION_DAYS"]), timedelta(days=days["OUTBOX_RETENTION_DAYS"]),
                   timedelta(days=days["OUTBOX_FAILED_RETENTION_DAYS"]), batch)


def _delete_in_batches(model, condition, batch_size: int) -> int:
    """Delete the rows matching `condition`, `batch_size` ids per transaction; answers how many."""
    deleted = 0
    while True:
        begin_write()
        ids = db.session.scalars(sa.select(model.id).where(condition).order_by(model.id).limit(batch_size)).all()
        if not ids:
            db.session.commit()
            return deleted
        result = db.session.execute(sa.delete(model).where(model.id.in_(ids), condition)
                                    .execution_options(synchronize_session=False))
        db.session.commit()
        deleted += result.rowcount
        if len(ids) < batch_size:
            return deleted


def expired_idempotency(now: datetime, retention: Retention):
    return IdempotencyRecord.created_at < now - retention.idempotency


def expired_sent_outbox(now: datetime, retention: Retention):
    cutoff = now - retention.outbox_sent
    # next_attempt_at comes first for the (status, next_attempt_at) index; a message is sent
    # at or after its last next_attempt_at, so the sent_at test decides.
    return sa.and_(OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.next_attempt_at < cutoff,
                   OutboxMessage.sent_at < cutoff)


def expired_failed_outbox(now: datetime, retention: Retention):
    # A refused or dead message's last attempt was due at next_attempt_at; nothing retries it.
    return sa.and_(OutboxMessage.status.in_([OutboxStatus.FAILED, OutboxStatus.DEAD]),
                   OutboxMessage.next_attempt_at < now - retention.outbox_failed)


def run(now: datetime | None = None, retention: Retention | None = None) -> Report:
    """One pass of housekeeping over every merchant."""
    now = now or utcnow()
    retention = retention or Retention.from_config(current_app.config)
    report = Report(
        idempotency_records=_delete_in_batches(IdempotencyRecord, expired_idempotency(now, retention),
                                               retention.batch_size),
        outbox_sent=_delete_in_batches(OutboxMessage, expired_sent_outbox(now, retention), retention.batch_size),
        outbox_failed=_delete_in_batches(OutboxMessage, expired_failed_outbox(now, retention),
                                         retention.batch_size),
    )
    log.info("housekeeping: %s", asdict(report))
    return report


housekeeping_cli = AppGroup("housekeeping", help="Delete rows that served their purpose (see docs/deploy.md).")


@housekeeping_cli.command("run")
def run_command() -> None:
    """Delete expired idempotency records and finished outbox messages now; print the counts."""
    click.echo(json.dumps(asdict(run())))
