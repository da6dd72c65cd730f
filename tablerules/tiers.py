"""Member tiers: which tier a member's last 12 months earn, and every change with its reason.

Decisions:

- A tier qualifies when ANY of its thresholds is met (``>=``): trailing-12-month spend, or one
  single top-up. The member belongs to the highest-ranked qualifying tier. The rank-0 base tier
  has no thresholds and always qualifies, so nobody ever falls below it.
- Upgrades happen at once (``upgrade_decision``, called after a settlement or a top-up) and only
  go up. Downgrades happen only at the scheduled review (``review_decision``), which moves the
  member to exactly the tier the last 12 months justify, up or down.
- Every change carries a stable ``reason_code`` plus a zh/en sentence for the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from tablerules.money import format_cny

# Reason codes (stable: stored with each tier change).
SPEND_12M_REACHED = "spend_12m_reached"
SINGLE_TOPUP_REACHED = "single_topup_reached"
REVIEW_NOT_REQUALIFIED = "review_not_requalified"


class TierDirection(StrEnum):
    UP = "up"
    DOWN = "down"


class InvalidTiers(ValueError):
    """The tier table itself is inconsistent (a configuration error, not a member's).

    ``reason`` says which rule was broken (stable, for translated messages) and ``tier_id``
    which tier broke it, when it is one tier's fault.
    """

    code = "invalid_tiers"

    def __init__(self, message: str, reason: str = "", tier_id: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.tier_id = tier_id


@dataclass(frozen=True)
class TierRule:
    id: int
    name: str
    rank: int
    discount_percent: int  # percent OFF: 12 means the member pays 88% (8.8折)
    points_multiplier_percent: int = 100  # 100 = 1x, 150 = 1.5x
    spend_threshold_cents: int | None = None  # trailing-12-month spend; None = not by spend
    topup_threshold_cents: int | None = None  # one single top-up; None = not by top-up

    def __post_init__(self) -> None:
        if self.rank < 0:
            raise InvalidTiers(f"tier {self.id}: rank must be >= 0", "rank_negative", self.id)
        if not 0 <= self.discount_percent <= 100:
            raise InvalidTiers(f"tier {self.id}: discount_percent must be 0-100", "discount_range", self.id)
        if self.points_multiplier_percent < 0:
            raise InvalidTiers(f"tier {self.id}: points_multiplier_percent must be >= 0", "multiplier_negative",
                               self.id)
        for threshold in (self.spend_threshold_cents, self.topup_threshold_cents):
            if threshold is not None and threshold < 0:
                raise InvalidTiers(f"tier {self.id}: thresholds must be >= 0", "threshold_negative", self.id)
        if self.rank == 0 and self.has_threshold:
            raise InvalidTiers(f"tier {self.id}: the rank-0 base tier takes no thresholds", "base_with_threshold",
                               self.id)
        if self.rank > 0 and not self.has_threshold:
            raise InvalidTiers(f"tier {self.id}: a tier above base needs a spend or top-up threshold",
                               "threshold_missing", self.id)

    @property
    def has_threshold(self) -> bool:
        return self.spend_threshold_cents is not None or self.topup_threshold_cents is not None

    def met_by_spend(self, spend_12m_cents: int) -> bool:
        return self.spend_threshold_cents is not None and spend_12m_cents >= self.spend_threshold_cents

    def met_by_topup(self, topup_cents: int) -> bool:
        return self.topup_threshold_cents is not None and topup_cents >= self.topup_threshold_cents

    def qualifies(self, spend_12m_cents: int, largest_single_topup_cents: int) -> bool:
        return (
            self.rank == 0
            or self.met_by_spend(spend_12m_cents)
            or self.met_by_topup(largest_single_topup_cents)
        )


@dataclass(frozen=True)
class TierChange:
    from_tier: TierRule
    to_tier: TierRule
    direction: TierDirection
    reason_code: str
    reason_zh: str
    reason_en: str

    @property
    def is_upgrade(self) -> bool:
        return self.direction is TierDirection.UP


def check_tiers(tiers: Iterable[TierRule]) -> tuple[TierRule, ...]:
    """The tiers sorted by rank; raises InvalidTiers unless ids and ranks are unique and
    exactly one tier has rank 0."""
    ordered = tuple(sorted(tiers, key=lambda t: t.rank))
    if len({t.id for t in ordered}) != len(ordered):
        raise InvalidTiers("tier ids must be unique", "duplicate_id")
    for before, tier in pairwise(ordered):
        if tier.rank == before.rank:
            raise InvalidTiers("tier ranks must be unique", "duplicate_rank", tier.id)
    if not ordered or ordered[0].rank != 0:
        raise InvalidTiers("exactly one base tier with rank 0 is required", "no_base")
    return ordered


def _check_amounts(**amounts: int) -> None:
    for name, value in amounts.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0")


def choose_tier(tiers: Iterable[TierRule], spend_12m_cents: int, largest_single_topup_cents: int) -> TierRule:
    """The highest-ranked tier any of whose thresholds is met; at least the base tier."""
    _check_amounts(spend_12m_cents=spend_12m_cents, largest_single_topup_cents=largest_single_topup_cents)
    ordered = check_tiers(tiers)
    return next(
        t for t in reversed(ordered) if t.qualifies(spend_12m_cents, largest_single_topup_cents)
    )


def _configured(current: TierRule, ordered: tuple[TierRule, ...]) -> TierRule:
    # Matched by id, so a member row's tier is judged by the tier table as configured now.
    for tier in ordered:
        if tier.id == current.id:
            return tier
    raise InvalidTiers(f"tier {current.id} is not one of the configured tiers", "unknown_tier", current.id)


def _reached(
    frm: TierRule, to: TierRule, spend_12m_cents: int, topup_cents: int
) -> TierChange:
    # Spend is reported first when both thresholds are met; either is a true reason.
    if to.met_by_spend(spend_12m_cents):
        assert to.spend_threshold_cents is not None
        spend, threshold = format_cny(spend_12m_cents), format_cny(to.spend_threshold_cents)
        return TierChange(
            frm, to, TierDirection.UP, SPEND_12M_REACHED,
            f"近12个月消费{spend}，达到{to.name}门槛{threshold}",
            f"Spent {spend} in the last 12 months, reaching the {to.name} threshold of {threshold}",
        )
    assert to.topup_threshold_cents is not None
    topup, threshold = format_cny(topup_cents), format_cny(to.topup_threshold_cents)
    return TierChange(
        frm, to, TierDirection.UP, SINGLE_TOPUP_REACHED,
        f"单次充值{topup}，达到{to.name}门槛{threshold}",
        f"A single top-up of {topup} reached the {to.name} threshold of {threshold}",
    )


def upgrade_decision(
    current: TierRule, tiers: Iterable[TierRule], spend_12m_cents: int, topup_cents: int
) -> TierChange | None:
    """The immediate upgrade after a settlement or top-up, or None when the member stays.

    ``topup_cents`` is the single top-up being made now (0 after a settlement). Never
    downgrades, even when the member no longer meets the current tier's threshold.
    """
    _check_amounts(spend_12m_cents=spend_12m_cents, topup_cents=topup_cents)
    ordered = check_tiers(tiers)
    current = _configured(current, ordered)
    target = choose_tier(ordered, spend_12m_cents, topup_cents)
    if target.rank <= current.rank:
        return None
    return _reached(current, target, spend_12m_cents, topup_cents)


def review_decision(
    current: TierRule,
    tiers: Iterable[TierRule],
    spend_12m_cents: int,
    largest_topup_12m_cents: int,
) -> TierChange | None:
    """The scheduled review: move to the tier the last 12 months justify, or None to stay.

    Usually a downgrade (reason ``review_not_requalified``); an upgrade the review finds is
    reported with the same reason codes as ``upgrade_decision``.
    """
    _check_amounts(spend_12m_cents=spend_12m_cents, largest_topup_12m_cents=largest_topup_12m_cents)
    ordered = check_tiers(tiers)
    current = _configured(current, ordered)
    target = choose_tier(ordered, spend_12m_cents, largest_topup_12m_cents)
    if target.rank == current.rank:
        return None
    if target.rank > current.rank:
        return _reached(current, target, spend_12m_cents, largest_topup_12m_cents)
    spend, topup = format_cny(spend_12m_cents), format_cny(largest_topup_12m_cents)
    return TierChange(
        current, target, TierDirection.DOWN, REVIEW_NOT_REQUALIFIED,
        f"定期评级：近12个月消费{spend}、最大单次充值{topup}，未达到{current.name}保级条件，调整为{target.name}",
        f"Scheduled review: {spend} spent and a largest single top-up of {topup} in the last "
        f"12 months do not keep {current.name}; moved to {target.name}",
    )
