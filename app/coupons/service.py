"""Coupon operations: templates, issue, the coupons of a bill, redeem, restore, transfer, expiry.

Every rule comes from `tablerules.coupons`. Every state change goes through
`rules.transition()`, is applied with a conditional UPDATE (`… WHERE state = <the state it was
read in>`), and writes one `CouponEvent` in the same transaction. Nothing here commits, so the
settlement can redeem coupons together with its payments and ledger entries.

Decisions:

- Per-member limit: counts every instance issued to the member from the template, whatever its
  state now (a coupon used, expired or passed on still counts, so passing coupons around cannot
  free a slot). Instances received by transfer do not count, and a transfer is never refused for
  the receiver's limit: the limit governs what the merchant hands out.
- `is_active` off stops new issues only; coupons already held stay usable until they expire.
- Once a coupon was issued from a template, its terms (kind, value, percent, cap, min spend,
  dish, scope) are frozen: changing them would change coupons members already hold.
- Locks: members first, then coupons, each in id order (the order the settlement takes them).
- Event keys derive from the operation's key: `{key}:issue`, `{key}:redeem:{coupon_id}`,
  `{key}:restore:{coupon_id}`, `{key}:transfer_out`, `{key}:transfer_in`; the expiry job uses
  `expire:{coupon_id}`. They are UNIQUE per merchant. An operation whose events already exist
  is a replay: it returns the first result and changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.audit.service import record
from app.coupons.models import (
    Coupon,
    CouponEvent,
    CouponEventKind,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    TemplateKind,
)
from app.db import db
from app.errors import APIError, Conflict, NotFound, Unprocessable
from app.events.domain import DomainEvent, publish, publish_many
from app.members.ledger import lock_member
from app.members.models import Member
from app.menu.models import Category, Dish
from tablerules import coupons as rules

CODE_PREFIX = "CP"
CODE_LENGTH = 10
_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: codes get typed in by hand

TEMPLATE_FIELDS = (
    "name", "name_en", "kind", "value_cents", "percent_off", "cap_cents", "min_spend_cents", "dish_id",
    "category_ids", "dish_ids", "valid_from", "valid_until", "valid_days", "per_member_limit",
    "is_transferable", "is_stackable", "max_transfer_chain", "is_active",
)
# What a coupon is worth: frozen once the template has issued a coupon.
TERMS = ("kind", "value_cents", "percent_off", "cap_cents", "min_spend_cents", "dish_id", "category_ids", "dish_ids")


# --- errors ----------------------------------------------------------------------------------

_REASON_MESSAGES = {
    rules.PER_MEMBER_LIMIT: lambda: gettext("This member already holds as many of these coupons as allowed."),
    rules.TEMPLATE_ENDED: lambda: gettext("This coupon can no longer be issued: its validity has ended."),
    rules.NOT_TRANSFERABLE: lambda: gettext("This coupon cannot be transferred."),
    rules.CHAIN_LIMIT: lambda: gettext("This coupon has been passed on as many times as allowed."),
    rules.SAME_MEMBER: lambda: gettext("A coupon cannot be transferred to the member who holds it."),
    rules.NOT_ACTIVE: lambda: gettext("This coupon is no longer available (used, expired or passed on)."),
    rules.EXPIRED: lambda: gettext("This coupon has expired."),
}


def refusal(reason: str, coupon_id: int | None = None) -> APIError:
    """The API error for a rules refusal; the reason code is the error code."""
    details = {"coupon_id": coupon_id} if coupon_id is not None else None
    if reason == rules.NOT_OWNER:
        return NotFound("coupon")
    if reason == rules.SAME_MEMBER:
        return Unprocessable(_REASON_MESSAGES[reason](), error_code=reason, details=details)
    message = _REASON_MESSAGES.get(reason, lambda: gettext("This conflicts with the current state."))()
    return Conflict(message, error_code=reason, details=details)


def _key_reused() -> Conflict:
    return Conflict(gettext("This idempotency key was already used for a different request."),
                    error_code="idempotency_key_reused")


# --- model -> rules --------------------------------------------------------------------------

def _ids(values: Iterable[int] | None) -> frozenset[int] | None:
    return None if values is None else frozenset(values)


def _rule_from(template_id: int | None, values: dict[str, Any]) -> rules.CouponTemplate:
    """Raises ValueError (with the rules' list of problems) for a contradictory template."""
    return rules.CouponTemplate(
        id=template_id, kind=rules.CouponKind(TemplateKind(values["kind"]).label),
        value_cents=values.get("value_cents") or 0, percent_off=values.get("percent_off"),
        cap_cents=values.get("cap_cents"), min_spend_cents=values.get("min_spend_cents") or 0,
        dish_id=values.get("dish_id"), category_ids=_ids(values.get("category_ids")),
        dish_ids=_ids(values.get("dish_ids")), valid_from=values.get("valid_from"),
        valid_until=values.get("valid_until"), valid_days=values.get("valid_days"),
        per_member_limit=values.get("per_member_limit"),
        is_transferable=bool(values.get("is_transferable")), is_stackable=bool(values.get("is_stackable")),
        max_transfer_chain=values.get("max_transfer_chain", 1), name=values.get("name") or "",
    )


def _values_of(template: CouponTemplate) -> dict[str, Any]:
    return {name: getattr(template, name) for name in TEMPLATE_FIELDS}


def template_rule(template: CouponTemplate) -> rules.CouponTemplate:
    """The rules' view of a stored template (its name is what the bill shows)."""
    try:
        return _rule_from(template.id, _values_of(template))
    except ValueError:
        # Only reachable if the free dish's row was deleted (dish_id SET NULL).
        raise Conflict(gettext("This coupon's template can no longer be used."),
                       error_code="template_unusable", details={"template_id": template.id}) from None


def coupon_rule(coupon: Coupon) -> rules.IssuedCoupon:
    """The rules' view of a stored coupon."""
    return rules.IssuedCoupon(
        id=coupon.id, template=template_rule(coupon.template), member_id=coupon.member_id,
        state=rules.CouponState(coupon.state.label), issued_at=coupon.issued_at, expires_at=coupon.expires_at,
        transfer_depth=coupon.transfer_depth, transferred_from_id=coupon.transferred_from_id,
    )


def terms(template: CouponTemplate) -> rules.CouponLabel:
    """'满100减20' / '¥20 off over ¥100': what the template gives, whatever it is named."""
    try:
        return rules.describe(replace(template_rule(template), name=""))
    except APIError:
        return rules.CouponLabel(zh=template.name, en=template.name_en or template.name)


# --- templates -------------------------------------------------------------------------------

def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    if isinstance(values.get("kind"), str):
        values["kind"] = TemplateKind.from_label(values["kind"])
    for name in ("category_ids", "dish_ids"):
        if values.get(name) is not None:
            values[name] = sorted(set(values[name]))
    return values


def _check_template(merchant_id: int, values: dict[str, Any]) -> None:
    try:
        _rule_from(None, values)
    except ValueError as error:
        problems = str(error).removeprefix("invalid coupon template: ").split("; ")
        raise Unprocessable(gettext("This coupon template is not valid."), error_code="invalid_coupon_template",
                            details={"problems": problems}) from None
    dish_ids = set(values.get("dish_ids") or ())
    if values.get("dish_id") is not None:
        dish_ids.add(values["dish_id"])
    if dish_ids:
        found = db.session.scalars(sa.select(Dish.id).where(Dish.merchant_id == merchant_id, Dish.id.in_(dish_ids)))
        if set(found) != dish_ids:
            raise NotFound("dish")
    category_ids = set(values.get("category_ids") or ())
    if category_ids:
        found = db.session.scalars(sa.select(Category.id).where(Category.merchant_id == merchant_id,
                                                                Category.id.in_(category_ids)))
        if set(found) != category_ids:
            raise NotFound("menu_category")


def _audit_values(values: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, TemplateKind):
            return value.label
        return value

    return {name: plain(value) for name, value in values.items()}


def create_template(*, actor: Actor, **values: Any) -> CouponTemplate:
    merchant_id = actor.merchant_id
    values = _normalise({name: value for name, value in values.items() if name in TEMPLATE_FIELDS})
    _check_template(merchant_id, values)
    template = CouponTemplate(merchant_id=merchant_id, **values)
    db.session.add(template)
    db.session.flush()
    record("coupon_template.create", template, actor=actor, **_audit_values(values))
    return template


def update_template(template: CouponTemplate, *, actor: Actor, **changes: Any) -> CouponTemplate:
    changes = _normalise({name: value for name, value in changes.items() if name in TEMPLATE_FIELDS})
    changed = {name: value for name, value in changes.items() if getattr(template, name) != value}
    if not changed:
        return template
    if any(name in TERMS for name in changed) and _has_coupons(template):
        raise Conflict(gettext("Coupons were issued from this template: what they are worth cannot change."),
                       error_code="template_in_use", details={"fields": sorted(set(changed) & set(TERMS))})
    _check_template(template.merchant_id, {**_values_of(template), **changed})
    before = _audit_values({name: getattr(template, name) for name in changed})
    for name, value in changed.items():
        setattr(template, name, value)
    db.session.flush()
    record("coupon_template.update", template, actor=actor,
           changes={name: [before[name], value] for name, value in _audit_values(changed).items()})
    return template


def _has_coupons(template: CouponTemplate) -> bool:
    return db.session.scalar(sa.select(Coupon.id).where(Coupon.template_id == template.id).limit(1)) is not None


def _template(merchant_id: int, template_id: int) -> CouponTemplate:
    template = db.session.scalar(sa.select(CouponTemplate).where(
        CouponTemplate.merchant_id == merchant_id, CouponTemplate.id == template_id))
    if template is None:
        raise NotFound("coupon_template")
    return template


# --- the ledger --------------------------------------------------------------------------------

def _event_for_key(merchant_id: int, key: str) -> CouponEvent | None:
    return db.session.scalar(sa.select(CouponEvent).where(
        CouponEvent.merchant_id == merchant_id, CouponEvent.idempotency_key == key))


def _append(coupon: Coupon, kind: CouponEventKind, key: str, *, order_id: int | None = None,
            store_id: int | None = None, actor: Actor) -> CouponEvent:
    event = CouponEvent(
        merchant_id=coupon.merchant_id, coupon_id=coupon.id, member_id=coupon.member_id, kind=kind,
        order_id=order_id, idempotency_key=key, staff_id=actor.staff_id,
        store_id=store_id or actor.store_id, device_id=actor.device_id,
    )
    db.session.add(event)
    return event


def _change(coupon: Coupon, event: rules.CouponEvent, kind: CouponEventKind, key: str, *,
            order_id: int | None = None, store_id: int | None = None, actor: Actor, **values: Any) -> CouponEvent:
    """Move `coupon` along the rules' transition table and append its ledger row."""
    before = coupon.state
    try:
        after = CouponStatus.from_label(rules.transition(before.label, event))
    except rules.IllegalTransition:
        raise refusal(rules.EXPIRED if before is CouponStatus.EXPIRED else rules.NOT_ACTIVE, coupon.id) from None
    result = db.session.execute(
        sa.update(Coupon).where(Coupon.id == coupon.id, Coupon.state == before)
        .values(state=after, **values).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # pragma: no cover - callers hold the row lock; SQLite writers queue
        raise Conflict(gettext("This coupon was just changed; please try again."), error_code="coupon_changed",
                       details={"coupon_id": coupon.id})
    db.session.expire(coupon, ["state", *values])
    return _append(coupon, kind, key, order_id=order_id, store_id=store_id, actor=actor)


def _new_code(merchant_id: int) -> str:
    while True:
        code = CODE_PREFIX + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))
        taken = db.session.scalar(sa.select(Coupon.id).where(Coupon.merchant_id == merchant_id, Coupon.code == code))
        if taken is None:
            return code


