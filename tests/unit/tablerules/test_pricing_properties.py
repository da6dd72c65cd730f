"""Properties of price_bill that must hold for every bill, checked with hypothesis."""

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tablerules.coupons import ELIGIBILITY_REASONS, CouponKind, CouponState, CouponTemplate, IssuedCoupon
from tablerules.pricing import (
    BillLine,
    PointsRedeemRule,
    PricedBill,
    PricingError,
    Rounding,
    TierDiscount,
    allocate,
    price_bill,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MEMBER = 7
PROPERTY = settings(max_examples=300, deadline=None)
UNIT = {Rounding.NONE: 1, Rounding.TO_JIAO: 10, Rounding.TO_YUAN: 100}
COUPON_CODES = ELIGIBILITY_REASONS | {"coupons_not_stackable", "coupon_no_discount"}


@st.composite
def bill_lines(draw) -> list[BillLine]:
    count = draw(st.integers(0, 8))
    return [
        BillLine(
            line_id=i + 1,
            dish_id=draw(st.integers(1, 6)),
            category_id=draw(st.sampled_from([1, 2, 3, None])),
            name=f"dish {i}",
            unit_price_cents=draw(st.integers(0, 30_000) | st.integers(0, 99)),
            qty=draw(st.integers(1, 5)),
            is_discountable=draw(st.booleans()),
        )
        for i in range(count)
    ]


scopes = st.none() | st.frozensets(st.integers(1, 6), min_size=1, max_size=3)


@st.composite
def templates(draw, template_id: int) -> CouponTemplate:
    kind = draw(st.sampled_from(CouponKind))
    common = dict(
        id=template_id,
        kind=kind,
        valid_days=30,
        is_stackable=draw(st.booleans() | st.just(True)),
        min_spend_cents=draw(st.sampled_from([0, 0, 1000, 10_000]) | st.integers(0, 60_000)),
    )
    if kind is CouponKind.CASH:
        return CouponTemplate(
            value_cents=draw(st.integers(1, 30_000)),
            category_ids=draw(scopes),
            dish_ids=draw(scopes),
            **common,
        )
    if kind is CouponKind.PERCENT:
        return CouponTemplate(
            percent_off=draw(st.integers(1, 99)),
            cap_cents=draw(st.none() | st.integers(1, 10_000)),
            category_ids=draw(scopes),
            dish_ids=draw(scopes),
            **common,
        )
    return CouponTemplate(dish_id=draw(st.integers(1, 6)), **common)


@st.composite
def coupon_lists(draw) -> list[IssuedCoupon]:
    count = draw(st.integers(0, 3))
    return [
        IssuedCoupon(
            id=100 + i,
            template=draw(templates(i + 1)),
            member_id=MEMBER,
            state=CouponState.ISSUED,
            issued_at=NOW - timedelta(days=1),
            expires_at=NOW + timedelta(days=29),
        )
        for i in range(count)
    ]


tiers = st.none() | st.builds(TierDiscount, name=st.just("tier"), discount_percent=st.integers(0, 100))
points_rules = st.none() | st.builds(
    PointsRedeemRule,
    cents_per_point=st.sampled_from([1, 1, 2, 10, 100]),
    max_share_percent=st.integers(0, 100),
)
roundings = st.sampled_from(Rounding)


def price(lines, tier, coupons, points, balance, rule, rounding) -> PricedBill:
    return price_bill(
        lines,
        tier=tier,
        coupons=coupons,
        member_id=MEMBER,
        points_to_redeem=points,
        points_balance=balance,
        points_rule=rule,
        rounding=rounding,
        now=NOW,
    )


def in_scope(template: CouponTemplate, line: BillLine) -> bool:
    if template.kind is CouponKind.FREE_DISH:
        return line.dish_id == template.dish_id
    if template.category_ids is None and template.dish_ids is None:
        return True
    return line.category_id in (template.category_ids or ()) or line.dish_id in (template.dish_ids or ())


@PROPERTY
@given(
    lines=bill_lines(),
    tier=tiers,
    coupons=coupon_lists(),
    balance=st.integers(0, 50_000),
    rule=points_rules,
    rounding=roundings,
    data=st.data(),
)
def test_priced_bill_invariants(lines, tier, coupons, balance, rule, rounding, data):
    try:
        first = price(lines, tier, coupons, 0, balance, rule, rounding)
    except PricingError as error:
        assert error.code in COUPON_CODES
        assert error.coupon_id in {c.id for c in coupons}
        return
    points = data.draw(st.integers(0, first.max_points_redeemable), label="points")
    bill = price(lines, tier, coupons, points, balance, rule, rounding)
    subtotal = sum(line.amount_cents for line in lines)

    # the total
    assert bill.subtotal_cents == subtotal
    assert 0 <= bill.payable_cents <= subtotal
    reductions = [s.amount_cents for s in bill.steps if s.kind not in {"subtotal", "payable"}]
    assert all(amount < 0 for amount in reductions)
    assert bill.steps[0].amount_cents + sum(reductions) == bill.payable_cents == bill.steps[-1].amount_cents
    assert (
        bill.discount_cents
        == subtotal - bill.payable_cents
        == (
            bill.tier_discount_cents
            + bill.coupon_discount_cents
            + bill.points_value_cents
            + bill.rounding_cents
        )
    )

    # tier: exactly the floored share of the discountable amount, never more
    discountable = sum(line.amount_cents for line in lines if line.is_discountable)
    expected_tier = discountable * tier.discount_percent // 100 if tier else 0
    assert bill.tier_discount_cents == expected_tier <= discountable

    # coupons: each within its scope's gross amount, all of them within what the tier left
    for step in (s for s in bill.steps if s.kind == "coupon"):
        template = next(c.template for c in coupons if c.id == step.ref)
        assert -step.amount_cents <= sum(line.amount_cents for line in lines if in_scope(template, line))
    assert bill.coupon_discount_cents <= subtotal - bill.tier_discount_cents
    assert sorted(bill.coupon_ids_used) == sorted(c.id for c in coupons)

    # points: whole points, within balance and share cap
    assert bill.points_redeemed == points <= balance
    if points:
        assert rule is not None
        before_points = subtotal - bill.tier_discount_cents - bill.coupon_discount_cents
        assert bill.points_value_cents == points * rule.cents_per_point
        assert bill.points_value_cents <= before_points * rule.max_share_percent // 100

    # rounding: down, to the unit, less than one unit
    assert bill.payable_cents % UNIT[rounding] == 0
    assert 0 <= bill.rounding_cents < UNIT[rounding]

    # line allocations: add up to the fen, no line below zero, tier only on discountable lines
    allocations = bill.line_allocations
    assert [a.line_id for a in allocations] == [line.line_id for line in lines]
    assert sum(a.discount_cents for a in allocations) == bill.discount_cents
    assert sum(a.tier_discount_cents for a in allocations) == bill.tier_discount_cents
    assert sum(a.coupon_discount_cents for a in allocations) == bill.coupon_discount_cents
    assert sum(a.points_cents for a in allocations) == bill.points_value_cents
    assert sum(a.rounding_cents for a in allocations) == bill.rounding_cents
    for allocation, line in zip(allocations, lines, strict=True):
        assert allocation.gross_cents == line.amount_cents
        assert 0 <= allocation.net_cents <= allocation.gross_cents
        assert (
            min(
                allocation.tier_discount_cents,
                allocation.coupon_discount_cents,
                allocation.points_cents,
                allocation.rounding_cents,
            )
            >= 0
        )
        if not line.is_discountable:
            assert allocation.tier_discount_cents == 0

    # the same bill whatever order the coupons arrive in
    shuffled = list(coupons)
    random.Random(len(lines)).shuffle(shuffled)
    assert price(lines, tier, shuffled, points, balance, rule, rounding) == bill


@PROPERTY
@given(
    lines=bill_lines(),
    tier=tiers,
    balance=st.integers(0, 50_000),
    rule=points_rules,
    rounding=roundings,
    extra=st.integers(1, 10_000),
)
def test_asking_for_more_points_than_allowed_is_refused(lines, tier, balance, rule, rounding, extra):
    allowed = price(lines, tier, [], 0, balance, rule, rounding).max_points_redeemable
    asked = allowed + extra
    try:
        price(lines, tier, [], asked, balance, rule, rounding)
    except PricingError as error:
        if rule is None:
            assert error.code == "points_not_accepted"
        else:
            before_points = sum(line.amount_cents for line in lines) - (
                sum(line.amount_cents for line in lines if line.is_discountable)
                * tier.discount_percent
                // 100
                if tier
                else 0
            )
            limit = before_points * rule.max_share_percent // 100 // rule.cents_per_point
            assert error.code == ("points_exceed_limit" if asked > limit else "insufficient_points")
            assert asked > balance or asked > limit
    else:
        raise AssertionError(f"{asked} points accepted, max was {allowed}")


@PROPERTY
@given(weights=st.lists(st.integers(0, 100_000), max_size=10), data=st.data())
def test_allocate_never_loses_a_fen_nor_overfills(weights, data):
    total = data.draw(st.integers(0, sum(weights)), label="total")
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(0 <= part <= weight for part, weight in zip(parts, weights, strict=True))
    # each part is within one fen of its exact share
    if total:
        assert all(
            abs(part * sum(weights) - total * weight) < sum(weights)
            for part, weight in zip(parts, weights, strict=True)
        )
