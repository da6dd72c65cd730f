"""Payment-intent and provider-refund statuses: the transition tables, without a database."""

import pytest

from app.payments.state import (
    INTENT_TRANSITIONS,
    IntentEvent,
    IntentStatus,
    RefundState,
    next_intent_status,
    next_refund_state,
)
from tablerules.state import IllegalTransition

FINAL = {IntentStatus.PAID, IntentStatus.FAILED, IntentStatus.REVERSED, IntentStatus.CLOSED, IntentStatus.REFUNDED}


def test_only_a_pending_intent_can_be_paid():
    assert next_intent_status(IntentStatus.PENDING, IntentEvent.PAY) is IntentStatus.PAID
    for status in IntentStatus:
        if status is not IntentStatus.PENDING:
            with pytest.raises(IllegalTransition):
                next_intent_status(status, IntentEvent.PAY)


@pytest.mark.parametrize("status", [IntentStatus.REVERSED, IntentStatus.CLOSED, IntentStatus.FAILED])
def test_a_reversed_closed_or_failed_trade_never_takes_money_afterwards(status):
    for event in (IntentEvent.PAY, IntentEvent.PAY_UNAPPLIED):
        with pytest.raises(IllegalTransition):
            next_intent_status(status, event)


def test_final_statuses_have_no_way_out():
    assert not [pair for pair in INTENT_TRANSITIONS if pair[0] in FINAL]


def test_unapplied_money_can_only_go_back():
    assert next_intent_status(IntentStatus.PAID_UNAPPLIED, IntentEvent.REFUND) is IntentStatus.REFUNDED
    with pytest.raises(IllegalTransition):
        next_intent_status(IntentStatus.PAID_UNAPPLIED, IntentEvent.PAY)


def test_a_refund_result_arrives_once_and_a_repeat_changes_nothing():
    assert next_refund_state(RefundState.PROCESSING, RefundState.SUCCESS) is RefundState.SUCCESS
    assert next_refund_state(RefundState.SUCCESS, RefundState.SUCCESS) is RefundState.SUCCESS
    with pytest.raises(IllegalTransition):
        next_refund_state(RefundState.SUCCESS, RefundState.FAILED)
