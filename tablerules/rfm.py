"""The member pyramid: recency, frequency and monetary value (RFM) into named layers.

What counts is a member's paid, non-refunded visits in a window (default 12 months) before the
day of scoring (`as_of`): a bill refunded in full is no visit, a partly refunded one counts with
what was kept. From them, per member:

- **recency** — whole days since the member was last seen: the last counted visit, or the day
  they joined when there is none in the window;
- **frequency** — the number of counted visits;
- **monetary** — what those visits paid, in fen, less refunds.

Four thresholds per merchant (`Thresholds`) place every member in exactly one layer, checked in
this order — the first that fits wins:

| layer | 中文 | when |
|---|---|---|
| lost | 流失 | last seen more than `lost_days` ago |
| dormant | 沉睡 | last seen more than `active_days` ago (and at most `lost_days`) |
| core | 核心 | recent, **and** at least `frequent_visits` visits **and** at least `high_spend_cents` |
| important | 重要 | recent, and frequent **or** high-spending (one of the two) |
| new | 新客 | recent, fewer than two visits, joined at most `new_member_days` ago |
| potential | 潜力 | recent, neither frequent nor high-spending (the rest) |

"Recent" is last seen at most `active_days` ago. The layers are ranked core > important >
potential > new > dormant > lost, and the rule is monotonic in each measure: being seen more
recently, visiting more often or spending more never moves a member to a lower layer.

Thresholds a merchant has not set come from the merchant's own figures (`default_thresholds`),
by nearest-rank quantiles over the members with at least one counted visit: recent is the
median recency (kept within 7–90 days), lost the 80th percentile (at least twice the active
days, at most the window), frequent the 75th percentile of visits (at least 2), high spend the
75th percentile of spend rounded up to whole ten yuan (at least ten yuan). A merchant with no
visits yet gets 30 / 180 days, 4 visits and ¥1,000.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

DAY = timedelta(days=1)
DEFAULT_WINDOW_MONTHS = 12
MAX_WINDOW_MONTHS = 36
DEFAULT_NEW_MEMBER_DAYS = 90


class Layer(enum.StrEnum):
    """The layers, top of the pyramid first (`rank`: higher is better)."""

    CORE = "core"
    IMPORTANT = "important"
    POTENTIAL = "potential"
    NEW = "new"
    DORMANT = "dormant"
    LOST = "lost"

    @property
    def rank(self) -> int:
        return len(LAYERS) - LAYERS.index(self)

    @property
    def name_zh(self) -> str:
        return _NAMES[self][0]

    @property
    def name_en(self) -> str:
        return _NAMES[self][1]


LAYERS: tuple[Layer, ...] = tuple(Layer)
_NAMES = {
    Layer.CORE: ("核心", "Core"),
    Layer.IMPORTANT: ("重要", "Important"),
    Layer.POTENTIAL: ("潜力", "Potential"),
    Layer.NEW: ("新客", "New"),
    Layer.DORMANT: ("沉睡", "Dormant"),
    Layer.LOST: ("流失", "Lost"),
}


class InvalidThresholds(ValueError):
    """Thresholds that cannot place members sensibly; `field` names the offending one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Thresholds:
    active_days: int  # last seen at most this many days ago: recent
    lost_days: int  # last seen more than this many days ago: lost (between the two: dormant)
    frequent_visits: int  # at least this many visits in the window: frequent
    high_spend_cents: int  # at least this much spent in the window: high-spending
    new_member_days: int = DEFAULT_NEW_MEMBER_DAYS  # joined at most this many days ago: may be new

    def check(self, window_days: int) -> Thresholds:
        """The thresholds if they make sense for a window of `window_days`; else InvalidThresholds."""
        if not 1 <= self.active_days < self.lost_days:
            raise InvalidThresholds("active_days", "active_days must be at least 1 and less than lost_days")
        if self.lost_days > window_days:
            raise InvalidThresholds("lost_days", f"lost_days must not exceed the window ({window_days} days)")
        if self.frequent_visits < 2:
            raise InvalidThresholds("frequent_visits", "frequent_visits must be at least 2")
        if self.high_spend_cents < 1:
            raise InvalidThresholds("high_spend_cents", "high_spend_cents must be at least 1")
        if not 1 <= self.new_member_days <= window_days:
            raise InvalidThresholds("new_member_days", "new_member_days must be between 1 and the window")
        return self


FALLBACK = Thresholds(active_days=30, lost_days=180, frequent_visits=4, high_spend_cents=100_000)


@dataclass(frozen=True)
class Figures:
    """One member's measures as of the scoring day."""

    member_days: int  # whole days since the member joined
    visits: int = 0  # frequency: counted visits in the window
    spend_cents: int = 0  # monetary: what they paid, less refunds
    recency_days: int | None = None  # whole days since the last counted visit; None without one

    @property
    def seen_days(self) -> int:
        """Days since last seen: the last counted visit, else joining."""
        return self.member_days if self.recency_days is None else self.recency_days


# The restaurant's local time (China Standard Time: no daylight saving). The window starts at a
# local midnight, so it is the same all day long: a rollup of it can be kept exact.
LOCAL_OFFSET = timedelta(hours=8)


def window_start(as_of: datetime, months: int = DEFAULT_WINDOW_MONTHS,
                 local_offset: timedelta = LOCAL_OFFSET) -> datetime:
    """The first moment of the window of `months` calendar months ending at `as_of`: the local
    midnight that begins the same day of the month `months` back (or that month's last day when
    it has fewer days). A naive `as_of` is read as UTC, and the answer is naive then too."""
    local = as_of + local_offset
    month_index = local.year * 12 + local.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    day = min(local.day, _days_in_month(year, month))
    midnight = local.replace(year=year, month=month, day=day, hour=0, minute=0, second=0, microsecond=0)
    return midnight - local_offset


