"""Stored value: top-up bonuses, proportional spending, refunds and cash-out.

A member holds two balances: principal (money they paid in) and bonus (the merchant's gift).

Decisions:

- Top-up bonus: the rule with the highest ``min_cents`` that the amount meets applies, once;
  a ``repeat`` rule pays its bonus for every whole ``min_cents`` ('每充100送20': 350 -> 60).
- Spending draws from both balances in proportion to them. The principal part is the exact
  proportional share rounded to the nearest fen, a half fen going to principal; the bonus
  part is the rest. So no fen is lost or created, neither part exceeds its balance, and every
  split is within half a fen of the exact proportion (small spends do not drift the ratio).
- A refund returns money to the accounts it came from, in proportion to what is still
  refundable of the original split (same rounding); refunding the rest returns it exactly.
- Cash-out pays principal only. Cashing out a share of the principal forfeits the same share of
  the bonus, rounded up to the fen, so cashing out all the principal forfeits all the bonus (and
  nobody can cash out all but a fen and keep spending the gift).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from tablerules.money import to_yuan_short


class InsufficientBalance(ValueError):
    code = "insufficient_balance"

    def __init__(self, requested_cents: int, available_cents: int) -> None:
        super().__init__(f"{requested_cents} fen requested, {available_cents} fen available")
        self.requested_cents = requested_cents
        self.available_cents = available_cents


class RefundExceedsPayment(ValueError):
    code = "refund_exceeds_payment"


class StoredValueSplit(NamedTuple):
    """An amount as its principal and bonus parts (a spend, a refund, or a top-up credit)."""

    principal_cents: int
    bonus_cents: int

    @property
    def total_cents(self) -> int:
        return self.principal_cents + self.bonus_cents

    def plus(self, other: StoredValueSplit) -> StoredValueSplit:
        """Part by part sum (``+`` on a tuple would concatenate)."""
        return StoredValueSplit(
            self.principal_cents + other.principal_cents, self.bonus_cents + other.bonus_cents
        )


NOTHING_REFUNDED = StoredValueSplit(0, 0)

def _non_negative(**amounts: int) -> None:
    for name, value in amounts.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0")


# ---- top-up --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopUpRule:
    min_cents: int
    bonus_cents: int
    repeat: bool = False  # True: bonus_cents for every whole min_cents

    def __post_init__(self) -> None:
        if self.min_cents <= 0:
            raise ValueError("min_cents must be > 0")
        _non_negative(bonus_cents=self.bonus_cents)


def check_topup_rules(rules: Iterable[TopUpRule]) -> tuple[TopUpRule, ...]:
    """The rules sorted by ``min_cents``; two rules with the same minimum are ambiguous."""
    ordered = tuple(sorted(rules, key=lambda r: r.min_cents))
    if len({r.min_cents for r in ordered}) != len(ordered):
        raise ValueError("two top-up rules have the same min_cents")
    return ordered


def topup_bonus(rules: Iterable[TopUpRule], amount_cents: int) -> int:
    """The bonus a top-up of ``amount_cents`` earns (see module doc)."""
    rule = topup_rule_met(rules, amount_cents)
    if rule is None:
        return 0
    return (amount_cents // rule.min_cents) * rule.bonus_cents if rule.repeat else rule.bonus_cents


def topup_rule_met(rules: Iterable[TopUpRule], amount_cents: int) -> TopUpRule | None:
    """The rule a top-up of ``amount_cents`` earns its bonus by, or None when it meets none."""
    _non_negative(amount_cents=amount_cents)
    met = [r for r in check_topup_rules(rules) if r.min_cents <= amount_cents]
    return met[-1] if met else None


def rule_words(rule: TopUpRule) -> tuple[str, str]:
    """A rule as the till and the top-up slip say it: ("充500送50", "top up 500, get 50 more"); a
    repeating rule is "每充100送20" ("top up 100 (each time), get 20 more")."""
    low, bonus = to_yuan_short(rule.min_cents), to_yuan_short(rule.bonus_cents)
    each = " (each time)" if rule.repeat else ""
    return f"{'每' if rule.repeat else ''}充{low}送{bonus}", f"top up {low}{each}, get {bonus} more"


def topup_credit(rules: Iterable[TopUpRule], amount_cents: int) -> StoredValueSplit:
    """What a top-up credits: the amount paid to principal, its bonus to bonus."""
    if amount_cents <= 0:
        raise ValueError("a top-up must be > 0")
    return StoredValueSplit(amount_cents, topup_bonus(rules, amount_cents))


# ---- spending and refunds ------------------------------------------------------------------


def split_spend(principal_cents: int, bonus_cents: int, amount_cents: int) -> StoredValueSplit:
    """How a stored-value payment of ``amount_cents`` draws on the two balances.

    ``principal part = round_half_up(amount * principal / (principal + bonus))``, bonus part the
    rest. Raises InsufficientBalance when the amount exceeds both balances together.
    """
    _non_negative(principal_cents=principal_cents, bonus_cents=bonus_cents, amount_cents=amount_cents)
    total = principal_cents + bonus_cents
    if amount_cents > total:
        raise InsufficientBalance(amount_cents, total)
    if amount_cents == 0:
        return StoredValueSplit(0, 0)
    # floor(x + 1/2) with x = amount * principal / total, in integers.
    from_principal = (2 * amount_cents * principal_cents + total) // (2 * total)
    return StoredValueSplit(from_principal, amount_cents - from_principal)


def split_refund(
    original: StoredValueSplit,
    refund_cents: int,
    already_refunded: StoredValueSplit = NOTHING_REFUNDED,
) -> StoredValueSplit:
    """How a (partial) refund of a stored-value payment goes back to principal and bonus.

    Proportional to what is still refundable of the ``original`` split after
    ``already_refunded`` (the sum of earlier refunds of the same payment), so refunds never
    return more to either account than the payment took from it, and refunding everything that
    is left returns exactly the original split.
    """
    _non_negative(
        refund_cents=refund_cents,
        principal_cents=original.principal_cents,
        bonus_cents=original.bonus_cents,
        already_principal_cents=already_refunded.principal_cents,
        already_bonus_cents=already_refunded.bonus_cents,
    )
    left_principal = original.principal_cents - already_refunded.principal_cents
    left_bonus = original.bonus_cents - already_refunded.bonus_cents
    if left_principal < 0 or left_bonus < 0:
        raise RefundExceedsPayment("earlier refunds exceed the original payment")
    if refund_cents > left_principal + left_bonus:
        raise RefundExceedsPayment(
            f"refund of {refund_cents} fen exceeds the {left_principal + left_bonus} fen still refundable"
        )
    return split_spend(left_principal, left_bonus, refund_cents)


# ---- cash-out ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CashOut:
    paid_cents: int  # taken from principal and paid to the member
    bonus_forfeited_cents: int  # taken from bonus and paid to nobody


def cashout_amount(principal_cents: int, bonus_cents: int, requested_cents: int | None = None) -> CashOut:
    """A cash-out of ``requested_cents`` of principal (default: all of it).

    ``bonus forfeited = ceil(bonus * requested / principal)``: all the bonus when all the
    principal goes. Raises InsufficientBalance beyond the principal (bonus is never paid out).
    """
    _non_negative(principal_cents=principal_cents, bonus_cents=bonus_cents)
    requested = principal_cents if requested_cents is None else requested_cents
    if requested <= 0:
        raise ValueError("nothing to cash out")
    if requested > principal_cents:
        raise InsufficientBalance(requested, principal_cents)
    forfeited = -(-bonus_cents * requested // principal_cents)
    return CashOut(requested, forfeited)
