"""Coupon rules: templates, issued instances, eligibility, discount, transfer and state.

Pure functions over frozen dataclasses: no database, no Flask, no clock (``now`` is passed in).
Amounts are integer fen. The bill-level arithmetic (ordering, stacking, allocation to lines)
lives in ``tablerules.pricing``; this module answers questions about one coupon at a time.

Decisions, so every caller reads them the same way:

- A coupon is valid from ``template.valid_from`` (inclusive, if set) until ``expires_at``
  (exclusive). ``expires_at`` is fixed at issue: ``issued_at + valid_days``, or
  ``valid_until``, or the earlier of the two when both are set.
- Min spend is compared with the in-scope amount the caller passes (pricing passes amounts
  after the member tier discount and before any coupon). For a free-dish coupon the base is the
  whole bill.
- Scope: ``category_ids`` / ``dish_ids`` (either or both; a line matching either is in scope);
  both ``None`` means the whole bill. Scope does not look at a dish's ``is_discountable`` flag,
  which only governs the member tier discount.
- Percent and cap discounts are floored to the fen; no discount ever exceeds the amount it
  applies to.
- ``transfer_depth`` counts the hand-offs that led to an instance (0 for one issued directly);
  an instance may be passed on while ``transfer_depth < max_transfer_chain``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from tablerules.money import to_yuan_short, zhe
from tablerules.state import IllegalTransition, Transitions


class CouponKind(StrEnum):
    CASH = "cash"  # voucher: value_cents off
    PERCENT = "percent"  # percent_off of the in-scope amount, optionally capped
    FREE_DISH = "free_dish"  # one unit of dish_id free


class CouponState(StrEnum):
    ISSUED = "issued"
    REDEEMED = "redeemed"
    EXPIRED = "expired"
    TRANSFERRED = "transferred"  # passed on; the receiver holds a new instance


class CouponEvent(StrEnum):
    REDEEM = "redeem"
    EXPIRE = "expire"
    TRANSFER = "transfer"
    RESTORE = "restore"  # a refund gives a redeemed coupon back


# Reason codes (stable: the API returns them as error codes).
NOT_OWNER = "not_owner"
NOT_ACTIVE = "not_active"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
MIN_SPEND_NOT_MET = "min_spend_not_met"
NO_LINE_IN_SCOPE = "no_line_in_scope"
DISH_NOT_ON_BILL = "dish_not_on_bill"
NOT_TRANSFERABLE = "not_transferable"
CHAIN_LIMIT = "chain_limit"
SAME_MEMBER = "same_member"
PER_MEMBER_LIMIT = "per_member_limit"
TEMPLATE_ENDED = "template_ended"
NOT_REDEEMED = "not_redeemed"

ELIGIBILITY_REASONS = frozenset(
    {NOT_OWNER, NOT_ACTIVE, EXPIRED, NOT_YET_VALID, MIN_SPEND_NOT_MET, NO_LINE_IN_SCOPE, DISH_NOT_ON_BILL}
)
TRANSFER_REASONS = frozenset({NOT_OWNER, SAME_MEMBER, NOT_TRANSFERABLE, NOT_ACTIVE, EXPIRED, CHAIN_LIMIT})
ISSUE_REASONS = frozenset({PER_MEMBER_LIMIT, TEMPLATE_ENDED})
RESTORE_REASONS = frozenset({NOT_REDEEMED, EXPIRED})


@dataclass(frozen=True)
class Allowed:
    """A yes. Truthy, so ``if can_transfer(...):`` reads naturally."""

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Refused:
    """A no, with a stable snake_case reason code. Falsy."""

    reason: str

    def __bool__(self) -> bool:
        return False


# Eligibility reads better with these names; they are the same types.
Eligible = Allowed
Ineligible = Refused
Verdict = Allowed | Refused
ALLOWED = Allowed()


@dataclass(frozen=True)
class CouponTemplate:
    id: int | None
    kind: CouponKind
    value_cents: int = 0  # CASH only
    percent_off: int | None = None  # PERCENT only, 1..99
    cap_cents: int | None = None  # PERCENT only; None = no cap
    min_spend_cents: int = 0
    dish_id: int | None = None  # FREE_DISH only
    category_ids: frozenset[int] | None = None  # scope; None (with dish_ids None) = whole bill
    dish_ids: frozenset[int] | None = None  # scope
    valid_from: datetime | None = None
    valid_until: datetime | None = None  # absolute end (exclusive)
    valid_days: int | None = None  # relative end: days after issue
    per_member_limit: int | None = None  # None = unlimited
    is_transferable: bool = False
    is_stackable: bool = False
    max_transfer_chain: int = 1
    name: str = ""  # shown on the bill when set, else a description is generated

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CouponKind(self.kind))  # accept the stored string too
        problems = _template_problems(self)
        if problems:
            raise ValueError("invalid coupon template: " + "; ".join(problems))

    @property
    def is_whole_bill(self) -> bool:
        return self.category_ids is None and self.dish_ids is None


def _template_problems(t: CouponTemplate) -> list[str]:
    problems: list[str] = []
    if t.min_spend_cents < 0:
        problems.append("min_spend_cents must be >= 0")
    if t.kind is CouponKind.CASH:
        if t.value_cents <= 0:
            problems.append("a cash coupon needs value_cents > 0")
    elif t.kind is CouponKind.PERCENT:
        if t.percent_off is None or not 1 <= t.percent_off <= 99:
            problems.append("percent_off must be 1..99")
        if t.cap_cents is not None and t.cap_cents <= 0:
            problems.append("cap_cents must be > 0 when set")
    elif t.kind is CouponKind.FREE_DISH:
        if t.dish_id is None:
            problems.append("a free-dish coupon needs dish_id")
        if not t.is_whole_bill:
            problems.append("a free-dish coupon is scoped by its dish_id, not by category_ids/dish_ids")
    else:  # pragma: no cover - enum is closed
        problems.append(f"unknown kind {t.kind!r}")
    if t.kind is not CouponKind.PERCENT and (t.percent_off is not None or t.cap_cents is not None):
        problems.append("percent_off/cap_cents belong to percent coupons only")
    if t.kind is not CouponKind.CASH and t.value_cents:
        problems.append("value_cents belongs to cash coupons only")
    if t.kind is not CouponKind.FREE_DISH and t.dish_id is not None:
        problems.append("dish_id belongs to free-dish coupons only (use dish_ids for scope)")
    if t.category_ids is not None and not t.category_ids:
        problems.append("category_ids must be None or non-empty")
    if t.dish_ids is not None and not t.dish_ids:
        problems.append("dish_ids must be None or non-empty")
    if t.valid_until is None and t.valid_days is None:
        problems.append("set valid_until or valid_days")
    if t.valid_days is not None and t.valid_days <= 0:
        problems.append("valid_days must be > 0")
    if t.valid_from is not None and t.valid_until is not None and t.valid_from >= t.valid_until:
        problems.append("valid_from must be before valid_until")
    if t.per_member_limit is not None and t.per_member_limit < 1:
        problems.append("per_member_limit must be >= 1 or None")
    if t.max_transfer_chain < 0:
        problems.append("max_transfer_chain must be >= 0")
    return problems


@dataclass(frozen=True)
class IssuedCoupon:
    id: int | None
    template: CouponTemplate
    member_id: int
    state: CouponState
    issued_at: datetime
    expires_at: datetime
    transfer_depth: int = 0
    transferred_from_id: int | None = None  # the sender's instance, for a received coupon

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", CouponState(self.state))  # accept the stored string too


@dataclass(frozen=True)
class CouponLine:
    """A bill line as coupons see it: what it is and the amount (fen) it stands at right now."""

    line_id: int
    dish_id: int
    category_id: int | None
    qty: int
    amount_cents: int


CouponLike = IssuedCoupon | CouponTemplate


# --- issue -----------------------------------------------------------------------------------


def coupon_expiry(template: CouponTemplate, issued_at: datetime) -> datetime:
    """When an instance issued at ``issued_at`` stops being valid (exclusive)."""
    ends = []
    if template.valid_days is not None:
        ends.append(issued_at + timedelta(days=template.valid_days))
    if template.valid_until is not None:
        ends.append(template.valid_until)
    return min(ends)


def can_issue(template: CouponTemplate, already_held_count: int, now: datetime | None = None) -> Verdict:
    """May one more instance go to a member who already has ``already_held_count`` of this template?

    The count is whatever the caller's policy counts (normally every instance ever issued to the
    member from this template, whatever its state). With ``now``, a template whose absolute window
    has ended is refused too.
    """
    if template.per_member_limit is not None and already_held_count >= template.per_member_limit:
        return Refused(PER_MEMBER_LIMIT)
    if now is not None and template.valid_until is not None and now >= template.valid_until:
        return Refused(TEMPLATE_ENDED)
    return ALLOWED


def issue(
    template: CouponTemplate, member_id: int, issued_at: datetime, coupon_id: int | None = None
) -> IssuedCoupon:
    """A fresh instance for ``member_id`` (call ``can_issue`` first)."""
    return IssuedCoupon(
        id=coupon_id,
        template=template,
        member_id=member_id,
        state=CouponState.ISSUED,
        issued_at=issued_at,
        expires_at=coupon_expiry(template, issued_at),
    )


# --- scope, eligibility, discount -------------------------------------------------------------


def _template(coupon: CouponLike) -> CouponTemplate:
    return coupon.template if isinstance(coupon, IssuedCoupon) else coupon


def in_scope(template: CouponTemplate, line: CouponLine) -> bool:
    if template.is_whole_bill:
        return True
    return bool(
        (template.category_ids is not None and line.category_id in template.category_ids)
        or (template.dish_ids is not None and line.dish_id in template.dish_ids)
    )


def lines_in_scope(coupon: CouponLike, lines: Iterable[CouponLine]) -> tuple[CouponLine, ...]:
    """The lines whose amounts count toward min spend (a free-dish coupon: the whole bill)."""
    template = _template(coupon)
    return tuple(line for line in lines if in_scope(template, line))


def _free_dish_line(template: CouponTemplate, lines: Iterable[CouponLine]) -> CouponLine | None:
    # Several lines may carry the dish (different options); the diner gets the dearest unit.
    best: CouponLine | None = None
    for line in lines:
        if line.dish_id == template.dish_id and (best is None or _unit(line) > _unit(best)):
            best = line
    return best


def _unit(line: CouponLine) -> int:
    return line.amount_cents // line.qty


def discount_lines(coupon: CouponLike, lines: Iterable[CouponLine]) -> tuple[CouponLine, ...]:
    """The lines the discount comes off (for allocation): the scope, or the free dish's line."""
    template = _template(coupon)
    if template.kind is CouponKind.FREE_DISH:
        line = _free_dish_line(template, lines)
        return (line,) if line is not None else ()
    return lines_in_scope(template, lines)


