"""Payment-intent and provider-refund statuses: one transition table each; nothing else moves them.

A reversed, closed or failed intent is final: its trade can never be paid afterwards, so money
is never taken twice for one bill. Paid money that could not be applied (the order was settled
some other way meanwhile) is `paid_unapplied` until it has been refunded. A provider refund is
`processing` from the moment it is recorded (before the provider hears of it) until the
provider's notification or a query says how it ended.
"""

from __future__ import annotations

import enum

from tablerules.state import IllegalTransition, Transitions


class IntentStatus(enum.IntEnum):
    PENDING = 1
    PAID = 2
    FAILED = 3
    REVERSED = 4
    CLOSED = 5
    PAID_UNAPPLIED = 6
    REFUNDED = 7

    @property
    def label(self) -> str:
        return self.name.lower()


class IntentEvent(enum.StrEnum):
    PAY = "pay"  # paid and applied (order settled, stored value credited)
    PAY_UNAPPLIED = "pay_unapplied"  # paid, but nothing left to apply it to
    FAIL = "fail"
    REVERSE = "reverse"
    CLOSE = "close"
    REFUND = "refund"  # the unapplied money went back


INTENTS: Transitions[IntentStatus, IntentEvent] = Transitions({
    (IntentStatus.PENDING, IntentEvent.PAY): IntentStatus.PAID,
    (IntentStatus.PENDING, IntentEvent.PAY_UNAPPLIED): IntentStatus.PAID_UNAPPLIED,
    (IntentStatus.PENDING, IntentEvent.FAIL): IntentStatus.FAILED,
    (IntentStatus.PENDING, IntentEvent.REVERSE): IntentStatus.REVERSED,
    (IntentStatus.PENDING, IntentEvent.CLOSE): IntentStatus.CLOSED,
    (IntentStatus.PAID_UNAPPLIED, IntentEvent.REFUND): IntentStatus.REFUNDED,
})
INTENT_TRANSITIONS = INTENTS.table
next_intent_status = INTENTS.next


class RefundState(enum.IntEnum):
    PROCESSING = 1
    SUCCESS = 2
    FAILED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


# The event is the result the provider reports.
REFUNDS: Transitions[RefundState, RefundState] = Transitions({
    (RefundState.PROCESSING, RefundState.SUCCESS): RefundState.SUCCESS,
    (RefundState.PROCESSING, RefundState.FAILED): RefundState.FAILED,
})


def next_refund_state(state: RefundState, result: RefundState) -> RefundState:
    """A refund's final result arrives once; the same result again changes nothing."""
    if state is result:
        return state
    try:
        return REFUNDS.next(state, result)
    except IllegalTransition:
        raise IllegalTransition(state, result.label) from None
