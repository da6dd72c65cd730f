"""One helper for every status in the system: a transition table per domain, nothing else moves
a status. Orders and their lines, kitchen tickets, table sessions, tables, member cards,
coupons and payment intents each declare `Transitions(...)` over their own enums."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E")


class IllegalTransition(ValueError):
    def __init__(self, state: enum.Enum | object, event: object) -> None:
        name = state.name.lower() if isinstance(state, enum.Enum) else str(state)
        super().__init__(f"cannot {getattr(event, 'value', event)} from {name}")
        self.state, self.event = state, event


class Transitions(Generic[S, E]):
    """`(state, event) -> next state`; anything not in the table raises IllegalTransition."""

    def __init__(self, table: Mapping[tuple[S, E], S]) -> None:
        self.table = dict(table)

    def next(self, state: S, event: E) -> S:
        try:
            return self.table[(state, event)]
        except KeyError:
            raise IllegalTransition(state, event) from None

    def allows(self, state: S, event: E) -> bool:
        return (state, event) in self.table

    __call__ = next
