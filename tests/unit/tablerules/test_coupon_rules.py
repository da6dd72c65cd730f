"""Coupon templates, issue, eligibility, discount, transfer and labels."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tablerules.coupons import (
    ELIGIBILITY_REASONS,
    TRANSFER_REASONS,
    Allowed,
    CouponKind,
    CouponLine,
    CouponState,
    CouponTemplate,
    Eligible,
    Ineligible,
    IssuedCoupon,
    Refused,
    can_issue,
    can_restore,
    can_transfer,
    coupon_discount,
    coupon_expiry,
    describe,
    discount_lines,
    eligibility,
    is_due_to_expire,
    issue,
    lines_in_scope,
    transfer,
)
from tablerules.money import zhe

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MEMBER = 7
OTHER = 8


def template(**overrides) -> CouponTemplate:
    values = dict(id=1, kind=CouponKind.CASH, value_cents=2000, min_spend_cents=10000, valid_days=30)
    values.update(overrides)
    return CouponTemplate(**values)


def coupon(tpl: CouponTemplate | None = None, **overrides) -> IssuedCoupon:
    values = dict(
        id=100,
        template=tpl or template(),
        member_id=MEMBER,
        state=CouponState.ISSUED,
        issued_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=29),
    )
    values.update(overrides)
    return IssuedCoupon(**values)


def line(line_id=1, dish_id=10, category_id=1, qty=1, amount_cents=5000) -> CouponLine:
    return CouponLine(
        line_id=line_id, dish_id=dish_id, category_id=category_id, qty=qty, amount_cents=amount_cents
    )


BILL = [
    line(1, dish_id=10, category_id=1, amount_cents=6000),
    line(2, dish_id=11, category_id=1, qty=2, amount_cents=4000),
    line(3, dish_id=20, category_id=2, amount_cents=2500),
]


# --- templates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        dict(value_cents=0),
        dict(kind=CouponKind.PERCENT, value_cents=0, percent_off=0),
        dict(kind=CouponKind.PERCENT, value_cents=0, percent_off=100),
        dict(kind=CouponKind.PERCENT, value_cents=0, percent_off=None),
        dict(kind=CouponKind.PERCENT, value_cents=0, percent_off=10, cap_cents=0),
        dict(kind=CouponKind.FREE_DISH, value_cents=0),
        dict(kind=CouponKind.FREE_DISH, value_cents=0, dish_id=10, category_ids=frozenset({1})),
        dict(dish_id=10),
        dict(percent_off=10),
        dict(min_spend_cents=-1),
        dict(category_ids=frozenset()),
        dict(dish_ids=frozenset()),
        dict(valid_days=None),
        dict(valid_days=0),
        dict(valid_from=NOW, valid_until=NOW),
        dict(per_member_limit=0),
        dict(max_transfer_chain=-1),
    ],
)
def test_invalid_templates_are_refused(overrides):
    with pytest.raises(ValueError, match="invalid coupon template"):
        template(**overrides)


def test_valid_templates_of_each_kind():
    assert template().kind is CouponKind.CASH
    assert template(kind=CouponKind.PERCENT, value_cents=0, percent_off=15, cap_cents=3000).percent_off == 15
    assert template(kind=CouponKind.FREE_DISH, value_cents=0, dish_id=10).dish_id == 10


# --- issue -----------------------------------------------------------------------------------


def test_expiry_relative_absolute_and_both():
    assert coupon_expiry(template(valid_days=7), NOW) == NOW + timedelta(days=7)
    until = NOW + timedelta(days=3)
    assert coupon_expiry(template(valid_days=None, valid_until=until), NOW) == until
    assert coupon_expiry(template(valid_days=7, valid_until=until), NOW) == until
    assert coupon_expiry(template(valid_days=1, valid_until=until), NOW) == NOW + timedelta(days=1)


def test_can_issue_respects_per_member_limit():
    limited = template(per_member_limit=2)
    assert can_issue(limited, 0) == Allowed()
    assert can_issue(limited, 1)
    assert can_issue(limited, 2) == Refused("per_member_limit")
    assert can_issue(template(per_member_limit=None), 10_000)


def test_can_issue_refuses_an_ended_template():
    ended = template(valid_days=None, valid_until=NOW)
    assert can_issue(ended, 0) == Allowed()  # without now, only the limit is checked
    assert can_issue(ended, 0, now=NOW) == Refused("template_ended")
    assert can_issue(ended, 0, now=NOW - timedelta(seconds=1))


def test_issue_builds_a_fresh_instance():
    given = issue(template(valid_days=10), MEMBER, NOW, coupon_id=5)
    assert given == IssuedCoupon(
        id=5,
        template=template(valid_days=10),
        member_id=MEMBER,
        state=CouponState.ISSUED,
        issued_at=NOW,
        expires_at=NOW + timedelta(days=10),
    )
    assert given.transfer_depth == 0


# --- eligibility: every reason ------------------------------------------------------------------


def test_eligible_coupon():
    verdict = eligibility(coupon(), MEMBER, BILL, NOW)
    assert verdict == Eligible()
    assert verdict


def test_not_owner():
    assert eligibility(coupon(), OTHER, BILL, NOW) == Ineligible("not_owner")
    assert eligibility(coupon(), None, BILL, NOW) == Ineligible("not_owner")


@pytest.mark.parametrize("state", [CouponState.REDEEMED, CouponState.TRANSFERRED])
def test_not_active(state):
    verdict = eligibility(coupon(state=state), MEMBER, BILL, NOW)
    assert verdict == Ineligible("not_active")
    assert not verdict


def test_expired_by_state_or_by_time():
    assert eligibility(coupon(state=CouponState.EXPIRED), MEMBER, BILL, NOW) == Ineligible("expired")
    assert eligibility(coupon(expires_at=NOW), MEMBER, BILL, NOW) == Ineligible("expired")
    assert eligibility(coupon(expires_at=NOW + timedelta(seconds=1)), MEMBER, BILL, NOW)


def test_not_yet_valid():
    later = template(
        valid_from=NOW + timedelta(hours=1), valid_days=None, valid_until=NOW + timedelta(days=9)
    )
    assert eligibility(coupon(later), MEMBER, BILL, NOW) == Ineligible("not_yet_valid")
    assert eligibility(coupon(later), MEMBER, BILL, NOW + timedelta(hours=1))


def test_min_spend_not_met_counts_only_the_scope():
    whole_bill = template(min_spend_cents=12500)
    assert eligibility(coupon(whole_bill), MEMBER, BILL, NOW)  # 6000 + 4000 + 2500
    assert eligibility(coupon(template(min_spend_cents=12501)), MEMBER, BILL, NOW) == Ineligible(
        "min_spend_not_met"
    )
    scoped = template(min_spend_cents=10001, category_ids=frozenset({1}))  # category 1 is 10000
    assert eligibility(coupon(scoped), MEMBER, BILL, NOW) == Ineligible("min_spend_not_met")
    assert eligibility(coupon(replace(scoped, min_spend_cents=10000)), MEMBER, BILL, NOW)


def test_no_line_in_scope():
    assert eligibility(
        coupon(template(category_ids=frozenset({9}), min_spend_cents=0)), MEMBER, BILL, NOW
    ) == Ineligible("no_line_in_scope")
    assert eligibility(coupon(template(min_spend_cents=0)), MEMBER, [], NOW) == Ineligible("no_line_in_scope")


def test_free_dish_needs_the_dish_on_the_bill():
    free = template(kind=CouponKind.FREE_DISH, value_cents=0, min_spend_cents=0, dish_id=99)
    assert eligibility(coupon(free), MEMBER, BILL, NOW) == Ineligible("dish_not_on_bill")
    assert eligibility(coupon(replace(free, dish_id=20)), MEMBER, BILL, NOW)


def test_free_dish_min_spend_is_on_the_whole_bill():
    free = template(kind=CouponKind.FREE_DISH, value_cents=0, dish_id=20, min_spend_cents=12501)
    assert eligibility(coupon(free), MEMBER, BILL, NOW) == Ineligible("min_spend_not_met")


def test_every_eligibility_reason_is_listed():
    assert {
        "not_owner",
        "not_active",
        "expired",
        "not_yet_valid",
        "min_spend_not_met",
        "no_line_in_scope",
        "dish_not_on_bill",
    } == ELIGIBILITY_REASONS


# --- scope and discount ------------------------------------------------------------------------


def test_scope_by_category_or_dish():
    tpl = template(category_ids=frozenset({2}), dish_ids=frozenset({11}))
    assert [x.line_id for x in lines_in_scope(tpl, BILL)] == [2, 3]
    assert [x.line_id for x in lines_in_scope(template(), BILL)] == [1, 2, 3]


def test_cash_discount_is_capped_by_scope_amount():
    assert coupon_discount(template(), BILL) == 2000
    small = template(category_ids=frozenset({2}), value_cents=5000)
    assert coupon_discount(small, BILL) == 2500


def test_percent_discount_floors_and_caps():
    pct = template(kind=CouponKind.PERCENT, value_cents=0, percent_off=15)
    assert coupon_discount(pct, BILL) == 1875  # 15% of 12500
    assert coupon_discount(pct, [line(amount_cents=999)]) == 149  # 149.85 floored
    assert coupon_discount(replace(pct, cap_cents=1000), BILL) == 1000


def test_free_dish_takes_one_unit_of_the_dearest_matching_line():
    free = template(kind=CouponKind.FREE_DISH, value_cents=0, min_spend_cents=0, dish_id=11)
    assert coupon_discount(free, BILL) == 2000  # line 2 is 2 x 2000
    two_versions = [
        line(1, dish_id=11, qty=3, amount_cents=3001),
        line(2, dish_id=11, qty=1, amount_cents=900),
    ]
    assert coupon_discount(free, two_versions) == 1000  # floor(3001 / 3)
    assert [x.line_id for x in discount_lines(free, two_versions)] == [1]
    assert coupon_discount(free, []) == 0


def test_discount_of_an_issued_coupon_reads_its_template():
    assert coupon_discount(coupon(), BILL) == coupon_discount(template(), BILL)


# --- transfer ----------------------------------------------------------------------------------


def transferable(**overrides) -> IssuedCoupon:
    return coupon(template(is_transferable=True, max_transfer_chain=2), **overrides)


def test_transfer_allowed():
    assert can_transfer(transferable(), MEMBER, OTHER, NOW) == Allowed()


@pytest.mark.parametrize(
    ("given", "from_member", "to_member", "reason"),
    [
        (transferable(), OTHER, 9, "not_owner"),
        (transferable(), MEMBER, MEMBER, "same_member"),
        (coupon(), MEMBER, OTHER, "not_transferable"),
        (transferable(state=CouponState.REDEEMED), MEMBER, OTHER, "not_active"),
        (transferable(state=CouponState.TRANSFERRED), MEMBER, OTHER, "not_active"),
        (transferable(state=CouponState.EXPIRED), MEMBER, OTHER, "expired"),
        (transferable(expires_at=NOW), MEMBER, OTHER, "expired"),
        (transferable(transfer_depth=2), MEMBER, OTHER, "chain_limit"),
    ],
)
def test_transfer_refused(given, from_member, to_member, reason):
    assert reason in TRANSFER_REASONS
    assert can_transfer(given, from_member, to_member, NOW) == Refused(reason)


def test_transfer_creates_a_linked_instance_with_the_same_expiry():
    original = transferable()
    sent, received = transfer(original, OTHER, NOW, new_coupon_id=101)
    assert sent == replace(original, state=CouponState.TRANSFERRED)
    assert received == IssuedCoupon(
        id=101,
        template=original.template,
        member_id=OTHER,
        state=CouponState.ISSUED,
        issued_at=NOW,
        expires_at=original.expires_at,
        transfer_depth=1,
        transferred_from_id=100,
    )
    assert can_transfer(received, OTHER, 9, NOW)
    _, third = transfer(received, 9, NOW)
    assert can_transfer(third, 9, MEMBER, NOW) == Refused("chain_limit")


# --- refund restore and expiry -----------------------------------------------------------------


def test_restore_only_a_redeemed_coupon_that_is_still_valid():
    assert can_restore(coupon(state=CouponState.REDEEMED), NOW) == Allowed()
    assert can_restore(coupon(state=CouponState.REDEEMED, expires_at=NOW), NOW) == Refused("expired")
    assert can_restore(coupon(), NOW) == Refused("not_redeemed")


def test_due_to_expire():
    assert is_due_to_expire(coupon(expires_at=NOW), NOW)
    assert not is_due_to_expire(coupon(), NOW)
    assert not is_due_to_expire(coupon(state=CouponState.REDEEMED, expires_at=NOW), NOW)


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent_off", "text"), [(12, "8.8"), (10, "9"), (5, "9.5"), (50, "5"), (99, "0.1")]
)
def test_zhe(percent_off, text):
    assert zhe(percent_off) == text


def test_describe():
    assert describe(template()).zh == "满100减20"
    assert describe(template()).en == "¥20 off over ¥100"
    assert describe(template(min_spend_cents=0, value_cents=1550)).zh == "15.50元代金券"
    pct = template(kind=CouponKind.PERCENT, value_cents=0, percent_off=12, cap_cents=5000, min_spend_cents=0)
    assert describe(pct).zh == "8.8折券（最高减50元）"
    assert describe(pct).en == "12% off (up to ¥50)"
    free = template(kind=CouponKind.FREE_DISH, value_cents=0, dish_id=1, min_spend_cents=8800)
    assert describe(free).zh == "满88赠菜"
    assert describe(replace(free, name="生日赠长寿面")).zh == "生日赠长寿面"


def test_stored_strings_are_accepted_for_kind_and_state():
    assert template(kind="cash").kind is CouponKind.CASH
    assert coupon(state="redeemed").state is CouponState.REDEEMED
    assert eligibility(coupon(state="expired"), MEMBER, BILL, NOW) == Ineligible("expired")
    with pytest.raises(ValueError):
        coupon(state="lost")
