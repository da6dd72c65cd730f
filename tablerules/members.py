"""The member card's business rules, in one import: tiers, points, stored value, member code.

Each area lives in its own module (``tiers``, ``points``, ``stored_value``, ``member_code``)
with its decisions written at the top. This module re-exports them and holds the ledger
invariant every balance obeys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tablerules.member_code import (
    MemberCodeError,
    MemberCodeMatch,
    MemberCodeReason,
    code_step,
    member_code,
    member_code_at,
    parse_member_code,
    verify_member_code,
)
from tablerules.points import (
    CHINA_TZ,
    ExpiryKind,
    InsufficientPoints,
    LotPoints,
    PointsEarnRule,
    PointsExpiryRule,
    PointsLot,
    PointsReturn,
    PointsReversal,
    eligible_cents,
    fifo_key,
    lot_expiry,
    plan_expiry,
    plan_redemption,
    plan_redemption_return,
    plan_reversal,
    points_earned,
    points_to_reverse,
    usable_points,
)
from tablerules.stored_value import (
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
from tablerules.tiers import (
    REVIEW_NOT_REQUALIFIED,
    SINGLE_TOPUP_REACHED,
    SPEND_12M_REACHED,
    InvalidTiers,
    TierChange,
    TierDirection,
    TierRule,
    check_tiers,
    choose_tier,
    review_decision,
    upgrade_decision,
)

__all__ = [
    "CHINA_TZ",
    "NOTHING_REFUNDED",
    "REVIEW_NOT_REQUALIFIED",
    "SINGLE_TOPUP_REACHED",
    "SPEND_12M_REACHED",
    "CashOut",
    "ExpiryKind",
    "InsufficientBalance",
    "InsufficientPoints",
    "InvalidTiers",
    "LedgerMismatch",
    "LotPoints",
    "MemberCodeError",
    "MemberCodeMatch",
    "MemberCodeReason",
    "NegativeBalance",
    "PointsEarnRule",
    "PointsExpiryRule",
    "PointsLot",
    "PointsReturn",
    "PointsReversal",
    "RefundExceedsPayment",
    "StoredValueSplit",
    "TierChange",
    "TierDirection",
    "TierRule",
    "TopUpRule",
    "cashout_amount",
    "check_ledger",
    "check_tiers",
    "check_topup_rules",
    "choose_tier",
    "code_step",
    "eligible_cents",
    "fifo_key",
    "lot_expiry",
    "member_code",
    "member_code_at",
    "parse_member_code",
    "plan_expiry",
    "plan_redemption",
    "plan_redemption_return",
    "plan_reversal",
    "points_earned",
    "points_to_reverse",
    "replay_balance",
    "review_decision",
    "split_refund",
    "split_spend",
    "topup_bonus",
    "topup_credit",
    "upgrade_decision",
    "usable_points",
    "verify_member_code",
]


class NegativeBalance(ValueError):
    code = "negative_balance"

    def __init__(self, index: int, balance: int) -> None:
        super().__init__(f"entry {index} takes the balance to {balance}")
        self.index = index
        self.balance = balance


class LedgerMismatch(ValueError):
    code = "ledger_mismatch"

    def __init__(self, index: int, expected: int, recorded: int) -> None:
        super().__init__(f"entry {index}: balance_after is {recorded}, the deltas give {expected}")
        self.index = index
        self.expected = expected
        self.recorded = recorded


def _int(value: object, index: int) -> int:
    if type(value) is not int:  # bool and float are not amounts
        raise TypeError(f"entry {index}: amounts must be int, not {type(value).__name__}")
    return value


def replay_balance(deltas: Iterable[int], opening: int = 0) -> int:
    """The balance a ledger's deltas add up to; NegativeBalance if it ever goes below zero."""
    balance = _int(opening, -1)
    if balance < 0:
        raise NegativeBalance(-1, balance)
    for index, delta in enumerate(deltas):
        balance += _int(delta, index)
        if balance < 0:
            raise NegativeBalance(index, balance)
    return balance


def check_ledger(entries: Iterable[tuple[int, int]]) -> int:
    """Replay ``(delta, balance_after)`` entries: every ``balance_after`` must be the running
    sum and never negative. Returns the final balance, which the cached balance must equal."""
    balance = 0
    for index, (delta, balance_after) in enumerate(entries):
        balance += _int(delta, index)
        if balance < 0:
            raise NegativeBalance(index, balance)
        if _int(balance_after, index) != balance:
            raise LedgerMismatch(index, balance, balance_after)
    return balance


# A member's (or a player's) phone: digits, or + and digits (an international number).
PHONE_PATTERN = r"^(\+[0-9]{4,19}|[0-9]{5,20})$"


def is_phone(text: str) -> bool:
    return re.fullmatch(PHONE_PATTERN, text) is not None
