"""CRM tags: hand tags on a member, the manager's tag rules, and keeping `member_tag` — the index
of every member's tags that searches and segments read — up to date.

`refresh_member` recomputes one member's index rows from `Member.tags` (hand) and the active rules
(`tablerules.tags`, over the member's visits and the table that brought them). It runs after each
settlement (the ORDER_PAID subscriber `crm.retag`, after commit), nightly for every member
(`retag_all`, from the scheduler), and whenever a hand tag or a rule changes.

For other features (segments, campaigns): `members_with_tag(merchant_id, tag)` is a query of the
ids of the members who carry a tag — embed it (`Member.id.in_(...)`) or run it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.crm.models import MemberTag, TagRule, TagSource
from app.db import db, get_scoped_or_404, insert_unique
from app.errors import Conflict, Unprocessable
from app.members.models import Member, MemberVisit
from app.outbox.models import OutboxMessage
from app.tables.models import DiningTable
from tablerules import tags as rules

RETAG = "crm.retag"  # the ORDER_PAID subscriber (outbox kind)
MAX_HAND_TAGS = 20
BATCH = 500


# --- reading -------------------------------------------------------------------------------------

def members_with_tag(merchant_id: int, tag: str, source: TagSource | None = None) -> sa.Select:
    """The ids of the merchant's members who carry `tag` (by hand or by rule, or only `source`),
    as a query: `sa.select(Member).where(Member.id.in_(members_with_tag(m, "常客")))`."""
    query = sa.select(MemberTag.member_id).where(MemberTag.merchant_id == merchant_id,
                                                 MemberTag.tag == tag.strip())
    if source is not None:
        query = query.where(MemberTag.source == source)
    return query.distinct()


def tags_of(member: Member) -> list[MemberTag]:
    """The member's tags, hand tags first, each tag once per source."""
    return list(db.session.scalars(sa.select(MemberTag).where(MemberTag.member_id == member.id)
                                   .order_by(MemberTag.source, MemberTag.tag)))


def all_tags(merchant_id: int) -> list[tuple[str, int]]:
    """Every tag in use with its number of members, most used first."""
    rows = db.session.execute(
        sa.select(MemberTag.tag, sa.func.count(sa.distinct(MemberTag.member_id)))
        .where(MemberTag.merchant_id == merchant_id).group_by(MemberTag.tag)
        .order_by(sa.func.count(sa.distinct(MemberTag.member_id)).desc(), MemberTag.tag))
    return [(tag, count) for tag, count in rows]


def rules_of(merchant_id: int) -> list[TagRule]:
    return list(db.session.scalars(sa.select(TagRule).where(TagRule.merchant_id == merchant_id)
                                   .order_by(TagRule.id)))


# --- keeping the index -----------------------------------------------------------------------------

def _rule(rule: TagRule) -> rules.Rule:
    return rules.Rule(kind=rule.kind, tag=rule.tag, params=rule.params or {}, rule_id=rule.id)


def _facts(members: list[Member]) -> dict[int, rules.MemberFacts]:
    """The members' visits and source tables, read in two statements."""
    ids = [m.id for m in members]
    visits: dict[int, list[rules.Visit]] = {i: [] for i in ids}
    for row in db.session.execute(sa.select(MemberVisit.member_id, MemberVisit.visited_at, MemberVisit.paid_cents,
                                            MemberVisit.refunded_cents, MemberVisit.items)
                                  .where(MemberVisit.member_id.in_(ids))):
        items = tuple((str(i.get("name", "")), int(i.get("qty") or 0)) for i in row.items or []
                      if isinstance(i, dict))
        visits[row.member_id].append(rules.Visit(row.visited_at, row.paid_cents, row.refunded_cents, items))
    table_ids = {m.source_table_id for m in members if m.source_table_id}
    codes = {row.id: row.code for row in db.session.execute(
        sa.select(DiningTable.id, DiningTable.code).where(DiningTable.id.in_(table_ids)))} if table_ids else {}
    return {m.id: rules.MemberFacts(visits=tuple(visits[m.id]), source_table=codes.get(m.source_table_id))
            for m in members}


def _hand_tags(member: Member) -> list[str]:
    return sorted({str(t).strip() for t in member.tags or [] if str(t).strip()})


def refresh_members(members: list[Member], now: datetime, active: list[TagRule] | None = None) -> int:
    """Bring the members' index rows in line with their hand tags and the active rules at `now`,
    in the caller's transaction. Answers how many rows were added or removed."""
    if not members:
        return 0
    merchant_id = members[0].merchant_id
    if active is None:
        active = [r for r in rules_of(merchant_id) if r.is_active]
    compiled = [_rule(r) for r in active]
    facts = _facts(members)
    existing: dict[int, dict[tuple[str, TagSource], MemberTag]] = {m.id: {} for m in members}
    for row in db.session.scalars(sa.select(MemberTag).where(MemberTag.member_id.in_(list(existing)))):
        existing[row.member_id][(row.tag, row.source)] = row
    changes = 0
    for member in members:
        wanted: dict[tuple[str, TagSource], list] = {(t, TagSource.HAND): [] for t in _hand_tags(member)}
        for tag, ids in rules.rule_tags(compiled, facts[member.id], now).items():
            wanted[(tag, TagSource.RULE)] = sorted(i for i in ids if i is not None)
        have = existing[member.id]
        for key, row in have.items():
            if key not in wanted:
                db.session.delete(row)
                changes += 1
            elif row.rule_ids != wanted[key]:
                row.rule_ids = wanted[key]
        for (tag, source), ids in wanted.items():
            if (tag, source) not in have:
                insert_unique(MemberTag(merchant_id=merchant_id, member_id=member.id, tag=tag, source=source,
                                        rule_ids=ids, created_at=now))
                changes += 1
    db.session.flush()
    return changes


