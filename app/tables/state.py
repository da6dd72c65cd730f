"""The table state table: every legal move of a dining table, and nothing else.

free → seated (staff seat a party) → ordering (the first dishes are sent) → awaiting_payment
(the bill is asked for or pushed) → free (paid). A party that scans and orders by itself goes
from free straight to ordering; more dishes after the bill was pushed go back to ordering;
settling at the till without a pushed bill goes from ordering to free; ``clear`` frees a table
whose party left without paying anything (the orders domain cancels their order first).
"""

from __future__ import annotations

import enum

from tablerules.state import IllegalTransition, Transitions


class TableState(enum.IntEnum):
    FREE = 1
    SEATED = 2
    ORDERING = 3
    AWAITING_PAYMENT = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class TableEvent(enum.StrEnum):
    SEAT = "seat"
    ORDER = "order"
    REQUEST_BILL = "request_bill"
    PAY = "pay"
    CLEAR = "clear"


TABLES: Transitions[TableState, TableEvent] = Transitions({
    (TableState.FREE, TableEvent.SEAT): TableState.SEATED,
    (TableState.FREE, TableEvent.ORDER): TableState.ORDERING,
    (TableState.SEATED, TableEvent.ORDER): TableState.ORDERING,
    (TableState.SEATED, TableEvent.CLEAR): TableState.FREE,
    (TableState.ORDERING, TableEvent.ORDER): TableState.ORDERING,
    (TableState.ORDERING, TableEvent.REQUEST_BILL): TableState.AWAITING_PAYMENT,
    (TableState.ORDERING, TableEvent.PAY): TableState.FREE,
    (TableState.ORDERING, TableEvent.CLEAR): TableState.FREE,
    (TableState.AWAITING_PAYMENT, TableEvent.ORDER): TableState.ORDERING,
    (TableState.AWAITING_PAYMENT, TableEvent.PAY): TableState.FREE,
    (TableState.AWAITING_PAYMENT, TableEvent.CLEAR): TableState.FREE,
})
TRANSITIONS = TABLES.table

__all__ = ["TABLES", "TRANSITIONS", "IllegalTransition", "TableEvent", "TableState", "transition"]


def _state(value: TableState | int | str) -> TableState:
    if isinstance(value, str):
        return TableState[value.upper()]
    return TableState(value)


def transition(state: TableState | int | str, event: TableEvent | str) -> TableState:
    """The one place a table's state changes (state by enum, int or label). Raises ``IllegalTransition``."""
    try:
        key = (_state(state), TableEvent(event))
    except (KeyError, ValueError):
        raise IllegalTransition(state, event) from None
    return TABLES.next(*key)
