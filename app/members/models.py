"""Members, their cards, tiers and the append-only ledger of stored value and points."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import IntEnumType, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check, utcnow
from tablerules.state import Transitions


class Gender(enum.IntEnum):
    UNKNOWN = 0
    MALE = 1
    FEMALE = 2


class Account(enum.IntEnum):
    PRINCIPAL = 1
    BONUS = 2
    POINTS = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class EntryKind(enum.IntEnum):
    """Why a ledger entry exists. Stored as an int; shown by its lower-case name."""

    TOPUP = 1  # stored value bought (principal) and its gift (bonus)
    TOPUP_REFUND = 2  # a top-up given back
    SPEND = 3  # stored value paid for an order
    SPEND_REFUND = 4  # an order refund returning stored value
    CASHOUT = 5  # principal paid out in cash
    BONUS_FORFEIT = 6  # bonus given up by a cash-out
    ADJUST = 7  # manual correction by a manager, with a reason
    POINTS_EARN = 8
    POINTS_REDEEM = 9
    POINTS_EXPIRE = 10
    POINTS_EARN_REVERSAL = 11  # an order refund taking back what it earned
    POINTS_REDEEM_RETURN = 12  # an order refund giving back what it spent

    @property
    def label(self) -> str:
        return self.name.lower()


class CardStatus(enum.IntEnum):
    ACTIVE = 1
    LOST = 2  # reported lost: refused at the till, the balance stays with the member
    UNBOUND = 3  # detached from the member on request
    REPLACED = 4  # superseded by a new card after a loss


class CardEvent(enum.StrEnum):
    LOSE = "lose"
    UNBIND = "unbind"
    REPLACE = "replace"


CARDS: Transitions[CardStatus, CardEvent] = Transitions({
    (CardStatus.ACTIVE, CardEvent.LOSE): CardStatus.LOST,
    (CardStatus.ACTIVE, CardEvent.UNBIND): CardStatus.UNBOUND,
    (CardStatus.ACTIVE, CardEvent.REPLACE): CardStatus.REPLACED,
    (CardStatus.LOST, CardEvent.REPLACE): CardStatus.REPLACED,
})


class Tier(TenantMixin, db.Model):
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "rank"),
        sa.UniqueConstraint("merchant_id", "name"),
        sa.CheckConstraint("discount_percent BETWEEN 0 AND 100", name="discount_percent_range"),
        sa.CheckConstraint("points_multiplier_percent >= 0", name="multiplier_not_negative"),
        sa.CheckConstraint("rank >= 0", name="rank_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(30))
    name_en: Mapped[str] = mapped_column(sa.String(30), default="")
    rank: Mapped[int]
    discount_percent: Mapped[int] = mapped_column(default=0)  # percent OFF: 12 = 8.8折
    points_multiplier_percent: Mapped[int] = mapped_column(default=100)
    spend_threshold_cents: Mapped[int | None] = mapped_column(sa.BigInteger)
    topup_threshold_cents: Mapped[int | None] = mapped_column(sa.BigInteger)


class MemberSettings(TenantMixin, db.Model):
    """A merchant's member-card rules: points earning, expiry and value, the member-code secret."""

    __tablename__ = "member_settings"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id"),
        sa.CheckConstraint("points_per_yuan >= 0", name="points_per_yuan_not_negative"),
        sa.CheckConstraint("cents_per_point >= 1", name="cents_per_point_positive"),
        sa.CheckConstraint("max_points_share_percent BETWEEN 0 AND 100", name="points_share_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    points_per_yuan: Mapped[int] = mapped_column(default=1)
    earning_tenders: Mapped[list] = mapped_column(sa.JSON, default=lambda: ["cash", "wechat", "stored_value"])
    points_expiry_kind: Mapped[str] = mapped_column(sa.String(30), default="end_of_year_after")
    points_expiry_days: Mapped[int | None]
    points_expiry_months: Mapped[int | None]
    cents_per_point: Mapped[int] = mapped_column(default=1)
    max_points_share_percent: Mapped[int] = mapped_column(default=50)
    member_code_secret: Mapped[str] = mapped_column(sa.String(64))


class TopUpRule(TenantMixin, db.Model):
    """'充100送20': a top-up of at least min_cents gets bonus_cents (every min_cents if repeat)."""

    __tablename__ = "topup_rule"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "min_cents"),
        sa.CheckConstraint("min_cents > 0", name="min_positive"),
        sa.CheckConstraint("bonus_cents >= 0", name="bonus_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    min_cents: Mapped[int] = mapped_column(sa.BigInteger)
    bonus_cents: Mapped[int] = mapped_column(sa.BigInteger)
    is_repeat: Mapped[bool] = mapped_column(default=False)


class Member(TenantMixin, TimestampMixin, db.Model):
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "phone"),
        sa.UniqueConstraint("merchant_id", "member_no"),
        sa.UniqueConstraint("merchant_id", "openid"),
        sa.CheckConstraint("principal_cents >= 0", name="principal_not_negative"),
        sa.CheckConstraint("bonus_cents >= 0", name="bonus_not_negative"),
        sa.CheckConstraint("points >= 0", name="points_not_negative"),
        enum_check("gender", Gender),
        sa.Index("ix_member_merchant_name", "merchant_id", "name"),
        sa.Index("ix_member_merchant_created", "merchant_id", "created_at"),  # new members of a period
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_no: Mapped[str] = mapped_column(sa.String(10))
    phone: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(60))
    birthday: Mapped[date | None]
    gender: Mapped[Gender] = mapped_column(IntEnumType(Gender), default=Gender.UNKNOWN)
    openid: Mapped[str | None] = mapped_column(sa.String(64))
    unionid: Mapped[str | None] = mapped_column(sa.String(64))
    # What brought the member in: the store, table or campaign of the QR code they scanned.
    source_store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="SET NULL"))
    source_table_id: Mapped[int | None]
    source_campaign: Mapped[str | None] = mapped_column(sa.String(60))
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    tier_id: Mapped[int] = mapped_column(sa.ForeignKey("tier.id", ondelete="RESTRICT"))
    tier_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the phone, name or member number last changed: what a store's agent shows offline.
    profile_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Cached balances: always equal to the sum of this member's ledger entries per account.
    principal_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bonus_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    points: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    tier: Mapped[Tier] = relationship()
    cards: Mapped[list[MemberCard]] = relationship(back_populates="member", order_by="MemberCard.id")

    @property
    def stored_value_cents(self) -> int:
        return self.principal_cents + self.bonus_cents

    def balance(self, account: Account) -> int:
        return {Account.PRINCIPAL: self.principal_cents, Account.BONUS: self.bonus_cents,
                Account.POINTS: self.points}[account]


