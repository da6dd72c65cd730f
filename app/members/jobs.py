"""Scheduled member work: points expiry and the tier review. The scheduler process runs them for
each merchant with the merchant's system actor (`app.scheduler`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.actor import Actor
from app.db import db
from app.members import service
from app.members.models import Account, EntryKind, LedgerEntry, Member, Tier
from tablerules import members as rules


def review_member(member: Member, tiers: list[Tier], now: datetime):
    """The review of one member (may move them down — or up — with a recorded reason)."""
    since = now - timedelta(days=365)
    largest_topup = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(LedgerEntry.delta), 0)).where(
        LedgerEntry.member_id == member.id, LedgerEntry.kind == EntryKind.TOPUP,
        LedgerEntry.account == Account.PRINCIPAL, LedgerEntry.created_at >= since)) or 0
    change = rules.review_decision(service.tier_rule(member.tier), [service.tier_rule(t) for t in tiers],
                                   service.spend_12m_cents(member, now), int(largest_topup))
    return service.apply_tier_change(member, change, now=now)


def review_tiers(now: datetime, *, actor: Actor) -> int:
    """Review every member of the actor's merchant above the base tier; returns how many changed
    tier. Commits per batch."""
    merchant_id = actor.merchant_id
    tiers = service.tiers_of(merchant_id)
    base = tiers[0]
    changed = 0
    last_id = 0
    while True:
        batch = list(db.session.scalars(sa.select(Member).where(
            Member.merchant_id == merchant_id, Member.tier_id != base.id, Member.id > last_id)
            .order_by(Member.id).limit(500)))
        if not batch:
            return changed
        for member in batch:
            changed += review_member(member, tiers, now) is not None
            last_id = member.id
        db.session.commit()

