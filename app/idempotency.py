"""Idempotent writes: the same key returns the first answer, and nothing is applied twice.

A request carrying an idempotency key first inserts its record. A concurrent twin blocks on the
UNIQUE index until the first commits, then fails and replays the stored answer; a failed
attempt rolls its record back with everything else, so a retry runs afresh. A key reused with
a different body answers 409 `idempotency_key_reused`.

Records expire after IDEMPOTENCY_RETENTION_DAYS (app/housekeeping.py). A key sent again after
that which finds the order or ledger entries it made under their own UNIQUE key constraints is
refused with 409 `idempotency_key_expired`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.db import TenantMixin, UTCDateTime, current_merchant_id, db, utcnow
from app.errors import Conflict


class IdempotencyRecord(TenantMixin, db.Model):
    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(120))
    scope: Mapped[str] = mapped_column(sa.String(60))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None]
    response: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


_RECORDS = IdempotencyRecord.__table__
_CLAIM = sa.insert(_RECORDS).returning(_RECORDS.c.id)
_ANSWER = (sa.update(_RECORDS).where(_RECORDS.c.id == sa.bindparam("record_id"))
           .values(status_code=sa.bindparam("status_code"), response=sa.bindparam("response")))


def fingerprint(scope: str, payload: Any) -> str:
    canonical = json.dumps([scope, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, print_: str) -> tuple[dict, int]:
    if record.fingerprint != print_ or record.status_code is None:
        raise Conflict(gettext("This idempotency key was already used for a different request."),
                       error_code="idempotency_key_reused")
    return record.response or {}, record.status_code


def _find(merchant_id: int, key: str) -> IdempotencyRecord | None:
    return db.session.scalar(sa.select(IdempotencyRecord).where(
        IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.key == key))


def run_once(merchant_id: int, key: str, scope: str, payload: Any,
             work: Callable[[], tuple[dict, int]]) -> tuple[dict, int]:
    """Run `work` (which returns the JSON body and status) once per key, and commit.

    Call it before the transaction writes anything: the key is claimed by the first write.
    """
    print_ = fingerprint(scope, payload)
    try:
        # The first write of the transaction: a twin in flight makes this wait on the UNIQUE
        # index; a finished one makes it fail at once. Nothing else has been written yet, so a
        # rollback loses nothing. (Plain statements built once: the record is never read back
        # as an instance, and every money request makes one.)
        record_id = db.session.execute(_CLAIM, {"merchant_id": merchant_id, "key": key, "scope": scope,
                                                "fingerprint": print_, "created_at": utcnow()}).scalar_one()
    except IntegrityError:
        db.session.rollback()
        existing = _find(merchant_id, key)
        if existing is None:  # pragma: no cover - the twin rolled back; let the client retry
            raise Conflict(gettext("Please retry this request."), error_code="retry") from None
        return _replay(existing, print_)
    try:
        body, status = work()
        db.session.execute(_ANSWER, {"record_id": record_id, "status_code": status, "response": body})
        db.session.commit()
    except IntegrityError as error:
        # Rows the key made long ago (its record has expired) hold the key under their own
        # UNIQUE constraint: the same request again, applied once already.
        if "idempotency_key" not in str(error.orig):
            raise
        db.session.rollback()
        raise Conflict(gettext("This idempotency key was already used, longer ago than its answer is kept."),
                       error_code="idempotency_key_expired") from None
    return body, status


def respond_once(scope: str, key: str, payload: Any, work: Callable[[], tuple[dict, int]]) -> Response:
    """`run_once` for a route of the current merchant: the JSON answer with the first status."""
    from app.api import json_response

    return json_response(*run_once(current_merchant_id(), key, scope, payload, work))
