"""Dish options: which choices an order line may carry, and what one unit then costs.

A dish has option groups (辣度 spice level, 份量 size …), each with choices that may add to the
price. ``line_price`` checks a diner's picks against the groups and answers the unit price,
options included — the figure an order line stores and pricing multiplies by the quantity.

Checks, in this order (the first that fails is the error):

1. every chosen id is a choice of this dish (``unknown_option``), and none is chosen twice
   (``duplicate_option``);
2. no group gets more than its ``max_choices`` (``too_many_options``);
3. every required group gets at least one choice (``option_required``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

OPTION_REQUIRED = "option_required"
TOO_MANY_OPTIONS = "too_many_options"
UNKNOWN_OPTION = "unknown_option"
DUPLICATE_OPTION = "duplicate_option"


@dataclass(frozen=True)
class OptionChoice:
    id: int
    name: str
    price_delta_cents: int = 0

    def __post_init__(self) -> None:
        if self.price_delta_cents < 0:
            raise ValueError(f"choice {self.id}: price_delta_cents must be >= 0")


@dataclass(frozen=True)
class OptionGroup:
    id: int
    name: str
    choices: tuple[OptionChoice, ...]
    is_required: bool = False
    max_choices: int = 1

    def __post_init__(self) -> None:
        if self.max_choices < 1:
            raise ValueError(f"group {self.id}: max_choices must be >= 1")


@dataclass(frozen=True)
class ChosenOption:
    """A choice as picked for a line, with its group (for the kitchen ticket and the receipt)."""

    group_id: int
    group_name: str
    choice_id: int
    name: str
    price_delta_cents: int


class OptionError(ValueError):
    """The picks do not fit the dish's option groups. ``code`` is the API error code."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


def choose_options(chosen_options: Iterable[int], groups: Sequence[OptionGroup]) -> tuple[ChosenOption, ...]:
    """The picks checked against the dish's groups, in menu order (group, then choice)."""
    known = {choice.id for group in groups for choice in group.choices}
    picked: list[int] = []
    for choice_id in chosen_options:
        if choice_id not in known:
            raise OptionError(UNKNOWN_OPTION, f"option {choice_id} is not a choice of this dish",
                              choice_id=choice_id)
        if choice_id in picked:
            raise OptionError(DUPLICATE_OPTION, f"option {choice_id} is chosen twice", choice_id=choice_id)
        picked.append(choice_id)

    in_group = {group.id: [choice for choice in group.choices if choice.id in picked] for group in groups}
    for group in groups:
        if len(in_group[group.id]) > group.max_choices:
            raise OptionError(TOO_MANY_OPTIONS, f"at most {group.max_choices} choice(s) for {group.name}",
                              group_id=group.id, group=group.name, max_choices=group.max_choices)
    for group in groups:
        if group.is_required and not in_group[group.id]:
            raise OptionError(OPTION_REQUIRED, f"a choice for {group.name} is required",
                              group_id=group.id, group=group.name)
    return tuple(ChosenOption(group.id, group.name, choice.id, choice.name, choice.price_delta_cents)
                 for group in groups for choice in in_group[group.id])


def line_price(dish_price_cents: int, chosen_options: Iterable[int], *, groups: Sequence[OptionGroup]) -> int:
    """The unit price of a line: the dish's price plus the deltas of the chosen options."""
    if dish_price_cents < 0:
        raise ValueError("dish_price_cents must be >= 0")
    return dish_price_cents + sum(c.price_delta_cents for c in choose_options(chosen_options, groups))
