"""Bill pricing: one pure function for both the bill preview and the settlement.

``price_bill`` turns bill lines plus the member's tier, coupons and points request into a
``PricedBill`` whose steps show exactly how the payable was reached. The same inputs always
give the same bill, so the diner's preview and the cashier's settlement cannot disagree.

Order (DESIGN.md "Pricing order"):

1. subtotal: sum of ``unit_price_cents * qty`` (option deltas are already in the unit price);
2. member tier discount, on discountable lines only: ``floor(discountable * percent / 100)``;
3. coupons, each on its scope as it stands after the steps before it;
4. points, worth ``cents_per_point`` fen each, whole points only;
5. rounding (抹零) down to the jiao or yuan;
6. payable.

Decisions:

- Every discount is floored to the fen: the restaurant never gives away a fraction of a fen.
- Min spend is measured on the coupon's scope after the tier discount and before any coupon,
  so stacked coupons never knock each other below their thresholds.
- One coupon per bill; several only if every one of them is stackable. Stacked coupons apply
  in a fixed order whatever order they are passed in: free dish, then percent, then cash
  (ties by coupon id). Each takes off its scope's amount left by the ones before it.
- A coupon that would take nothing off is refused (``coupon_no_discount``) rather than spent.
- Points: ``PointsRedeemRule.cents_per_point`` (integer, >= 1; "100 points = 1 yuan" is 1).
  At most ``max_share_percent`` of the amount left before points may be paid with points.
  Asking for more than that is ``points_exceed_limit``; more than the balance is
  ``insufficient_points`` (the rule limit is checked first).
- Rounding always goes down (in the diner's favour) and is a reduction like any other.
- ``discount_cents`` is the sum of every reduction: tier + coupons + points value + rounding,
  i.e. ``subtotal_cents - payable_cents``.
- Each reduction is spread over the lines it came off in proportion to what those lines still
  stood at (largest remainder, ties to the earlier line), so the per-line figures add up to the
  fen and no line goes below zero. Partial refunds by line read ``LineAllocation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tablerules.coupons import (
    CouponKind,
    CouponLine,
    IssuedCoupon,
    Refused,
    coupon_discount,
    describe,
    discount_lines,
    eligibility,
)
from tablerules.money import zhe

# Error codes besides the coupon eligibility reasons (see tablerules.coupons.ELIGIBILITY_REASONS).
POINTS_EXCEED_LIMIT = "points_exceed_limit"
INSUFFICIENT_POINTS = "insufficient_points"
INVALID_POINTS = "invalid_points"
MEMBER_REQUIRED = "member_required"
POINTS_NOT_ACCEPTED = "points_not_accepted"
DUPLICATE_COUPON = "duplicate_coupon"
COUPONS_NOT_STACKABLE = "coupons_not_stackable"
COUPON_NO_DISCOUNT = "coupon_no_discount"


class Rounding(StrEnum):
    NONE = "none"
    TO_JIAO = "to_jiao"  # payable becomes a multiple of 10 fen
    TO_YUAN = "to_yuan"  # payable becomes a multiple of 100 fen


_ROUNDING_UNIT = {Rounding.NONE: 1, Rounding.TO_JIAO: 10, Rounding.TO_YUAN: 100}


@dataclass(frozen=True)
class BillLine:
    line_id: int
    dish_id: int
    category_id: int | None
    name: str
    unit_price_cents: int  # including option deltas
    qty: int
    is_discountable: bool = True

    def __post_init__(self) -> None:
        if self.qty < 1:
            raise ValueError(f"line {self.line_id}: qty must be >= 1")
        if self.unit_price_cents < 0:
            raise ValueError(f"line {self.line_id}: unit_price_cents must be >= 0")

    @property
    def amount_cents(self) -> int:
        return self.unit_price_cents * self.qty


@dataclass(frozen=True)
class TierDiscount:
    name: str
    discount_percent: int  # percent OFF: 12 means 8.8折

    def __post_init__(self) -> None:
        if not 0 <= self.discount_percent <= 100:
            raise ValueError("discount_percent must be 0..100")


@dataclass(frozen=True)
class PointsRedeemRule:
    cents_per_point: int = 1  # 1 point = 1 fen, i.e. 100 points = 1 yuan
    max_share_percent: int = 50  # of the amount left before points

    def __post_init__(self) -> None:
        if self.cents_per_point < 1:
            raise ValueError("cents_per_point must be >= 1")
        if not 0 <= self.max_share_percent <= 100:
            raise ValueError("max_share_percent must be 0..100")


class PricingError(Exception):
    """The bill cannot be priced as asked. ``code`` is the API error code."""

    def __init__(
        self, code: str, message: str, *, coupon_id: int | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.coupon_id = coupon_id
        self.details = dict(details or {})
        if coupon_id is not None:
            self.details.setdefault("coupon_id", coupon_id)


@dataclass(frozen=True)
class BillStep:
    kind: str  # 'subtotal' | 'tier_discount' | 'coupon' | 'points' | 'rounding' | 'payable'
    label_zh: str
    label_en: str
    amount_cents: int  # negative for reductions
    ref: int | None = None  # coupon id for 'coupon', points used for 'points'

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label_zh,
            "label_en": self.label_en,
            "amount_cents": self.amount_cents,
            "ref": self.ref,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BillStep:
        return cls(data["kind"], data["label"], data["label_en"], data["amount_cents"], data.get("ref"))


@dataclass(frozen=True)
class LineAllocation:
    """What one bill line ends up costing, and which reduction took how much off it (fen, >= 0)."""

    line_id: int
    gross_cents: int
    tier_discount_cents: int
    coupon_discount_cents: int
    points_cents: int
    rounding_cents: int

    @property
    def discount_cents(self) -> int:
        return self.tier_discount_cents + self.coupon_discount_cents + self.points_cents + self.rounding_cents

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.discount_cents

    def to_dict(self) -> dict[str, Any]:
        return {
            "line_id": self.line_id,
            "gross_cents": self.gross_cents,
            "tier_discount_cents": self.tier_discount_cents,
            "coupon_discount_cents": self.coupon_discount_cents,
            "points_cents": self.points_cents,
            "rounding_cents": self.rounding_cents,
            "discount_cents": self.discount_cents,
            "net_cents": self.net_cents,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineAllocation:
        """The allocation as `to_dict` wrote it (its discount and net are derived again)."""
        return cls(data["line_id"], data["gross_cents"], data["tier_discount_cents"], data["coupon_discount_cents"],
                   data["points_cents"], data["rounding_cents"])


@dataclass(frozen=True)
class PricedBill:
    subtotal_cents: int
    discount_cents: int  # every reduction: tier + coupons + points value + rounding
    payable_cents: int
    steps: tuple[BillStep, ...]
    line_allocations: tuple[LineAllocation, ...]
    coupon_ids_used: tuple[int | None, ...]  # in the order they were applied
    points_redeemed: int
    points_value_cents: int
    tier_discount_cents: int
    coupon_discount_cents: int
    rounding_cents: int
    max_points_redeemable: int  # what the rule and balance allow on this bill (for the UI)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subtotal_cents": self.subtotal_cents,
            "discount_cents": self.discount_cents,
            "payable_cents": self.payable_cents,
            "lines": [step.to_dict() for step in self.steps],
            "tier_discount_cents": self.tier_discount_cents,
            "coupon_discount_cents": self.coupon_discount_cents,
            "coupon_ids_used": list(self.coupon_ids_used),
            "points_redeemed": self.points_redeemed,
            "points_value_cents": self.points_value_cents,
            "max_points_redeemable": self.max_points_redeemable,
            "rounding_cents": self.rounding_cents,
            "line_allocations": [a.to_dict() for a in self.line_allocations],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PricedBill:
        """The bill as `to_dict` wrote it: the same fields, the steps under `lines`."""
        return cls(
            subtotal_cents=data["subtotal_cents"],
            discount_cents=data["discount_cents"],
            payable_cents=data["payable_cents"],
            steps=tuple(BillStep.from_dict(step) for step in data["lines"]),
            line_allocations=tuple(LineAllocation.from_dict(a) for a in data["line_allocations"]),
            coupon_ids_used=tuple(data["coupon_ids_used"]),
            points_redeemed=data["points_redeemed"],
            points_value_cents=data["points_value_cents"],
            tier_discount_cents=data["tier_discount_cents"],
            coupon_discount_cents=data["coupon_discount_cents"],
            rounding_cents=data["rounding_cents"],
            max_points_redeemable=data["max_points_redeemable"],
        )


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` fen over ``weights`` in proportion, by largest remainder.

    The parts add up to ``total`` exactly; with ``0 <= total <= sum(weights)`` no part exceeds
    its weight. Ties go to the earlier weight.
    """
    weight_sum = sum(weights)
    if total == 0:
        return [0] * len(weights)
    if weight_sum <= 0 or total < 0 or total > weight_sum:
        raise ValueError(f"cannot allocate {total} over weights summing to {weight_sum}")
    parts = []
    remainders = []
    for index, weight in enumerate(weights):
        part, remainder = divmod(total * weight, weight_sum)
        parts.append(part)
        remainders.append((-remainder, index))
    for _, index in sorted(remainders)[: total - sum(parts)]:
        parts[index] += 1
    return parts


