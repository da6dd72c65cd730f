"""A member's consumption history: visits written by the settlement, read by the card pages."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.db import db
from app.members.models import Member, MemberVisit


def paid_in_year_query(member_id: int, now: datetime) -> sa.Select:
    """What the member paid (less refunds) in the trailing 12 months — what tier spend thresholds
    are measured on — as a query to run or embed."""
    return sa.select(sa.func.coalesce(sa.func.sum(MemberVisit.paid_cents - MemberVisit.refunded_cents), 0)).where(
        MemberVisit.member_id == member_id, MemberVisit.visited_at >= now - timedelta(days=365))


def visits(member: Member, limit: int = 50) -> list[MemberVisit]:
    return list(db.session.scalars(sa.select(MemberVisit).where(MemberVisit.member_id == member.id)
                                   .order_by(MemberVisit.visited_at.desc(), MemberVisit.id.desc()).limit(limit)))
