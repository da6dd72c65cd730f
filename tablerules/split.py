"""Splitting a table's bill into shares each diner pays on their own phone.

Equal shares: ``equal_shares(payable, n)`` gives ``n`` shares that add up to the payable exactly
in fen (largest remainder: the first ``payable % n`` shares carry one fen more). "Pay the rest"
is paying every share still open at once (``rest_cents``). The bill is covered when the shares
paid add up to the payable (``is_covered``). Nothing here touches a database or a clock.
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_SHARES = 2
MAX_SHARES = 20

BAD_SHARE_COUNT = "bad_share_count"
BILL_BELOW_PAID = "bill_below_paid"


class SplitError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def equal_shares(payable_cents: int, count: int) -> list[int]:
    """`count` shares of `payable_cents`, each at least one fen, adding up to it exactly."""
    if not MIN_SHARES <= count <= MAX_SHARES:
        raise SplitError(BAD_SHARE_COUNT, f"a bill is split into {MIN_SHARES} to {MAX_SHARES} shares")
    if payable_cents < count:
        raise SplitError(BAD_SHARE_COUNT, "every share must be at least one fen")
    return _even(payable_cents, count)


def _even(total: int, count: int) -> list[int]:
    base, extra = divmod(total, count)
    return [base + 1 if index < extra else base for index in range(count)]


def reshare(payable_cents: int, paid_amounts: Iterable[int], open_count: int) -> list[int]:
    """The bill changed after some shares were paid (dishes added): what is left is shared
    equally again between the shares still open, so the shares still add up to the payable."""
    rest = payable_cents - sum(paid_amounts)
    if open_count < 1 or rest < open_count:
        raise SplitError(BILL_BELOW_PAID, "the shares paid already cover the bill or more")
    return _even(rest, open_count)


def rest_cents(shares: Iterable[tuple[int, bool]]) -> int:
    """What is left to pay: the shares (amount, paid) still open."""
    return sum(amount for amount, paid in shares if not paid)


def is_covered(payable_cents: int, paid_amounts: Iterable[int]) -> bool:
    return sum(paid_amounts) >= payable_cents
