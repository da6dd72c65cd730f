"""The fan-acquisition rules: where a roll lands, the per-person limits, the red-envelope split
(the split always sums to the pool exactly, checked with hypothesis)."""

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tablerules import fans as rules

PRIZES = [rules.PrizeOdds(1, 100), rules.PrizeOdds(2, 900), rules.PrizeOdds(3, 0), rules.PrizeOdds(4, 2000)]


def test_each_roll_lands_on_the_prize_whose_range_holds_it():
    assert rules.landing(PRIZES, 0) == 1
    assert rules.landing(PRIZES, 99) == 1
    assert rules.landing(PRIZES, 100) == 2
    assert rules.landing(PRIZES, 999) == 2
    assert rules.landing(PRIZES, 1000) == 4  # a 0% prize has no range
    assert rules.landing(PRIZES, 2999) == 4
    assert rules.landing(PRIZES, 3000) is None  # past every range: 谢谢参与
    assert rules.landing(PRIZES, 9999) is None


def test_a_sold_out_prize_gives_its_range_to_nobody():
    sold_out = [rules.PrizeOdds(1, 5000, in_stock=False), rules.PrizeOdds(2, 5000)]
    assert rules.landing(sold_out, 10) is None
    assert rules.landing(sold_out, 5000) == 2


@given(st.lists(st.integers(0, 2500), min_size=1, max_size=4), st.integers(0, 9999))
def test_the_share_of_rolls_each_prize_gets_is_its_chance(chances, roll):
    prizes = [rules.PrizeOdds(i, c) for i, c in enumerate(chances)]
    landed = rules.landing(prizes, roll)
    start = sum(c for c in chances[:landed]) if landed is not None else sum(chances)
    if landed is not None:
        assert start <= roll < start + chances[landed]
    else:
        assert roll >= sum(chances)


def test_odds_that_add_up_past_100_percent_are_refused():
    with pytest.raises(ValueError):
        rules.landing([rules.PrizeOdds(1, 6000), rules.PrizeOdds(2, 5000)], 1)
    with pytest.raises(ValueError):
        rules.landing(PRIZES, 10_000)


def test_limits_refuse_the_play_past_the_total_or_the_day():
    limits = rules.Limits(total=3, per_day=1)
    assert rules.refusal(limits, 0, 0) is None
    assert rules.refusal(limits, 1, 1) == rules.DAILY_LIMIT
    assert rules.refusal(limits, 3, 0) == rules.TOTAL_LIMIT
    assert rules.refusal(rules.Limits(), 10**6, 10**6) is None


def test_the_day_is_chinas():
    assert str(rules.china_day(datetime(2026, 11, 29, 15, 59, tzinfo=UTC))) == "2026-11-29"
    assert str(rules.china_day(datetime(2026, 11, 29, 16, 0, tzinfo=UTC))) == "2026-11-30"


def test_the_schedule_includes_its_start_and_excludes_its_end():
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    assert rules.is_open(start, end, start)
    assert not rules.is_open(start, end, end)
    assert rules.is_open(None, None, end)


@settings(max_examples=400)
@given(st.integers(1, 500), st.integers(0, 2**32), st.data())
def test_a_pool_split_sums_to_the_pool_and_gives_everyone_at_least_a_fen(shares, seed, data):
    pool = data.draw(st.integers(shares, 10_000_000))
    source = random.Random(seed)
    amounts = rules.split_pool(pool, shares, source.randrange)
    assert len(amounts) == shares
    assert sum(amounts) == pool
    assert min(amounts) >= 1


@given(st.integers(1, 200), st.data())
def test_even_a_misbehaving_random_source_cannot_break_the_sum(shares, data):
    pool = data.draw(st.integers(shares, 1_000_000))
    answers = data.draw(st.lists(st.integers(-10**9, 10**9), min_size=shares, max_size=shares))
    it = iter(answers)
    amounts = rules.split_pool(pool, shares, lambda _n: next(it))
    assert sum(amounts) == pool and min(amounts) >= 1


def test_one_hundred_yuan_among_ten():
    amounts = rules.split_pool(10_000, 10, random.Random(7).randrange)
    assert sum(amounts) == 10_000 and len(amounts) == 10


def test_a_pool_smaller_than_a_fen_each_is_refused():
    with pytest.raises(ValueError):
        rules.split_pool(9, 10, random.Random(1).randrange)
