"""Coupon templates, issued coupons and the append-only coupon ledger.

The rules (what a template may say, when a coupon may be used, transferred or restored, and
which state follows which event) live in `tablerules.coupons`; these tables store their inputs
and results. The enums here are the rules' enums stored as small integers: each member's
lower-case name is the rules' value (`CouponStatus.ISSUED.label == rules.CouponState.ISSUED`).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import IntEnumType, LabelledEnum, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check


class TemplateKind(LabelledEnum):
    """rules.CouponKind, stored."""

    CASH = 1
    PERCENT = 2
    FREE_DISH = 3


class CouponStatus(LabelledEnum):
    """rules.CouponState, stored. Changed only through rules.transition()."""

    ISSUED = 1
    REDEEMED = 2
    EXPIRED = 3
    TRANSFERRED = 4


class CouponSource(LabelledEnum):
    """How the coupon reached its holder."""

    MANUAL = 1  # a member of staff issued it
    CAMPAIGN = 2
    BIRTHDAY = 3
    WIN_BACK = 4
    TRANSFER = 5  # another member passed it on


class CouponEventKind(LabelledEnum):
    ISSUE = 1
    REDEEM = 2
    RESTORE = 3  # a refund gave a redeemed coupon back
    EXPIRE = 4
    TRANSFER_OUT = 5  # on the sender's instance
    TRANSFER_IN = 6  # on the receiver's new instance


class CouponTemplate(TenantMixin, TimestampMixin, db.Model):
    """What a coupon is worth and when it may be used; instances are issued from it.

    The CHECKs repeat the rules the database can hold; `rules.CouponTemplate` holds them all
    (scope lists, a free dish's scope) and is what the service validates against.
    A free-dish template's `dish_id` is SET NULL if the dish row goes, so the database cannot
    insist on it; the service refuses such a template at use.
    """

    __tablename__ = "coupon_template"
    __table_args__ = (
        enum_check("kind", TemplateKind),
        sa.CheckConstraint("value_cents >= 0", name="value_not_negative"),
        sa.CheckConstraint("min_spend_cents >= 0", name="min_spend_not_negative"),
        sa.CheckConstraint(f"kind <> {TemplateKind.CASH} OR value_cents > 0", name="cash_has_value"),
        sa.CheckConstraint(f"kind = {TemplateKind.CASH} OR value_cents = 0", name="value_for_cash_only"),
        sa.CheckConstraint(f"kind <> {TemplateKind.PERCENT} OR percent_off BETWEEN 1 AND 99", name="percent_range"),
        sa.CheckConstraint(f"kind = {TemplateKind.PERCENT} OR (percent_off IS NULL AND cap_cents IS NULL)",
                           name="percent_for_percent_only"),
        sa.CheckConstraint("cap_cents IS NULL OR cap_cents > 0", name="cap_positive"),
        sa.CheckConstraint(f"kind = {TemplateKind.FREE_DISH} OR dish_id IS NULL", name="dish_for_free_dish_only"),
        sa.CheckConstraint("valid_until IS NOT NULL OR valid_days IS NOT NULL", name="has_validity"),
        sa.CheckConstraint("valid_days IS NULL OR valid_days > 0", name="valid_days_positive"),
        sa.CheckConstraint("valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until",
                           name="window_ordered"),
        sa.CheckConstraint("per_member_limit IS NULL OR per_member_limit >= 1", name="limit_positive"),
        sa.CheckConstraint("max_transfer_chain >= 0", name="chain_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120), default="")
    kind: Mapped[TemplateKind] = mapped_column(IntEnumType(TemplateKind))
    value_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    percent_off: Mapped[int | None]
    cap_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    min_spend_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    dish_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dish.id", ondelete="SET NULL"))
    # Scope: sorted id lists, or null; both null means the whole bill.
    category_ids: Mapped[list | None] = mapped_column(sa.JSON)
    dish_ids: Mapped[list | None] = mapped_column(sa.JSON)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_days: Mapped[int | None]
    per_member_limit: Mapped[int | None]
    is_transferable: Mapped[bool] = mapped_column(default=False)
    is_stackable: Mapped[bool] = mapped_column(default=False)
    max_transfer_chain: Mapped[int] = mapped_column(default=1)
    # Off: no new issues. Coupons already held stay valid until they expire.
    is_active: Mapped[bool] = mapped_column(default=True)


class Coupon(TenantMixin, db.Model):
    """One issued coupon held by one member. A transfer ends this instance (TRANSFERRED) and
    creates the receiver's, linked both ways; `transfer_depth` counts the hand-offs."""

    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "code"),
        # A coupon is passed on once: a second receiver for the same instance cannot exist.
        sa.UniqueConstraint("transferred_from_id"),
        enum_check("state", CouponStatus),
        enum_check("source", CouponSource),
        sa.CheckConstraint("transfer_depth >= 0", name="depth_not_negative"),
        sa.CheckConstraint("transfer_depth = 0 OR transferred_from_id IS NOT NULL", name="received_has_sender"),
        sa.CheckConstraint(f"state <> {CouponStatus.REDEEMED} OR redeemed_order_id IS NOT NULL",
                           name="redeemed_has_order"),
        sa.CheckConstraint(f"state <> {CouponStatus.TRANSFERRED} OR transferred_to_id IS NOT NULL",
                           name="transferred_has_receiver"),
        sa.CheckConstraint("expires_at > issued_at", name="expires_after_issue"),
        sa.Index("ix_coupon_member_state", "member_id", "state"),
        sa.Index("ix_coupon_template_member", "template_id", "member_id"),
        sa.Index("ix_coupon_due", "merchant_id", "state", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon_template.id", ondelete="RESTRICT"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(sa.String(12))  # 'CP' + 10: the till scanner keys on 'CP'
    state: Mapped[CouponStatus] = mapped_column(IntEnumType(CouponStatus), default=CouponStatus.ISSUED)
    source: Mapped[CouponSource] = mapped_column(IntEnumType(CouponSource))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    transfer_depth: Mapped[int] = mapped_column(default=0)
    transferred_from_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon.id", ondelete="RESTRICT"))
    transferred_to_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon.id", ondelete="RESTRICT"))
    redeemed_order_id: Mapped[int | None] = mapped_column(index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    template: Mapped[CouponTemplate] = relationship()


class CouponEvent(TenantMixin, TimestampMixin, db.Model):
    """The coupon ledger: one row per state change (and per issue), append-only."""

    __tablename__ = "coupon_event"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "idempotency_key"),
        enum_check("kind", CouponEventKind),
        sa.Index("ix_coupon_event_coupon", "coupon_id", "id"),
        sa.Index("ix_coupon_event_member", "member_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(sa.ForeignKey("coupon.id", ondelete="RESTRICT"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    kind: Mapped[CouponEventKind] = mapped_column(IntEnumType(CouponEventKind))
    order_id: Mapped[int | None] = mapped_column(index=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(160))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("device.id", ondelete="SET NULL"))
