"""price_bill on concrete bills: the worked example, each step on its own, and every error code."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tablerules.coupons import CouponKind, CouponState, CouponTemplate, IssuedCoupon
from tablerules.pricing import (
    BillLine,
    BillStep,
    PointsRedeemRule,
    PricingError,
    Rounding,
    TierDiscount,
    allocate,
    price_bill,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MEMBER = 7

KUNG_PAO = BillLine(
    line_id=1, dish_id=10, category_id=1, name="宫保鸡丁", unit_price_cents=3800, qty=1, is_discountable=True
)
FISH = BillLine(
    line_id=2, dish_id=11, category_id=1, name="水煮鱼", unit_price_cents=8800, qty=1, is_discountable=True
)
BEER = BillLine(
    line_id=3, dish_id=20, category_id=2, name="啤酒", unit_price_cents=1200, qty=2, is_discountable=False
)
DINNER = [KUNG_PAO, FISH, BEER]  # 3800 + 8800 + 2400 = 15000

GOLD = TierDiscount(name="金卡", discount_percent=12)  # 8.8折
POINTS_RULE = PointsRedeemRule(cents_per_point=1, max_share_percent=50)


def cash_template(**overrides) -> CouponTemplate:
    values = dict(id=1, kind=CouponKind.CASH, value_cents=2000, min_spend_cents=10000, valid_days=30)
    values.update(overrides)
    return CouponTemplate(**values)


def coupon(tpl: CouponTemplate | None = None, coupon_id: int = 100, **overrides) -> IssuedCoupon:
    values = dict(
        id=coupon_id,
        template=tpl or cash_template(),
        member_id=MEMBER,
        state=CouponState.ISSUED,
        issued_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=29),
    )
    values.update(overrides)
    return IssuedCoupon(**values)


def price(
    lines=DINNER,
    *,
    tier=None,
    coupons=(),
    member_id=MEMBER,
    points=0,
    balance=0,
    points_rule=POINTS_RULE,
    rounding=Rounding.NONE,
    now=NOW,
):
    return price_bill(
        lines,
        tier=tier,
        coupons=coupons,
        member_id=member_id,
        points_to_redeem=points,
        points_balance=balance,
        points_rule=points_rule,
        rounding=rounding,
        now=now,
    )


def check_consistent(bill):
    assert bill.steps[0].kind == "subtotal"
    assert bill.steps[-1].kind == "payable"
    assert bill.steps[0].amount_cents + sum(s.amount_cents for s in bill.steps[1:-1]) == bill.payable_cents
    assert bill.steps[-1].amount_cents == bill.payable_cents
    assert bill.discount_cents == bill.subtotal_cents - bill.payable_cents
    assert sum(a.discount_cents for a in bill.line_allocations) == bill.discount_cents
    assert sum(a.net_cents for a in bill.line_allocations) == bill.payable_cents


def test_the_worked_example():
    """3 dishes, 8.8折 on discountable ones, 满100减20, 500 points, 抹零到元."""
    bill = price(tier=GOLD, coupons=[coupon()], points=500, balance=800, rounding=Rounding.TO_YUAN)

    assert bill.subtotal_cents == 15000
    assert bill.tier_discount_cents == 1512  # 12% of 12600 (the beer is not discountable)
    assert bill.coupon_discount_cents == 2000  # 13488 after the tier discount meets the 10000 min spend
    assert bill.points_redeemed == 500
    assert bill.points_value_cents == 500
    assert bill.rounding_cents == 88  # 10988 -> 10900
    assert bill.payable_cents == 10900
    assert bill.discount_cents == 1512 + 2000 + 500 + 88
    assert bill.coupon_ids_used == (100,)
    assert bill.max_points_redeemable == 800  # balance; the share cap is 5744
    assert bill.steps == (
        BillStep("subtotal", "小计", "Subtotal", 15000),
        BillStep("tier_discount", "会员折扣（金卡 8.8折）", "Member discount (金卡, 12% off)", -1512),
        BillStep("coupon", "优惠券：满100减20", "Coupon: ¥20 off over ¥100", -2000, 100),
        BillStep("points", "积分抵扣（500积分）", "Points (500 pts)", -500, 500),
        BillStep("rounding", "抹零", "Rounding (to yuan)", -88),
        BillStep("payable", "应付", "Payable", 10900),
    )
    by_line = {a.line_id: a for a in bill.line_allocations}
    assert by_line[1].tier_discount_cents == 456  # 1512 * 3800 / 12600
    assert by_line[2].tier_discount_cents == 1056
    assert by_line[3].tier_discount_cents == 0
    check_consistent(bill)


def test_to_dict_has_the_api_shape():
    body = price(tier=GOLD, coupons=[coupon()], points=500, balance=800, rounding=Rounding.TO_YUAN).to_dict()
    assert body["subtotal_cents"] == 15000
    assert body["discount_cents"] == 4100
    assert body["payable_cents"] == 10900
    assert body["lines"][2] == {
        "kind": "coupon",
        "label": "优惠券：满100减20",
        "label_en": "Coupon: ¥20 off over ¥100",
        "amount_cents": -2000,
        "ref": 100,
    }
    assert [step["kind"] for step in body["lines"]] == [
        "subtotal",
        "tier_discount",
        "coupon",
        "points",
        "rounding",
        "payable",
    ]
    assert body["coupon_ids_used"] == [100]
    assert body["points_redeemed"] == 500
    assert sum(a["net_cents"] for a in body["line_allocations"]) == 10900
    assert set(body["line_allocations"][0]) == {
        "line_id",
        "gross_cents",
        "tier_discount_cents",
        "coupon_discount_cents",
        "points_cents",
        "rounding_cents",
        "discount_cents",
        "net_cents",
    }


def test_plain_bill_has_only_subtotal_and_payable():
    bill = price(member_id=None, points_rule=None)
    assert [s.kind for s in bill.steps] == ["subtotal", "payable"]
    assert bill.payable_cents == bill.subtotal_cents == 15000
    assert bill.discount_cents == 0
    assert bill.max_points_redeemable == 0


def test_empty_bill():
    bill = price([], rounding=Rounding.TO_YUAN)
    assert bill.payable_cents == 0
    assert bill.line_allocations == ()


def test_tier_discount_only_on_discountable_lines_and_floored():
    bill = price([replace(KUNG_PAO, unit_price_cents=999), BEER], tier=GOLD)
    assert bill.tier_discount_cents == 119  # 12% of 999 = 119.88, floored
    assert bill.line_allocations[1].tier_discount_cents == 0
    check_consistent(bill)


def test_tier_of_zero_or_no_discountable_line_adds_no_step():
    assert [s.kind for s in price(tier=TierDiscount("普通", 0)).steps] == ["subtotal", "payable"]
    assert [s.kind for s in price([BEER], tier=GOLD).steps] == ["subtotal", "payable"]


def test_full_tier_discount_is_labelled_free():
    bill = price([KUNG_PAO], tier=TierDiscount("股东", 100))
    assert bill.steps[1].label_zh == "会员折扣（股东 免单）"
    assert bill.payable_cents == 0


def test_min_spend_is_measured_after_the_tier_discount():
    # 12600 discountable -> 11088 after 8.8折; a 满120 voucher no longer qualifies.
    with pytest.raises(PricingError) as raised:
        price([KUNG_PAO, FISH], tier=GOLD, coupons=[coupon(cash_template(min_spend_cents=12000))])
    assert raised.value.code == "min_spend_not_met"
    assert (
        price([KUNG_PAO, FISH], coupons=[coupon(cash_template(min_spend_cents=12000))]).payable_cents == 10600
    )


def test_scoped_coupon_comes_off_its_scope_only():
    drinks = cash_template(value_cents=5000, min_spend_cents=0, category_ids=frozenset({2}))
    bill = price(coupons=[coupon(drinks)])
    assert bill.coupon_discount_cents == 2400  # capped by the beer line
    assert [a.coupon_discount_cents for a in bill.line_allocations] == [0, 0, 2400]
    check_consistent(bill)


def test_percent_coupon_with_cap():
    pct = cash_template(
        kind=CouponKind.PERCENT, value_cents=0, percent_off=20, cap_cents=2500, min_spend_cents=0
    )
    assert price(coupons=[coupon(pct)]).coupon_discount_cents == 2500
    assert price([KUNG_PAO], coupons=[coupon(pct)]).coupon_discount_cents == 760


def test_free_dish_coupon_frees_one_unit_after_the_tier_discount():
    free_beer = cash_template(kind=CouponKind.FREE_DISH, value_cents=0, min_spend_cents=0, dish_id=20)
    bill = price(coupons=[coupon(free_beer)])
    assert bill.coupon_discount_cents == 1200
    assert [a.coupon_discount_cents for a in bill.line_allocations] == [0, 0, 1200]
    free_fish = replace(free_beer, dish_id=11)
    assert price(tier=GOLD, coupons=[coupon(free_fish)]).coupon_discount_cents == 7744  # 8800 * 0.88


def test_stacked_coupons_apply_in_a_fixed_order():
    stackable_cash = cash_template(is_stackable=True)
    stackable_pct = cash_template(
        id=2, kind=CouponKind.PERCENT, value_cents=0, percent_off=10, min_spend_cents=0, is_stackable=True
    )
    a, b = coupon(stackable_cash, 100), coupon(stackable_pct, 101)
    bill = price(coupons=[a, b])
    assert bill.coupon_ids_used == (101, 100)  # percent before cash
    assert bill.coupon_discount_cents == 1500 + 2000
    assert price(coupons=[b, a]) == bill
    check_consistent(bill)


def test_two_instances_of_a_stackable_template():
    tpl = cash_template(is_stackable=True, min_spend_cents=0, value_cents=1000)
    bill = price(coupons=[coupon(tpl, 101), coupon(tpl, 100)])
    assert bill.coupon_ids_used == (100, 101)
    assert bill.coupon_discount_cents == 2000


def test_points_are_capped_by_share_then_balance():
    bill = price(points=7500, balance=10000)  # 50% of 15000
    assert bill.points_value_cents == 7500
    assert bill.max_points_redeemable == 7500
    with pytest.raises(PricingError) as raised:
        price(points=7501, balance=10000)
    assert raised.value.code == "points_exceed_limit"
    assert raised.value.details == {"requested": 7501, "max_points": 7500}
    with pytest.raises(PricingError) as raised:
        price(points=7000, balance=6999)
    assert raised.value.code == "insufficient_points"
    assert raised.value.details == {"requested": 7000, "balance": 6999}


def test_points_share_is_of_the_amount_after_coupons():
    bill = price(coupons=[coupon()], points=6500, balance=10000)  # (15000 - 2000) * 50%
    assert bill.points_value_cents == 6500
    with pytest.raises(PricingError, match="More points"):
        price(coupons=[coupon()], points=6501, balance=10000)


def test_points_rate_other_than_one_fen():
    rule = PointsRedeemRule(cents_per_point=10, max_share_percent=100)  # 10 points = 1 yuan
    bill = price([KUNG_PAO], points=379, balance=1000, points_rule=rule)
    assert bill.points_value_cents == 3790
    assert bill.payable_cents == 10
    assert bill.max_points_redeemable == 380
    # whole points only: 3800 fen allow 380 points, never a fraction
    with pytest.raises(PricingError) as raised:
        price([replace(KUNG_PAO, unit_price_cents=3805)], points=381, balance=1000, points_rule=rule)
    assert raised.value.code == "points_exceed_limit"


def test_rule_limit_is_checked_before_the_balance():
    with pytest.raises(PricingError) as raised:
        price(points=9000, balance=10)
    assert raised.value.code == "points_exceed_limit"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        (dict(points=-1), "invalid_points"),
        (dict(points=10, member_id=None, balance=100), "member_required"),
        (dict(points=10, points_rule=None, balance=100), "points_not_accepted"),
        (
            dict(points=10, points_rule=PointsRedeemRule(max_share_percent=0), balance=100),
            "points_exceed_limit",
        ),
    ],
)
def test_points_errors(kwargs, code):
    with pytest.raises(PricingError) as raised:
        price(**kwargs)
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("rounding", "payable", "rounded"),
    [(Rounding.NONE, 12345, 0), (Rounding.TO_JIAO, 12340, 5), (Rounding.TO_YUAN, 12300, 45)],
)
def test_rounding_goes_down(rounding, payable, rounded):
    odd = [replace(KUNG_PAO, unit_price_cents=12345)]
    bill = price(odd, rounding=rounding)
    assert (bill.payable_cents, bill.rounding_cents) == (payable, rounded)
    assert ("rounding" in [s.kind for s in bill.steps]) == bool(rounded)


def test_rounding_accepts_the_string_value():
    assert price([replace(KUNG_PAO, unit_price_cents=1234)], rounding="to_jiao").payable_cents == 1230


def test_rounding_a_bill_under_one_yuan():
    assert price([replace(KUNG_PAO, unit_price_cents=99)], rounding=Rounding.TO_YUAN).payable_cents == 0


# --- coupon errors: every eligibility reason reaches the caller with the coupon id ------------------


@pytest.mark.parametrize(
    ("given", "member_id", "code"),
    [
        (coupon(), 8, "not_owner"),
        (coupon(), None, "not_owner"),
        (coupon(state=CouponState.REDEEMED), MEMBER, "not_active"),
        (coupon(state=CouponState.TRANSFERRED), MEMBER, "not_active"),
        (coupon(state=CouponState.EXPIRED), MEMBER, "expired"),
        (coupon(expires_at=NOW), MEMBER, "expired"),
        (coupon(cash_template(valid_from=NOW + timedelta(days=1))), MEMBER, "not_yet_valid"),
        (coupon(cash_template(min_spend_cents=15001)), MEMBER, "min_spend_not_met"),
        (coupon(cash_template(category_ids=frozenset({9}))), MEMBER, "no_line_in_scope"),
        (
            coupon(cash_template(kind=CouponKind.FREE_DISH, value_cents=0, dish_id=99)),
            MEMBER,
            "dish_not_on_bill",
        ),
    ],
)
def test_ineligible_coupon(given, member_id, code):
    with pytest.raises(PricingError) as raised:
        price(coupons=[given], member_id=member_id)
    assert raised.value.code == code
    assert raised.value.coupon_id == 100
    assert raised.value.details == {"coupon_id": 100}


def test_same_coupon_twice():
    tpl = cash_template(is_stackable=True)
    with pytest.raises(PricingError) as raised:
        price(coupons=[coupon(tpl), coupon(tpl)])
    assert (raised.value.code, raised.value.coupon_id) == ("duplicate_coupon", 100)


def test_two_coupons_need_every_one_stackable():
    with pytest.raises(PricingError) as raised:
        price(coupons=[coupon(cash_template(is_stackable=True), 100), coupon(cash_template(id=2), 101)])
    assert (raised.value.code, raised.value.coupon_id) == ("coupons_not_stackable", 101)


def test_a_coupon_that_takes_nothing_off_is_not_spent():
    free_tea = cash_template(kind=CouponKind.FREE_DISH, value_cents=0, min_spend_cents=0, dish_id=30)
    tea = BillLine(line_id=4, dish_id=30, category_id=2, name="茶位", unit_price_cents=0, qty=2)
    with pytest.raises(PricingError) as raised:
        price([KUNG_PAO, tea], coupons=[coupon(free_tea)])
    assert raised.value.code == "coupon_no_discount"


# --- inputs that are programming errors ----------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: replace(KUNG_PAO, qty=0),
        lambda: replace(KUNG_PAO, unit_price_cents=-1),
        lambda: TierDiscount("x", 101),
        lambda: TierDiscount("x", -1),
        lambda: PointsRedeemRule(cents_per_point=0),
        lambda: PointsRedeemRule(max_share_percent=101),
    ],
)
def test_invalid_inputs_raise_value_error(build):
    with pytest.raises(ValueError):
        build()


def test_duplicate_line_ids_raise_value_error():
    with pytest.raises(ValueError, match="unique"):
        price([KUNG_PAO, KUNG_PAO])


# --- allocate ------------------------------------------------------------------------------------


def test_allocate_by_largest_remainder():
    assert allocate(10, [10, 10, 10]) == [4, 3, 3]
    assert allocate(2000, [3344, 7744, 2400]) == [496, 1148, 356]
    assert allocate(0, []) == []
    assert allocate(5, [0, 5]) == [0, 5]
    with pytest.raises(ValueError):
        allocate(6, [5])