_COUPON_ORDER = {CouponKind.FREE_DISH: 0, CouponKind.PERCENT: 1, CouponKind.CASH: 2}


def _ordered_coupons(coupons: Sequence[IssuedCoupon]) -> list[IssuedCoupon]:
    seen: set[int] = set()
    for coupon in coupons:
        if coupon.id is not None:
            if coupon.id in seen:
                raise PricingError(DUPLICATE_COUPON, "The same coupon was given twice.", coupon_id=coupon.id)
            seen.add(coupon.id)
    if len(coupons) > 1:
        for coupon in coupons:
            if not coupon.template.is_stackable:
                raise PricingError(
                    COUPONS_NOT_STACKABLE, "This coupon cannot be combined with others.", coupon_id=coupon.id
                )
    keyed = sorted(
        enumerate(coupons),
        key=lambda item: (
            _COUPON_ORDER[item[1].template.kind],
            item[1].id if item[1].id is not None else -1,
            item[0],
        ),
    )
    return [coupon for _, coupon in keyed]


class _LineAmounts:
    """Running per-line amounts and what each kind of reduction took off each line."""

    def __init__(self, lines: Sequence[BillLine]) -> None:
        self.lines = lines
        self.remaining = [line.amount_cents for line in lines]
        self.taken = {kind: [0] * len(lines) for kind in ("tier", "coupon", "points", "rounding")}
        self.index = {line.line_id: i for i, line in enumerate(lines)}
        if len(self.index) != len(lines):
            raise ValueError("bill line ids must be unique")

    def take(self, kind: str, total: int, indexes: Sequence[int]) -> None:
        parts = allocate(total, [self.remaining[i] for i in indexes])
        for i, part in zip(indexes, parts, strict=True):
            self.remaining[i] -= part
            self.taken[kind][i] += part

    def coupon_lines(self) -> list[CouponLine]:
        return [
            CouponLine(
                line_id=line.line_id,
                dish_id=line.dish_id,
                category_id=line.category_id,
                qty=line.qty,
                amount_cents=self.remaining[i],
            )
            for i, line in enumerate(self.lines)
        ]

    @property
    def total(self) -> int:
        return sum(self.remaining)