def eligibility(
    coupon: IssuedCoupon, member_id: int | None, lines: Sequence[CouponLine], now: datetime
) -> Verdict:
    """Can ``member_id`` use ``coupon`` on a bill made of ``lines`` at ``now``?

    ``lines`` are all the bill's lines (this function picks the in-scope ones), carrying the
    amounts min spend is measured against.
    """
    template = coupon.template
    if member_id is None or coupon.member_id != member_id:
        return Refused(NOT_OWNER)
    if coupon.state is CouponState.EXPIRED:
        return Refused(EXPIRED)
    if coupon.state is not CouponState.ISSUED:
        return Refused(NOT_ACTIVE)
    if template.valid_from is not None and now < template.valid_from:
        return Refused(NOT_YET_VALID)
    if now >= coupon.expires_at:
        return Refused(EXPIRED)
    if template.kind is CouponKind.FREE_DISH:
        if _free_dish_line(template, lines) is None:
            return Refused(DISH_NOT_ON_BILL)
        base = sum(line.amount_cents for line in lines)
    else:
        selected = lines_in_scope(template, lines)
        if not selected:
            return Refused(NO_LINE_IN_SCOPE)
        base = sum(line.amount_cents for line in selected)
    if base < template.min_spend_cents:
        return Refused(MIN_SPEND_NOT_MET)
    return ALLOWED


