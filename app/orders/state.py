"""Order, order-line, kitchen-ticket and table-session statuses: one transition table each
(`tablerules.state.Transitions`); nothing else changes a status."""

from __future__ import annotations

import enum

from tablerules.state import Transitions


class OrderStatus(enum.IntEnum):
    OPEN = 1
    PAID = 2
    REFUNDED = 3
    VOIDED = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class LineStatus(enum.IntEnum):
    SUBMITTED = 1  # picked by a diner, waiting for the waiter (store setting)
    CONFIRMED = 2  # sent to the kitchen
    COOKING = 3
    DONE = 4
    CANCELLED = 5

    @property
    def label(self) -> str:
        return self.name.lower()


class OrderEvent(enum.StrEnum):
    PAY = "pay"
    REFUND = "refund"
    VOID = "void"


class LineEvent(enum.StrEnum):
    CONFIRM = "confirm"
    START = "start"
    BUMP = "bump"
    RECALL = "recall"
    CANCEL = "cancel"


class TicketStatus(enum.IntEnum):
    OPEN = 1
    BUMPED = 2
    CANCELLED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class TicketEvent(enum.StrEnum):
    BUMP = "bump"  # every dish on it is done
    RECALL = "recall"  # back on the screen


class SessionStatus(enum.IntEnum):
    OPEN = 1
    CLOSED = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class SessionEvent(enum.StrEnum):
    CLOSE = "close"  # the party paid


ORDERS: Transitions[OrderStatus, OrderEvent] = Transitions({
    (OrderStatus.OPEN, OrderEvent.PAY): OrderStatus.PAID,
    (OrderStatus.OPEN, OrderEvent.VOID): OrderStatus.VOIDED,
    (OrderStatus.PAID, OrderEvent.REFUND): OrderStatus.REFUNDED,
})

LINES: Transitions[LineStatus, LineEvent] = Transitions({
    (LineStatus.SUBMITTED, LineEvent.CONFIRM): LineStatus.CONFIRMED,
    (LineStatus.CONFIRMED, LineEvent.START): LineStatus.COOKING,
    (LineStatus.CONFIRMED, LineEvent.BUMP): LineStatus.DONE,
    (LineStatus.COOKING, LineEvent.BUMP): LineStatus.DONE,
    (LineStatus.DONE, LineEvent.RECALL): LineStatus.COOKING,
    (LineStatus.SUBMITTED, LineEvent.CANCEL): LineStatus.CANCELLED,
    (LineStatus.CONFIRMED, LineEvent.CANCEL): LineStatus.CANCELLED,
    (LineStatus.COOKING, LineEvent.CANCEL): LineStatus.CANCELLED,
    (LineStatus.DONE, LineEvent.CANCEL): LineStatus.CANCELLED,
})

TICKETS: Transitions[TicketStatus, TicketEvent] = Transitions({
    (TicketStatus.OPEN, TicketEvent.BUMP): TicketStatus.BUMPED,
    (TicketStatus.BUMPED, TicketEvent.RECALL): TicketStatus.OPEN,
})

SESSIONS: Transitions[SessionStatus, SessionEvent] = Transitions({
    (SessionStatus.OPEN, SessionEvent.CLOSE): SessionStatus.CLOSED,
})

# Lines that are on the bill.
BILLABLE = frozenset({LineStatus.SUBMITTED, LineStatus.CONFIRMED, LineStatus.COOKING, LineStatus.DONE})
