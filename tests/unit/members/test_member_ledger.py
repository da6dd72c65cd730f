"""The ledger invariant, and whole member histories driven through the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tablerules.members import (
    NOTHING_REFUNDED,
    ExpiryKind,
    LedgerMismatch,
    LotPoints,
    NegativeBalance,
    PointsEarnRule,
    PointsExpiryRule,
    PointsLot,
    StoredValueSplit,
    TopUpRule,
    cashout_amount,
    check_ledger,
    lot_expiry,
    plan_expiry,
    plan_redemption,
    plan_redemption_return,
    plan_reversal,
    points_earned,
    replay_balance,
    split_refund,
    split_spend,
    topup_credit,
    usable_points,
)


class TestReplayBalance:
    def test_top_up_spend_refund(self):
        # top up 100.00, lunch 60.00, refund 20.00 of it
        assert replay_balance([10000, -6000, 2000]) == 6000

    def test_empty_and_opening(self):
        assert replay_balance([]) == 0
        assert replay_balance([-500], opening=500) == 0

    def test_going_below_zero_names_the_entry(self):
        with pytest.raises(NegativeBalance) as info:
            replay_balance([10000, -6000, -4001, 5000])
        assert (info.value.index, info.value.balance) == (2, -1)
        with pytest.raises(NegativeBalance):
            replay_balance([], opening=-1)

    def test_only_integers(self):
        with pytest.raises(TypeError):
            replay_balance([10000, 50.0])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            replay_balance([True])

    def test_huge(self):
        assert replay_balance([10**12, -(10**12) + 1]) == 1

    def test_check_ledger(self):
        assert check_ledger([(10000, 10000), (-6000, 4000), (2000, 6000)]) == 6000
        with pytest.raises(LedgerMismatch) as info:
            check_ledger([(10000, 10000), (-6000, 4001)])
        assert (info.value.index, info.value.expected, info.value.recorded) == (1, 4000, 4001)
        with pytest.raises(NegativeBalance):
            check_ledger([(-1, -1)])


TOPUP_RULES = [TopUpRule(100_00, 20_00), TopUpRule(500_00, 150_00), TopUpRule(50_00, 3_00, repeat=True)]
amounts = st.integers(1, 2_000_00)


class StoredValueHistory(RuleBasedStateMachine):
    """Top-ups, spends, partial refunds and cash-outs, each written as ledger deltas."""

    def __init__(self) -> None:
        super().__init__()
        self.principal = self.bonus = 0
        self.principal_deltas: list[int] = []
        self.bonus_deltas: list[int] = []
        self.spends: list[tuple[StoredValueSplit, StoredValueSplit]] = []  # (original, refunded)

    def _post(self, principal_delta: int, bonus_delta: int) -> None:
        self.principal += principal_delta
        self.bonus += bonus_delta
        self.principal_deltas.append(principal_delta)
        self.bonus_deltas.append(bonus_delta)

    @rule(amount=amounts)
    def top_up(self, amount):
        credit = topup_credit(TOPUP_RULES, amount)
        assert credit.principal_cents == amount
        self._post(credit.principal_cents, credit.bonus_cents)

    @precondition(lambda self: self.principal + self.bonus > 0)
    @rule(data=st.data())
    def spend(self, data):
        amount = data.draw(st.integers(1, self.principal + self.bonus))
        split = split_spend(self.principal, self.bonus, amount)
        self._post(-split.principal_cents, -split.bonus_cents)
        self.spends.append((split, NOTHING_REFUNDED))

    @precondition(lambda self: any(o.total_cents > r.total_cents for o, r in self.spends))
    @rule(data=st.data())
    def refund(self, data):
        open_spends = [i for i, (o, r) in enumerate(self.spends) if o.total_cents > r.total_cents]
        index = data.draw(st.sampled_from(open_spends))
        original, refunded = self.spends[index]
        amount = data.draw(st.integers(1, original.total_cents - refunded.total_cents))
        back = split_refund(original, amount, refunded)
        self._post(back.principal_cents, back.bonus_cents)
        self.spends[index] = (original, refunded.plus(back))

    @precondition(lambda self: self.principal > 0)
    @rule(data=st.data())
    def cash_out(self, data):
        out = cashout_amount(self.principal, self.bonus, data.draw(st.integers(1, self.principal)))
        self._post(-out.paid_cents, -out.bonus_forfeited_cents)

    @invariant()
    def ledgers_add_up_and_stay_non_negative(self):
        assert replay_balance(self.principal_deltas) == self.principal >= 0
        assert replay_balance(self.bonus_deltas) == self.bonus >= 0

    @invariant()
    def refunds_never_exceed_their_spend(self):
        for original, refunded in self.spends:
            assert 0 <= refunded.principal_cents <= original.principal_cents
            assert 0 <= refunded.bonus_cents <= original.bonus_cents


EARN = PointsEarnRule(1, frozenset({"cash", "wechat", "stored_value"}))
EXPIRY = PointsExpiryRule(ExpiryKind.DAYS, days=90)


class PointsHistory(RuleBasedStateMachine):
    """Orders earning and redeeming points, time passing, expiry runs and refunds."""

    @initialize()
    def start(self):
        self.now = datetime(2025, 1, 1, tzinfo=UTC)
        self.lots: dict[int, PointsLot] = {}
        self.deltas: list[int] = []
        self.orders: list[tuple[list[LotPoints], list[LotPoints]]] = []  # (earned, redeemed)
        self.forfeited = 0

    def _move(self, lot_id: int, delta: int) -> None:
        lot = self.lots[lot_id]
        self.lots[lot_id] = PointsLot(lot.id, lot.remaining_points + delta, lot.earned_at, lot.expires_at)
        self.deltas.append(delta)

    @rule(paid=st.integers(0, 5_000_00), multiplier=st.sampled_from([100, 120, 150, 200]), data=st.data())
    def settle(self, paid, multiplier, data):
        redeem = data.draw(st.integers(0, usable_points(self.lots.values(), self.now)))
        redeemed = plan_redemption(self.lots.values(), redeem, self.now)
        for lot_id, points in redeemed:
            assert not self.lots[lot_id].is_expired(self.now)
            self._move(lot_id, -points)
        earned: list[LotPoints] = []
        points = points_earned(EARN, [("wechat", paid)], multiplier)
        if points:
            lot_id = len(self.lots) + 1
            self.lots[lot_id] = PointsLot(lot_id, 0, self.now, lot_expiry(self.now, EXPIRY))
            self._move(lot_id, points)
            earned.append(LotPoints(lot_id, points))
        self.orders.append((earned, redeemed))

    @rule(days=st.integers(1, 60))
    def time_passes(self, days):
        self.now += timedelta(days=days)

    @rule()
    def expiry_run(self):
        for lot_id, points in plan_expiry(self.lots.values(), self.now):
            self._move(lot_id, -points)
        assert plan_expiry(self.lots.values(), self.now) == []

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def refund_order(self, data):
        earned, redeemed = self.orders.pop(data.draw(st.integers(0, len(self.orders) - 1)))
        # Redeemed points go back first, so they can cover earned points already spent.
        back = plan_redemption_return(redeemed, self.lots.values(), self.now)
        for lot_id, points in back.restore:
            self._move(lot_id, points)
        self.forfeited += sum(p for _, p in back.lapsed)
        reversal = plan_reversal(earned, self.lots.values(), self.now)
        for lot_id, points in reversal.takes:
            self._move(lot_id, -points)
        assert reversal.taken_points + reversal.shortfall_points == sum(p for _, p in earned)
        assert back.returned_points == sum(p for _, p in redeemed)

    @invariant()
    def ledger_equals_lots_and_never_negative(self):
        assert replay_balance(self.deltas) == sum(lot.remaining_points for lot in self.lots.values())
        assert all(lot.remaining_points >= 0 for lot in self.lots.values())


TestStoredValueHistory = StoredValueHistory.TestCase
TestStoredValueHistory.settings = settings(max_examples=100, stateful_step_count=30)
TestPointsHistory = PointsHistory.TestCase
TestPointsHistory.settings = settings(max_examples=100, stateful_step_count=30)
