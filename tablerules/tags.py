"""CRM tag rules: which tags a member earns from what they did, as data and one pure function.

A rule is (kind, tag, params). The kinds:

| kind            | params                                 | the member has the tag when                      |
|-----------------|----------------------------------------|--------------------------------------------------|
| ``spend``       | ``min_cents``, ``days``                | paid at least ``min_cents`` (less refunds) in     |
|                 |                                        | the ``days`` before ``now``                       |
| ``dish``        | ``dish``, ``min_count``, ``days`` (0 = | ordered the dish (by name) at least ``min_count`` |
|                 | all time)                              | times — quantities add up                         |
| ``source_table``| ``table``                              | joined through the QR code of that table (code)   |
| ``visits``      | ``min_visits``, ``days``               | paid at least ``min_visits`` visits in the window |

A fully refunded visit counts for nothing. Tags from rules are recomputed from scratch each
time: a member who no longer qualifies loses the tag; hand tags are never touched here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

KINDS = ("spend", "dish", "source_table", "visits")
MAX_DAYS = 3650
MAX_TAG_LENGTH = 20


class InvalidRule(ValueError):
    """A rule whose parameters do not make sense; the message says which."""


@dataclass(frozen=True)
class Rule:
    kind: str
    tag: str
    params: Mapping[str, object]
    rule_id: int | None = None


@dataclass(frozen=True)
class Visit:
    at: datetime
    paid_cents: int
    refunded_cents: int = 0
    items: tuple[tuple[str, int], ...] = ()  # (dish name, quantity)

    @property
    def kept_cents(self) -> int:
        return max(0, self.paid_cents - self.refunded_cents)

    @property
    def counts(self) -> bool:
        return self.kept_cents > 0


@dataclass(frozen=True)
class MemberFacts:
    visits: tuple[Visit, ...] = ()
    source_table: str | None = None  # the code of the table whose QR code brought the member
    extra: Mapping[str, object] = field(default_factory=dict)


def _int(params: Mapping[str, object], name: str, low: int, high: int) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRule(f"{name} must be a whole number from {low} to {high}")
    return value


def _text(params: Mapping[str, object], name: str, high: int) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > high:
        raise InvalidRule(f"{name} must be 1 to {high} characters")
    return value.strip()


def clean_params(kind: str, params: Mapping[str, object]) -> dict[str, object]:
    """The rule's parameters checked and reduced to what the kind reads; raises InvalidRule."""
    if kind == "spend":
        return {"min_cents": _int(params, "min_cents", 1, 10**11), "days": _int(params, "days", 1, MAX_DAYS)}
    if kind == "dish":
        return {"dish": _text(params, "dish", 60), "min_count": _int(params, "min_count", 1, 10_000),
                "days": _int(params, "days", 0, MAX_DAYS) if "days" in params else 0}
    if kind == "source_table":
        return {"table": _text(params, "table", 20)}
    if kind == "visits":
        return {"min_visits": _int(params, "min_visits", 1, 10_000), "days": _int(params, "days", 1, MAX_DAYS)}
    raise InvalidRule(f"kind must be one of {', '.join(KINDS)}")


def _within(visits: Iterable[Visit], days: int, now: datetime) -> list[Visit]:
    if days <= 0:
        return [v for v in visits if v.at <= now]
    since = now - timedelta(days=days)
    return [v for v in visits if since <= v.at <= now]


def matches(rule: Rule, facts: MemberFacts, now: datetime) -> bool:
    params = rule.params
    if rule.kind == "spend":
        kept = _within(facts.visits, int(params["days"]), now)
        return sum(v.kept_cents for v in kept) >= int(params["min_cents"])
    if rule.kind == "dish":
        name = str(params["dish"]).strip().casefold()
        count = sum(qty for v in _within(facts.visits, int(params.get("days", 0)), now) if v.counts
                    for dish, qty in v.items if dish.strip().casefold() == name)
        return count >= int(params["min_count"])
    if rule.kind == "source_table":
        return (facts.source_table or "").strip().casefold() == str(params["table"]).strip().casefold()
    if rule.kind == "visits":
        return sum(1 for v in _within(facts.visits, int(params["days"]), now) if v.counts) >= int(params["min_visits"])
    return False


def rule_tags(rules: Iterable[Rule], facts: MemberFacts, now: datetime) -> dict[str, tuple[int | None, ...]]:
    """The tags the rules give this member at `now`: {tag: ids of the rules that give it}."""
    earned: dict[str, list[int | None]] = {}
    for rule in rules:
        if matches(rule, facts, now):
            earned.setdefault(rule.tag, []).append(rule.rule_id)
    return {tag: tuple(ids) for tag, ids in sorted(earned.items())}
