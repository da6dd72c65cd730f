"""Fan-acquisition rules: which prize a lucky-wheel roll lands on, whether a person may play
again, and how a red-envelope pool is split among its grabbers.

Pure functions: no database, no clock, no random source inside. The caller draws the random
numbers (the server uses `secrets`) and passes them in, so every rule is repeatable in a test.

Decisions:

- Probabilities are in basis points (1/10,000). A roll is an integer in [0, 10,000); the prizes
  cover consecutive ranges in their order, and a roll past the last range is "谢谢参与" (no prize).
  A prize whose stock is gone is "no prize" for the roll that lands on it: its chance is never
  handed to the other prizes (so a sold-out first prize does not raise the odds of the second).
- Per-person limits: a total number of plays per wheel and a number per day (the day in
  Asia/Shanghai, which the caller computes); either may be None (no limit).
- A red-envelope pool is split once, when it is funded: N shares, each at least 1 fen, summing
  to the pool exactly. The "拼手气" way: each share but the last is drawn uniformly between 1 fen
  and twice the average of what is left (keeping 1 fen for every share still to come); the last
  takes the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

BASIS_POINTS = 10_000
CHINA = timezone(timedelta(hours=8))  # Asia/Shanghai has no daylight saving time


@dataclass(frozen=True)
class PrizeOdds:
    """One prize of a wheel as the draw sees it: its chance and whether any is left."""

    id: int
    chance_bp: int  # basis points, 0..10,000
    in_stock: bool = True


def check_odds(prizes: Sequence[PrizeOdds]) -> None:
    """ValueError unless every chance is within 0..10,000 and together they are at most 10,000."""
    if any(not 0 <= p.chance_bp <= BASIS_POINTS for p in prizes):
        raise ValueError("each chance is between 0 and 10000 basis points")
    if sum(p.chance_bp for p in prizes) > BASIS_POINTS:
        raise ValueError("the chances add up to more than 100%")


def landing(prizes: Sequence[PrizeOdds], roll: int) -> int | None:
    """The prize id the roll lands on, or None for 谢谢参与 (past every range, or out of stock)."""
    check_odds(prizes)
    if not 0 <= roll < BASIS_POINTS:
        raise ValueError("a roll is in [0, 10000)")
    start = 0
    for prize in prizes:
        if start <= roll < start + prize.chance_bp:
            return prize.id if prize.in_stock else None
        start += prize.chance_bp
    return None


def china_day(moment: datetime) -> date:
    """The calendar day in China of an aware moment: what "per day" limits count by."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return moment.astimezone(CHINA).date()


@dataclass(frozen=True)
class Limits:
    total: int | None = None  # plays per person on this wheel
    per_day: int | None = None  # plays per person per China day


TOTAL_LIMIT = "play_limit_reached"
DAILY_LIMIT = "daily_limit_reached"


def refusal(limits: Limits, plays_total: int, plays_today: int) -> str | None:
    """Why one more play is refused (a reason code), or None when it is allowed."""
    if limits.total is not None and plays_total >= limits.total:
        return TOTAL_LIMIT
    if limits.per_day is not None and plays_today >= limits.per_day:
        return DAILY_LIMIT
    return None


def is_open(starts_at: datetime | None, ends_at: datetime | None, now: datetime) -> bool:
    """Within the schedule: from `starts_at` (inclusive) until `ends_at` (exclusive)."""
    return (starts_at is None or starts_at <= now) and (ends_at is None or now < ends_at)


def split_pool(pool_cents: int, shares: int, randbelow: Callable[[int], int]) -> list[int]:
    """Split `pool_cents` into `shares` amounts of at least 1 fen that sum to the pool exactly.
    `randbelow(n)` answers an integer in [0, n) (`secrets.randbelow` on the server)."""
    if shares < 1:
        raise ValueError("at least one share")
    if pool_cents < shares:
        raise ValueError("a pool must give every share at least 1 fen")
    amounts = []
    left = pool_cents
    for remaining in range(shares, 1, -1):
        # Keep 1 fen for each share after this one; "twice the average" is the 拼手气 spread.
        most = min(left - (remaining - 1), max(1, 2 * left // remaining))
        amount = 1 + randbelow(most)
        amount = min(max(amount, 1), most)  # a misbehaving source cannot break the sum
        amounts.append(amount)
        left -= amount
    amounts.append(left)
    return amounts
