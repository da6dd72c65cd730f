"""Order, line, kitchen-ticket and table-session statuses: each moves only by its table."""

import pytest

from app.orders.state import (
    LINES,
    ORDERS,
    SESSIONS,
    TICKETS,
    LineEvent,
    LineStatus,
    OrderEvent,
    OrderStatus,
    SessionEvent,
    SessionStatus,
    TicketEvent,
    TicketStatus,
)
from tablerules.state import IllegalTransition


@pytest.mark.parametrize(("table", "states", "events"), [
    (ORDERS, OrderStatus, OrderEvent), (LINES, LineStatus, LineEvent), (TICKETS, TicketStatus, TicketEvent),
    (SESSIONS, SessionStatus, SessionEvent)])
def test_every_move_not_in_the_table_is_refused(table, states, events):
    for state in states:
        for event in events:
            if table.allows(state, event):
                assert table.next(state, event) in states
            else:
                with pytest.raises(IllegalTransition):
                    table.next(state, event)


def test_a_ticket_is_bumped_and_recalled_but_never_twice_the_same_way():
    assert TICKETS.next(TicketStatus.OPEN, TicketEvent.BUMP) is TicketStatus.BUMPED
    assert TICKETS.next(TicketStatus.BUMPED, TicketEvent.RECALL) is TicketStatus.OPEN
    for state, event in ((TicketStatus.BUMPED, TicketEvent.BUMP), (TicketStatus.OPEN, TicketEvent.RECALL),
                         (TicketStatus.CANCELLED, TicketEvent.BUMP), (TicketStatus.CANCELLED, TicketEvent.RECALL)):
        with pytest.raises(IllegalTransition):
            TICKETS.next(state, event)


def test_a_session_closes_once_and_an_order_is_paid_once():
    assert SESSIONS.next(SessionStatus.OPEN, SessionEvent.CLOSE) is SessionStatus.CLOSED
    with pytest.raises(IllegalTransition):
        SESSIONS.next(SessionStatus.CLOSED, SessionEvent.CLOSE)
    assert ORDERS.next(OrderStatus.OPEN, OrderEvent.PAY) is OrderStatus.PAID
    for state in (OrderStatus.PAID, OrderStatus.REFUNDED, OrderStatus.VOIDED):
        with pytest.raises(IllegalTransition):
            ORDERS.next(state, OrderEvent.PAY)
