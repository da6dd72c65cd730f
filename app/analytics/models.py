"""A merchant's pyramid settings: the window and the thresholds it chose (None: from its data)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import TenantMixin, UTCDateTime, db, utcnow
from tablerules.rfm import DEFAULT_WINDOW_MONTHS, MAX_WINDOW_MONTHS

# The thresholds a merchant may set, as named in `tablerules.rfm.Thresholds`.
THRESHOLD_FIELDS = ("active_days", "lost_days", "frequent_visits", "high_spend_cents", "new_member_days")


class PyramidSettings(TenantMixin, db.Model):
    __tablename__ = "pyramid_settings"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id"),
        sa.CheckConstraint(f"window_months BETWEEN 1 AND {MAX_WINDOW_MONTHS}", name="window_months_range"),
        sa.CheckConstraint("active_days IS NULL OR active_days >= 1", name="active_days_positive"),
        sa.CheckConstraint("lost_days IS NULL OR lost_days >= 2", name="lost_days_positive"),
        sa.CheckConstraint("frequent_visits IS NULL OR frequent_visits >= 2", name="frequent_visits_min"),
        sa.CheckConstraint("high_spend_cents IS NULL OR high_spend_cents >= 1", name="high_spend_positive"),
        sa.CheckConstraint("new_member_days IS NULL OR new_member_days >= 1", name="new_member_days_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    window_months: Mapped[int] = mapped_column(default=DEFAULT_WINDOW_MONTHS)
    active_days: Mapped[int | None]
    lost_days: Mapped[int | None]
    frequent_visits: Mapped[int | None]
    high_spend_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    new_member_days: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))

    def chosen(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in THRESHOLD_FIELDS}
