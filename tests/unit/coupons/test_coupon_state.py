"""The coupon state table: every legal move, and every other move refused."""

import itertools

import pytest

from tablerules.coupons import TRANSITIONS, CouponEvent, CouponState, IllegalTransition, transition

LEGAL = {
    ("issued", "redeem"): "redeemed",
    ("issued", "expire"): "expired",
    ("issued", "transfer"): "transferred",
    ("redeemed", "restore"): "issued",
}


@pytest.mark.parametrize(("state", "event"), list(LEGAL))
def test_legal_moves(state, event):
    assert transition(state, event) == LEGAL[(state, event)]
    assert transition(CouponState(state), CouponEvent(event)) is CouponState(LEGAL[(state, event)])


ILLEGAL = [(s, e) for s, e in itertools.product(CouponState, CouponEvent) if (s.value, e.value) not in LEGAL]


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_every_other_move_is_refused(state, event):
    with pytest.raises(IllegalTransition) as raised:
        transition(state, event)
    assert raised.value.state == state
    assert raised.value.event == event


def test_unknown_names_are_refused():
    with pytest.raises(IllegalTransition):
        transition("lost", "redeem")
    with pytest.raises(IllegalTransition):
        transition("issued", "burn")


def test_table_is_exactly_the_legal_moves():
    assert {(s.value, e.value): t.value for (s, e), t in TRANSITIONS.items()} == LEGAL
    assert len(ILLEGAL) == len(CouponState) * len(CouponEvent) - len(LEGAL)
