"""Stored value: top-up bonus, proportional spending, refunds and cash-out."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablerules.members import (
    NOTHING_REFUNDED,
    CashOut,
    InsufficientBalance,
    RefundExceedsPayment,
    StoredValueSplit,
    TopUpRule,
    cashout_amount,
    check_topup_rules,
    split_refund,
    split_spend,
    topup_bonus,
    topup_credit,
)

YUAN = 100
# 充100送20, 充500送150, 充1000送400
TIERED = [
    TopUpRule(1000 * YUAN, 400 * YUAN),
    TopUpRule(100 * YUAN, 20 * YUAN),
    TopUpRule(500 * YUAN, 150 * YUAN),
]
EVERY_100 = [TopUpRule(100 * YUAN, 20 * YUAN, repeat=True)]  # 每充100送20


class TestTopUpBonus:
    @pytest.mark.parametrize(
        ("amount", "bonus"),
        [
            (0, 0),
            (100 * YUAN - 1, 0),
            (100 * YUAN, 20 * YUAN),
            (500 * YUAN - 1, 20 * YUAN),
            (500 * YUAN, 150 * YUAN),
            (1000 * YUAN, 400 * YUAN),
            (5000 * YUAN, 400 * YUAN),  # once, not multiplied
            (10**12, 400 * YUAN),
        ],
    )
    def test_highest_met_rule_applies_once(self, amount, bonus):
        assert topup_bonus(TIERED, amount) == bonus

    @pytest.mark.parametrize(
        ("amount", "bonus"),
        [(99 * YUAN, 0), (100 * YUAN, 20 * YUAN), (350 * YUAN, 60 * YUAN), (10**12, 2 * 10**11)],
    )
    def test_repeat_rule_pays_for_every_whole_step(self, amount, bonus):
        assert topup_bonus(EVERY_100, amount) == bonus

    def test_mixed_rules_follow_the_highest_minimum(self):
        rules = [*EVERY_100, TopUpRule(1000 * YUAN, 300 * YUAN)]
        assert topup_bonus(rules, 900 * YUAN) == 180 * YUAN
        assert topup_bonus(rules, 1900 * YUAN) == 300 * YUAN

    def test_no_rules_no_bonus(self):
        assert topup_bonus([], 500 * YUAN) == 0

    def test_credit_splits_paid_and_gift(self):
        credit = topup_credit(TIERED, 100 * YUAN)
        assert credit == StoredValueSplit(10000, 2000) and credit.total_cents == 12000
        with pytest.raises(ValueError):
            topup_credit(TIERED, 0)

    def test_bad_rules_are_refused(self):
        with pytest.raises(ValueError):
            TopUpRule(0, 100)
        with pytest.raises(ValueError):
            TopUpRule(100, -1)
        with pytest.raises(ValueError):
            check_topup_rules([TopUpRule(100, 1), TopUpRule(100, 2)])
        with pytest.raises(ValueError):
            topup_bonus(TIERED, -1)


class TestSplitSpend:
    def test_proportional_to_balances(self):
        # 充100送20, then a 60.00 lunch: 50.00 principal + 10.00 bonus.
        assert split_spend(10000, 2000, 6000) == (5000, 1000)

    def test_odd_fen_goes_to_the_nearest_share(self):
        # 100 : 20 -> one fen is 0.833 principal: rounds to principal.
        assert split_spend(10000, 2000, 1) == (1, 0)
        # 88.88 bill on 120.00 : 30.00 -> exact principal 71.104 -> 71.10.
        assert split_spend(12000, 3000, 8888) == (7110, 1778)

    def test_half_fen_goes_to_principal(self):
        assert split_spend(1, 1, 1) == (1, 0)
        assert split_spend(300, 100, 2) == (2, 0)  # 1.5 -> 2

    def test_one_account_empty(self):
        assert split_spend(0, 2000, 1500) == (0, 1500)
        assert split_spend(2000, 0, 1500) == (1500, 0)

    def test_spending_everything_is_exact(self):
        assert split_spend(12345, 678, 13023) == (12345, 678)

    def test_zero(self):
        assert split_spend(0, 0, 0) == (0, 0)
        assert split_spend(10000, 2000, 0) == (0, 0)

    def test_insufficient(self):
        with pytest.raises(InsufficientBalance) as info:
            split_spend(10000, 2000, 12001)
        assert (info.value.requested_cents, info.value.available_cents) == (12001, 12000)
        with pytest.raises(InsufficientBalance):
            split_spend(0, 0, 1)

    def test_huge_balances(self):
        assert split_spend(10**12, 10**12, 10**12 + 1) == (5 * 10**11 + 1, 5 * 10**11)

    def test_negative_is_refused(self):
        with pytest.raises(ValueError):
            split_spend(-1, 100, 10)
        with pytest.raises(ValueError):
            split_spend(100, 100, -1)


class TestSplitRefund:
    ORIGINAL = StoredValueSplit(5000, 1000)

    def test_full_refund_returns_the_same_split(self):
        assert split_refund(self.ORIGINAL, 6000) == self.ORIGINAL

    def test_partial_refund_is_proportional(self):
        assert split_refund(self.ORIGINAL, 3000) == (2500, 500)

    def test_partial_refunds_add_up_to_the_original(self):
        first = split_refund(StoredValueSplit(1, 1), 1)
        assert first == (1, 0)
        second = split_refund(StoredValueSplit(1, 1), 1, already_refunded=first)
        assert second == (0, 1)

    def test_refund_beyond_the_payment_is_refused(self):
        with pytest.raises(RefundExceedsPayment):
            split_refund(self.ORIGINAL, 6001)
        with pytest.raises(RefundExceedsPayment):
            split_refund(self.ORIGINAL, 1, already_refunded=StoredValueSplit(5000, 1000))
        with pytest.raises(RefundExceedsPayment):
            split_refund(self.ORIGINAL, 0, already_refunded=StoredValueSplit(5001, 0))

    def test_nothing_refunded_default(self):
        assert split_refund(self.ORIGINAL, 0, NOTHING_REFUNDED) == (0, 0)


class TestCashOut:
    def test_all_principal_forfeits_all_bonus(self):
        assert cashout_amount(10000, 2000) == CashOut(paid_cents=10000, bonus_forfeited_cents=2000)

    def test_part_of_the_principal_forfeits_the_same_share_rounded_up(self):
        assert cashout_amount(10000, 2000, 5000) == CashOut(5000, 1000)
        assert cashout_amount(3, 1, 1) == CashOut(1, 1)  # a third of a fen -> one fen
        assert cashout_amount(10000, 0, 5000) == CashOut(5000, 0)

    def test_bonus_is_never_paid_out(self):
        with pytest.raises(InsufficientBalance):
            cashout_amount(10000, 2000, 10001)

    def test_nothing_to_cash_out(self):
        with pytest.raises(ValueError):
            cashout_amount(0, 2000)
        with pytest.raises(ValueError):
            cashout_amount(10000, 2000, 0)


balances = st.integers(0, 10**12)


@given(principal=balances, bonus=balances, data=st.data())
def test_split_spend_never_loses_a_fen_or_overdraws(principal, bonus, data):
    amount = data.draw(st.integers(0, principal + bonus))
    split = split_spend(principal, bonus, amount)
    assert split.principal_cents + split.bonus_cents == amount
    assert 0 <= split.principal_cents <= principal
    assert 0 <= split.bonus_cents <= bonus
    if amount:
        exact = Fraction(amount * principal, principal + bonus)
        assert abs(split.principal_cents - exact) <= Fraction(1, 2)


@given(principal=balances, bonus=balances, extra=st.integers(1, 10**6))
def test_split_spend_refuses_more_than_both_balances(principal, bonus, extra):
    with pytest.raises(InsufficientBalance):
        split_spend(principal, bonus, principal + bonus + extra)


@given(principal=balances, bonus=balances, data=st.data())
def test_partial_refunds_never_return_more_than_was_taken(principal, bonus, data):
    original = StoredValueSplit(principal, bonus)
    refunded = NOTHING_REFUNDED
    for _ in range(data.draw(st.integers(0, 6))):
        left = original.total_cents - refunded.total_cents
        part = split_refund(original, data.draw(st.integers(0, left)), refunded)
        refunded = refunded.plus(part)
        assert 0 <= refunded.principal_cents <= principal and 0 <= refunded.bonus_cents <= bonus
    rest = split_refund(original, original.total_cents - refunded.total_cents, refunded)
    assert refunded.plus(rest) == original


@given(principal=st.integers(1, 10**12), bonus=balances, data=st.data())
def test_cashout_forfeits_at_most_the_bonus(principal, bonus, data):
    requested = data.draw(st.integers(1, principal))
    out = cashout_amount(principal, bonus, requested)
    assert out.paid_cents == requested
    assert 0 <= out.bonus_forfeited_cents <= bonus
    assert out.bonus_forfeited_cents * principal >= bonus * requested  # rounded up
    if requested == principal:
        assert out.bonus_forfeited_cents == bonus


class TestTopUpRuleWords:
    def test_the_rule_met_is_the_one_that_pays_the_bonus(self):
        from tablerules.stored_value import topup_rule_met

        assert topup_rule_met(TIERED, 99 * YUAN) is None
        assert topup_rule_met(TIERED, 700 * YUAN) == TopUpRule(500 * YUAN, 150 * YUAN)
        assert topup_rule_met(EVERY_100, 350 * YUAN) == EVERY_100[0]

    def test_words_as_the_till_and_the_slip_say_them(self):
        from tablerules.stored_value import rule_words

        assert rule_words(TopUpRule(500 * YUAN, 50 * YUAN)) == ("充500送50", "top up 500, get 50 more")
        assert rule_words(TopUpRule(100 * YUAN, 2050, repeat=True)) == (
            "每充100送20.50", "top up 100 (each time), get 20.50 more")