def refresh_member(member: Member, now: datetime) -> int:
    return refresh_members([member], now)


def retag_all(now: datetime, *, actor: Actor) -> int:
    """Every member of the actor's merchant (the nightly job). Commits per batch."""
    active = [r for r in rules_of(actor.merchant_id) if r.is_active]
    changes, last_id = 0, 0
    while True:
        batch = list(db.session.scalars(sa.select(Member).where(Member.merchant_id == actor.merchant_id,
                                                                Member.id > last_id)
                                        .order_by(Member.id).limit(BATCH)))
        if not batch:
            return changes
        changes += refresh_members(batch, now, active)
        last_id = batch[-1].id
        db.session.commit()


def retag_after_settle(message: OutboxMessage) -> None:
    """ORDER_PAID {order_id}: the order's member's rule tags, in a transaction of its own (after
    the settlement committed). Recomputing is idempotent, so a retry does no harm."""
    from app.db import begin_write, utcnow
    from app.orders.models import Order

    order_id = message.payload.get("order_id")
    if not isinstance(order_id, int):
        return
    db.session.rollback()
    begin_write()
    order = db.session.get(Order, order_id)
    if order is None or order.merchant_id != message.merchant_id or not order.member_id:
        db.session.rollback()
        return
    member = db.session.get(Member, order.member_id)
    if member is not None:
        refresh_member(member, utcnow())
    db.session.commit()


# --- hand tags ----------------------------------------------------------------------------------

def _clean_tag(tag: str) -> str:
    tag = (tag or "").strip()
    if not 1 <= len(tag) <= rules.MAX_TAG_LENGTH:
        raise Unprocessable(gettext("A tag is 1 to %(n)s characters.", n=rules.MAX_TAG_LENGTH), error_code="bad_tag")
    return tag


def set_hand_tags(member: Member, tags: Iterable[str], *, now: datetime) -> list[str]:
    """Replace the member's hand tags (the rule tags stay as the rules give them)."""
    cleaned = sorted({_clean_tag(t) for t in tags})
    if len(cleaned) > MAX_HAND_TAGS:
        raise Unprocessable(gettext("A member has at most %(n)s hand tags.", n=MAX_HAND_TAGS),
                            error_code="too_many_tags")
    member.tags = cleaned
    refresh_member(member, now)
    return cleaned


def add_hand_tag(member: Member, tag: str, *, now: datetime) -> list[str]:
    return set_hand_tags(member, [*_hand_tags(member), _clean_tag(tag)], now=now)


def remove_hand_tag(member: Member, tag: str, *, now: datetime) -> list[str]:
    tag = (tag or "").strip()
    return set_hand_tags(member, [t for t in _hand_tags(member) if t != tag], now=now)


# --- rules -----------------------------------------------------------------------------------------

def create_rule(*, actor: Actor, name: str, tag: str, kind: str, params: dict, now: datetime) -> TagRule:
    try:
        cleaned = rules.clean_params(kind, params)
    except rules.InvalidRule as error:
        raise Unprocessable(str(error), error_code="bad_rule") from None
    rule = TagRule(merchant_id=actor.merchant_id, name=name.strip(), tag=_clean_tag(tag), kind=kind, params=cleaned,
                   created_at=now)
    if not rule.name:
        raise Unprocessable(gettext("Give the rule a name."), error_code="bad_rule")
    if not insert_unique(rule):
        raise Conflict(gettext("A rule with this name already exists."), error_code="rule_exists")
    return rule


def delete_rule(rule_id: int, *, actor: Actor, now: datetime) -> None:
    """The rule goes, and the tag it alone gave goes with it at once."""
    rule = get_scoped_or_404(TagRule, rule_id, actor.merchant_id)
    holders = list(db.session.scalars(sa.select(MemberTag.member_id).where(
        MemberTag.merchant_id == actor.merchant_id, MemberTag.tag == rule.tag, MemberTag.source == TagSource.RULE)))
    db.session.delete(rule)
    db.session.flush()
    if holders:
        refresh_members(list(db.session.scalars(sa.select(Member).where(Member.id.in_(holders)))), now)


def apply_rules_now(*, actor: Actor, now: datetime) -> int:
    """Re-evaluate every member at once (after a rule was added), as the nightly job does."""
    return retag_all(now, actor=actor)
