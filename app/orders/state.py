"""Order and order-line statuses: one transition table each; nothing else changes a status."""

from __future__ import annotations

import enum


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


ORDER_TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    (OrderStatus.OPEN, OrderEvent.PAY): OrderStatus.PAID,
    (OrderStatus.OPEN, OrderEvent.VOID): OrderStatus.VOIDED,
    (OrderStatus.PAID, OrderEvent.REFUND): OrderStatus.REFUNDED,
}

LINE_TRANSITIONS: dict[tuple[LineStatus, LineEvent], LineStatus] = {
    (LineStatus.SUBMITTED, LineEvent.CONFIRM): LineStatus.CONFIRMED,
    (LineStatus.CONFIRMED, LineEvent.START): LineStatus.COOKING,
    (LineStatus.CONFIRMED, LineEvent.BUMP): LineStatus.DONE,
    (LineStatus.COOKING, LineEvent.BUMP): LineStatus.DONE,
    (LineStatus.DONE, LineEvent.RECALL): LineStatus.COOKING,
    (LineStatus.SUBMITTED, LineEvent.CANCEL): LineStatus.CANCELLED,
    (LineStatus.CONFIRMED, LineEvent.CANCEL): LineStatus.CANCELLED,
    (LineStatus.COOKING, LineEvent.CANCEL): LineStatus.CANCELLED,
    (LineStatus.DONE, LineEvent.CANCEL): LineStatus.CANCELLED,
}

# Lines that are on the bill.
BILLABLE = frozenset({LineStatus.SUBMITTED, LineStatus.CONFIRMED, LineStatus.COOKING, LineStatus.DONE})


class IllegalTransition(ValueError):
    def __init__(self, state: enum.Enum, event: str) -> None:
        super().__init__(f"cannot {event} from {state.name.lower()}")
        self.state, self.event = state, event


def next_order_status(status: OrderStatus, event: OrderEvent) -> OrderStatus:
    try:
        return ORDER_TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(status, event) from None


def next_line_status(status: LineStatus, event: LineEvent) -> LineStatus:
    try:
        return LINE_TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(status, event) from None
