"""Points: earning, lot expiry, FIFO redemption, expiry runs and refund reversal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablerules.members import (
    CHINA_TZ,
    ExpiryKind,
    InsufficientPoints,
    LotPoints,
    PointsEarnRule,
    PointsExpiryRule,
    PointsLot,
    eligible_cents,
    fifo_key,
    lot_expiry,
    plan_expiry,
    plan_redemption,
    plan_redemption_return,
    plan_reversal,
    points_earned,
    points_to_reverse,
    usable_points,
)

EARN = PointsEarnRule(points_per_yuan=1, earning_tenders=frozenset({"cash", "wechat", "stored_value"}))
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=CHINA_TZ)


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def lot(lot_id: int, points: int, expires_at: datetime | None) -> PointsLot:
    return PointsLot(lot_id, points, bj(2024, 1, 1), expires_at)


class TestEarning:
    def test_bill_paid_by_wechat_and_cash(self):
        # 288.50 paid 200.00 by WeChat + 88.50 cash: one floor over the sum.
        assert points_earned(EARN, [("wechat", 20000), ("cash", 8850)], 100) == 288

    def test_tier_multiplier_acts_on_the_exact_amount(self):
        assert points_earned(EARN, [("wechat", 9999)], 150) == 149  # 149.985 -> 149
        assert points_earned(EARN, [("wechat", 28850)], 150) == 432  # 432.75 -> 432

    def test_non_earning_tenders_do_not_count(self):
        tenders = [("coupon", 3000), ("points", 500), ("cash", 6500)]
        assert eligible_cents(EARN, tenders) == 6500
        assert points_earned(EARN, tenders, 100) == 65

    def test_less_than_a_yuan_earns_nothing(self):
        assert points_earned(EARN, [("cash", 99)], 100) == 0
        assert points_earned(EARN, [("cash", 1)], 100) == 0
        assert points_earned(EARN, [], 100) == 0

    def test_points_per_yuan_and_huge_amounts(self):
        rule = PointsEarnRule(2, frozenset({"cash"}))
        assert points_earned(rule, [("cash", 10**12)], 200) == 4 * 10**10

    def test_earning_tenders_accept_any_iterable(self):
        rule = PointsEarnRule(1, {"cash"})  # type: ignore[arg-type]
        assert rule.earning_tenders == frozenset({"cash"})

    @pytest.mark.parametrize(
        ("tenders", "multiplier"), [([("cash", -1)], 100), ([("cash", 100)], -1)]
    )
    def test_negative_inputs_are_refused(self, tenders, multiplier):
        with pytest.raises(ValueError):
            points_earned(EARN, tenders, multiplier)

    def test_negative_rate_is_refused(self):
        with pytest.raises(ValueError):
            PointsEarnRule(-1, frozenset())

    @given(
        parts=st.lists(st.integers(0, 10**9), max_size=6),
        multiplier=st.integers(0, 500),
    )
    def test_splitting_the_payment_does_not_change_the_points(self, parts, multiplier):
        kinds = ["cash", "wechat", "stored_value"]
        split = [(kinds[i % 3], amount) for i, amount in enumerate(parts)]
        whole = points_earned(EARN, [("cash", sum(parts))], multiplier)
        assert points_earned(EARN, split, multiplier) == whole


class TestPointsToReverse:
    PAID = [("wechat", 10000), ("cash", 5000), ("coupon", 2000)]

    def test_full_refund_takes_back_everything(self):
        earned = points_earned(EARN, self.PAID, 150)
        assert earned == 225
        assert points_to_reverse(EARN, self.PAID, self.PAID, 150) == 225

    def test_partial_refund_takes_back_the_difference(self):
        # Still paid 116.67 earning floor(175.005) = 175, so 50 go back.
        assert points_to_reverse(EARN, self.PAID, [("cash", 3333)], 150) == 50

    def test_refunding_a_non_earning_tender_takes_nothing(self):
        assert points_to_reverse(EARN, self.PAID, [("coupon", 2000)], 150) == 0

    def test_refunding_more_than_paid_is_refused(self):
        with pytest.raises(ValueError):
            points_to_reverse(EARN, self.PAID, [("cash", 5001)], 150)
        with pytest.raises(ValueError):
            points_to_reverse(EARN, self.PAID, [("alipay", 1)], 150)

    @given(
        paid=st.integers(0, 10**10),
        cuts=st.lists(st.integers(0, 10**10), max_size=5),
        multiplier=st.integers(0, 300),
    )
    def test_cumulative_reversal_grows_and_ends_at_all_earned(self, paid, cuts, multiplier):
        refunded, previous = 0, 0
        for cut in cuts:
            refunded = min(paid, refunded + cut)
            total = points_to_reverse(EARN, [("cash", paid)], [("cash", refunded)], multiplier)
            assert previous <= total
            previous = total
        earned = points_earned(EARN, [("cash", paid)], multiplier)
        assert points_to_reverse(EARN, [("cash", paid)], [("cash", paid)], multiplier) == earned


class TestLotExpiry:
    def test_days(self):
        earned = datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
        rule = PointsExpiryRule(ExpiryKind.DAYS, days=365)
        assert lot_expiry(earned, rule) == datetime(2025, 3, 5, 2, 0, tzinfo=UTC)

    def test_end_of_year_after(self):
        rule = PointsExpiryRule("end_of_year_after")  # type: ignore[arg-type]
        assert rule.kind is ExpiryKind.END_OF_YEAR_AFTER
        expires = lot_expiry(bj(2024, 3, 5, 19, 30), rule)
        assert expires == bj(2026, 1, 1) == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
        assert expires is not None and expires.tzinfo is UTC

    def test_calendar_rules_use_beijing_time(self):
        # 2024-12-31 17:00 UTC is already 2025-01-01 01:00 in Beijing: earned in 2025.
        earned = datetime(2024, 12, 31, 17, 0, tzinfo=UTC)
        assert lot_expiry(earned, PointsExpiryRule(ExpiryKind.END_OF_YEAR_AFTER)) == bj(2027, 1, 1)

    @pytest.mark.parametrize(
        ("earned", "months", "expires"),
        [
            (bj(2024, 3, 5), 12, bj(2025, 4, 1)),  # usable through 2025-03-31
            (bj(2024, 12, 15), 12, bj(2026, 1, 1)),
            (bj(2024, 1, 31, 23, 59), 1, bj(2024, 3, 1)),
            (bj(2024, 11, 1), 1, bj(2025, 1, 1)),
        ],
    )
    def test_end_of_month_after(self, earned, months, expires):
        assert lot_expiry(earned, PointsExpiryRule(ExpiryKind.END_OF_MONTH_AFTER, months=months)) == expires

    def test_never(self):
        assert lot_expiry(NOW, PointsExpiryRule(ExpiryKind.NEVER)) is None

    def test_naive_time_is_refused(self):
        with pytest.raises(ValueError):
            lot_expiry(datetime(2024, 3, 5), PointsExpiryRule(ExpiryKind.NEVER))

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"kind": "days"},
            {"kind": "days", "days": 0},
            {"kind": "days", "days": 30, "months": 1},
            {"kind": "end_of_month_after"},
            {"kind": "end_of_month_after", "months": -1},
            {"kind": "end_of_year_after", "days": 30},
            {"kind": "never", "months": 12},
            {"kind": "weekly"},
        ],
    )
    def test_invalid_rules_are_refused(self, kwargs):
        with pytest.raises(ValueError):
            PointsExpiryRule(**kwargs)


class TestLots:
    def test_naive_lot_times_are_refused(self):
        with pytest.raises(ValueError):
            PointsLot(1, 10, datetime(2024, 1, 1), None)
        with pytest.raises(ValueError):
            PointsLot(1, 10, bj(2024, 1, 1), datetime(2025, 1, 1))

    def test_negative_remaining_is_refused(self):
        with pytest.raises(ValueError):
            lot(1, -1, None)

    def test_expiry_instant_is_exclusive(self):
        expiring = lot(1, 10, NOW)
        assert expiring.is_usable(NOW - timedelta(microseconds=1))
        assert expiring.is_expired(NOW) and not expiring.is_usable(NOW)


class TestRedemption:
    LOTS = [
        lot(3, 500, None),  # never expires: last
        lot(2, 300, bj(2025, 12, 31)),
        lot(1, 200, bj(2025, 9, 1)),
        lot(4, 100, bj(2025, 5, 1)),  # expired
        lot(5, 0, bj(2025, 7, 1)),  # empty
    ]

    def test_oldest_expiry_first(self):
        assert plan_redemption(self.LOTS, 350, NOW) == [(1, 200), (2, 150)]

    def test_never_expiring_lots_come_last(self):
        plan = plan_redemption(self.LOTS, 1000, NOW)
        assert plan == [LotPoints(1, 200), LotPoints(2, 300), LotPoints(3, 500)]
        assert plan[0].lot_id == 1 and plan[0].points == 200

    def test_same_expiry_goes_by_id(self):
        lots = [lot(9, 10, bj(2025, 9, 1)), lot(7, 10, bj(2025, 9, 1))]
        assert plan_redemption(lots, 15, NOW) == [(7, 10), (9, 5)]

    def test_insufficient_counts_only_usable_points(self):
        with pytest.raises(InsufficientPoints) as info:
            plan_redemption(self.LOTS, 1001, NOW)
        assert (info.value.requested_points, info.value.available_points) == (1001, 1000)
        assert usable_points(self.LOTS, NOW) == 1000

    def test_nothing_to_redeem(self):
        assert plan_redemption(self.LOTS, 0, NOW) == []
        assert plan_redemption([], 0, NOW) == []
        with pytest.raises(InsufficientPoints):
            plan_redemption([], 1, NOW)

    def test_bad_input_is_refused(self):
        with pytest.raises(ValueError):
            plan_redemption(self.LOTS, -1, NOW)
        with pytest.raises(ValueError):
            plan_redemption([lot(1, 10, None), lot(1, 5, None)], 1, NOW)
        with pytest.raises(ValueError):
            plan_redemption(self.LOTS, 1, datetime(2025, 6, 1))

    def test_expiry_run(self):
        lots = [*self.LOTS, lot(6, 40, bj(2025, 4, 1)), lot(7, 0, bj(2025, 1, 1))]
        assert plan_expiry(lots, NOW) == [(6, 40), (4, 100)]
        assert plan_expiry(lots, bj(2030, 1, 1)) == [(6, 40), (4, 100), (1, 200), (2, 300)]
        assert plan_expiry([], NOW) == []


class TestReversal:
    def test_untouched_lot_gives_back_what_the_order_earned(self):
        lots = [lot(7, 300, bj(2026, 12, 31)), lot(1, 500, bj(2025, 9, 1))]
        plan = plan_reversal([LotPoints(7, 300)], lots, NOW)
        assert plan.takes == ((7, 300),)
        assert plan.shortfall_points == 0 and plan.is_complete and plan.taken_points == 300

    def test_spent_points_are_taken_from_other_lots_fifo(self):
        lots = [lot(7, 180, bj(2026, 12, 31)), lot(2, 50, bj(2025, 12, 31)), lot(1, 40, bj(2025, 9, 1))]
        plan = plan_reversal([LotPoints(7, 300)], lots, NOW)
        assert plan.takes == ((7, 180), (1, 40), (2, 50))
        assert plan.shortfall_points == 30 and not plan.is_complete

    def test_expired_lots_are_not_raided_but_the_orders_own_lot_is(self):
        lots = [lot(7, 100, bj(2025, 5, 1)), lot(8, 100, bj(2025, 5, 1))]
        plan = plan_reversal([LotPoints(7, 150)], lots, NOW)
        assert plan.takes == ((7, 100),) and plan.shortfall_points == 50

    def test_partial_reversal(self):
        lots = [lot(7, 300, None)]
        assert plan_reversal([LotPoints(7, 300)], lots, NOW, points=50).takes == ((7, 50),)
        assert plan_reversal([LotPoints(7, 300)], lots, NOW, points=0).takes == ()

    def test_order_that_earned_in_two_lots(self):
        lots = [lot(7, 10, None), lot(8, 100, None)]
        plan = plan_reversal([LotPoints(7, 60), LotPoints(8, 40)], lots, NOW, points=80)
        # 60 claimed from lot 7 (only 10 left), 20 from lot 8, the 50 missing from lot 8 again.
        assert plan.takes == ((7, 10), (8, 70)) and plan.is_complete

    def test_returned_redemption_covers_spent_earnings(self):
        # The order redeemed 100 from lot 1 and earned 50 into lot 7, which is since spent.
        lots = [lot(1, 0, bj(2025, 12, 31)), lot(7, 0, None)]
        back = plan_redemption_return([LotPoints(1, 100)], lots, NOW)
        assert back.restore == ((1, 100),)
        after = [lot(1, 100, bj(2025, 12, 31)), lot(7, 0, None)]
        plan = plan_reversal([LotPoints(7, 50)], after, NOW)
        assert plan.takes == ((1, 50),) and plan.is_complete

    def test_bad_input_is_refused(self):
        with pytest.raises(ValueError):
            plan_reversal([LotPoints(7, 300)], [lot(1, 10, None)], NOW)  # earned lot not given
        with pytest.raises(ValueError):
            plan_reversal([LotPoints(7, 300)], [lot(7, 300, None)], NOW, points=301)
        with pytest.raises(ValueError):
            plan_reversal([LotPoints(7, -1)], [lot(7, 300, None)], NOW)


class TestRedemptionReturn:
    def test_points_go_back_to_their_lots_or_lapse(self):
        lots = [lot(1, 0, bj(2025, 5, 1)), lot(2, 0, bj(2025, 12, 31)), lot(3, 10, None)]
        back = plan_redemption_return([LotPoints(1, 200), LotPoints(2, 150)], lots, NOW)
        assert back.restore == ((2, 150),)
        assert back.lapsed == ((1, 200),)
        assert back.returned_points == 350

    def test_partial_return_gives_back_the_longest_lived_points_first(self):
        lots = [lot(1, 0, bj(2025, 9, 1)), lot(2, 0, bj(2025, 12, 31)), lot(3, 0, None)]
        redeemed = [LotPoints(1, 100), LotPoints(2, 100), LotPoints(3, 100)]
        back = plan_redemption_return(redeemed, lots, NOW, points=250)
        assert back.restore == ((3, 100), (2, 100), (1, 50)) and back.lapsed == ()

    def test_bad_input_is_refused(self):
        with pytest.raises(ValueError):
            plan_redemption_return([LotPoints(9, 1)], [lot(1, 0, None)], NOW)
        with pytest.raises(ValueError):
            plan_redemption_return([LotPoints(1, 1)], [lot(1, 0, None)], NOW, points=2)


# ---- properties ----------------------------------------------------------------------------

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)


@st.composite
def lot_sets(draw):
    ids = draw(st.lists(st.integers(1, 10**6), unique=True, max_size=12))
    lots = []
    for lot_id in ids:
        expires = draw(st.one_of(st.none(), st.integers(0, 400).map(lambda d: BASE_TIME + timedelta(days=d))))
        lots.append(PointsLot(lot_id, draw(st.integers(0, 10**9)), BASE_TIME - timedelta(days=30), expires))
    return lots


times = st.integers(0, 400).map(lambda d: BASE_TIME + timedelta(days=d))


@given(lots=lot_sets(), now=times, points=st.integers(0, 3 * 10**9))
def test_redemption_takes_oldest_first_and_never_expired(lots, now, points):
    available = sum(x.remaining_points for x in lots if x.is_usable(now))
    if points > available:
        with pytest.raises(InsufficientPoints):
            plan_redemption(lots, points, now)
        return
    plan = plan_redemption(lots, points, now)
    by_id = {x.id: x for x in lots}
    assert sum(p for _, p in plan) == points
    assert len({lot_id for lot_id, _ in plan}) == len(plan)
    for lot_id, taken in plan:
        assert 0 < taken <= by_id[lot_id].remaining_points
        assert by_id[lot_id].is_usable(now)
    # Every usable lot ahead of the last one touched is emptied; none after it is touched.
    usable = sorted((x for x in lots if x.is_usable(now)), key=fifo_key)
    touched = [lot_id for lot_id, _ in plan]
    assert touched == [x.id for x in usable[: len(plan)]]
    for lot_id, taken in plan[:-1]:
        assert taken == by_id[lot_id].remaining_points


@given(lots=lot_sets(), now=times, data=st.data())
def test_reversal_accounts_for_every_point(lots, now, data):
    if not lots:
        return
    earned_lot = data.draw(st.sampled_from(lots))
    earned = data.draw(st.integers(0, 2 * 10**9))
    points = data.draw(st.one_of(st.none(), st.integers(0, earned)))
    plan = plan_reversal([LotPoints(earned_lot.id, earned)], lots, now, points)
    wanted = earned if points is None else points
    assert plan.taken_points + plan.shortfall_points == wanted
    by_id = {x.id: x for x in lots}
    for lot_id, taken in plan.takes:
        assert 0 < taken <= by_id[lot_id].remaining_points
        assert lot_id == earned_lot.id or by_id[lot_id].is_usable(now)
    if plan.shortfall_points:
        # Nothing usable was left behind.
        taken = dict(plan.takes)
        for x in lots:
            if x.is_usable(now) or x.id == earned_lot.id:
                assert taken.get(x.id, 0) == x.remaining_points
