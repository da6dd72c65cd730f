"""Coupon discounts never exceed what they apply to, checked with hypothesis."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tablerules.coupons import CouponKind, CouponLine, CouponTemplate, coupon_discount, discount_lines

PROPERTY = settings(max_examples=300, deadline=None)
scopes = st.none() | st.frozensets(st.integers(1, 5), min_size=1, max_size=3)


@st.composite
def templates(draw) -> CouponTemplate:
    kind = draw(st.sampled_from(CouponKind))
    common = dict(id=1, kind=kind, valid_days=7, min_spend_cents=draw(st.integers(0, 20_000)))
    if kind is CouponKind.CASH:
        return CouponTemplate(
            value_cents=draw(st.integers(1, 50_000)),
            category_ids=draw(scopes),
            dish_ids=draw(scopes),
            **common,
        )
    if kind is CouponKind.PERCENT:
        return CouponTemplate(
            percent_off=draw(st.integers(1, 99)),
            cap_cents=draw(st.none() | st.integers(1, 9_999)),
            category_ids=draw(scopes),
            dish_ids=draw(scopes),
            **common,
        )
    return CouponTemplate(dish_id=draw(st.integers(1, 5)), **common)


@st.composite
def coupon_lines(draw) -> list[CouponLine]:
    return [
        CouponLine(
            line_id=i,
            dish_id=draw(st.integers(1, 5)),
            category_id=draw(st.sampled_from([1, 2, 3, None])),
            qty=draw(st.integers(1, 5)),
            amount_cents=draw(st.integers(0, 40_000)),
        )
        for i in range(draw(st.integers(0, 6)))
    ]


@PROPERTY
@given(template=templates(), lines=coupon_lines())
def test_discount_stays_within_the_lines_it_applies_to(template, lines):
    discount = coupon_discount(template, lines)
    targets = discount_lines(template, lines)
    assert 0 <= discount <= sum(line.amount_cents for line in targets)
    if template.kind is CouponKind.CASH:
        assert discount <= template.value_cents
    if template.kind is CouponKind.PERCENT:
        assert discount * 100 <= sum(line.amount_cents for line in targets) * template.percent_off
        assert template.cap_cents is None or discount <= template.cap_cents
    if template.kind is CouponKind.FREE_DISH:
        assert len(targets) <= 1
        assert all(discount <= line.amount_cents // line.qty for line in targets)
