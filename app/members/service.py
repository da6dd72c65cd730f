"""Member operations: sign-up, lookup, cards, tiers, top-ups, cash-outs, adjustments, points.

Every balance change goes through `app.members.ledger.post`; every rule comes from
`tablerules.members`. Functions here run inside the caller's transaction and never commit,
so a settlement can combine several of them atomically.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.audit.service import record
from app.db import db, insert_unique, scoped
from app.errors import Conflict, NotFound, Unprocessable
from app.events.domain import DomainEvent, publish
from app.members.ledger import Move, Refs, lock_member, post
from app.members.models import (
    CARDS,
    Account,
    CardEvent,
    CardStatus,
    EntryKind,
    Gender,
    LedgerEntry,
    Member,
    MemberCard,
    MemberCodeUse,
    MemberSettings,
    PointsLot,
    PointsLotMove,
    Tier,
    TierChangeLog,
    TopUpRule,
)
from tablerules import members as rules
from tablerules.stored_value import topup_rule_met

DEFAULT_TIERS = (
    # name, name_en, rank, % off, points multiplier %, 12-month spend, single top-up (fen)
    ("普通会员", "Member", 0, 0, 100, None, None),
    ("银卡", "Silver", 1, 5, 120, 200_000, 100_000),
    ("金卡", "Gold", 2, 12, 150, 500_000, 300_000),
    ("钻石卡", "Diamond", 3, 20, 200, 2_000_000, 1_000_000),
)
DEFAULT_TOPUP_RULES = ((50_000, 5_000), (100_000, 15_000), (300_000, 60_000))


# --- merchant set-up -------------------------------------------------------------------------

def set_up_members(merchant_id: int) -> MemberSettings:
    """A new merchant's member rules, tiers and top-up offers, with sensible defaults (made with
    the merchant, so that reading them never writes; a racing twin finds the winner's)."""
    query = sa.select(MemberSettings).where(MemberSettings.merchant_id == merchant_id)
    candidate = MemberSettings(merchant_id=merchant_id, member_code_secret=secrets.token_hex(32))
    if not insert_unique(candidate):
        return db.session.scalars(query).one()
    for name, name_en, rank, off, multiplier, spend, topup in DEFAULT_TIERS:
        db.session.add(Tier(merchant_id=merchant_id, name=name, name_en=name_en, rank=rank,
                            discount_percent=off, points_multiplier_percent=multiplier,
                            spend_threshold_cents=spend, topup_threshold_cents=topup))
    for min_cents, bonus_cents in DEFAULT_TOPUP_RULES:
        db.session.add(TopUpRule(merchant_id=merchant_id, min_cents=min_cents, bonus_cents=bonus_cents))
    db.session.flush()
    return candidate


def settings_for(merchant_id: int) -> MemberSettings:
    """The merchant's member rules (`set_up_members` made them with the merchant; the migrations
    gave them to merchants from before). Looked up once per session: a settlement asks several
    times."""
    memo = db.session.info.setdefault("member_settings", {})
    settings = memo.get(merchant_id)
    if settings is not None and settings in db.session:
        return settings
    settings = db.session.scalar(sa.select(MemberSettings).where(MemberSettings.merchant_id == merchant_id))
    if settings is None:
        raise LookupError(f"merchant {merchant_id} has no member settings (made by app.onboarding.create_tenant)")
    memo[merchant_id] = settings
    return settings


def remember_settings(settings: MemberSettings) -> None:
    """Settings a caller loaded with another row (the settlement reads them with the member)."""
    db.session.info.setdefault("member_settings", {})[settings.merchant_id] = settings


def tiers_of(merchant_id: int) -> list[Tier]:
    settings_for(merchant_id)
    return list(db.session.scalars(sa.select(Tier).where(Tier.merchant_id == merchant_id).order_by(Tier.rank)))


def tier_rule(tier: Tier) -> rules.TierRule:
    return rules.TierRule(id=tier.id, name=tier.name, rank=tier.rank, discount_percent=tier.discount_percent,
                          points_multiplier_percent=tier.points_multiplier_percent,
                          spend_threshold_cents=tier.spend_threshold_cents,
                          topup_threshold_cents=tier.topup_threshold_cents)


