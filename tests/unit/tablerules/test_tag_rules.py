"""Tag rules on a hand-built set of members: exactly the expected tags, nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tablerules.tags import InvalidRule, MemberFacts, Rule, Visit, clean_params, rule_tags

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


RULES = [
    Rule("spend", "高消费", {"min_cents": 200_000, "days": 90}, rule_id=1),
    Rule("dish", "鱼头控", {"dish": "剁椒鱼头", "min_count": 3, "days": 0}, rule_id=2),
    Rule("source_table", "A05来客", {"table": "A05"}, rule_id=3),
    Rule("visits", "常客", {"min_visits": 3, "days": 30}, rule_id=4),
    # Two rules may give one tag: either is enough.
    Rule("spend", "贵宾", {"min_cents": 500_000, "days": 365}, rule_id=5),
    Rule("visits", "贵宾", {"min_visits": 10, "days": 365}, rule_id=6),
]

FISH = (("剁椒鱼头", 1), ("米饭", 2))

MEMBERS = {
    # ¥2,000 exactly, within 90 days: the threshold counts.
    "big_spender": MemberFacts(visits=(Visit(ago(10), 150_000), Visit(ago(89), 50_000))),
    # ¥2,500 paid, but ¥600 refunded: ¥1,900 kept — not enough.
    "refunded": MemberFacts(visits=(Visit(ago(5), 250_000, refunded_cents=60_000),)),
    # ¥3,000 but 91 days ago: outside the window.
    "old_spender": MemberFacts(visits=(Visit(ago(91), 300_000),)),
    # The fish three times across two visits (quantities add up), whatever the case of spaces.
    "fish_fan": MemberFacts(visits=(Visit(ago(200), 20_000, items=(("剁椒鱼头", 2),)),
                                    Visit(ago(3), 10_000, items=((" 剁椒鱼头 ", 1),)))),
    # Three fish, but one visit was refunded in full: two count.
    "fish_refunded": MemberFacts(visits=(Visit(ago(3), 10_000, items=FISH), Visit(ago(4), 10_000, items=FISH),
                                         Visit(ago(5), 10_000, refunded_cents=10_000, items=FISH))),
    "from_a05": MemberFacts(source_table="A05"),
    "from_a06": MemberFacts(source_table="A06"),
    # Three visits in 30 days makes a regular; the refunded one does not count.
    "regular": MemberFacts(visits=(Visit(ago(1), 5_000), Visit(ago(15), 5_000), Visit(ago(29), 5_000))),
    "nearly_regular": MemberFacts(visits=(Visit(ago(1), 5_000), Visit(ago(15), 5_000),
                                          Visit(ago(20), 5_000, refunded_cents=5_000))),
    # A visit after `now` (a clock skew) is not counted.
    "future": MemberFacts(visits=(Visit(NOW + timedelta(days=1), 900_000),)),
    "vip_by_visits": MemberFacts(visits=tuple(Visit(ago(20 * i + 40), 1_000) for i in range(10))),
    "nobody": MemberFacts(),
}

EXPECTED = {
    "big_spender": {"高消费": (1,)},
    "refunded": {},
    "old_spender": {},
    "fish_fan": {"鱼头控": (2,)},
    "fish_refunded": {},  # two fish, two visits: neither rule
    "from_a05": {"A05来客": (3,)},
    "from_a06": {},
    "regular": {"常客": (4,)},
    "nearly_regular": {},
    "future": {},
    "vip_by_visits": {"贵宾": (6,)},
    "nobody": {},
}


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_each_member_gets_exactly_the_expected_tags(name):
    assert rule_tags(RULES, MEMBERS[name], NOW) == EXPECTED[name]


def test_a_member_meeting_both_rules_of_a_tag_names_both():
    facts = MemberFacts(visits=tuple(Visit(ago(i + 1), 60_000) for i in range(10)))
    assert rule_tags(RULES, facts, NOW) == {"高消费": (1,), "常客": (4,), "贵宾": (5, 6)}


def test_the_answer_depends_on_now_not_on_the_clock():
    facts = MEMBERS["big_spender"]
    assert rule_tags(RULES, facts, NOW + timedelta(days=2)) == {}  # the ¥500 visit left the window


@pytest.mark.parametrize(("kind", "params"), [
    ("spend", {"min_cents": 0, "days": 90}),
    ("spend", {"min_cents": 100, "days": True}),
    ("spend", {"min_cents": "100", "days": 90}),
    ("dish", {"dish": " ", "min_count": 3}),
    ("dish", {"dish": "剁椒鱼头", "min_count": 0}),
    ("source_table", {"table": ""}),
    ("visits", {"min_visits": 2, "days": 99999}),
    ("birthday", {}),
])
def test_rules_that_make_no_sense_are_refused(kind, params):
    with pytest.raises(InvalidRule):
        clean_params(kind, params)


def test_clean_params_keeps_only_what_the_kind_reads():
    assert clean_params("dish", {"dish": " 剁椒鱼头 ", "min_count": 3, "junk": 1}) == \
        {"dish": "剁椒鱼头", "min_count": 3, "days": 0}
