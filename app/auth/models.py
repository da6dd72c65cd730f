from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.auth.permissions import Role
from app.db import IntEnumType, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check
from app.tenants.models import Merchant, Store


class Staff(TenantMixin, TimestampMixin, db.Model):
    """A person who logs in: owner, manager, cashier or kitchen staff."""

    __table_args__ = (
        enum_check("role", Role),
        # Cashiers and kitchen staff work at one store.
        sa.CheckConstraint("role IN (1, 2) OR store_id IS NOT NULL", name="store_bound_roles"),
        # A staff card opens one account of the merchant (a manager's card approves a refund at the till).
        sa.UniqueConstraint("merchant_id", "card_no"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Usernames are global so that a login form needs no merchant field.
    username: Mapped[str] = mapped_column(sa.String(60), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(60), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(IntEnumType(Role))
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="RESTRICT"))
    is_active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    card_no: Mapped[str | None] = mapped_column(sa.String(20))  # the staff card's number, upper-case hex or digits

    merchant: Mapped[Merchant] = relationship()
    store: Mapped[Store | None] = relationship()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class ApiToken(TenantMixin, TimestampMixin, db.Model):
    """A staff bearer token. Only its SHA-256 is stored; it expires and can be revoked."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    staff: Mapped[Staff] = relationship()


class Device(TenantMixin, TimestampMixin, db.Model):
    """An on-site agent (till PC or box) of one store, with its own revocable token."""

    __table_args__ = (sa.UniqueConstraint("merchant_id", "store_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(60))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The agent's last report (`POST /api/v1/devices/me/status`): printers, cursor, outbox depth.
    status: Mapped[dict | None] = mapped_column(sa.JSON)

    store: Mapped[Store] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
