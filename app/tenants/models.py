from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import TenantMixin, TimestampMixin, db


class Merchant(TimestampMixin, db.Model):
    """A restaurant business: the tenant. Its data is its own."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))

    stores: Mapped[list[Store]] = relationship(back_populates="merchant", order_by="Store.id")


class Store(TenantMixin, TimestampMixin, db.Model):
    """One restaurant location of a merchant."""

    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "name"),
        sa.CheckConstraint("rounding IN ('none', 'to_jiao', 'to_yuan')", name="rounding_valid"),
        sa.CheckConstraint("offline_allowance_cents >= 0", name="offline_allowance_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    # 抹零: how the payable is rounded down ("none", "to_jiao", "to_yuan"); see tablerules.pricing.
    rounding: Mapped[str] = mapped_column(sa.String(10), default="none", server_default="none")
    # Diner picks wait for a waiter's confirmation before they reach the kitchen.
    is_waiter_confirm: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # How much stored value a member may spend here while the on-site agent is offline (never
    # more than their balance when last synced); see tablerules.sync.Allowance.
    offline_allowance_cents: Mapped[int] = mapped_column(sa.BigInteger, default=20000, server_default="20000")

    merchant: Mapped[Merchant] = relationship(back_populates="stores")