def topup_rule_rows(merchant_id: int) -> list[TopUpRule]:
    """The merchant's top-up rules as stored, smallest amount first (defaults on first use)."""
    settings_for(merchant_id)
    return list(db.session.scalars(sa.select(TopUpRule).where(TopUpRule.merchant_id == merchant_id)
                                   .order_by(TopUpRule.min_cents)))


def topup_rules_of(merchant_id: int) -> list[rules.TopUpRule]:
    rows = db.session.scalars(sa.select(TopUpRule).where(TopUpRule.merchant_id == merchant_id))
    return [rules.TopUpRule(r.min_cents, r.bonus_cents, r.is_repeat) for r in rows]


def earn_rule(settings: MemberSettings) -> rules.PointsEarnRule:
    return rules.PointsEarnRule(settings.points_per_yuan, frozenset(settings.earning_tenders))


def expiry_rule(settings: MemberSettings) -> rules.PointsExpiryRule:
    return rules.PointsExpiryRule(settings.points_expiry_kind, days=settings.points_expiry_days,
                                  months=settings.points_expiry_months)


# --- members ---------------------------------------------------------------------------------

def _new_member_no(merchant_id: int) -> str:
    while True:
        number = str(1_000_000_000 + secrets.randbelow(9_000_000_000))
        taken = db.session.scalar(sa.select(Member.id).where(Member.merchant_id == merchant_id,
                                                             Member.member_no == number))
        if taken is None:
            return number


def create_member(*, actor: Actor, phone: str, name: str, birthday: date | None = None,
                  gender: Gender = Gender.UNKNOWN, openid: str | None = None,
                  source_store_id: int | None = None, source_table_id: int | None = None,
                  source_campaign: str | None = None, tags: Iterable[str] = (), notes: str = "") -> Member:
    merchant_id = actor.merchant_id
    if db.session.scalar(sa.select(Member.id).where(Member.merchant_id == merchant_id, Member.phone == phone)):
        raise Conflict(gettext("A member with this phone number already exists."), error_code="member_exists")
    base_tier = tiers_of(merchant_id)[0]
    member = Member(merchant_id=merchant_id, member_no=_new_member_no(merchant_id), phone=phone, name=name,
                    birthday=birthday, gender=gender, openid=openid, source_store_id=source_store_id,
                    source_table_id=source_table_id, source_campaign=source_campaign, tags=list(tags),
                    notes=notes, tier=base_tier)
    db.session.add(member)
    db.session.flush()
    return member


PROFILE_COLUMNS = ("phone", "name", "member_no")  # what a store's agent shows and finds offline


def update_member(member: Member, changes: dict, *, now: datetime) -> Member:
    """Change a member's own details; a new phone, name or number is stamped, so that the stores'
    agents take it with their next refresh of changed members."""
    if any(key in PROFILE_COLUMNS and getattr(member, key) != value for key, value in changes.items()):
        member.profile_changed_at = now
    for key, value in changes.items():
        setattr(member, key, value)
    return member


def search_members(text: str, *, actor: Actor, limit: int, offset: int = 0) -> tuple[list[Member], int]:
    """The actor's merchant's members matching `text` (phone or member number prefix, or part of
    the name), newest first, and how many match in all."""
    stmt = scoped(Member, actor.merchant_id)
    text = text.strip()
    if text:
        stmt = stmt.where(sa.or_(Member.phone.startswith(text, autoescape=True),
                                 Member.member_no.startswith(text, autoescape=True),
                                 Member.name.contains(text, autoescape=True)))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    members = db.session.scalars(stmt.order_by(Member.id.desc()).limit(limit).offset(offset)).all()
    return list(members), total


def members_per_tier(merchant_id: int) -> list[tuple[Tier, int]]:
    """Every tier, lowest rank first, with how many members hold it."""
    counts = dict(db.session.execute(
        sa.select(Member.tier_id, sa.func.count()).where(Member.merchant_id == merchant_id)
        .group_by(Member.tier_id)).all())
    return [(tier, counts.get(tier.id, 0)) for tier in tiers_of(merchant_id)]


def ledger_entries(member: Member, *, account: Account | None = None, before_id: int | None = None,
                   limit: int = 100) -> list[LedgerEntry]:
    """The member's ledger, newest first; `before_id` pages back."""
    stmt = sa.select(LedgerEntry).where(LedgerEntry.merchant_id == member.merchant_id,
                                        LedgerEntry.member_id == member.id)
    if account is not None:
        stmt = stmt.where(LedgerEntry.account == account)
    if before_id is not None:
        stmt = stmt.where(LedgerEntry.id < before_id)
    return list(db.session.scalars(stmt.order_by(LedgerEntry.id.desc()).limit(limit)))


