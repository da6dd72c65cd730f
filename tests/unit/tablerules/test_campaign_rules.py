"""Campaign rules: statuses, the hold-out draw, quiet hours, the funnel's ROI."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablerules import campaigns as rules
from tablerules.campaigns import Event, Funnel, GroupFigures, QuietHours, Status


def test_statuses_move_only_along_the_table():
    assert rules.transition(Status.DRAFT, Event.START) is Status.SENDING
    assert rules.transition("scheduled", "cancel") is Status.CANCELLED
    assert rules.transition(Status.SENDING, Event.FINISH) is Status.SENT
    for status, event in ((Status.SENT, Event.START), (Status.SENDING, Event.CANCEL), (Status.ACTIVE, Event.START),
                          (Status.CANCELLED, Event.SCHEDULE), ("nonsense", Event.START)):
        with pytest.raises(rules.IllegalTransition):
            rules.transition(status, event)


def test_holdout_is_deterministic_and_near_its_share():
    picked = [m for m in range(1, 10_001) if rules.is_held_out("7:42", m, 20)]
    assert picked == [m for m in range(1, 10_001) if rules.is_held_out("7:42", m, 20)]
    assert 1_850 <= len(picked) <= 2_150
    assert not any(rules.is_held_out("7:42", m, 0) for m in range(1, 1000))
    other = {m for m in range(1, 10_001) if rules.is_held_out("7:43", m, 20)}
    assert other != set(picked)  # each campaign draws its own group


@given(st.integers(min_value=1, max_value=2**31), st.integers(min_value=1, max_value=49))
def test_a_bigger_share_holds_out_everyone_a_smaller_one_did(member_id, percent):
    if rules.is_held_out("s", member_id, percent):
        assert rules.is_held_out("s", member_id, percent + 1)


QUIET = QuietHours(time(22), time(8))


@pytest.mark.parametrize(("utc", "expected"), [
    (datetime(2026, 11, 28, 15, 30, tzinfo=UTC), datetime(2026, 11, 29, 0, 0, tzinfo=UTC)),  # 23:30 → 08:00
    (datetime(2026, 11, 28, 18, 0, tzinfo=UTC), datetime(2026, 11, 29, 0, 0, tzinfo=UTC)),  # 02:00 → 08:00
    (datetime(2026, 11, 29, 0, 0, tzinfo=UTC), datetime(2026, 11, 29, 0, 0, tzinfo=UTC)),  # 08:00: may send
    (datetime(2026, 11, 29, 5, 0, tzinfo=UTC), datetime(2026, 11, 29, 5, 0, tzinfo=UTC)),  # 13:00
    (datetime(2026, 11, 29, 13, 59, tzinfo=UTC), datetime(2026, 11, 29, 13, 59, tzinfo=UTC)),  # 21:59
])
def test_quiet_hours_across_midnight(utc, expected):
    assert rules.release_at(utc, QUIET) == expected
    assert rules.release_at(utc, None) == utc


def test_quiet_hours_within_a_day():
    lunch = QuietHours(time(12), time(14))
    assert rules.release_at(datetime(2026, 11, 29, 4, 30, tzinfo=UTC), lunch) == datetime(2026, 11, 29, 6, 0,
                                                                                          tzinfo=UTC)
    with pytest.raises(ValueError):
        QuietHours(time(9), time(9))


def test_roi_against_the_holdout():
    funnel = Funnel(sent=GroupFigures(members=80, visited=30, paid=24, revenue_cents=240_000), opened=50,
                    coupons_issued=80, coupons_redeemed=10, coupon_cost_cents=20_000,
                    holdout=GroupFigures(members=20, visited=4, paid=3, revenue_cents=30_000))
    assert funnel.incremental_revenue_cents == 240_000 - 30_000 * 80 // 20
    assert funnel.roi_permille == (120_000 - 20_000) * 1000 // 20_000 == 5_000
    assert funnel.uplift_permille == 300 - 150 and funnel.open_rate_permille == 625
    no_holdout = Funnel(sent=funnel.sent, opened=0, coupons_issued=0, coupons_redeemed=0, coupon_cost_cents=0,
                        holdout=None)
    assert no_holdout.incremental_revenue_cents == 240_000 and no_holdout.roi_permille is None
    assert no_holdout.uplift_permille is None