class MemberCard(TenantMixin, TimestampMixin, db.Model):
    """A physical card (IC/RFID number) bound to a member, beside the electronic card."""

    __tablename__ = "member_card"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "card_no"), enum_check("status", CardStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="CASCADE"), index=True)
    card_no: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[CardStatus] = mapped_column(IntEnumType(CardStatus), default=CardStatus.ACTIVE)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    replaced_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member_card.id", ondelete="SET NULL"))

    member: Mapped[Member] = relationship(back_populates="cards")


class LedgerEntry(TenantMixin, TimestampMixin, db.Model):
    """One movement of one account. Append-only: a correction is a new entry, never an edit."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        # Whatever arrives twice applies once: the database, not memory, holds that rule.
        sa.UniqueConstraint("merchant_id", "idempotency_key"),
        sa.CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        sa.CheckConstraint("delta <> 0", name="delta_not_zero"),
        enum_check("account", Account),
        enum_check("kind", EntryKind),
        sa.Index("ix_ledger_entry_member", "member_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    account: Mapped[Account] = mapped_column(IntEnumType(Account))
    kind: Mapped[EntryKind] = mapped_column(IntEnumType(EntryKind))
    delta: Mapped[int] = mapped_column(sa.BigInteger)
    balance_after: Mapped[int] = mapped_column(sa.BigInteger)
    idempotency_key: Mapped[str] = mapped_column(sa.String(160))
    order_id: Mapped[int | None] = mapped_column(index=True)
    payment_id: Mapped[int | None]
    ref_entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ledger_entry.id", ondelete="RESTRICT"))
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="SET NULL"))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("device.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(sa.String(200), default="")


class PointsLot(TenantMixin, db.Model):
    """Points from one earn, used oldest-expiry first; what is left expires at expires_at."""

    __tablename__ = "points_lot"
    __table_args__ = (
        sa.CheckConstraint("remaining_points >= 0", name="remaining_not_negative"),
        sa.CheckConstraint("remaining_points <= earned_points", name="remaining_within_earned"),
        sa.Index("ix_points_lot_member_open", "member_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_entry.id", ondelete="RESTRICT"))
    earned_points: Mapped[int] = mapped_column(sa.BigInteger)
    remaining_points: Mapped[int] = mapped_column(sa.BigInteger)
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    order_id: Mapped[int | None]


class PointsLotMove(TenantMixin, db.Model):
    """Which lots a ledger entry drew from or returned to, so a refund can undo it exactly."""

    __tablename__ = "points_lot_move"

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("points_lot.id", ondelete="RESTRICT"), index=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("ledger_entry.id", ondelete="RESTRICT"), index=True)
    points: Mapped[int] = mapped_column(sa.BigInteger)  # negative: taken from the lot


class TierChangeLog(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "tier_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="CASCADE"), index=True)
    from_tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tier.id", ondelete="SET NULL"))
    to_tier_id: Mapped[int] = mapped_column(sa.ForeignKey("tier.id", ondelete="RESTRICT"))
    reason_code: Mapped[str] = mapped_column(sa.String(40))
    reason: Mapped[str] = mapped_column(sa.String(200))


class MemberCodeUse(TenantMixin, TimestampMixin, db.Model):
    """A dynamic member code, once accepted, is spent: a screenshot cannot be used again."""

    __tablename__ = "member_code_use"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "member_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(sa.BigInteger)


class MemberVisit(TenantMixin, db.Model):
    """One paid visit in the member's consumption history (written by the settlement)."""

    __tablename__ = "member_visit"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "order_id"),
        sa.Index("ix_member_visit_member_time", "member_id", "visited_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    order_id: Mapped[int]
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="SET NULL"))
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_cents: Mapped[int] = mapped_column(sa.BigInteger)
    refunded_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    stored_value_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    points_earned: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    points_redeemed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # [{"name", "qty", "amount_cents"}] and [{"type", "amount_cents"}], as printed on the receipt.
    items: Mapped[list] = mapped_column(sa.JSON, default=list)
    tenders: Mapped[list] = mapped_column(sa.JSON, default=list)


