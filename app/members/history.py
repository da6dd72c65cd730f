"""A member's consumption history: visits written by the settlement, read by the card pages."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.db import db
from app.members.models import Member, MemberVisit


def paid_since(member: Member, since: datetime) -> int:
    total = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(
        MemberVisit.paid_cents - MemberVisit.refunded_cents), 0)).where(
        MemberVisit.member_id == member.id, MemberVisit.visited_at >= since))
    return int(total or 0)


def visits(member: Member, limit: int = 50) -> list[MemberVisit]:
    return list(db.session.scalars(sa.select(MemberVisit).where(MemberVisit.member_id == member.id)
                                   .order_by(MemberVisit.visited_at.desc(), MemberVisit.id.desc()).limit(limit)))