def tier_changes(member: Member) -> list[TierChangeLog]:
    """The member's tier history, newest first."""
    return list(db.session.scalars(sa.select(TierChangeLog).where(
        TierChangeLog.merchant_id == member.merchant_id, TierChangeLog.member_id == member.id)
        .order_by(TierChangeLog.id.desc())))


def find_by_phone(phone: str, *, actor: Actor) -> Member | None:
    return db.session.scalar(scoped(Member, actor.merchant_id).where(Member.phone == phone))


def find_by_member_no(member_no: str, *, actor: Actor) -> Member | None:
    return db.session.scalar(scoped(Member, actor.merchant_id).where(Member.member_no == member_no))


def find_by_card(card_no: str, *, actor: Actor) -> Member:
    card = db.session.scalar(scoped(MemberCard, actor.merchant_id).where(MemberCard.card_no == card_no))
    if card is None:
        raise NotFound("member_card", gettext("No member has this card."))
    if card.status is not CardStatus.ACTIVE:
        raise Conflict(gettext("This card was reported lost or replaced; it cannot be used."),
                       error_code="card_not_active", details={"status": card.status.name.lower()})
    return card.member


def find_by_code(code: str, now: datetime, *, consume: bool, actor: Actor) -> Member:
    """The member whose phone shows this dynamic code now; `consume` spends it (settle)."""
    settings = settings_for(actor.merchant_id)
    try:
        match = rules.verify_member_code(bytes.fromhex(settings.member_code_secret), code, now)
    except rules.MemberCodeError as error:
        raise Unprocessable(_CODE_MESSAGES[error.reason](), error_code=f"member_code_{error.reason.value}") from None
    member = find_by_member_no(match.member_no, actor=actor)
    if member is None:
        raise NotFound("member")
    if consume:
        used = db.session.scalar(sa.select(MemberCodeUse.id).where(
            MemberCodeUse.merchant_id == member.merchant_id, MemberCodeUse.member_id == member.id,
            MemberCodeUse.step == match.step))
        if used is not None:
            raise Conflict(gettext("This member code was already used; ask for a fresh one."),
                           error_code="member_code_used")
        db.session.add(MemberCodeUse(merchant_id=member.merchant_id, member_id=member.id, step=match.step))
        db.session.flush()
    return member


_CODE_MESSAGES = {
    rules.MemberCodeReason.MALFORMED: lambda: gettext("This is not a member code."),
    rules.MemberCodeReason.EXPIRED: lambda: gettext("This member code has expired; ask for a fresh one."),
    rules.MemberCodeReason.BAD_MAC: lambda: gettext("This member code is not valid."),
}


def current_code(member: Member, now: datetime) -> dict:
    settings = settings_for(member.merchant_id)
    step = rules.code_step(now)
    return {"code": rules.member_code(bytes.fromhex(settings.member_code_secret), member.member_no, step),
            "expires_at": datetime.fromtimestamp((step + 1) * 60, tz=now.tzinfo)}


# --- cards -----------------------------------------------------------------------------------

def bind_card(member: Member, card_no: str, *, actor: Actor) -> MemberCard:
    existing = db.session.scalar(scoped(MemberCard, actor.merchant_id).where(MemberCard.card_no == card_no))
    if existing is not None:
        raise Conflict(gettext("This card number is already registered."), error_code="card_taken")
    card = MemberCard(merchant_id=member.merchant_id, member_id=member.id, card_no=card_no)
    db.session.add(card)
    db.session.flush()
    record("member_card.bind", card, actor=actor, member_id=member.id, card_no=card_no)
    return card


def _card(member: Member, card_id: int) -> MemberCard:
    card = db.session.scalar(sa.select(MemberCard).where(MemberCard.merchant_id == member.merchant_id,
                                                         MemberCard.id == card_id))
    if card is None or card.member_id != member.id:
        raise NotFound("member_card")
    return card


