"""The outbox: messages to the outside world (WeChat notices, …), one row per event."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import IntEnumType, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check, utcnow


class OutboxStatus(enum.IntEnum):
    PENDING = 1  # waiting for its (next) attempt at next_attempt_at
    SENDING = 2  # claimed by a worker
    SENT = 3
    FAILED = 4  # refused for good by the receiver (e.g. the diner does not follow the account)
    DEAD = 5  # every retry used up

    @property
    def label(self) -> str:
        return self.name.lower()


class OutboxMessage(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "outbox_message"
    __table_args__ = (
        # Never twice for the same event: the key names the event, the database holds the rule.
        sa.UniqueConstraint("merchant_id", "dedupe_key"),
        enum_check("status", OutboxStatus),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.Index("ix_outbox_message_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    dedupe_key: Mapped[str] = mapped_column(sa.String(200))
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(IntEnumType(OutboxStatus), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(sa.String(500), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
