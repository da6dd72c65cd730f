"""The segment filter as plain data: what it accepts, what it refuses (naming each field), its
stored form."""

from __future__ import annotations

from datetime import date

import pytest

from tablerules.segments import InvalidSpec, SegmentSpec, parse_spec


def test_empty_values_mean_any():
    spec = parse_spec({"layers": [], "tags": None, "spend_min_cents": "", "tier_ids": []})
    assert spec == SegmentSpec() and spec.is_empty and not spec.needs_figures


def test_a_full_spec_round_trips_in_its_stored_form():
    data = {"layers": ["dormant", "core"], "tier_ids": [3, 1, 3], "last_visit_after": "2026-01-01",
            "last_visit_before": "2026-06-01", "spend_min_cents": 0, "spend_max_cents": 50_000, "visits_min": 2,
            "points_max": 100, "stored_value_min_cents": 1, "birthday_months": [12, 3], "tags": [" 辣", "辣"],
            "source_store_ids": [2], "source_table_ids": [7], "source_campaigns": ["开业"]}
    spec = parse_spec(data)
    assert spec.layers == ("core", "dormant")  # pyramid order
    assert spec.tier_ids == (1, 3) and spec.birthday_months == (3, 12) and spec.tags == ("辣",)
    assert spec.last_visit_after == date(2026, 1, 1) and spec.needs_figures
    assert parse_spec(spec.to_dict()) == spec
    assert spec.to_dict()["last_visit_after"] == "2026-01-01"


def test_member_row_filters_do_not_need_the_bills():
    assert not parse_spec({"tier_ids": [1], "points_min": 5, "birthday_months": [1], "tags": ["x"]}).needs_figures
    assert parse_spec({"visits_max": 0}).needs_figures


@pytest.mark.parametrize(("data", "field"), [
    ({"layers": ["gold"]}, "layers"),
    ({"layers": "dormant"}, "layers"),
    ({"tier_ids": [0]}, "tier_ids"),
    ({"tier_ids": [True]}, "tier_ids"),
    ({"birthday_months": [13]}, "birthday_months"),
    ({"last_visit_after": "yesterday"}, "last_visit_after"),
    ({"spend_min_cents": -1}, "spend_min_cents"),
    ({"visits_min": 1.5}, "visits_min"),
    ({"visits_min": 5, "visits_max": 2}, "visits_min"),
    ({"last_visit_after": "2026-02-01", "last_visit_before": "2026-01-01"}, "last_visit_after"),
    ({"tags": [""]}, "tags"),
    ({"colour": "red"}, "colour"),
])
def test_bad_fields_are_named(data, field):
    with pytest.raises(InvalidSpec) as refused:
        parse_spec(data)
    assert field in refused.value.problems


def test_every_problem_at_once():
    with pytest.raises(InvalidSpec) as refused:
        parse_spec({"layers": ["x"], "birthday_months": [0], "points_min": -5})
    assert set(refused.value.problems) == {"layers", "birthday_months", "points_min"}