def _active_card(member: Member, card_id: int) -> MemberCard:
    card = _card(member, card_id)
    if card.status is not CardStatus.ACTIVE:
        raise Conflict(gettext("This card is not active."), error_code="card_not_active")
    return card


def _set_status(card: MemberCard, event: CardEvent, now: datetime) -> None:
    card.status, card.status_changed_at = CARDS.next(card.status, event), now


def report_card_lost(member: Member, card_id: int, *, actor: Actor, now: datetime) -> MemberCard:
    card = _active_card(member, card_id)
    _set_status(card, CardEvent.LOSE, now)
    record("member_card.lost", card, actor=actor, member_id=member.id, card_no=card.card_no)
    return card


def unbind_card(member: Member, card_id: int, *, actor: Actor, now: datetime) -> MemberCard:
    card = _active_card(member, card_id)
    _set_status(card, CardEvent.UNBIND, now)
    record("member_card.unbind", card, actor=actor, member_id=member.id, card_no=card.card_no)
    return card


def replace_card(member: Member, card_id: int, new_card_no: str, *, actor: Actor, now: datetime) -> MemberCard:
    """A new card for a lost (or active) one; the old number is refused from now on."""
    old = _card(member, card_id)
    if not CARDS.allows(old.status, CardEvent.REPLACE):
        raise Conflict(gettext("This card cannot be replaced."), error_code="card_not_replaceable")
    new = bind_card(member, new_card_no, actor=actor)
    _set_status(old, CardEvent.REPLACE, now)
    old.replaced_by_id = new.id
    record("member_card.replace", old, actor=actor, member_id=member.id, new_card_id=new.id)
    return new


# --- tiers -----------------------------------------------------------------------------------

def apply_tier_change(member: Member, change: rules.TierChange | None, *, now: datetime) -> TierChangeLog | None:
    if change is None:
        return None
    log = TierChangeLog(merchant_id=member.merchant_id, member_id=member.id, from_tier_id=member.tier_id,
                        to_tier_id=change.to_tier.id, reason_code=change.reason_code, reason=change.reason_zh)
    member.tier_id = change.to_tier.id
    member.tier_changed_at = now
    db.session.add(log)
    db.session.expire(member, ["tier"])
    return log


def spend_12m_cents(member: Member, now: datetime) -> int:
    """What the member paid in the trailing 12 months (orders record it as SPEND-linked visits)."""
    from app.members.history import paid_in_year_query

    return int(db.session.scalar(paid_in_year_query(member.id, now)) or 0)


@functools.cache
def _tiers_with_spend() -> sa.Select:
    """The merchant's tiers as plain rows (only the rules read them), each with the member's
    trailing-12-month spend; built once."""
    from app.members.history import paid_since_query

    tier = Tier.__table__.c
    spend = paid_since_query(sa.bindparam("member_id"), sa.bindparam("since")).scalar_subquery().label("spend")
    return (sa.select(tier.id, tier.name, tier.rank, tier.discount_percent, tier.points_multiplier_percent,
                      tier.spend_threshold_cents, tier.topup_threshold_cents, spend)
            .where(tier.merchant_id == sa.bindparam("merchant_id")).order_by(tier.rank))


def consider_upgrade(member: Member, now: datetime, topup_cents: int = 0, *, actor: Actor) -> TierChangeLog | None:
    """Upgrade at once when a threshold is crossed. The merchant's tiers and the member's
    trailing-12-month spend come back in one statement (it runs in every member settlement)."""
    from app.members.history import SPEND_WINDOW

    rows = db.session.execute(_tiers_with_spend(), {"merchant_id": member.merchant_id, "member_id": member.id,
                                                    "since": now - SPEND_WINDOW}).all()
    tiers = [tier_rule(row) for row in rows]
    spend = int(rows[0].spend or 0) if rows else 0
    change = rules.upgrade_decision(tier_rule(member.tier), tiers, spend, topup_cents)
    return apply_tier_change(member, change, now=now)


# --- stored value ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TopUpResult:
    principal_cents: int
    bonus_cents: int
    entries: list[LedgerEntry]
    rule: rules.TopUpRule | None = None  # the rule that added the bonus, for the top-up slip


