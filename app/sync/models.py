"""What a sync from an on-site agent leaves for the manager: flags on honoured sales, and member
debts where an offline stored-value tender was more than the balance could cover."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import IntEnumType, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check


class FlagKind(enum.IntEnum):
    PRICE_CHANGED = 1  # a dish cost something else on the server: the till's price was honoured
    SOLD_OUT = 2  # a dish was sold out (or off the menu) on the server: sold anyway
    PAYABLE_CHANGED = 3  # the member's tier or the store's rounding differed: the till's payable honoured
    MEMBER_DEBT = 4  # offline stored value beyond the balance: a debt to resolve
    REFUSED = 5  # the operation could not be applied at all

    @property
    def label(self) -> str:
        return self.name.lower()


class SyncFlag(TenantMixin, TimestampMixin, db.Model):
    """One thing a manager should look at after an agent's sync."""

    __tablename__ = "sync_flag"
    __table_args__ = (
        enum_check("kind", FlagKind),
        sa.Index("ix_sync_flag_store_open", "store_id", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("device.id", ondelete="SET NULL"))
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="SET NULL"), index=True)
    op_key: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[FlagKind] = mapped_column(IntEnumType(FlagKind))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DebtStatus(enum.IntEnum):
    OPEN = 1
    RESOLVED = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class MemberDebt(TenantMixin, TimestampMixin, db.Model):
    """What a member owes because an offline stored-value tender was more than their balance
    when the sale reached the server. The balance itself never goes below zero."""

    __tablename__ = "member_debt"
    __table_args__ = (
        enum_check("status", DebtStatus),
        sa.UniqueConstraint("merchant_id", "op_key"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="RESTRICT"))
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("device.id", ondelete="SET NULL"))
    op_key: Mapped[str] = mapped_column(sa.String(100))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    status: Mapped[DebtStatus] = mapped_column(IntEnumType(DebtStatus), default=DebtStatus.OPEN)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AgentSyncState(TenantMixin, db.Model):
    """What an on-site agent last reported of its outbox: for the manager to see each store's
    agent, when it was last seen and how many sales wait to reach the server."""

    __tablename__ = "agent_sync_state"

    device_id: Mapped[int] = mapped_column(sa.ForeignKey("device.id", ondelete="CASCADE"), primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    outbox_pending: Mapped[int] = mapped_column(default=0)
    oldest_unsynced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