def price_bill(
    lines: Sequence[BillLine],
    *,
    tier: TierDiscount | None,
    coupons: Sequence[IssuedCoupon],
    member_id: int | None,
    points_to_redeem: int,
    points_balance: int,
    points_rule: PointsRedeemRule | None,
    rounding: Rounding,
    now: datetime,
) -> PricedBill:
    """Price a bill. Raises ``PricingError`` (with an API error code) when it cannot be priced as asked."""
    rounding = Rounding(rounding)
    amounts = _LineAmounts(lines)
    subtotal = amounts.total
    steps = [BillStep("subtotal", "小计", "Subtotal", subtotal)]

    # 1. member tier discount, on discountable lines only
    tier_cents = 0
    if tier is not None and tier.discount_percent:
        discountable = [i for i, line in enumerate(lines) if line.is_discountable]
        tier_cents = sum(amounts.remaining[i] for i in discountable) * tier.discount_percent // 100
        if tier_cents:
            amounts.take("tier", tier_cents, discountable)
            rate = "免单" if tier.discount_percent == 100 else f"{zhe(tier.discount_percent)}折"
            label_zh = f"会员折扣（{tier.name} {rate}）"
            label_en = f"Member discount ({tier.name}, {tier.discount_percent}% off)"
            steps.append(BillStep("tier_discount", label_zh, label_en, -tier_cents))

    # 2. coupons: eligibility (min spend) on the amounts after the tier discount, then apply in order
    ordered = _ordered_coupons(coupons)
    after_tier = amounts.coupon_lines()
    for coupon in ordered:
        verdict = eligibility(coupon, member_id, after_tier, now)
        if isinstance(verdict, Refused):
            raise PricingError(
                verdict.reason, "This coupon cannot be used on this bill.", coupon_id=coupon.id
            )
    coupon_cents = 0
    for coupon in ordered:
        current = amounts.coupon_lines()
        cents = coupon_discount(coupon, current)
        if cents <= 0:
            raise PricingError(
                COUPON_NO_DISCOUNT, "This coupon would take nothing off this bill.", coupon_id=coupon.id
            )
        amounts.take(
            "coupon", cents, [amounts.index[line.line_id] for line in discount_lines(coupon, current)]
        )
        coupon_cents += cents
        label = describe(coupon.template)
        steps.append(BillStep("coupon", f"优惠券：{label.zh}", f"Coupon: {label.en}", -cents, coupon.id))

    # 3. points
    before_points = amounts.total
    limit_points = 0
    if points_rule is not None and member_id is not None:
        limit_points = before_points * points_rule.max_share_percent // 100 // points_rule.cents_per_point
    max_points = max(0, min(limit_points, points_balance))
    points_cents = 0
    if points_to_redeem < 0:
        raise PricingError(INVALID_POINTS, "Points to redeem cannot be negative.")
    if points_to_redeem:
        if member_id is None:
            raise PricingError(MEMBER_REQUIRED, "Only a member can pay with points.")
        if points_rule is None:
            raise PricingError(POINTS_NOT_ACCEPTED, "Points cannot be used to pay here.")
        if points_to_redeem > limit_points:
            raise PricingError(
                POINTS_EXCEED_LIMIT,
                "More points than this bill allows.",
                details={"requested": points_to_redeem, "max_points": limit_points},
            )
        if points_to_redeem > points_balance:
            raise PricingError(
                INSUFFICIENT_POINTS,
                "Not enough points.",
                details={"requested": points_to_redeem, "balance": points_balance},
            )
        points_cents = points_to_redeem * points_rule.cents_per_point
        amounts.take("points", points_cents, range(len(lines)))
        steps.append(
            BillStep(
                "points",
                f"积分抵扣（{points_to_redeem}积分）",
                f"Points ({points_to_redeem} pts)",
                -points_cents,
                points_to_redeem,
            )
        )

    # 4. rounding (抹零), always down
    rounding_cents = amounts.total % _ROUNDING_UNIT[rounding]
    if rounding_cents:
        amounts.take("rounding", rounding_cents, range(len(lines)))
        unit_en = "jiao" if rounding is Rounding.TO_JIAO else "yuan"
        steps.append(BillStep("rounding", "抹零", f"Rounding (to {unit_en})", -rounding_cents))

    payable = amounts.total
    steps.append(BillStep("payable", "应付", "Payable", payable))
    taken = amounts.taken
    allocations = tuple(
        LineAllocation(
            line_id=line.line_id,
            gross_cents=line.amount_cents,
            tier_discount_cents=taken["tier"][i],
            coupon_discount_cents=taken["coupon"][i],
            points_cents=taken["points"][i],
            rounding_cents=taken["rounding"][i],
        )
        for i, line in enumerate(lines)
    )
    return PricedBill(
        subtotal_cents=subtotal,
        discount_cents=subtotal - payable,
        payable_cents=payable,
        steps=tuple(steps),
        line_allocations=allocations,
        coupon_ids_used=tuple(c.id for c in ordered),
        points_redeemed=points_to_redeem,
        points_value_cents=points_cents,
        tier_discount_cents=tier_cents,
        coupon_discount_cents=coupon_cents,
        rounding_cents=rounding_cents,
        max_points_redeemable=max_points,
    )
