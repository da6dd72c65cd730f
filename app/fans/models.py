"""Fan acquisition: lucky wheels and their prizes, the posters whose scene QR codes lead to them,
every scan, every play, and red envelopes split among their grabbers.

What keeps the promises under any concurrency is here, in the database:
- a prize's `issued` moves only by `UPDATE … SET issued = issued + 1 WHERE issued < stock`, and a
  CHECK holds `issued <= stock`;
- a person's plays move only by one conditional UPDATE of their `wheel_player` row that refuses
  to pass the wheel's limits (total and per China day);
- a play is UNIQUE per (wheel, person, draw id): a replayed draw finds the first;
- a red envelope's shares are split when it is funded; a grab claims one free share with a
  conditional UPDATE, and UNIQUE (envelope, member) lets each person hold one.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import IntEnumType, LabelledEnum, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check


class Audience(LabelledEnum):
    """Who may play a wheel."""

    ANYONE = 1  # anyone WeChat knows (signed in through the official account)
    FOLLOWERS = 2  # followers of the official account
    MEMBERS = 3  # members only (others join first)
    PHONE = 4  # anyone who gives a mobile number (members have given theirs)


class PrizeKind(LabelledEnum):
    COUPON = 1  # a coupon of a template, into the member's wallet
    POINTS = 2
    BONUS = 3  # stored-value bonus (赠送余额)
    NOTHING = 4  # 谢谢参与: a segment of the wheel that gives nothing


class EnvelopeKind(LabelledEnum):
    """What a red envelope's shares are paid in."""

    BONUS = 1  # stored-value bonus, on the grabber's card at once
    COUPON = 2  # a cash voucher worth the share, into the grabber's wallet


class LuckyWheel(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "lucky_wheel"
    __table_args__ = (
        sa.UniqueConstraint("code"),
        enum_check("audience", Audience),
        sa.CheckConstraint("per_person_total IS NULL OR per_person_total >= 1", name="total_positive"),
        sa.CheckConstraint("per_person_daily IS NULL OR per_person_daily >= 1", name="daily_positive"),
        sa.CheckConstraint("starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at", name="window_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16))  # the public link's name: not guessable from the id
    name: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120), default="")
    audience: Mapped[Audience] = mapped_column(IntEnumType(Audience), default=Audience.ANYONE)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    per_person_total: Mapped[int | None]
    per_person_daily: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(default=True)

    prizes: Mapped[list[WheelPrize]] = relationship(order_by="WheelPrize.position", back_populates="wheel")


class WheelPrize(TenantMixin, db.Model):
    __tablename__ = "wheel_prize"
    __table_args__ = (
        sa.UniqueConstraint("wheel_id", "position"),
        enum_check("kind", PrizeKind),
        sa.CheckConstraint("chance_bp BETWEEN 0 AND 10000", name="chance_range"),
        sa.CheckConstraint("stock >= 0", name="stock_not_negative"),
        sa.CheckConstraint("issued >= 0 AND issued <= stock", name="issued_within_stock"),
        sa.CheckConstraint(f"kind <> {PrizeKind.COUPON} OR coupon_template_id IS NOT NULL", name="coupon_has_template"),
        sa.CheckConstraint(f"kind <> {PrizeKind.POINTS} OR points > 0", name="points_positive"),
        sa.CheckConstraint(f"kind <> {PrizeKind.BONUS} OR bonus_cents > 0", name="bonus_positive"),
        sa.CheckConstraint("cost_cents >= 0", name="cost_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wheel_id: Mapped[int] = mapped_column(sa.ForeignKey("lucky_wheel.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]  # its segment on the wheel, from 0
    kind: Mapped[PrizeKind] = mapped_column(IntEnumType(PrizeKind))
    label: Mapped[str] = mapped_column(sa.String(30))
    label_en: Mapped[str] = mapped_column(sa.String(60), default="")
    coupon_template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_template.id", ondelete="RESTRICT"))
    points: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bonus_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    chance_bp: Mapped[int] = mapped_column(default=0)  # basis points: 1500 = 15%
    stock: Mapped[int] = mapped_column(default=0)
    issued: Mapped[int] = mapped_column(default=0)
    # What one prize costs the merchant (a coupon's face value, points at their cash value…),
    # fixed when the prize is saved: the funnel's cost column.
    cost_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    wheel: Mapped[LuckyWheel] = relationship(back_populates="prizes")


class FanPoster(TenantMixin, TimestampMixin, db.Model):
    """A printed poster: its scene QR code leads to a wheel or a red envelope. `scene` is what
    WeChat sends back with the subscribe/SCAN event ('campaign_<code>')."""

    __tablename__ = "fan_poster"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "scene"),
        sa.CheckConstraint("(wheel_id IS NULL) <> (envelope_id IS NULL)", name="one_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    scene: Mapped[str] = mapped_column(sa.String(64))
    headline: Mapped[str] = mapped_column(sa.String(60), default="")
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="SET NULL"))
    wheel_id: Mapped[int | None] = mapped_column(sa.ForeignKey("lucky_wheel.id", ondelete="CASCADE"), index=True)
    envelope_id: Mapped[int | None] = mapped_column(sa.ForeignKey("red_envelope.id", ondelete="CASCADE"))
    qr_url: Mapped[str | None] = mapped_column(sa.String(300))  # what WeChat's code encodes, once asked

    wheel: Mapped[LuckyWheel | None] = relationship()
    envelope: Mapped[RedEnvelope | None] = relationship()