def top_up(member_id: int, amount_cents: int, *, key: str, tender: str, now: datetime,
           store_id: int | None = None, payment_id: int | None = None, actor: Actor) -> TopUpResult:
    if amount_cents <= 0:
        raise Unprocessable(gettext("The amount must be more than zero."), error_code="invalid_amount")
    member = lock_member(member_id, actor=actor)
    offered = topup_rules_of(member.merchant_id)
    credit = rules.topup_credit(offered, amount_cents)
    entries = post(member, key, [
        Move(Account.PRINCIPAL, EntryKind.TOPUP, credit.principal_cents, note=tender),
        Move(Account.BONUS, EntryKind.TOPUP, credit.bonus_cents, note=tender),
    ], Refs(payment_id=payment_id, store_id=store_id), actor=actor)
    consider_upgrade(member, now, topup_cents=amount_cents, actor=actor)
    _stored_value_changed(member, credit.principal_cents + credit.bonus_cents, "topup", entries, now=now)
    rule = topup_rule_met(offered, amount_cents) if credit.bonus_cents else None
    return TopUpResult(credit.principal_cents, credit.bonus_cents, entries, rule)


def refund_topup(member_id: int, entry_id: int, *, key: str, reason: str, actor: Actor) -> list[LedgerEntry]:
    """Give back a whole top-up while its principal and bonus are still on the card."""
    member = lock_member(member_id, actor=actor)
    principal = db.session.scalar(scoped(LedgerEntry, actor.merchant_id).where(
        LedgerEntry.id == entry_id, LedgerEntry.member_id == member.id, LedgerEntry.kind == EntryKind.TOPUP,
        LedgerEntry.account == Account.PRINCIPAL))
    if principal is None:
        raise NotFound("topup")
    refunded = db.session.scalar(scoped(LedgerEntry, actor.merchant_id).where(
        LedgerEntry.ref_entry_id == principal.id, LedgerEntry.kind == EntryKind.TOPUP_REFUND))
    if refunded is not None:
        raise Conflict(gettext("This top-up was already refunded."), error_code="already_refunded")
    operation = principal.idempotency_key.rsplit(":", 2)[0]
    bonus = db.session.scalar(scoped(LedgerEntry, actor.merchant_id).where(
        LedgerEntry.idempotency_key == f"{operation}:topup:bonus"))
    moves = [Move(Account.PRINCIPAL, EntryKind.TOPUP_REFUND, -principal.delta, reason, principal.id)]
    if bonus is not None:
        moves.append(Move(Account.BONUS, EntryKind.TOPUP_REFUND, -bonus.delta, reason, bonus.id))
    entries = post(member, key, moves, actor=actor)
    record("member.topup_refund", member, actor=actor, entry_id=entry_id, amount_cents=principal.delta,
           reason=reason)
    return entries


def cash_out(member_id: int, *, key: str, amount_cents: int | None, reason: str, actor: Actor) -> rules.CashOut:
    member = lock_member(member_id, actor=actor)
    try:
        result = rules.cashout_amount(member.principal_cents, member.bonus_cents, amount_cents)
    except ValueError as error:
        raise Conflict(str(error), error_code="insufficient_balance") from None
    post(member, key, [Move(Account.PRINCIPAL, EntryKind.CASHOUT, -result.paid_cents, reason),
                       Move(Account.BONUS, EntryKind.BONUS_FORFEIT, -result.bonus_forfeited_cents, reason)],
         actor=actor)
    record("member.cashout", member, actor=actor, paid_cents=result.paid_cents,
           bonus_forfeited_cents=result.bonus_forfeited_cents, reason=reason)
    return result


def _stored_value_changed(member: Member, delta_cents: int, reason: str, entries: list[LedgerEntry], *,
                          now: datetime, note: str = "") -> None:
    """Tell the channels (DomainEvent.STORED_VALUE_CHANGED); `reason` is a code: topup, adjust."""
    ref = f"ledger:{entries[0].id}"
    publish(member.merchant_id, DomainEvent.STORED_VALUE_CHANGED, f"{member.id}:{ref}",
            {"member_id": member.id, "delta_cents": delta_cents, "balance_cents": member.stored_value_cents,
             "reason": reason, "note": note, "ref": ref}, now=now)