def window_days(as_of: datetime, months: int = DEFAULT_WINDOW_MONTHS) -> int:
    return (as_of - window_start(as_of, months)).days


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + (month == 12), month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def days_between(earlier: datetime, later: datetime) -> int:
    """Whole days from `earlier` to `later` (0 when `earlier` is later, e.g. a clock skew)."""
    return max(0, (later - earlier) // DAY)


def figures(as_of: datetime, joined_at: datetime, visits: int, spend_cents: int,
            last_visit_at: datetime | None) -> Figures:
    return Figures(member_days=days_between(joined_at, as_of), visits=visits, spend_cents=spend_cents,
                   recency_days=None if last_visit_at is None else days_between(last_visit_at, as_of))


def classify(member: Figures, thresholds: Thresholds) -> Layer:
    """The one layer a member belongs to (the table in the module docstring)."""
    seen = member.seen_days
    if seen > thresholds.lost_days:
        return Layer.LOST
    if seen > thresholds.active_days:
        return Layer.DORMANT
    frequent = member.visits >= thresholds.frequent_visits
    high = member.spend_cents >= thresholds.high_spend_cents
    if frequent and high:
        return Layer.CORE
    if frequent or high:
        return Layer.IMPORTANT
    if member.visits < 2 and member.member_days <= thresholds.new_member_days:
        return Layer.NEW
    return Layer.POTENTIAL


# --- defaults from the merchant's own figures ------------------------------------------------

def quantile(values: Sequence[int], q: float) -> int:
    """Nearest-rank quantile of `values` (sorted or not): the smallest value with at least a
    share q of the values at or below it. `values` must not be empty."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered) - 1e-9))
    return ordered[rank - 1]


def default_thresholds(members: Iterable[Figures], window_days: int,
                       new_member_days: int = DEFAULT_NEW_MEMBER_DAYS) -> Thresholds:
    """Thresholds from the quantiles of the members who visited (see the module docstring)."""
    visitors = [m for m in members if m.visits > 0 and m.recency_days is not None]
    if not visitors:
        return thresholds_from_quantiles(None, window_days, new_member_days)
    recency = [m.recency_days for m in visitors if m.recency_days is not None]
    return thresholds_from_quantiles(
        Quantiles(quantile(recency, 0.5), quantile(recency, 0.8), quantile([m.visits for m in visitors], 0.75),
                  quantile([m.spend_cents for m in visitors], 0.75)), window_days, new_member_days)


@dataclass(frozen=True)
class Quantiles:
    """The nearest-rank quantiles the default thresholds are made of, over the members who visited."""

    median_recency_days: int
    p80_recency_days: int
    p75_visits: int
    p75_spend_cents: int


def thresholds_from_quantiles(q: Quantiles | None, window_days: int,
                              new_member_days: int = DEFAULT_NEW_MEMBER_DAYS) -> Thresholds:
    """The defaults from the quantiles (None: nobody visited)."""
    new_days = max(1, min(new_member_days, window_days))
    if q is None:
        lost = min(FALLBACK.lost_days, window_days)
        return replace(FALLBACK, active_days=min(FALLBACK.active_days, lost - 1), lost_days=lost,
                       new_member_days=new_days)
    active = min(max(q.median_recency_days, 7), 90, window_days - 1)
    lost = min(max(q.p80_recency_days, 2 * active), window_days)
    frequent = max(2, q.p75_visits)
    high = max(1_000, -(-q.p75_spend_cents // 1_000) * 1_000)
    return Thresholds(active_days=active, lost_days=lost, frequent_visits=frequent, high_spend_cents=high,
                      new_member_days=new_days)


def merge_thresholds(chosen: dict[str, int | None], defaults: Thresholds) -> Thresholds:
    """The merchant's own thresholds where set (not None), the defaults elsewhere."""
    return replace(defaults, **{name: value for name, value in chosen.items() if value is not None})


# --- the pyramid -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerSummary:
    layer: Layer
    members: int
    visits: int
    revenue_cents: int
    revenue_share_permille: int  # of the whole window's member revenue, rounded half up

    @property
    def avg_spend_per_visit_cents(self) -> int:
        """客单价: what a visit of this layer paid on average (rounded half up)."""
        return _div_round(self.revenue_cents, self.visits)

    @property
    def avg_spend_per_member_cents(self) -> int:
        """What a member of this layer paid in the window on average (rounded half up)."""
        return _div_round(self.revenue_cents, self.members)


def _div_round(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator) if denominator else 0


def summarise(scored: Iterable[tuple[Layer, Figures]]) -> list[LayerSummary]:
    """Each layer's members, visits, revenue and share of revenue, top of the pyramid first;
    every layer appears, empty ones with zeros."""
    counts = {layer: [0, 0, 0] for layer in LAYERS}
    for layer, member in scored:
        row = counts[layer]
        row[0] += 1
        row[1] += member.visits
        row[2] += member.spend_cents
    return summarise_totals({layer: (m, v, r) for layer, (m, v, r) in counts.items()})


def summarise_totals(totals: Mapping[Layer, tuple[int, int, int]]) -> list[LayerSummary]:
    """The same from each layer's (members, visits, revenue) as counted elsewhere (in SQL)."""
    rows = {layer: totals.get(layer, (0, 0, 0)) for layer in LAYERS}
    total = sum(revenue for _m, _v, revenue in rows.values())
    return [LayerSummary(layer, members, visits, revenue, _div_round(1000 * revenue, total))
            for layer, (members, visits, revenue) in rows.items()]
