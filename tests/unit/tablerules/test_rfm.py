"""The member pyramid's rule (`tablerules.rfm`): exact layers for a hand-built set, and the
properties every placement keeps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablerules.rfm import (
    FALLBACK,
    LAYERS,
    Figures,
    InvalidThresholds,
    Layer,
    Thresholds,
    classify,
    default_thresholds,
    figures,
    merge_thresholds,
    quantile,
    summarise,
    window_days,
    window_start,
)

YUAN = 100
RULE = Thresholds(active_days=30, lost_days=120, frequent_visits=4, high_spend_cents=1_000 * YUAN,
                  new_member_days=60)


class TestHandBuiltMembers:
    """Eight members, each placed by a different line of the rule."""

    CASES = {
        "regular big spender": (Figures(400, 6, 2_400 * YUAN, 3), Layer.CORE),
        "frequent, modest": (Figures(400, 5, 600 * YUAN, 10), Layer.IMPORTANT),
        "one banquet": (Figures(400, 1, 1_500 * YUAN, 20), Layer.IMPORTANT),
        "two recent visits": (Figures(400, 2, 300 * YUAN, 30), Layer.POTENTIAL),
        "old member, one recent visit": (Figures(400, 1, 200 * YUAN, 5), Layer.POTENTIAL),
        "joined last week, one visit": (Figures(7, 1, 150 * YUAN, 7), Layer.NEW),
        "joined yesterday, not paid yet": (Figures(1, 0, 0, None), Layer.NEW),
        "core a while ago": (Figures(400, 8, 5_000 * YUAN, 31), Layer.DORMANT),
        "gone": (Figures(400, 3, 800 * YUAN, 121), Layer.LOST),
        "joined long ago, never paid": (Figures(500, 0, 0, None), Layer.LOST),
        "joined 90 days ago, never paid": (Figures(90, 0, 0, None), Layer.DORMANT),
    }

    @pytest.mark.parametrize("name", CASES)
    def test_layer(self, name):
        member, layer = self.CASES[name]
        assert classify(member, RULE) is layer

    def test_boundaries_are_inclusive_of_the_better_side(self):
        assert classify(Figures(400, 1, 100, 30), RULE) is Layer.POTENTIAL  # exactly active_days: recent
        assert classify(Figures(400, 1, 100, 120), RULE) is Layer.DORMANT  # exactly lost_days: dormant
        assert classify(Figures(400, 4, 1_000 * YUAN, 0), RULE) is Layer.CORE  # both thresholds reached
        assert classify(Figures(400, 3, 1_000 * YUAN - 1, 0), RULE) is Layer.POTENTIAL
        assert classify(Figures(60, 1, 100, 0), RULE) is Layer.NEW and classify(Figures(61, 1, 100, 0),
                                                                                 RULE) is Layer.POTENTIAL

    def test_summary_of_the_set(self):
        scored = [(classify(m, RULE), m) for m, _layer in self.CASES.values()]
        rows = {row.layer: row for row in summarise(scored)}
        assert [row.layer for row in summarise(scored)] == list(LAYERS)
        assert (rows[Layer.CORE].members, rows[Layer.CORE].visits, rows[Layer.CORE].revenue_cents) == (1, 6, 240_000)
        assert (rows[Layer.IMPORTANT].members, rows[Layer.IMPORTANT].revenue_cents) == (2, 210_000)
        assert rows[Layer.IMPORTANT].avg_spend_per_visit_cents == 35_000  # 2,100 yuan over 6 visits
        assert rows[Layer.IMPORTANT].avg_spend_per_member_cents == 105_000
        total = 240_000 + 210_000 + 50_000 + 15_000 + 500_000 + 80_000
        assert sum(row.revenue_cents for row in rows.values()) == total
        assert rows[Layer.DORMANT].revenue_share_permille == round(1000 * 500_000 / total)
        assert rows[Layer.NEW].members == 2 and rows[Layer.NEW].avg_spend_per_member_cents == 7_500


class TestNamesAndRanks:
    def test_names(self):
        assert [layer.name_zh for layer in LAYERS] == ["核心", "重要", "潜力", "新客", "沉睡", "流失"]
        assert [layer.name_en for layer in LAYERS] == ["Core", "Important", "Potential", "New", "Dormant", "Lost"]

    def test_ranks_fall_down_the_pyramid(self):
        assert [layer.rank for layer in LAYERS] == [6, 5, 4, 3, 2, 1]


class TestThresholdChecks:
    @pytest.mark.parametrize(("change", "field"), [
        ({"active_days": 0}, "active_days"), ({"active_days": 120}, "active_days"),
        ({"lost_days": 400}, "lost_days"), ({"frequent_visits": 1}, "frequent_visits"),
        ({"high_spend_cents": 0}, "high_spend_cents"), ({"new_member_days": 0}, "new_member_days"),
    ])
    def test_bad_thresholds_name_the_field(self, change, field):
        with pytest.raises(InvalidThresholds) as raised:
            replace(RULE, **change).check(365)
        assert raised.value.field == field

    def test_merge_keeps_what_the_merchant_set(self):
        merged = merge_thresholds({"active_days": 14, "lost_days": None, "high_spend_cents": 50_000}, RULE)
        assert merged == replace(RULE, active_days=14, high_spend_cents=50_000)


class TestWindow:
    def test_twelve_months_back_from_the_local_midnight_of_the_same_day(self):
        as_of = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)  # 13:00 in the restaurant
        assert window_start(as_of) == datetime(2025, 11, 28, 16, 0, tzinfo=UTC)  # 2025-11-29 00:00 local
        assert window_days(as_of) == 365
        # The same all day long, local time: from local midnight to the last second before the next.
        assert window_start(datetime(2026, 11, 28, 16, 0, tzinfo=UTC)) == window_start(as_of)
        assert window_start(datetime(2026, 11, 29, 15, 59, 59, tzinfo=UTC)) == window_start(as_of)
        assert window_start(datetime(2026, 11, 29, 16, 0, tzinfo=UTC)) == datetime(2025, 11, 29, 16, 0, tzinfo=UTC)

    def test_a_shorter_month_ends_on_its_last_day(self):
        assert window_start(datetime(2026, 3, 31, 4), 1) == datetime(2026, 2, 27, 16)
        assert window_start(datetime(2024, 3, 31, 4), 13) == datetime(2023, 2, 27, 16)

    def test_figures_count_whole_days(self):
        as_of = datetime(2026, 11, 29, 12, 0)
        member = figures(as_of, datetime(2026, 1, 1), 3, 9_000, datetime(2026, 11, 28, 12, 1))
        assert (member.recency_days, member.visits, member.spend_cents, member.member_days) == (0, 3, 9_000, 332)


class TestDefaults:
    def test_no_visits_fall_back(self):
        assert default_thresholds([Figures(5)], 365) == replace(FALLBACK, new_member_days=90)

    def test_quantiles_of_the_visitors(self):
        visitors = [Figures(400, visits, visits * 10_000 + 1, recency)
                    for visits, recency in [(1, 3), (2, 10), (3, 20), (4, 40), (8, 100)]]
        rule = default_thresholds([*visitors, Figures(2)], 365)
        # Nearest rank: median recency is the 3rd of 5 (20), the 80th percentile the 4th (40 →
        # at least twice 20), the 75th percentile of visits the 4th (4), of spend 40,001 → 41,000.
        assert rule == Thresholds(active_days=20, lost_days=40, frequent_visits=4, high_spend_cents=41_000,
                                  new_member_days=90)

    def test_quantile_nearest_rank(self):
        assert quantile([5, 1, 3, 2, 4], 0.5) == 3
        assert quantile([1, 2, 3, 4], 0.75) == 3
        assert quantile([7], 0.99) == 7


# --- properties --------------------------------------------------------------------------------

thresholds = st.builds(
    lambda active, extra, frequent, high, new: Thresholds(active, active + extra, frequent, high, new),
    st.integers(1, 180), st.integers(1, 180), st.integers(2, 30), st.integers(1, 10**7), st.integers(1, 365))
members = st.builds(
    lambda member_days, visits, spend, recency: Figures(
        member_days, visits, spend if visits else 0,
        None if visits == 0 else min(recency, member_days)),
    st.integers(0, 2_000), st.integers(0, 60), st.integers(1, 10**7), st.integers(0, 400))


@given(st.lists(members, max_size=40), thresholds)
def test_every_member_lands_in_exactly_one_layer(population, rule):
    scored = [(classify(m, rule), m) for m in population]
    assert all(layer in LAYERS for layer, _m in scored)
    rows = summarise(scored)
    assert sum(row.members for row in rows) == len(population)
    assert sum(row.revenue_cents for row in rows) == sum(m.spend_cents for m in population)
    if any(m.spend_cents for m in population):
        assert abs(sum(row.revenue_share_permille for row in rows) - 1000) <= len(LAYERS) // 2 + 1


@given(members, thresholds, st.integers(0, 400))
def test_more_recent_never_worse(member, rule, earlier_by):
    if member.recency_days is None:
        return
    sooner = replace(member, recency_days=max(0, member.recency_days - earlier_by))
    assert classify(sooner, rule).rank >= classify(member, rule).rank


@given(members, thresholds, st.integers(1, 20))
def test_more_visits_never_worse(member, rule, more):
    busier = replace(member, visits=member.visits + more,
                     recency_days=member.recency_days if member.recency_days is not None else member.member_days,
                     spend_cents=member.spend_cents)
    assert classify(busier, rule).rank >= classify(member, rule).rank


@given(members, thresholds, st.integers(1, 10**6))
def test_more_spend_never_worse(member, rule, more):
    richer = replace(member, spend_cents=member.spend_cents + more)
    assert classify(richer, rule).rank >= classify(member, rule).rank


@given(members, thresholds, st.integers(0, 400))
def test_a_new_visit_never_moves_a_member_down(member, rule, spend):
    """Another visit today: one more visit, more spend, seen today."""
    after = replace(member, visits=member.visits + 1, spend_cents=member.spend_cents + spend, recency_days=0)
    assert classify(after, rule).rank >= classify(member, rule).rank


@given(st.lists(members, max_size=60), st.integers(30, 1_100))
def test_defaults_are_always_valid_thresholds(population, days):
    rule = default_thresholds(population, days)
    assert rule.check(days) == rule


@given(st.lists(members, min_size=1, max_size=60), st.floats(0.01, 1.0))
def test_quantile_is_a_value_with_that_share_at_or_below(population, q):
    values = [m.spend_cents for m in population]
    value = quantile(values, q)
    assert value in values
    assert sum(v <= value for v in values) >= q * len(values) - 1e-9
    assert sum(v < value for v in values) < q * len(values)