def _spend_moves(member: Member, amount_cents: int) -> tuple[rules.StoredValueSplit, list[Move]]:
    """Stored value drawn from principal and bonus in proportion to their balances."""
    try:
        split = rules.split_spend(member.principal_cents, member.bonus_cents, amount_cents)
    except rules.InsufficientBalance:
        raise Conflict(gettext("Not enough stored value."), error_code="insufficient_balance",
                       details={"available_cents": member.stored_value_cents,
                                "requested_cents": amount_cents}) from None
    return split, [Move(Account.PRINCIPAL, EntryKind.SPEND, -split.principal_cents),
                   Move(Account.BONUS, EntryKind.SPEND, -split.bonus_cents)]


def spend_stored_value(member: Member, amount_cents: int, *, key: str, refs: Refs,
                       actor: Actor) -> rules.StoredValueSplit:
    """Pay `amount_cents` from the card, drawn from principal and bonus in proportion.
    The caller holds the member lock (`lock_member`)."""
    split, moves = _spend_moves(member, amount_cents)
    post(member, key, moves, refs, actor=actor)
    return split


@dataclass(frozen=True)
class OrderCharge:
    """The member's side of a settlement, as posted."""

    stored_value: rules.StoredValueSplit | None
    points_redeemed: int
    points_earned: int


def charge_for_order(member: Member, *, stored_value_cents: int, redeem: int, earn: int, key: str,
                     now: datetime, refs: Refs, actor: Actor) -> OrderCharge:
    """Stored value spent, points redeemed and points earned by one settlement, as ONE ledger
    post: one conditional update of the member row and one insert of the entries. The entries,
    their keys and the lots are exactly those of `spend_stored_value`, `redeem_points` and
    `earn_points` called in turn. The caller holds the member lock."""
    split, moves = _spend_moves(member, stored_value_cents) if stored_value_cents else (None, [])
    takes = _redemption(member, redeem, now) if redeem > 0 else []
    if redeem > 0:
        moves.append(Move(Account.POINTS, EntryKind.POINTS_REDEEM, -redeem))
    if earn > 0:
        moves.append(Move(Account.POINTS, EntryKind.POINTS_EARN, earn))
    entries = {(e.kind, e.account): e for e in post(member, key, moves, refs, actor=actor)}
    if redeem > 0:
        _take_from_lots(entries[(EntryKind.POINTS_REDEEM, Account.POINTS)], takes)
    if earn > 0:
        # A plain insert: nothing in the settlement reads the lot back as an instance.
        db.session.execute(_INSERT_LOT, _lot_row(member, entries[(EntryKind.POINTS_EARN, Account.POINTS)], now, refs))
    return OrderCharge(split, max(redeem, 0), max(earn, 0))


def adjust(member_id: int, account: Account, delta: int, *, key: str, reason: str, actor: Actor,
           now: datetime) -> LedgerEntry:
    """A manager's manual correction, audited with its reason."""
    if delta == 0:
        raise Unprocessable(gettext("The adjustment cannot be zero."), error_code="invalid_amount")
    member = lock_member(member_id, actor=actor)
    if account is Account.POINTS:
        entries = adjust_points(member, delta, key=key, reason=reason, actor=actor, now=now)
    else:
        entries = post(member, key, [Move(account, EntryKind.ADJUST, delta, reason)], actor=actor)
    record("member.adjust", member, actor=actor, account=account.label, delta=delta, reason=reason)
    if account is Account.POINTS:
        publish(member.merchant_id, DomainEvent.POINTS_CHANGED, f"{member.id}:ledger:{entries[0].id}",
                {"member_id": member.id, "delta": delta, "balance": member.points, "reason": "adjust",
                 "note": reason, "ref": f"ledger:{entries[0].id}"}, now=now)
    else:
        _stored_value_changed(member, delta, "adjust", entries, now=now, note=reason)
    return entries[0]


# --- points ----------------------------------------------------------------------------------

def _lots(member: Member) -> list[PointsLot]:
    return list(db.session.scalars(sa.select(PointsLot).where(
        PointsLot.member_id == member.id, PointsLot.remaining_points > 0).order_by(PointsLot.id)))


def _plain(lot: PointsLot) -> rules.PointsLot:
    return rules.PointsLot(lot.id, lot.remaining_points, lot.earned_at, lot.expires_at)


def _take_from_lots(entry: LedgerEntry, takes: Iterable[rules.LotPoints]) -> None:
    for lot_id, points in takes:
        db.session.execute(sa.update(PointsLot).where(PointsLot.id == lot_id)
                           .values(remaining_points=PointsLot.remaining_points - points))
        db.session.add(PointsLotMove(merchant_id=entry.merchant_id, lot_id=lot_id, entry_id=entry.id,
                                     points=-points))