def _lock(actor: Actor, coupon_ids: Iterable[int]) -> list[Coupon]:
    """These coupons of the actor's merchant, locked after their members, in id order; 404 if any
    is missing."""
    merchant_id = actor.merchant_id
    ids = sorted(set(coupon_ids))
    if not ids:
        return []
    member_ids = db.session.scalars(sa.select(Coupon.member_id).distinct().where(
        Coupon.merchant_id == merchant_id, Coupon.id.in_(ids))).all()
    for member_id in sorted(member_ids):  # a coupon's member never changes: safe to read before locking
        lock_member(member_id, actor=actor)
    coupons = db.session.scalars(
        sa.select(Coupon).where(Coupon.merchant_id == merchant_id, Coupon.id.in_(ids)).order_by(Coupon.id)
        .with_for_update().execution_options(populate_existing=True)).all()
    if len(coupons) != len(ids):
        raise NotFound("coupon")
    return list(coupons)


def _received(coupon: Coupon, now: datetime) -> None:
    publish(coupon.merchant_id, DomainEvent.COUPON_RECEIVED, str(coupon.id),
            {"member_id": coupon.member_id, "coupon_id": coupon.id}, now=now)


# --- issue -----------------------------------------------------------------------------------

def held_count(template_id: int, member_id: int) -> int:
    """What counts toward the per-member limit: every instance issued to the member (not received)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(Coupon).where(
        Coupon.template_id == template_id, Coupon.member_id == member_id, Coupon.source != CouponSource.TRANSFER))


def issue_coupon(template_id: int, member_id: int, *, key: str, source: CouponSource = CouponSource.MANUAL,
                 now: datetime, actor: Actor, store_id: int | None = None) -> Coupon:
    """Give `member_id` a coupon of the template. 409 `per_member_limit`, `template_ended`,
    `template_inactive`; 404 for a template or member of another merchant. A replay of `key`
    returns the coupon it issued."""
    if source is CouponSource.TRANSFER:
        raise ValueError("transferred coupons are made by transfer_coupon")
    merchant_id = actor.merchant_id
    member = lock_member(member_id, actor=actor)  # serialises issues to one member: the limit holds
    replay = _event_for_key(merchant_id, f"{key}:issue")
    if replay is not None:
        coupon = db.session.get(Coupon, replay.coupon_id)
        if coupon is None or coupon.template_id != template_id or replay.member_id != member_id:
            raise _key_reused()
        return coupon
    template = _template(merchant_id, template_id)
    if not template.is_active:
        raise Conflict(gettext("This coupon template is switched off."), error_code="template_inactive")
    rule = template_rule(template)
    verdict = rules.can_issue(rule, held_count(template.id, member.id), now)
    if not verdict:
        raise refusal(verdict.reason)
    issued = rules.issue(rule, member.id, now)
    coupon = Coupon(merchant_id=merchant_id, template=template, member_id=member.id, code=_new_code(merchant_id),
                    state=CouponStatus.from_label(issued.state), source=source, issued_at=issued.issued_at,
                    expires_at=issued.expires_at)
    db.session.add(coupon)
    db.session.flush()
    _append(coupon, CouponEventKind.ISSUE, f"{key}:issue", store_id=store_id, actor=actor)
    db.session.flush()
    _received(coupon, now)
    if source is CouponSource.MANUAL:
        record("coupon.issue", coupon, actor=actor, member_id=member.id, template_id=template.id,
               code=coupon.code)
    return coupon


def issue_to_many(template_id: int, member_ids: Sequence[int], *, key: str, source: CouponSource, now: datetime,
                  actor: Actor, announce: bool = True, look_for_replays: bool = True) -> dict[int, int]:
    """Give each of `member_ids` one coupon of the template, set-based (a campaign batch): the
    members are locked in id order, the per-member limit is checked for all of them with one
    query, and coupons, their `issue` events (key `{key}:{member_id}:issue`) and, with `announce`,
    their COUPON_RECEIVED events go in with one statement each. A member at the limit, or whose
    key was used already, gets nothing new. Answers {member_id: coupon_id} of the coupons made.
    409 `template_inactive` / `template_ended` as `issue_coupon`. A caller that knows none of
    these members was issued under `key` yet (a campaign batch of still-pending deliveries) passes
    `look_for_replays=False` to skip that look-up; the UNIQUE event keys still refuse a double."""
    if source in (CouponSource.TRANSFER, CouponSource.MANUAL):
        raise ValueError("issue_to_many is for campaigns and automations")
    merchant_id = actor.merchant_id
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    template = _template(merchant_id, template_id)
    if not template.is_active:
        raise Conflict(gettext("This coupon template is switched off."), error_code="template_inactive")
    rule = template_rule(template)
    db.session.execute(sa.select(Member.id).where(Member.merchant_id == merchant_id, Member.id.in_(ids))
                       .order_by(Member.id).with_for_update())
    held: dict[int, int] = {}
    if template.per_member_limit is not None:  # without a limit, what members hold does not matter
        held = dict(db.session.execute(
            sa.select(Coupon.member_id, sa.func.count()).where(
                Coupon.merchant_id == merchant_id, Coupon.template_id == template.id, Coupon.member_id.in_(ids),
                Coupon.source != CouponSource.TRANSFER).group_by(Coupon.member_id)).all())
    done: set[int] = set()
    if look_for_replays:
        done = set(db.session.scalars(sa.select(CouponEvent.member_id).where(
            CouponEvent.merchant_id == merchant_id,
            CouponEvent.idempotency_key.in_([f"{key}:{member_id}:issue" for member_id in ids]))))
    chosen = []
    for member_id in ids:
        if member_id in done:
            continue
        verdict = rules.can_issue(rule, held.get(member_id, 0), now)
        if not verdict:
            if verdict.reason == rules.TEMPLATE_ENDED:
                raise refusal(verdict.reason)
            continue
        chosen.append(member_id)
    if not chosen:
        return {}
    issued = rules.issue(rule, chosen[0], now)
    coupon_table, event_table = Coupon.__table__, CouponEvent.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # A new random code per coupon; the rare one already taken is skipped by the UNIQUE index and
    # that member's coupon tried again with another code (no look-up of the codes first).
    statement = insert(coupon_table).on_conflict_do_nothing(
        index_elements=[coupon_table.c.merchant_id, coupon_table.c.code]).returning(
        coupon_table.c.id, coupon_table.c.member_id)
    made: dict[int, int] = {}
    waiting = chosen
    while waiting:
        rows = db.session.execute(statement, [
            {"merchant_id": merchant_id, "template_id": template.id, "member_id": member_id, "code": _random_code(),
             "state": CouponStatus.from_label(issued.state), "source": source, "issued_at": issued.issued_at,
             "expires_at": issued.expires_at, "transfer_depth": 0}
            for member_id in waiting]).all()
        made.update({row.member_id: row.id for row in rows})
        waiting = [member_id for member_id in waiting if member_id not in made]
    db.session.execute(sa.insert(event_table), [
        {"merchant_id": merchant_id, "coupon_id": coupon_id, "member_id": member_id, "kind": CouponEventKind.ISSUE,
         "idempotency_key": f"{key}:{member_id}:issue", "staff_id": actor.staff_id, "store_id": actor.store_id,
         "device_id": actor.device_id, "created_at": now}
        for member_id, coupon_id in made.items()])
    if announce:
        publish_many(merchant_id, DomainEvent.COUPON_RECEIVED,
                     [(str(coupon_id), {"member_id": member_id, "coupon_id": coupon_id})
                      for member_id, coupon_id in made.items()], now=now)
    return made


def _random_code() -> str:
    return CODE_PREFIX + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


# --- the coupons of a bill -------------------------------------------------------------------

def coupons_for_bill(member_id: int | None, coupon_ids: Sequence[int], now: datetime | None = None, *,
                     lock: bool = True, actor: Actor) -> list[rules.IssuedCoupon]:
    """The coupons a bill asks for, as the rules see them, in the order given (repeats kept, so
    pricing can answer `duplicate_coupon`). Whether each may be used is pricing's question
    (`rules.eligibility` at the bill's `now`): a coupon used, expired or passed on is returned
    with that state and refused there.

    404 for an id that is not this merchant's, or not `member_id`'s (with no member, any of the
    merchant's coupons is returned and pricing refuses it). With `lock` (the settlement), the
    member and then the coupons are locked FOR UPDATE in id order until the transaction ends;
    the bill preview passes `lock=False`.
    """
    if not coupon_ids:
        return []
    merchant_id = actor.merchant_id
    if lock:
        if member_id is not None:
            lock_member(member_id, actor=actor)
        rows = _lock(actor, coupon_ids)
    else:
        rows = list(db.session.scalars(sa.select(Coupon).where(
            Coupon.merchant_id == merchant_id, Coupon.id.in_(set(coupon_ids)))))
        if len(rows) != len(set(coupon_ids)):
            raise NotFound("coupon")
    if member_id is not None and any(coupon.member_id != member_id for coupon in rows):
        raise NotFound("coupon")
    by_id = {coupon.id: coupon_rule(coupon) for coupon in rows}
    return [by_id[coupon_id] for coupon_id in coupon_ids]


# --- redeem and restore ----------------------------------------------------------------------

def redeem_coupons(coupon_ids: Sequence[int], *, order_id: int, key: str, now: datetime,
                   member_id: int | None = None, store_id: int | None = None,
                   actor: Actor) -> list[Coupon]:
    """Mark the coupons of a settled order used (issued → redeemed), one `redeem` event each.

    Call after pricing accepted them (normally in the transaction that called
    `coupons_for_bill`). 409 `not_active` / `expired` for a coupon that cannot be used any more;
    422 `duplicate_coupon`; 404 for ids not of this merchant (or not of `member_id`, when given).
    The same `key` again returns the same coupons and changes nothing.
    """
    if len(set(coupon_ids)) != len(coupon_ids):
        raise Unprocessable(gettext("The same coupon was given twice."), error_code="duplicate_coupon")
    merchant_id = actor.merchant_id
    coupons = _lock(actor, coupon_ids)
    if member_id is not None and any(coupon.member_id != member_id for coupon in coupons):
        raise NotFound("coupon")
    keys = {coupon.id: f"{key}:redeem:{coupon.id}" for coupon in coupons}
    done = db.session.scalars(sa.select(CouponEvent).where(
        CouponEvent.merchant_id == merchant_id, CouponEvent.idempotency_key.in_(keys.values()))).all()
    if done:
        if len(done) != len(keys) or any(event.order_id != order_id for event in done):
            raise _key_reused()
        return coupons
    for coupon in coupons:
        if now >= coupon.expires_at and coupon.state is CouponStatus.ISSUED:
            raise refusal(rules.EXPIRED, coupon.id)
        _change(coupon, rules.CouponEvent.REDEEM, CouponEventKind.REDEEM, keys[coupon.id], order_id=order_id,
                store_id=store_id, actor=actor, redeemed_order_id=order_id, redeemed_at=now)
    db.session.flush()
    return coupons


@dataclass(frozen=True)
class NotRestored:
    coupon: Coupon
    reason: str  # rules.RESTORE_REASONS: 'expired' (a refund does not bring back a lapsed coupon)


@dataclass(frozen=True)
class RestoreResult:
    restored: list[Coupon]
    not_restored: list[NotRestored]


def restore_coupons(order_id: int, *, key: str, now: datetime, store_id: int | None = None,
                    actor: Actor) -> RestoreResult:
    """A refund of `order_id` gives back the coupons it redeemed (redeemed → issued, one `restore`
    event each) while `rules.can_restore` allows; the others stay redeemed and are reported.
    The same `key` again reports the same coupons restored and changes nothing."""
    merchant_id = actor.merchant_id
    redeemed_ids = db.session.scalars(sa.select(CouponEvent.coupon_id).distinct().where(
        CouponEvent.merchant_id == merchant_id, CouponEvent.order_id == order_id,
        CouponEvent.kind == CouponEventKind.REDEEM)).all()
    restored: list[Coupon] = []
    not_restored: list[NotRestored] = []
    for coupon in _lock(actor, redeemed_ids):
        event_key = f"{key}:restore:{coupon.id}"
        if _event_for_key(merchant_id, event_key) is not None:
            restored.append(coupon)
            continue
        if coupon.state is not CouponStatus.REDEEMED or coupon.redeemed_order_id != order_id:
            continue  # given back by an earlier refund (or since used on another order)
        verdict = rules.can_restore(coupon_rule(coupon), now)
        if not verdict:
            not_restored.append(NotRestored(coupon, verdict.reason))
            continue
        _change(coupon, rules.CouponEvent.RESTORE, CouponEventKind.RESTORE, event_key, order_id=order_id,
                store_id=store_id, actor=actor, redeemed_order_id=None, redeemed_at=None)
        restored.append(coupon)
    db.session.flush()
    return RestoreResult(restored, not_restored)


# --- transfer --------------------------------------------------------------------------------

def transfer_coupon(coupon_id: int, from_member_id: int, to_member_id: int, *, key: str, now: datetime,
                    actor: Actor) -> tuple[Coupon, Coupon]:
    """Pass a coupon to another member of the same merchant: the sender's instance becomes
    `transferred`, the receiver gets a new one (`transfer_depth` + 1, same expiry) and the two
    are linked both ways, with a `transfer_out` and a `transfer_in` event.

    404 for a coupon or member of another merchant, or a coupon `from_member_id` does not hold;
    409 `not_transferable`, `chain_limit`, `not_active`, `expired`; 422 `same_member`.
    Returns (the sender's instance, the receiver's); the same `key` again returns the same pair.
    """
    merchant_id = actor.merchant_id
    for member_id in sorted({from_member_id, to_member_id}):
        lock_member(member_id, actor=actor)
    (coupon,) = _lock(actor, [coupon_id])
    replay = _event_for_key(merchant_id, f"{key}:transfer_out")
    if replay is not None:
        received = db.session.get(Coupon, coupon.transferred_to_id) if coupon.transferred_to_id else None
        if replay.coupon_id != coupon.id or received is None or received.member_id != to_member_id:
            raise _key_reused()
        return coupon, received
    if coupon.member_id != from_member_id:
        raise NotFound("coupon")
    plain = coupon_rule(coupon)
    verdict = rules.can_transfer(plain, from_member_id, to_member_id, now)
    if not verdict:
        raise refusal(verdict.reason, coupon.id)
    _sent, given = rules.transfer(plain, to_member_id, now)
    received = Coupon(
        merchant_id=merchant_id, template_id=coupon.template_id, member_id=given.member_id,
        code=_new_code(merchant_id), state=CouponStatus.from_label(given.state), source=CouponSource.TRANSFER,
        issued_at=given.issued_at, expires_at=given.expires_at, transfer_depth=given.transfer_depth,
        transferred_from_id=given.transferred_from_id,
    )
    db.session.add(received)
    db.session.flush()
    _change(coupon, rules.CouponEvent.TRANSFER, CouponEventKind.TRANSFER_OUT, f"{key}:transfer_out",
            actor=actor, transferred_to_id=received.id)
    _append(received, CouponEventKind.TRANSFER_IN, f"{key}:transfer_in", actor=actor)
    db.session.flush()
    _received(received, now)
    return coupon, received


# --- expiry ----------------------------------------------------------------------------------

def expire_coupons(now: datetime, *, actor: Actor) -> int:
    """The scheduled job: issued coupons of the actor's merchant whose time is up become expired,
    one `expire` event each. Returns how many. Safe to run again (and beside the settlement)."""
    merchant_id = actor.merchant_id
    due = db.session.execute(sa.select(Coupon.member_id, Coupon.id).where(
        Coupon.merchant_id == merchant_id, Coupon.state == CouponStatus.ISSUED, Coupon.expires_at <= now,
    ).order_by(Coupon.member_id, Coupon.id)).all()
    by_member: dict[int, list[int]] = {}
    for member_id, coupon_id in due:
        by_member.setdefault(member_id, []).append(coupon_id)
    expired = 0
    for coupon_ids in by_member.values():
        for coupon in _lock(actor, coupon_ids):
            if rules.is_due_to_expire(coupon_rule(coupon), now):
                _change(coupon, rules.CouponEvent.EXPIRE, CouponEventKind.EXPIRE, f"expire:{coupon.id}", actor=actor)
                expired += 1
    db.session.flush()
    return expired


# --- reading ---------------------------------------------------------------------------------

def member_coupons(member: Member, state: CouponStatus | None = None, limit: int = 100) -> list[Coupon]:
    stmt = sa.select(Coupon).where(Coupon.merchant_id == member.merchant_id, Coupon.member_id == member.id)
    if state is not None:
        stmt = stmt.where(Coupon.state == state)
    return list(db.session.scalars(stmt.order_by(Coupon.id.desc()).limit(limit)))


@dataclass(frozen=True)
class TemplateCounts:
    issued: int = 0  # handed out by the merchant (received transfers not counted again)
    redeemed: int = 0  # used on a bill
    active: int = 0  # held and still usable now


def template_counts(merchant_id: int, now: datetime) -> dict[int, TemplateCounts]:
    """For the template list: per template id, how many coupons were issued, used and are live."""
    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    rows = db.session.execute(sa.select(
        Coupon.template_id, count(Coupon.source != CouponSource.TRANSFER), count(Coupon.state == CouponStatus.REDEEMED),
        count(sa.and_(Coupon.state == CouponStatus.ISSUED, Coupon.expires_at > now)),
    ).where(Coupon.merchant_id == merchant_id).group_by(Coupon.template_id))
    return {template_id: TemplateCounts(issued, redeemed, active) for template_id, issued, redeemed, active in rows}


def holders(merchant_id: int, coupon_ids: Iterable[int]) -> dict[int, Member]:
    """The member holding each of these coupons (for "passed on from / to")."""
    ids = set(coupon_ids)
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Coupon.id, Member).join(Member, Member.id == Coupon.member_id).where(
        Coupon.merchant_id == merchant_id, Coupon.id.in_(ids)))
    return {coupon_id: member for coupon_id, member in rows}


def find_by_code(code: str, *, actor: Actor) -> Coupon:
    """The till scanner's look-up: 'CP' + 10, any letter case."""
    coupon = db.session.scalar(sa.select(Coupon).where(Coupon.merchant_id == actor.merchant_id,
                                                       Coupon.code == code.strip().upper()))
    if coupon is None:
        raise NotFound("coupon", gettext("No coupon has this code."))
    return coupon


def events_of(coupon: Coupon) -> list[CouponEvent]:
    return list(db.session.scalars(sa.select(CouponEvent).where(
        CouponEvent.merchant_id == coupon.merchant_id, CouponEvent.coupon_id == coupon.id).order_by(CouponEvent.id)))
