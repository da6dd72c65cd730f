"""Member points: earning, lots with expiry, FIFO redemption, expiry and refund reversal.

Decisions:

- Earning: ``points = floor(eligible_cents * points_per_yuan * multiplier_percent / 10_000)``,
  computed in exact integers with a single floor at the end. ``eligible_cents`` is the sum over
  ALL earning tenders (so splitting a bill between cash and WeChat earns the same as paying it
  one way). At 1x this is exactly ``points_per_yuan`` per whole yuan; the tier multiplier acts on
  the exact amount, so 99.99 yuan at 1.5x earns 149 points (not 99 * 1.5 = 148).
- Every earn is a lot. ``expires_at`` is EXCLUSIVE: the first instant the points are no longer
  usable (a lot "valid until 2025-12-31" has ``expires_at`` 2026-01-01 00:00 Beijing time).
  ``None`` means it never expires. Calendar rules use Beijing time (UTC+8, no DST since 1991).
- Every datetime must be timezone-aware (the database layer only hands out aware UTC times).
- FIFO: lots are used in order of ``expires_at`` (never-expiring last), then ``id``; lots whose
  ``expires_at <= now`` are never used.
- The points' redemption VALUE and the maximum share of a bill are pricing rules
  (``tablerules.pricing``), not here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import NamedTuple

# Mainland China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


class InsufficientPoints(ValueError):
    code = "insufficient_points"

    def __init__(self, requested_points: int, available_points: int) -> None:
        super().__init__(f"{requested_points} points requested, {available_points} available")
        self.requested_points = requested_points
        self.available_points = available_points


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


# ---- earning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PointsEarnRule:
    points_per_yuan: int  # points per whole yuan paid, before the tier multiplier
    earning_tenders: frozenset[str]  # e.g. {'cash', 'wechat', 'stored_value'}

    def __post_init__(self) -> None:
        if self.points_per_yuan < 0:
            raise ValueError("points_per_yuan must be >= 0")
        object.__setattr__(self, "earning_tenders", frozenset(self.earning_tenders))


def _tender_totals(tenders: Iterable[tuple[str, int]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for tender_type, amount_cents in tenders:
        if amount_cents < 0:
            raise ValueError(f"tender {tender_type!r}: amount_cents must be >= 0")
        totals[tender_type] += amount_cents
    return totals


def eligible_cents(rule: PointsEarnRule, tenders: Iterable[tuple[str, int]]) -> int:
    """The part of the payment that earns points.

    Each tender is ``(type, amount_cents)`` with the amount applied to the bill (cash net of
    change), never the cash handed over.
    """
    return sum(v for k, v in _tender_totals(tenders).items() if k in rule.earning_tenders)


def points_earned(rule: PointsEarnRule, tenders: Iterable[tuple[str, int]], multiplier_percent: int) -> int:
    """Points a payment earns: one floor after exact integer arithmetic (see module doc)."""
    if multiplier_percent < 0:
        raise ValueError("multiplier_percent must be >= 0")
    return eligible_cents(rule, tenders) * rule.points_per_yuan * multiplier_percent // 10_000


def points_to_reverse(
    rule: PointsEarnRule,
    paid_tenders: Iterable[tuple[str, int]],
    refunded_tenders: Iterable[tuple[str, int]],
    multiplier_percent: int,
) -> int:
    """How many of an order's earned points ALL its refunds so far take back, in total.

    Earned on what was paid, minus earned on what is still paid after the refunds (so a full
    refund takes back everything, and partial refunds never drift by a point). Pass the rule and
    multiplier stored with the order, and subtract what earlier refunds already reversed.
    """
    paid = _tender_totals(paid_tenders)
    refunded = _tender_totals(refunded_tenders)
    for tender_type, amount in refunded.items():
        if amount > paid[tender_type]:
            raise ValueError(f"tender {tender_type!r}: refunded more than was paid")
    still_paid = [(k, paid[k] - refunded[k]) for k in paid]
    return points_earned(rule, paid.items(), multiplier_percent) - points_earned(
        rule, still_paid, multiplier_percent
    )


# ---- lots and expiry -----------------------------------------------------------------------


class ExpiryKind(StrEnum):
    DAYS = "days"  # earned_at + days
    END_OF_MONTH_AFTER = "end_of_month_after"  # end of the months-th calendar month after earning
    END_OF_YEAR_AFTER = "end_of_year_after"  # end of the calendar year after the earning year
    NEVER = "never"


@dataclass(frozen=True)
class PointsExpiryRule:
    kind: ExpiryKind
    days: int | None = None  # only for DAYS
    months: int | None = None  # only for END_OF_MONTH_AFTER (12 = "end of the 12th month after")

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ExpiryKind(self.kind))
        wants_days, wants_months = self.kind is ExpiryKind.DAYS, self.kind is ExpiryKind.END_OF_MONTH_AFTER
        if wants_days != (self.days is not None) or wants_months != (self.months is not None):
            raise ValueError(f"expiry kind {self.kind.value!r} takes days / months accordingly")
        if (self.days is not None and self.days <= 0) or (self.months is not None and self.months <= 0):
            raise ValueError("days / months must be > 0")


def lot_expiry(earned_at: datetime, rule: PointsExpiryRule, tz: tzinfo = CHINA_TZ) -> datetime | None:
    """The exclusive ``expires_at`` (UTC) of a lot earned at ``earned_at``; None = never.

    Examples (Beijing time): earned 2024-03-05 with ``end_of_year_after`` -> 2026-01-01 00:00;
    with ``end_of_month_after`` 12 -> 2025-04-01 00:00 (usable through 2025-03-31).
    """
    _aware(earned_at, "earned_at")
    local = earned_at.astimezone(tz)
    if rule.kind is ExpiryKind.DAYS:
        assert rule.days is not None
        return (earned_at + timedelta(days=rule.days)).astimezone(UTC)
    if rule.kind is ExpiryKind.END_OF_MONTH_AFTER:
        assert rule.months is not None
        # The first day of the month after the target month, at local midnight.
        year, month0 = divmod(local.year * 12 + (local.month - 1) + rule.months + 1, 12)
        return datetime(year, month0 + 1, 1, tzinfo=tz).astimezone(UTC)
    if rule.kind is ExpiryKind.END_OF_YEAR_AFTER:
        return datetime(local.year + 2, 1, 1, tzinfo=tz).astimezone(UTC)
    return None


@dataclass(frozen=True)
class PointsLot:
    id: int
    remaining_points: int
    earned_at: datetime
    expires_at: datetime | None  # exclusive; None = never expires

    def __post_init__(self) -> None:
        if self.remaining_points < 0:
            raise ValueError(f"lot {self.id}: remaining_points must be >= 0")
        _aware(self.earned_at, "earned_at")
        if self.expires_at is not None:
            _aware(self.expires_at, "expires_at")

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def is_usable(self, now: datetime) -> bool:
        return self.remaining_points > 0 and not self.is_expired(now)


class LotPoints(NamedTuple):
    """A number of points taken from (or given back to) one lot."""

    lot_id: int
    points: int


def fifo_key(lot: PointsLot) -> tuple:
    """Sort key for consumption: soonest ``expires_at`` first, never-expiring last, then id."""
    return (0, lot.expires_at, lot.id) if lot.expires_at is not None else (1, 0, lot.id)


def _by_id(lots: Iterable[PointsLot]) -> dict[int, PointsLot]:
    table: dict[int, PointsLot] = {}
    for lot in lots:
        if lot.id in table:
            raise ValueError(f"lot {lot.id} given twice")
        table[lot.id] = lot
    return table


def usable_points(lots: Iterable[PointsLot], now: datetime) -> int:
    """The points the member can spend at ``now``."""
    _aware(now, "now")
    return sum(lot.remaining_points for lot in _by_id(lots).values() if lot.is_usable(now))


def _take_fifo(
    remaining: dict[int, int], lots: Iterable[PointsLot], points: int, now: datetime
) -> list[LotPoints]:
    """Take ``points`` from the usable lots in FIFO order, updating ``remaining`` in place."""
    takes = []
    for lot in sorted(lots, key=fifo_key):
        if points == 0:
            break
        if lot.is_expired(now) or remaining[lot.id] == 0:
            continue
        take = min(points, remaining[lot.id])
        remaining[lot.id] -= take
        points -= take
        takes.append(LotPoints(lot.id, take))
    return takes


def plan_redemption(lots: Iterable[PointsLot], points: int, now: datetime) -> list[LotPoints]:
    """Which lots a redemption of ``points`` draws from: FIFO, never an expired lot.

    Raises InsufficientPoints (nothing planned) when the usable points fall short.
    """
    _aware(now, "now")
    if points < 0:
        raise ValueError("points must be >= 0")
    table = _by_id(lots)
    available = usable_points(table.values(), now)
    if available < points:
        raise InsufficientPoints(points, available)
    remaining = {lot_id: lot.remaining_points for lot_id, lot in table.items()}
    return _take_fifo(remaining, table.values(), points, now)


def plan_expiry(lots: Iterable[PointsLot], now: datetime) -> list[LotPoints]:
    """The lots that have expired at ``now`` and still hold points, with the points to expire."""
    _aware(now, "now")
    expired = [lot for lot in _by_id(lots).values() if lot.remaining_points > 0 and lot.is_expired(now)]
    return [LotPoints(lot.id, lot.remaining_points) for lot in sorted(expired, key=fifo_key)]


# ---- refunds -------------------------------------------------------------------------------


def _merge(entries: Iterable[LotPoints]) -> dict[int, int]:
    merged: dict[int, int] = {}  # keeps first-seen order
    for lot_id, points in entries:
        if points < 0:
            raise ValueError(f"lot {lot_id}: points must be >= 0")
        merged[lot_id] = merged.get(lot_id, 0) + points
    return merged


def _points_or_all(points: int | None, total: int) -> int:
    if points is None:
        return total
    if not 0 <= points <= total:
        raise ValueError(f"points must be between 0 and {total}")
    return points


@dataclass(frozen=True)
class PointsReversal:
    takes: tuple[LotPoints, ...]  # debit these lots, one entry per lot
    shortfall_points: int  # what could not be taken back: the service refuses or records it

    @property
    def taken_points(self) -> int:
        return sum(t.points for t in self.takes)

    @property
    def is_complete(self) -> bool:
        return self.shortfall_points == 0


def plan_reversal(
    earned: Sequence[LotPoints], lots: Iterable[PointsLot], now: datetime, points: int | None = None
) -> PointsReversal:
    """Take back the points an order earned when it is refunded.

    ``earned`` is what the order credited (lot id, points); ``lots`` the member's lots now
    (they must include the earned lots); ``points`` how many to take back (default: all the order
    earned — see ``points_to_reverse`` for partial refunds). First each earned lot gives back up to
    what the order put in it (expired or not). Points the member already used from those lots
    are taken from the other usable lots, FIFO. Whatever is still missing is reported as
    ``shortfall_points``; nothing is ever taken below zero. Points that lapsed from the order's
    own lot count as used, as the lot balance cannot tell them apart.

    When the order also redeemed points, apply ``plan_redemption_return`` first and pass the lots
    as they are after it: the returned points can then cover earned points already spent.
    """
    _aware(now, "now")
    table = _by_id(lots)
    per_lot = _merge(earned)
    for lot_id in per_lot:
        if lot_id not in table:
            raise ValueError(f"lot {lot_id} the order earned into is not among the member's lots")
    total = _points_or_all(points, sum(per_lot.values()))
    remaining = {lot_id: lot.remaining_points for lot_id, lot in table.items()}
    taken: dict[int, int] = {}
    left = total  # still to claim from the order's own lots
    for lot_id, earned_points in per_lot.items():
        claim = min(left, earned_points)
        left -= claim
        take = min(claim, remaining[lot_id])
        if take:
            remaining[lot_id] -= take
            taken[lot_id] = take
    shortfall = total - sum(taken.values())
    for lot_id, take in _take_fifo(remaining, table.values(), shortfall, now):
        taken[lot_id] = taken.get(lot_id, 0) + take
        shortfall -= take
    return PointsReversal(tuple(LotPoints(k, v) for k, v in taken.items()), shortfall)


@dataclass(frozen=True)
class PointsReturn:
    restore: tuple[LotPoints, ...]  # credit these points back to their lots
    lapsed: tuple[LotPoints, ...]  # their lot has expired: forfeit, or credit a fresh lot (store policy)

    @property
    def returned_points(self) -> int:
        return sum(t.points for t in self.restore) + sum(t.points for t in self.lapsed)


def plan_redemption_return(
    redeemed: Sequence[LotPoints], lots: Iterable[PointsLot], now: datetime, points: int | None = None
) -> PointsReturn:
    """Give back the points an order redeemed when it is refunded.

    Points go back to the lots they came from, latest-expiring first (the reverse of FIFO, so a
    partial return gives back the longest-lived points). Points whose lot has expired at ``now``
    are listed as ``lapsed`` instead: crediting them to their lot would only expire them again.
    """
    _aware(now, "now")
    table = _by_id(lots)
    per_lot = _merge(redeemed)
    for lot_id in per_lot:
        if lot_id not in table:
            raise ValueError(f"lot {lot_id} the order redeemed from is not among the member's lots")
    left = _points_or_all(points, sum(per_lot.values()))
    restore, lapsed = [], []
    for lot in sorted((table[i] for i in per_lot), key=fifo_key, reverse=True):
        give = min(left, per_lot[lot.id])
        if give:
            (lapsed if lot.is_expired(now) else restore).append(LotPoints(lot.id, give))
            left -= give
    return PointsReturn(tuple(restore), tuple(lapsed))