def coupon_discount(coupon: CouponLike, lines: Sequence[CouponLine]) -> int:
    """The fen this coupon takes off ``lines`` (their current amounts), floored to the fen.

    Never more than the amount of the lines it applies to (its scope, or the free dish's line).
    Does not check eligibility.
    """
    template = _template(coupon)
    targets = discount_lines(template, lines)
    base = sum(line.amount_cents for line in targets)
    if template.kind is CouponKind.CASH:
        discount = template.value_cents
    elif template.kind is CouponKind.PERCENT:
        assert template.percent_off is not None
        discount = base * template.percent_off // 100
        if template.cap_cents is not None:
            discount = min(discount, template.cap_cents)
    else:
        discount = _unit(targets[0]) if targets else 0
    return max(0, min(discount, base))


# --- transfer ---------------------------------------------------------------------------------


def can_transfer(coupon: IssuedCoupon, from_member: int, to_member: int, now: datetime) -> Verdict:
    if coupon.member_id != from_member:
        return Refused(NOT_OWNER)
    if from_member == to_member:
        return Refused(SAME_MEMBER)
    if not coupon.template.is_transferable:
        return Refused(NOT_TRANSFERABLE)
    if coupon.state is CouponState.EXPIRED:
        return Refused(EXPIRED)
    if coupon.state is not CouponState.ISSUED:
        return Refused(NOT_ACTIVE)
    if now >= coupon.expires_at:
        return Refused(EXPIRED)
    if coupon.transfer_depth >= coupon.template.max_transfer_chain:
        return Refused(CHAIN_LIMIT)
    return ALLOWED