_INSERT_LOT = sa.insert(PointsLot.__table__)  # built once, like the settlement's other plain inserts


def _lot_row(member: Member, entry: LedgerEntry, now: datetime, refs: Refs) -> dict:
    """The points lot an earn entry opens, as column values."""
    settings = settings_for(member.merchant_id)
    return {"merchant_id": member.merchant_id, "member_id": member.id, "entry_id": entry.id,
            "earned_points": entry.delta, "remaining_points": entry.delta, "earned_at": now,
            "expires_at": rules.lot_expiry(now, expiry_rule(settings)), "order_id": refs.order_id}


def _new_lot(member: Member, entry: LedgerEntry, now: datetime, refs: Refs) -> PointsLot:
    lot = PointsLot(**_lot_row(member, entry, now, refs))
    db.session.add(lot)
    return lot


def _redemption(member: Member, points: int, now: datetime) -> list[rules.LotPoints]:
    """Which lots `points` come from: the oldest-expiring first."""
    try:
        return rules.plan_redemption([_plain(lot) for lot in _lots(member)], points, now)
    except rules.InsufficientPoints:
        raise Conflict(gettext("Not enough points."), error_code="insufficient_points") from None


def earn_points(member: Member, points: int, *, key: str, now: datetime, refs: Refs,
                kind: EntryKind = EntryKind.POINTS_EARN, note: str = "", actor: Actor) -> PointsLot | None:
    if points <= 0:
        return None
    (entry,) = post(member, key, [Move(Account.POINTS, kind, points, note)], refs, actor=actor)
    lot = _new_lot(member, entry, now, refs)
    db.session.flush()
    return lot


def redeem_points(member: Member, points: int, *, key: str, now: datetime, refs: Refs,
                  kind: EntryKind = EntryKind.POINTS_REDEEM, note: str = "", actor: Actor) -> LedgerEntry | None:
    """Spend points, oldest-expiring lots first. The caller holds the member lock."""
    if points <= 0:
        return None
    takes = _redemption(member, points, now)
    (entry,) = post(member, key, [Move(Account.POINTS, kind, -points, note)], refs, actor=actor)
    _take_from_lots(entry, takes)
    return entry


def adjust_points(member: Member, delta: int, *, key: str, reason: str, actor: Actor,
                  now: datetime) -> list[LedgerEntry]:
    if delta > 0:
        lot = earn_points(member, delta, key=key, now=now, refs=Refs(), kind=EntryKind.ADJUST, note=reason,
                          actor=actor)
        return [db.session.get(LedgerEntry, lot.entry_id)]
    return [redeem_points(member, -delta, key=key, now=now, refs=Refs(), kind=EntryKind.ADJUST, note=reason,
                          actor=actor)]


def expire_points(member_id: int, now: datetime, *, actor: Actor) -> int:
    """Expire what is left of the member's lapsed lots; returns the points expired."""
    member = lock_member(member_id, actor=actor)
    takes = rules.plan_expiry([_plain(lot) for lot in _lots(member)], now)
    total = sum(points for _lot, points in takes)
    if total == 0:
        return 0
    step = int(now.timestamp())
    (entry,) = post(member, f"expire:{member.id}:{step}", [Move(Account.POINTS, EntryKind.POINTS_EXPIRE, -total)],
                    actor=actor)
    _take_from_lots(entry, takes)
    return total


def expire_all_points(now: datetime, *, actor: Actor) -> int:
    """The scheduled job: expire lapsed lots of every member of the actor's merchant."""
    member_ids = db.session.scalars(sa.select(PointsLot.member_id).distinct().where(
        PointsLot.merchant_id == actor.merchant_id, PointsLot.remaining_points > 0,
        PointsLot.expires_at <= now)).all()
    return sum(expire_points(member_id, now, actor=actor) for member_id in member_ids)


# --- rule editing ----------------------------------------------------------------------------

