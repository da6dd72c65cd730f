"""Tier choice, immediate upgrades and the scheduled review."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablerules.members import (
    REVIEW_NOT_REQUALIFIED,
    SINGLE_TOPUP_REACHED,
    SPEND_12M_REACHED,
    InvalidTiers,
    TierDirection,
    TierRule,
    check_tiers,
    choose_tier,
    review_decision,
    upgrade_decision,
)

YUAN = 100
BASE = TierRule(1, "普通会员", 0, discount_percent=0)
SILVER = TierRule(2, "银卡", 1, 5, 120, spend_threshold_cents=200_000, topup_threshold_cents=100_000)
GOLD = TierRule(3, "金卡", 2, 12, 150, spend_threshold_cents=500_000, topup_threshold_cents=300_000)
DIAMOND = TierRule(4, "钻石卡", 3, 20, 200, spend_threshold_cents=20_000 * YUAN)
TIERS = [DIAMOND, BASE, GOLD, SILVER]  # order of the input does not matter


class TestChooseTier:
    def test_new_member_is_base(self):
        assert choose_tier(TIERS, 0, 0) == BASE

    def test_spend_threshold_is_inclusive(self):
        assert choose_tier(TIERS, 2_000 * YUAN, 0) == SILVER
        assert choose_tier(TIERS, 2_000 * YUAN - 1, 0) == BASE

    def test_single_topup_reaches_gold(self):
        assert choose_tier(TIERS, 0, 3_000 * YUAN) == GOLD

    def test_any_threshold_is_enough_and_the_highest_wins(self):
        # Spend says silver, top-up says gold: gold.
        assert choose_tier(TIERS, 2_500 * YUAN, 3_000 * YUAN) == GOLD

    def test_tier_without_topup_threshold_ignores_topups(self):
        assert choose_tier(TIERS, 0, 10**12) == GOLD

    def test_huge_spend(self):
        assert choose_tier(TIERS, 10**12, 0) == DIAMOND

    def test_base_only(self):
        assert choose_tier([BASE], 10**12, 10**12) == BASE

    def test_negative_amount_is_refused(self):
        with pytest.raises(ValueError):
            choose_tier(TIERS, -1, 0)


class TestTierTable:
    def test_sorted_by_rank(self):
        assert check_tiers(TIERS) == (BASE, SILVER, GOLD, DIAMOND)

    @pytest.mark.parametrize(
        "tiers",
        [
            [],
            [SILVER, GOLD],  # no base
            [BASE, TierRule(9, "普通2", 0, 0)],  # two rank-0
            [BASE, SILVER, TierRule(2, "同号", 5, 0, spend_threshold_cents=1)],  # duplicate id
            [BASE, SILVER, TierRule(8, "同级", 1, 0, spend_threshold_cents=1)],  # duplicate rank
        ],
    )
    def test_inconsistent_tables_are_refused(self, tiers):
        with pytest.raises(InvalidTiers):
            check_tiers(tiers)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"rank": 0, "discount_percent": 0, "spend_threshold_cents": 100},  # base with a threshold
            {"rank": 1, "discount_percent": 5},  # unreachable tier
            {"rank": 1, "discount_percent": 101, "spend_threshold_cents": 1},
            {"rank": 1, "discount_percent": -1, "spend_threshold_cents": 1},
            {"rank": 1, "discount_percent": 5, "spend_threshold_cents": -1},
            {"rank": 1, "discount_percent": 5, "points_multiplier_percent": -1, "topup_threshold_cents": 1},
            {"rank": -1, "discount_percent": 0},
        ],
    )
    def test_invalid_tier_is_refused(self, kwargs):
        with pytest.raises(InvalidTiers):
            TierRule(id=1, name="x", **kwargs)

    @pytest.mark.parametrize(
        ("make", "reason", "tier_id"),
        [
            (lambda: check_tiers([SILVER, GOLD]), "no_base", None),
            (lambda: check_tiers([BASE, SILVER, TierRule(8, "同级", 1, 0, spend_threshold_cents=1)]),
             "duplicate_rank", 8),
            (lambda: TierRule(7, "x", 1, 5), "threshold_missing", 7),
            (lambda: TierRule(7, "x", 0, 0, topup_threshold_cents=1), "base_with_threshold", 7),
        ],
    )
    def test_a_refusal_names_the_rule_and_the_tier(self, make, reason, tier_id):
        with pytest.raises(InvalidTiers) as refused:
            make()
        assert (refused.value.reason, refused.value.tier_id) == (reason, tier_id)


class TestUpgrade:
    def test_topup_upgrades_at_once_with_reason(self):
        change = upgrade_decision(BASE, TIERS, spend_12m_cents=300 * YUAN, topup_cents=3_000 * YUAN)
        assert change is not None
        assert (change.from_tier, change.to_tier) == (BASE, GOLD)
        assert change.direction is TierDirection.UP and change.is_upgrade
        assert change.reason_code == SINGLE_TOPUP_REACHED
        assert change.reason_zh == "单次充值￥3000.00，达到金卡门槛￥3000.00"
        assert "￥3000.00" in change.reason_en

    def test_spend_upgrade_can_skip_tiers(self):
        change = upgrade_decision(BASE, TIERS, spend_12m_cents=20_000 * YUAN, topup_cents=0)
        assert change is not None
        assert change.to_tier == DIAMOND
        assert change.reason_code == SPEND_12M_REACHED
        assert change.reason_zh == "近12个月消费￥20000.00，达到钻石卡门槛￥20000.00"

    def test_spend_is_reported_when_both_are_met(self):
        change = upgrade_decision(BASE, TIERS, spend_12m_cents=5_000 * YUAN, topup_cents=3_000 * YUAN)
        assert change is not None and change.reason_code == SPEND_12M_REACHED

    def test_no_change_when_tier_already_held(self):
        assert upgrade_decision(SILVER, TIERS, spend_12m_cents=2_100 * YUAN, topup_cents=0) is None

    def test_never_downgrades(self):
        assert upgrade_decision(GOLD, TIERS, spend_12m_cents=0, topup_cents=0) is None

    def test_unknown_current_tier_is_refused(self):
        stray = TierRule(99, "旧卡", 5, 30, spend_threshold_cents=1)
        with pytest.raises(InvalidTiers):
            upgrade_decision(stray, TIERS, 0, 0)

    def test_current_tier_is_judged_as_configured_now(self):
        # The caller holds a stale copy of silver (once ranked above gold); the configured one
        # (matched by id) counts, so reaching gold is still an upgrade.
        stale_silver = TierRule(2, "银卡", 5, 3, 100, spend_threshold_cents=1_500 * YUAN)
        change = upgrade_decision(stale_silver, TIERS, spend_12m_cents=5_000 * YUAN, topup_cents=0)
        assert change is not None
        assert (change.from_tier, change.to_tier) == (SILVER, GOLD)


class TestReview:
    def test_downgrade_to_what_the_year_justifies(self):
        change = review_decision(GOLD, TIERS, spend_12m_cents=2_500 * YUAN, largest_topup_12m_cents=0)
        assert change is not None
        assert change.to_tier == SILVER and change.direction is TierDirection.DOWN
        assert change.reason_code == REVIEW_NOT_REQUALIFIED
        assert "￥2500.00" in change.reason_zh and "金卡" in change.reason_zh and "银卡" in change.reason_zh
        assert not change.is_upgrade

    def test_never_below_base(self):
        change = review_decision(DIAMOND, TIERS, 0, 0)
        assert change is not None and change.to_tier == BASE

    def test_a_topup_in_the_year_keeps_the_tier(self):
        assert review_decision(GOLD, TIERS, spend_12m_cents=0, largest_topup_12m_cents=3_000 * YUAN) is None

    def test_review_catches_a_missed_upgrade(self):
        change = review_decision(BASE, TIERS, spend_12m_cents=2_000 * YUAN, largest_topup_12m_cents=0)
        assert change is not None
        assert change.to_tier == SILVER and change.reason_code == SPEND_12M_REACHED

    def test_base_member_with_nothing_stays(self):
        assert review_decision(BASE, TIERS, 0, 0) is None


amounts = st.integers(min_value=0, max_value=10**12)


@given(spend=amounts, topup=amounts)
def test_chosen_tier_qualifies_and_no_higher_one_does(spend, topup):
    chosen = choose_tier(TIERS, spend, topup)
    assert chosen.qualifies(spend, topup)
    assert not any(t.qualifies(spend, topup) for t in TIERS if t.rank > chosen.rank)


@given(current=st.sampled_from(TIERS), spend=amounts, topup=amounts)
def test_upgrade_only_goes_up_and_review_lands_on_choose_tier(current, spend, topup):
    up = upgrade_decision(current, TIERS, spend, topup)
    assert up is None or up.to_tier.rank > current.rank
    review = review_decision(current, TIERS, spend, topup)
    landed = current if review is None else review.to_tier
    assert landed == choose_tier(TIERS, spend, topup)
