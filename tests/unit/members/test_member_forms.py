"""How the member pages read what a manager types: 折 discounts, multipliers, short yuan."""

import pytest

from app.members.forms import factor_text, parse_factor, parse_zhe
from tablerules.money import to_yuan_short, zhe


@pytest.mark.parametrize(("text", "percent_off"), [
    ("8.8", 12), ("8.8折", 12), (" 9.5 ", 5), ("9", 10), ("88", 12), ("95", 5), ("75折", 25),
    ("10", 0), ("", 0), ("1", 90),
])
def test_discounts_are_read_as_menus_print_them(text, percent_off):
    assert parse_zhe(text) == percent_off


@pytest.mark.parametrize("text", ["0", "0.5", "05", "10.5", "8.85", "abc", "-8", "100", "八八折"])
def test_anything_else_is_not_a_discount(text):
    with pytest.raises(ValueError):
        parse_zhe(text)


@pytest.mark.parametrize("percent_off", range(0, 91))
def test_discount_text_reads_back(percent_off):
    assert parse_zhe(zhe(percent_off)) == percent_off


@pytest.mark.parametrize(("text", "percent"), [("1", 100), ("1.5", 150), ("1.25×", 125), ("2倍", 200), ("0", 0)])
def test_multipliers(text, percent):
    assert parse_factor(text) == percent
    assert parse_factor(factor_text(percent)) == percent


@pytest.mark.parametrize("text", ["", "1.234", "-1", "x", "1,5"])
def test_not_multipliers(text):
    with pytest.raises(ValueError):
        parse_factor(text)


def test_short_yuan():
    assert [to_yuan_short(c) for c in (10_000, 1_250, 5, 0, -300)] == ["100", "12.50", "0.05", "0", "-3"]