def transfer(
    coupon: IssuedCoupon, to_member: int, now: datetime, new_coupon_id: int | None = None
) -> tuple[IssuedCoupon, IssuedCoupon]:
    """(the sender's instance, now transferred; the receiver's new instance). Check ``can_transfer`` first.

    The receiver's instance keeps the original expiry, so a transfer never extends validity.
    """
    sent = replace(coupon, state=transition(coupon.state, CouponEvent.TRANSFER))
    received = IssuedCoupon(
        id=new_coupon_id,
        template=coupon.template,
        member_id=to_member,
        state=CouponState.ISSUED,
        issued_at=now,
        expires_at=coupon.expires_at,
        transfer_depth=coupon.transfer_depth + 1,
        transferred_from_id=coupon.id,
    )
    return sent, received


# --- state ------------------------------------------------------------------------------------


COUPONS: Transitions[CouponState, CouponEvent] = Transitions({
    (CouponState.ISSUED, CouponEvent.REDEEM): CouponState.REDEEMED,
    (CouponState.ISSUED, CouponEvent.EXPIRE): CouponState.EXPIRED,
    (CouponState.ISSUED, CouponEvent.TRANSFER): CouponState.TRANSFERRED,
    (CouponState.REDEEMED, CouponEvent.RESTORE): CouponState.ISSUED,
})
TRANSITIONS = COUPONS.table


def transition(state: CouponState | str, event: CouponEvent | str) -> CouponState:
    """The one place a coupon's state changes. Raises ``IllegalTransition`` for anything not in the table."""
    try:
        key = (CouponState(state), CouponEvent(event))
    except ValueError:
        raise IllegalTransition(state, event) from None
    return COUPONS.next(*key)


def can_restore(coupon: IssuedCoupon, now: datetime) -> Verdict:
    """Does refunding the order that redeemed ``coupon`` give it back? Only while it is still valid;
    an expired one stays redeemed."""
    if coupon.state is not CouponState.REDEEMED:
        return Refused(NOT_REDEEMED)
    if now >= coupon.expires_at:
        return Refused(EXPIRED)
    return ALLOWED


def is_due_to_expire(coupon: IssuedCoupon, now: datetime) -> bool:
    """For the expiry job: an issued coupon whose time is up."""
    return coupon.state is CouponState.ISSUED and now >= coupon.expires_at


# --- labels -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CouponLabel:
    zh: str
    en: str


def describe(template: CouponTemplate) -> CouponLabel:
    """Short bill text: '满100减20' / '¥20 off over ¥100'. A template name wins when set."""
    if template.kind is CouponKind.CASH:
        zh = f"{to_yuan_short(template.value_cents)}元代金券"
        en = f"¥{to_yuan_short(template.value_cents)} off"
        if template.min_spend_cents:
            zh = f"满{to_yuan_short(template.min_spend_cents)}减{to_yuan_short(template.value_cents)}"
    elif template.kind is CouponKind.PERCENT:
        assert template.percent_off is not None
        zh = f"{zhe(template.percent_off)}折券"
        en = f"{template.percent_off}% off"
        if template.min_spend_cents:
            zh = f"满{to_yuan_short(template.min_spend_cents)}享{zhe(template.percent_off)}折"
        if template.cap_cents is not None:
            zh += f"（最高减{to_yuan_short(template.cap_cents)}元）"
            en += f" (up to ¥{to_yuan_short(template.cap_cents)})"
    else:
        zh = "赠菜券"
        en = "free dish"
        if template.min_spend_cents:
            zh = f"满{to_yuan_short(template.min_spend_cents)}赠菜"
    if template.min_spend_cents:
        en += f" over ¥{to_yuan_short(template.min_spend_cents)}"
    if template.name:
        return CouponLabel(zh=template.name, en=template.name)
    return CouponLabel(zh=zh, en=en)
