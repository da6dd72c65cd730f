"""A segment: a saved filter over a merchant's members, as plain data.

`parse_spec()` turns what a manager sent (a form, JSON) into a `SegmentSpec` or raises
`InvalidSpec` naming every bad field; `SegmentSpec.to_dict()` is the one stored form (only the
fields that filter). Every field narrows the segment (they are ANDed); a list field matches any of
its values. The server turns a spec into ONE SQL statement (`app/campaigns/segments.py`).

| field | matches a member whose… |
|---|---|
| `layers` | pyramid layer (`tablerules.rfm.Layer` values) is one of these |
| `tier_ids` | tier is one of these |
| `last_visit_after` / `last_visit_before` | last counted visit is on / after, or before, this day (Beijing) |
| `spend_min_cents` / `spend_max_cents` | spend in the pyramid window is within (inclusive) |
| `visits_min` / `visits_max` | visits in the pyramid window are within (inclusive) |
| `points_min` / `points_max` | points balance is within (inclusive) |
| `stored_value_min_cents` / `stored_value_max_cents` | stored value (principal + bonus) is within |
| `birthday_months` | birthday falls in one of these months (1–12) |
| `tags` | carries at least one of these tags |
| `source_store_ids` / `source_table_ids` / `source_campaigns` | joined at one of these stores / tables / campaigns |

A member with no counted visit in the window matches `last_visit_before` and never `last_visit_after`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

LAYER_VALUES = ("core", "important", "potential", "new", "dormant", "lost")
MAX_CENTS = 10**12
MAX_COUNT = 10**9
MAX_LIST = 100
MAX_TAG = 30


class InvalidSpec(ValueError):
    """`problems`: field name -> what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in sorted(problems.items())))
        self.problems = problems


@dataclass(frozen=True)
class SegmentSpec:
    layers: tuple[str, ...] = ()
    tier_ids: tuple[int, ...] = ()
    last_visit_after: date | None = None
    last_visit_before: date | None = None
    spend_min_cents: int | None = None
    spend_max_cents: int | None = None
    visits_min: int | None = None
    visits_max: int | None = None
    points_min: int | None = None
    points_max: int | None = None
    stored_value_min_cents: int | None = None
    stored_value_max_cents: int | None = None
    birthday_months: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    source_store_ids: tuple[int, ...] = ()
    source_table_ids: tuple[int, ...] = ()
    source_campaigns: tuple[str, ...] = field(default=())

    @property
    def needs_figures(self) -> bool:
        """Whether the filter reads the bills (layer, visits, spend, last visit), not only members."""
        return bool(self.layers) or any(value is not None for value in (
            self.last_visit_after, self.last_visit_before, self.spend_min_cents, self.spend_max_cents,
            self.visits_min, self.visits_max))

    @property
    def is_empty(self) -> bool:
        return not self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """The stored form: only the fields that filter; lists as lists, days as ISO text."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


_INT_LISTS = ("tier_ids", "source_store_ids", "source_table_ids")
_TEXT_LISTS = ("tags", "source_campaigns")
_RANGES = (
    ("spend_min_cents", "spend_max_cents", MAX_CENTS),
    ("visits_min", "visits_max", MAX_COUNT),
    ("points_min", "points_max", MAX_CENTS),
    ("stored_value_min_cents", "stored_value_max_cents", MAX_CENTS),
)
KNOWN = frozenset(f.name for f in fields(SegmentSpec))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _list(value: Any) -> list | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


def parse_spec(data: Mapping[str, Any]) -> SegmentSpec:
    """A spec from plain data (the stored form, or JSON). Empty values (None, "", []) mean "any".
    Raises InvalidSpec with every problem found."""
    if not isinstance(data, Mapping):
        raise InvalidSpec({"spec": "must be an object"})
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in data:
        if name not in KNOWN:
            problems[str(name)[:40]] = "unknown filter"
    given = {name: value for name, value in data.items()
             if name in KNOWN and value is not None and value != "" and value != []}

    if "layers" in given:
        layers = _list(given["layers"])
        if layers is None or not all(isinstance(v, str) and v in LAYER_VALUES for v in layers):
            problems["layers"] = "must be a list of: " + ", ".join(LAYER_VALUES)
        else:
            values["layers"] = tuple(v for v in LAYER_VALUES if v in layers)
    for name in _INT_LISTS:
        if name in given:
            items = _list(given[name])
            if items is None or len(items) > MAX_LIST or not all(_is_int(v) and 0 < v < 2**31 for v in items):
                problems[name] = "must be a list of ids"
            else:
                values[name] = tuple(sorted(set(items)))
    for name in _TEXT_LISTS:
        if name in given:
            items = _list(given[name])
            if items is None or len(items) > MAX_LIST or not all(
                    isinstance(v, str) and 0 < len(v.strip()) <= MAX_TAG * 2 for v in items):
                problems[name] = "must be a list of short texts"
            else:
                values[name] = tuple(sorted({v.strip() for v in items}))
    if "birthday_months" in given:
        months = _list(given["birthday_months"])
        if months is None or not all(_is_int(v) and 1 <= v <= 12 for v in months):
            problems["birthday_months"] = "must be a list of months 1-12"
        else:
            values["birthday_months"] = tuple(sorted(set(months)))
    for name in ("last_visit_after", "last_visit_before"):
        if name in given:
            value = given[name]
            if isinstance(value, str):
                try:
                    value = date.fromisoformat(value)
                except ValueError:
                    value = None
            if not isinstance(value, date) or not date(2000, 1, 1) <= value <= date(2999, 12, 31):
                problems[name] = "must be a day (YYYY-MM-DD)"
            else:
                values[name] = value
    for low, high, limit in _RANGES:
        for name in (low, high):
            if name in given:
                if not _is_int(given[name]) or not 0 <= given[name] <= limit:
                    problems[name] = f"must be a whole number from 0 to {limit}"
                else:
                    values[name] = given[name]
        if low in values and high in values and values[low] > values[high]:
            problems[low] = f"must not be more than {high}"
    if "last_visit_after" in values and "last_visit_before" in values \
            and values["last_visit_after"] >= values["last_visit_before"]:
        problems["last_visit_after"] = "must be before last_visit_before"
    if problems:
        raise InvalidSpec(problems)
    return SegmentSpec(**values)
