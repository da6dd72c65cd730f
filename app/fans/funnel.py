"""The funnel of each poster: scans → follows → draws → wins → redeemed → paid visits, and the
prize cost against the revenue of the visits it brought.

Definitions (the manager's page says them in words too):
- scans: every subscribe/SCAN event of the poster's code; follows: those that were a new follow;
- draws: spins whose player came from the poster (their latest scene); wins: those with a prize;
- redeemed: won coupons used on a bill;
- paid visits: paid bills (`member_visit`) of members who spun from the poster, on or after
  their first spin from it; revenue: what those bills paid, less refunds;
- prize cost: points and bonus prizes granted, plus coupon prizes redeemed, at the cost fixed
  on the prize when it was saved (a coupon's face value, points at their cash value).
For a red-envelope poster, draws and wins are the shares grabbed (by anyone); the cost is the
bonus grabbed, or the vouchers used.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app.coupons.models import Coupon, CouponStatus
from app.db import db
from app.fans.models import EnvelopeShare, FanPoster, FanScan, PrizeKind, WheelPlay, WheelPrize
from app.members.models import MemberVisit


@dataclass(frozen=True)
class Funnel:
    poster: FanPoster
    scans: int = 0
    follows: int = 0
    draws: int = 0
    wins: int = 0
    redeemed: int = 0
    visits: int = 0
    revenue_cents: int = 0
    cost_cents: int = 0

    @property
    def steps(self) -> list[int]:
        return [self.scans, self.follows, self.draws, self.wins, self.redeemed, self.visits]


def _count(condition) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _visits(poster: FanPoster, first_play: sa.Subquery | None) -> tuple[int, int]:
    if first_play is None:
        return 0, 0
    row = db.session.execute(sa.select(
        sa.func.count(MemberVisit.id),
        sa.func.coalesce(sa.func.sum(MemberVisit.paid_cents - MemberVisit.refunded_cents), 0),
    ).join(first_play, first_play.c.member_id == MemberVisit.member_id).where(
        MemberVisit.merchant_id == poster.merchant_id, MemberVisit.visited_at >= first_play.c.first_at)).one()
    return int(row[0]), int(row[1])


def poster_funnel(poster: FanPoster) -> Funnel:
    scans, follows = db.session.execute(sa.select(sa.func.count(FanScan.id), _count(FanScan.is_follow)).where(
        FanScan.poster_id == poster.id)).one()
    if poster.envelope_id is not None:
        used = Coupon.state == CouponStatus.REDEEMED
        cost_of = sa.case((EnvelopeShare.coupon_template_id.is_(None), EnvelopeShare.amount_cents),
                          (used, EnvelopeShare.amount_cents), else_=0)
        grabbed, redeemed, cost = db.session.execute(sa.select(
            sa.func.count(EnvelopeShare.id), _count(used), sa.func.coalesce(sa.func.sum(cost_of), 0),
        ).select_from(EnvelopeShare).outerjoin(Coupon, Coupon.id == EnvelopeShare.coupon_id).where(
            EnvelopeShare.envelope_id == poster.envelope_id, EnvelopeShare.member_id.is_not(None))).one()
        first = (sa.select(EnvelopeShare.member_id, sa.func.min(EnvelopeShare.grabbed_at).label("first_at"))
                 .where(EnvelopeShare.envelope_id == poster.envelope_id, EnvelopeShare.member_id.is_not(None))
                 .group_by(EnvelopeShare.member_id).subquery())
        visits, revenue = _visits(poster, first)
        return Funnel(poster, int(scans), int(follows), int(grabbed), int(grabbed), int(redeemed), visits, revenue,
                      int(cost))
    is_win = WheelPrize.kind != PrizeKind.NOTHING
    coupon_used = Coupon.state == CouponStatus.REDEEMED
    granted_cost = sa.case(
        (sa.and_(WheelPlay.granted_at.is_not(None), WheelPrize.kind.in_([PrizeKind.POINTS, PrizeKind.BONUS])),
         WheelPrize.cost_cents),
        (sa.and_(WheelPrize.kind == PrizeKind.COUPON, coupon_used), WheelPrize.cost_cents), else_=0)
    draws, wins, redeemed, cost = db.session.execute(sa.select(
        sa.func.count(WheelPlay.id), _count(is_win), _count(sa.and_(WheelPrize.kind == PrizeKind.COUPON, coupon_used)),
        sa.func.coalesce(sa.func.sum(granted_cost), 0),
    ).select_from(WheelPlay).join(WheelPrize, WheelPrize.id == WheelPlay.prize_id)
        .outerjoin(Coupon, Coupon.id == WheelPlay.coupon_id).where(WheelPlay.poster_id == poster.id)).one()
    first = (sa.select(WheelPlay.member_id, sa.func.min(WheelPlay.created_at).label("first_at"))
             .where(WheelPlay.poster_id == poster.id, WheelPlay.member_id.is_not(None))
             .group_by(WheelPlay.member_id).subquery())
    visits, revenue = _visits(poster, first)
    return Funnel(poster, int(scans), int(follows), int(draws), int(wins), int(redeemed), visits, revenue, int(cost))


def funnels(posters: list[FanPoster]) -> list[Funnel]:
    return [poster_funnel(poster) for poster in posters]
