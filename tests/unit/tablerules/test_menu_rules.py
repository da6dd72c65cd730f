"""line_price: the unit price of an order line with its options, and every refusal."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablerules.menu import (
    DUPLICATE_OPTION,
    OPTION_REQUIRED,
    TOO_MANY_OPTIONS,
    UNKNOWN_OPTION,
    ChosenOption,
    OptionChoice,
    OptionError,
    OptionGroup,
    choose_options,
    line_price,
)

SPICE = OptionGroup(id=1, name="辣度", is_required=True, max_choices=1, choices=(
    OptionChoice(11, "不辣"), OptionChoice(12, "微辣"), OptionChoice(13, "中辣"), OptionChoice(14, "特辣")))
SIZE = OptionGroup(id=2, name="份量", is_required=True, max_choices=1, choices=(
    OptionChoice(21, "小份"), OptionChoice(22, "大份", price_delta_cents=1000)))
EXTRAS = OptionGroup(id=3, name="加料", is_required=False, max_choices=2, choices=(
    OptionChoice(31, "加煎蛋", 300), OptionChoice(32, "加肉码", 800), OptionChoice(33, "加青菜", 200)))
CRAYFISH = (SPICE, SIZE)  # 口味虾: both required


def _refused(code, chosen, groups=CRAYFISH, price=12800):
    with pytest.raises(OptionError) as raised:
        line_price(price, chosen, groups=groups)
    assert raised.value.code == code
    return raised.value


def test_a_dish_without_options_costs_its_price():
    assert line_price(4200, [], groups=()) == 4200


def test_free_choices_keep_the_price_and_paid_ones_add_to_it():
    assert line_price(12800, [12, 21], groups=CRAYFISH) == 12800
    assert line_price(12800, [14, 22], groups=CRAYFISH) == 13800


def test_optional_groups_may_be_left_out_or_take_several_choices():
    noodles = (EXTRAS,)
    assert line_price(1800, [], groups=noodles) == 1800
    assert line_price(1800, [31, 32], groups=noodles) == 2900


def test_the_order_of_the_picks_does_not_matter():
    assert line_price(12800, [22, 13], groups=CRAYFISH) == line_price(12800, [13, 22], groups=CRAYFISH)


def test_a_required_group_left_out_is_option_required():
    error = _refused(OPTION_REQUIRED, [12])
    assert error.details == {"group_id": 2, "group": "份量"}


def test_two_choices_in_a_single_choice_group_is_too_many_options():
    error = _refused(TOO_MANY_OPTIONS, [11, 12, 21])
    assert error.details == {"group_id": 1, "group": "辣度", "max_choices": 1}
    _refused(TOO_MANY_OPTIONS, [31, 32, 33], groups=(EXTRAS,))


def test_too_many_is_reported_before_a_missing_required_group():
    _refused(TOO_MANY_OPTIONS, [21, 22])


def test_a_choice_of_another_dish_is_unknown_option():
    error = _refused(UNKNOWN_OPTION, [12, 21, 31])
    assert error.details == {"choice_id": 31}
    _refused(UNKNOWN_OPTION, [1], groups=())


def test_the_same_choice_twice_is_duplicate_option():
    _refused(DUPLICATE_OPTION, [12, 12, 21])


def test_choose_options_answers_the_picks_in_menu_order():
    assert choose_options([22, 13], CRAYFISH) == (
        ChosenOption(1, "辣度", 13, "中辣", 0),
        ChosenOption(2, "份量", 22, "大份", 1000),
    )


def test_bad_definitions_are_refused():
    with pytest.raises(ValueError):
        OptionChoice(1, "x", price_delta_cents=-1)
    with pytest.raises(ValueError):
        OptionGroup(1, "x", choices=(), max_choices=0)
    with pytest.raises(ValueError):
        line_price(-1, [], groups=())


@given(price=st.integers(0, 10**8), extras=st.sets(st.sampled_from([31, 32, 33]), max_size=2))
def test_the_unit_price_is_the_price_plus_the_chosen_deltas(price, extras):
    deltas = {31: 300, 32: 800, 33: 200}
    assert line_price(price, sorted(extras), groups=(EXTRAS,)) == price + sum(deltas[c] for c in extras)