class MemberFigures(TenantMixin, db.Model):
    """A member's counted visits in the merchant's current pyramid window (`FiguresWindow`): how
    many, what they kept paid, the last one. A rollup of the bills, recomputed for the member
    from their own bills in the settlement's and the refund's transaction (under the member's
    lock, so always exact), and for the members whose oldest bills leave the window when the
    window moves on at local midnight (`app.orders.figures`)."""

    __tablename__ = "member_figures"
    __table_args__ = (
        sa.CheckConstraint("visits >= 0", name="visits_not_negative"),
        # The members whose last visit crossed a recency threshold between two moments (the kept
        # pyramid moved on, `app.analytics.kept_pyramid`).
        sa.Index("ix_member_figures_merchant_last_visit", "merchant_id", "last_visit_at"),
    )

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    visits: Mapped[int] = mapped_column(default=0)
    spend_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FiguresWindow(db.Model):
    """The window `MemberFigures` holds for a merchant: from `starts_at` on, `months` long."""

    __tablename__ = "member_figures_window"
    __table_args__ = (sa.CheckConstraint("months >= 1", name="months_positive"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchant.id", ondelete="CASCADE"), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    months: Mapped[int]
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The quantiles the pyramid's default thresholds come from, taken from the rollup when the
    # window moved on (once a day): {n, median_last_visit_at, p80_last_visit_at, p75_visits,
    # p75_spend_cents}. None: not taken yet.
    quantiles: Mapped[dict | None] = mapped_column(sa.JSON)
    # Moved to a new random value in the same transaction as every write of the merchant's
    # rollup rows and every member joining or leaving (`app.orders.figures`): what a process
    # keeps counted from the rollup (`app.analytics.kept_pyramid`) holds while it is unchanged.
    # Random rather than counted, so a window built again (or a database built afresh) never
    # repeats a stamp an earlier one had.
    stamp: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default=sa.text("0"))