_TIER_MESSAGES = {
    "rank_negative": lambda: gettext("The rank cannot be negative."),
    "discount_range": lambda: gettext("The discount must be between 0 and 100 percent off."),
    "multiplier_negative": lambda: gettext("The points multiplier cannot be negative."),
    "threshold_negative": lambda: gettext("Thresholds cannot be negative."),
    "base_with_threshold": lambda: gettext("The base tier (rank 0) takes no thresholds: every member starts there."),
    "threshold_missing": lambda: gettext("A tier above the base needs a spend or a top-up threshold."),
    "duplicate_rank": lambda: gettext("Two tiers have the same rank."),
    "no_base": lambda: gettext("One tier must have rank 0: the base tier every member starts in."),
}


def _tier_held(tier: Tier) -> bool:
    """Members on the tier, or a tier change that moved someone to it (the history keeps it)."""
    held = sa.select(Member.id).where(Member.tier_id == tier.id).limit(1)
    logged = sa.select(TierChangeLog.id).where(TierChangeLog.to_tier_id == tier.id).limit(1)
    return db.session.scalar(held) is not None or db.session.scalar(logged) is not None


def set_tiers(wanted: list[dict], *, actor: Actor) -> list[Tier]:
    """Replace the tier table; tiers keep their rows by rank so members stay on them.

    A refusal (422 `invalid_tiers` / `tier_in_use`) names the broken rule in
    `details["reason"]` and the offending entry of `wanted` in `details["index"]`."""
    try:
        rules.check_tiers([rules.TierRule(id=i, **{k: v for k, v in t.items() if k != "name_en"})
                           for i, t in enumerate(wanted)])
    except rules.InvalidTiers as error:
        message = _TIER_MESSAGES[error.reason]() if error.reason in _TIER_MESSAGES else str(error)
        raise Unprocessable(message, error_code="invalid_tiers",
                            details={"reason": error.reason, "index": error.tier_id}) from None
    names = [t["name"] for t in wanted]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise Unprocessable(gettext("Two tiers have the same name."), error_code="invalid_tiers",
                                details={"reason": "duplicate_name", "index": index})
    merchant_id = actor.merchant_id
    current = {tier.rank: tier for tier in tiers_of(merchant_id)}
    wanted_ranks = {t["rank"] for t in wanted}
    for rank, tier in current.items():
        if rank not in wanted_ranks:
            if _tier_held(tier):
                raise Unprocessable(gettext("A tier that members hold or have held cannot be removed."),
                                    error_code="tier_in_use", details={"rank": rank})
            db.session.delete(tier)
    db.session.flush()
    # Names are unique: park the old ones first so a swap of two names does not collide.
    for tier in current.values():
        if tier.rank in wanted_ranks:
            tier.name = f"~{tier.id}"
    db.session.flush()
    for values in wanted:
        tier = current.get(values["rank"]) or Tier(merchant_id=merchant_id)
        for key, value in values.items():
            setattr(tier, key, value)
        db.session.add(tier)
    db.session.flush()
    record("member_tiers.update", None, actor=actor, tiers=names)
    return tiers_of(merchant_id)


def update_settings(changes: dict, *, actor: Actor) -> MemberSettings:
    settings = settings_for(actor.merchant_id)
    for key, value in changes.items():
        setattr(settings, key, value)
    try:
        expiry_rule(settings)
    except ValueError:
        raise Unprocessable(gettext("Points expiring after some days need the days; after some months, the "
                                    "months; otherwise neither."), error_code="invalid_expiry_rule") from None
    record("member_settings.update", settings, actor=actor, **changes)
    return settings


def set_topup_rules(wanted: list[dict], *, actor: Actor) -> list[TopUpRule]:
    try:
        rules.check_topup_rules([rules.TopUpRule(r["min_cents"], r["bonus_cents"], r["is_repeat"]) for r in wanted])
    except ValueError:
        raise Unprocessable(gettext("Each top-up rule needs its own amount above zero and a bonus of zero or "
                                    "more; two rules cannot start at the same amount."),
                            error_code="invalid_topup_rules") from None
    merchant_id = actor.merchant_id
    settings_for(merchant_id)
    db.session.execute(sa.delete(TopUpRule).where(TopUpRule.merchant_id == merchant_id))
    rows = [TopUpRule(merchant_id=merchant_id, **r) for r in sorted(wanted, key=lambda r: r["min_cents"])]
    db.session.add_all(rows)
    db.session.flush()
    record("topup_rules.update", None, actor=actor, rules=wanted)
    return rows
