"""A member's consumption history: visits written by the settlement, read by the card pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.db import db
from app.members.models import EntryKind, LedgerEntry, Member, MemberVisit, PointsLot

SPEND_WINDOW = timedelta(days=365)  # tier spend thresholds are measured on the trailing 12 months


def paid_since_query(member_id: int | sa.BindParameter, since: datetime | sa.BindParameter) -> sa.Select:
    """What the member paid (less refunds) since a moment, as a query to run or embed."""
    return sa.select(sa.func.coalesce(sa.func.sum(MemberVisit.paid_cents - MemberVisit.refunded_cents), 0)).where(
        MemberVisit.member_id == member_id, MemberVisit.visited_at >= since)


def paid_in_year_query(member_id: int, now: datetime) -> sa.Select:
    """What the member paid in the trailing 12 months — what tier spend thresholds are measured on."""
    return paid_since_query(member_id, now - SPEND_WINDOW)


def visits(member: Member, limit: int = 50) -> list[MemberVisit]:
    return list(db.session.scalars(sa.select(MemberVisit).where(MemberVisit.member_id == member.id)
                                   .order_by(MemberVisit.visited_at.desc(), MemberVisit.id.desc()).limit(limit)))


@dataclass(frozen=True)
class VisitView:
    """A visit as the member's card shows it: what it costs the member after refunds, and the
    points it leaves them after the refunds took theirs back."""

    visit: MemberVisit
    net_cents: int
    points_net: int
    is_refunded: bool  # wholly
    is_partly_refunded: bool

    def __getattr__(self, name: str):
        return getattr(self.visit, name)


def card_visits(member: Member, limit: int = 10) -> list[VisitView]:
    """The newest visits with their refunds: a refunded visit says so and keeps no points."""
    rows = visits(member, limit)
    taken: dict[int, int] = {}
    if rows:
        taken = dict(db.session.execute(
            sa.select(LedgerEntry.order_id, sa.func.sum(LedgerEntry.delta))
            .where(LedgerEntry.member_id == member.id, LedgerEntry.kind == EntryKind.POINTS_EARN_REVERSAL,
                   LedgerEntry.order_id.in_([v.order_id for v in rows]))
            .group_by(LedgerEntry.order_id)).all())
    return [VisitView(v, v.paid_cents - v.refunded_cents, max(0, v.points_earned + (taken.get(v.order_id) or 0)),
                      v.paid_cents > 0 and v.refunded_cents >= v.paid_cents,
                      0 < v.refunded_cents < v.paid_cents)
            for v in rows]


def points_expiring(member: Member, now: datetime, limit: int = 3) -> list[tuple[datetime, int]]:
    """(expiry, points) of the member's points that expire, soonest first."""
    return [(expires_at, int(points)) for expires_at, points in db.session.execute(
        sa.select(PointsLot.expires_at, sa.func.sum(PointsLot.remaining_points))
        .where(PointsLot.member_id == member.id, PointsLot.remaining_points > 0, PointsLot.expires_at.is_not(None),
               PointsLot.expires_at > now)
        .group_by(PointsLot.expires_at).order_by(PointsLot.expires_at).limit(limit)).all()]
