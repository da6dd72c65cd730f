"""Segments, campaigns and their deliveries.

A delivery row is the per-member dedupe key of a campaign: UNIQUE (campaign_id, member_id), so a
campaign reaches a member at most once however often its send is run or resumed. When a send
starts, one statement makes a pending row (`processed_at` NULL) for every member of the segment,
which freezes the audience; batches then process pending rows, each batch in one transaction
that issues the coupons, queues the messages and marks its rows processed, so a send killed
mid-way resumes with what is still pending and doubles nothing. Hold-out members are processed
too (`is_holdout`, nothing sent): both groups are measured the same way in the funnel.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import IntEnumType, LabelledEnum, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check
from tablerules import campaigns as rules
from tablerules.campaigns import MAX_HOLDOUT_PERCENT


class CampaignStatus(LabelledEnum):
    """rules.Status, stored. Changed only through rules.transition()."""

    DRAFT = 1
    SCHEDULED = 2
    SENDING = 3
    SENT = 4
    CANCELLED = 5
    ACTIVE = 6
    PAUSED = 7

    @property
    def rule(self) -> rules.Status:
        return rules.Status(self.label)


class Trigger(LabelledEnum):
    ONCE = 1  # sent once to a segment, now or at a set time
    BIRTHDAY = 2  # automation: each month, the members born in that month
    WIN_BACK = 3  # automation: members who became 沉睡 (dormant), once per dormant spell


class Segment(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "segment"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    spec: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # tablerules.segments.SegmentSpec.to_dict()
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Campaign(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "campaign"
    __table_args__ = (
        enum_check("status", CampaignStatus),
        enum_check("trigger", Trigger),
        sa.UniqueConstraint("merchant_id", "idempotency_key"),
        # One send per automation and period ('2026-11'): a job run twice makes one campaign.
        sa.UniqueConstraint("parent_id", "period"),
        sa.CheckConstraint(f"holdout_percent BETWEEN 0 AND {MAX_HOLDOUT_PERCENT}", name="holdout_range"),
        sa.CheckConstraint("coupon_template_id IS NOT NULL OR message_title <> ''", name="has_something_to_send"),
        sa.CheckConstraint("(quiet_start_minute IS NULL) = (quiet_end_minute IS NULL)", name="quiet_hours_pair"),
        sa.CheckConstraint("quiet_start_minute IS NULL OR quiet_start_minute BETWEEN 0 AND 1439",
                           name="quiet_start_range"),
        sa.CheckConstraint("quiet_end_minute IS NULL OR quiet_end_minute BETWEEN 0 AND 1439", name="quiet_end_range"),
        sa.CheckConstraint("window_days BETWEEN 1 AND 90", name="window_range"),
        sa.CheckConstraint("audience_count >= 0 AND sent_count >= 0 AND holdout_count >= 0",
                           name="counts_not_negative"),
        sa.Index("ix_campaign_due", "status", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    trigger: Mapped[Trigger] = mapped_column(IntEnumType(Trigger), default=Trigger.ONCE)
    status: Mapped[CampaignStatus] = mapped_column(IntEnumType(CampaignStatus), default=CampaignStatus.DRAFT)
    segment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("segment.id", ondelete="SET NULL"), index=True)
    # The filter as it was when the send started (a segment edited later does not change who got it).
    spec: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    coupon_template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_template.id", ondelete="RESTRICT"))
    message_title: Mapped[str] = mapped_column(sa.String(60), default="")
    message_body: Mapped[str] = mapped_column(sa.String(200), default="")
    holdout_percent: Mapped[int] = mapped_column(default=0)
    quiet_start_minute: Mapped[int | None]  # local minutes of the day; NULL: no quiet hours
    quiet_end_minute: Mapped[int | None]
    window_days: Mapped[int] = mapped_column(default=14)  # a visit within this many days counts for the funnel
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    audience_count: Mapped[int] = mapped_column(default=0)  # delivery rows made when the send started
    sent_count: Mapped[int] = mapped_column(default=0)
    holdout_count: Mapped[int] = mapped_column(default=0)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign.id", ondelete="RESTRICT"), index=True)
    period: Mapped[str | None] = mapped_column(sa.String(10))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))

    segment: Mapped[Segment | None] = relationship()

    @property
    def is_automation(self) -> bool:
        return self.trigger is not Trigger.ONCE


class CampaignDelivery(TenantMixin, db.Model):
    __tablename__ = "campaign_delivery"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "member_id"),  # a campaign never reaches a member twice
        sa.Index("ix_campaign_delivery_member", "member_id", "created_at"),
        # What is left to send: a partial index that shrinks as the batches go.
        sa.Index("ix_campaign_delivery_pending", "campaign_id", "id", sqlite_where=sa.text("processed_at IS NULL"),
                 postgresql_where=sa.text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaign.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="CASCADE"))
    is_holdout: Mapped[bool] = mapped_column(default=False)
    coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon.id", ondelete="SET NULL"))
    has_message: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the send started (the audience frozen)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the funnel counts visits after it
    release_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the message waits for the quiet hours' end
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