class FanScan(TenantMixin, TimestampMixin, db.Model):
    """One scan of a poster's code as WeChat reported it: a follow (first scan by a non-follower)
    or a SCAN by someone who already follows."""

    __tablename__ = "fan_scan"
    __table_args__ = (
        # WeChat sends an event again when our answer is late: who and when (CreateTime) name it.
        sa.UniqueConstraint("merchant_id", "event_key"),
        sa.Index("ix_fan_scan_poster", "poster_id", "openid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    poster_id: Mapped[int] = mapped_column(sa.ForeignKey("fan_poster.id", ondelete="CASCADE"))
    openid: Mapped[str] = mapped_column(sa.String(64))
    is_follow: Mapped[bool] = mapped_column(default=False)
    event_key: Mapped[str] = mapped_column(sa.String(100))  # '<openid>:<CreateTime>:<event>'


class FanContact(TenantMixin, TimestampMixin, db.Model):
    """The mobile number a diner gave to play the merchant's games (a wheel open to anyone
    with a phone): one per person and merchant."""

    __tablename__ = "fan_contact"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(sa.String(64))
    phone: Mapped[str] = mapped_column(sa.String(20))


class WheelPlayer(TenantMixin, db.Model):
    """One person's plays on one wheel: the counters the limits are held on."""

    __tablename__ = "wheel_player"
    __table_args__ = (
        sa.UniqueConstraint("wheel_id", "openid"),
        sa.CheckConstraint("plays >= 0", name="plays_not_negative"),
        sa.CheckConstraint("day_plays >= 0", name="day_plays_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wheel_id: Mapped[int] = mapped_column(sa.ForeignKey("lucky_wheel.id", ondelete="CASCADE"))
    openid: Mapped[str] = mapped_column(sa.String(64))
    plays: Mapped[int] = mapped_column(default=0)
    day: Mapped[date | None]  # the China day `day_plays` counts
    day_plays: Mapped[int] = mapped_column(default=0)


class WheelPlay(TenantMixin, TimestampMixin, db.Model):
    """One draw: what the server decided, and (for a win) when the prize reached the wallet."""

    __tablename__ = "wheel_play"
    __table_args__ = (
        # The draw id the page sent: the same id again is the same play (a replay changes nothing).
        sa.UniqueConstraint("wheel_id", "openid", "draw_id"),
        sa.CheckConstraint("granted_at IS NULL OR member_id IS NOT NULL", name="granted_to_member"),
        sa.Index("ix_wheel_play_poster", "poster_id"),
        sa.Index("ix_wheel_play_member", "member_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wheel_id: Mapped[int] = mapped_column(sa.ForeignKey("lucky_wheel.id", ondelete="CASCADE"))
    openid: Mapped[str] = mapped_column(sa.String(64))
    draw_id: Mapped[str] = mapped_column(sa.String(40))
    poster_id: Mapped[int | None] = mapped_column(sa.ForeignKey("fan_poster.id", ondelete="SET NULL"))
    prize_id: Mapped[int | None] = mapped_column(sa.ForeignKey("wheel_prize.id", ondelete="RESTRICT"))
    roll: Mapped[int]  # the secret roll in [0, 10000): kept for the audit of the odds
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon.id", ondelete="RESTRICT"))

    prize: Mapped[WheelPrize | None] = relationship()


class RedEnvelope(TenantMixin, TimestampMixin, db.Model):
    """拼手气红包: a pool split at random among `shares` grabbers, paid as stored-value bonus or as
    cash vouchers (one template per distinct share amount, made at funding)."""

    __tablename__ = "red_envelope"
    __table_args__ = (
        sa.UniqueConstraint("code"),
        enum_check("kind", EnvelopeKind),
        sa.CheckConstraint(f"kind <> {EnvelopeKind.COUPON} OR coupon_valid_days >= 1", name="coupon_has_validity"),
        sa.CheckConstraint("shares >= 1", name="shares_positive"),
        sa.CheckConstraint("pool_cents >= shares", name="pool_covers_shares"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(60))
    pool_cents: Mapped[int] = mapped_column(sa.BigInteger)
    shares: Mapped[int]
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[EnvelopeKind] = mapped_column(IntEnumType(EnvelopeKind), default=EnvelopeKind.BONUS)
    coupon_valid_days: Mapped[int | None]  # a voucher share: valid this many days after the grab


class EnvelopeShare(TenantMixin, db.Model):
    """One share of a red envelope, split at funding; `member_id` is who grabbed it."""

    __tablename__ = "envelope_share"
    __table_args__ = (
        sa.UniqueConstraint("envelope_id", "position"),
        sa.UniqueConstraint("envelope_id", "member_id"),  # each person grabs once
        sa.CheckConstraint("amount_cents >= 1", name="amount_positive"),
        sa.CheckConstraint("(member_id IS NULL) = (grabbed_at IS NULL)", name="grab_complete"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    envelope_id: Mapped[int] = mapped_column(sa.ForeignKey("red_envelope.id", ondelete="CASCADE"))
    position: Mapped[int]
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    grabbed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    coupon_template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon_template.id", ondelete="RESTRICT"))
    coupon_id: Mapped[int | None] = mapped_column(sa.ForeignKey("coupon.id", ondelete="RESTRICT"))
