"""The table state table: every legal move, and every other move refused."""

import itertools

import pytest

from app.tables.state import TRANSITIONS, IllegalTransition, TableEvent, TableState, transition

LEGAL = {
    ("free", "seat"): "seated",
    ("free", "order"): "ordering",
    ("seated", "order"): "ordering",
    ("seated", "clear"): "free",
    ("ordering", "order"): "ordering",
    ("ordering", "request_bill"): "awaiting_payment",
    ("ordering", "pay"): "free",
    ("ordering", "clear"): "free",
    ("awaiting_payment", "order"): "ordering",
    ("awaiting_payment", "pay"): "free",
    ("awaiting_payment", "clear"): "free",
}


def test_the_table_is_exactly_the_legal_moves():
    assert {(state.label, str(event)): new.label for (state, event), new in TRANSITIONS.items()} == LEGAL


@pytest.mark.parametrize(("state", "event"), list(LEGAL))
def test_legal_moves(state, event):
    expected = TableState[LEGAL[(state, event)].upper()]
    assert transition(state, event) is expected
    assert transition(TableState[state.upper()], TableEvent(event)) is expected
    assert transition(int(TableState[state.upper()]), event) is expected


ILLEGAL = [(s, e) for s, e in itertools.product(TableState, TableEvent) if (s.label, e.value) not in LEGAL]


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_every_other_move_is_refused(state, event):
    with pytest.raises(IllegalTransition) as raised:
        transition(state, event)
    assert raised.value.state == state
    assert raised.value.event == event


@pytest.mark.parametrize(("state", "event"), [("lost", "seat"), (9, "seat"), ("free", "burn"), ("free", "")])
def test_unknown_names_are_refused(state, event):
    with pytest.raises(IllegalTransition):
        transition(state, event)


def test_a_dinner_goes_round_the_loop():
    state = TableState.FREE
    for event in ("seat", "order", "order", "request_bill", "order", "request_bill", "pay"):
        state = transition(state, event)
    assert state is TableState.FREE


def test_states_are_stored_as_small_stable_integers():
    assert [int(s) for s in TableState] == [1, 2, 3, 4]
    assert [s.label for s in TableState] == ["free", "seated", "ordering", "awaiting_payment"]
