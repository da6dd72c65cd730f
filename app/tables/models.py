from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import IntEnumType, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check, utcnow
from app.tables.state import TableState
from app.tenants.models import Store


class Area(TenantMixin, db.Model):
    """A part of a store's floor: 大厅 hall, 包间 private rooms, 露台 terrace …"""

    __tablename__ = "table_area"
    __table_args__ = (sa.UniqueConstraint("store_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(30))
    name_en: Mapped[str] = mapped_column(sa.String(60), default="")
    sort_order: Mapped[int] = mapped_column(default=0)


class DiningTable(TenantMixin, TimestampMixin, db.Model):
    """A table of a store, known to staff and diners by its code ('A01', 'V2')."""

    __tablename__ = "dining_table"
    __table_args__ = (
        sa.UniqueConstraint("store_id", "code"),
        sa.CheckConstraint("seats >= 1", name="seats_positive"),
        enum_check("state", TableState),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(sa.ForeignKey("table_area.id", ondelete="SET NULL"), index=True)
    code: Mapped[str] = mapped_column(sa.String(10))
    seats: Mapped[int] = mapped_column(sa.SmallInteger, default=4)
    is_active: Mapped[bool] = mapped_column(default=True)
    # Changed only through app.tables.state.transition (service.move_table).
    state: Mapped[TableState] = mapped_column(IntEnumType(TableState), default=TableState.FREE)
    state_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    store: Mapped[Store] = relationship()
    area: Mapped[Area | None] = relationship()


class TableQrSecret(db.Model):
    """The merchant's key for signing table QR codes; rotating it voids every printed sticker.

    Kept apart from SECRET_KEY on purpose: rotating the server's session key must not void
    stickers glued to tables, and voiding stickers must not log everyone out.
    """

    __tablename__ = "table_qr_secret"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchant.id", ondelete="CASCADE"), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(64))
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
