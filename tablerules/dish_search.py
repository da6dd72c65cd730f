"""Finding a dish by what a cashier or a diner types: part of its name, its English name, its
pinyin run together, or its pinyin initials (``ljcr`` → 辣椒炒肉). Pure and dependency-free: the
pinyin itself comes from pypinyin on the server (`app.menu.search.dish_keys`), which hands each
dish's keys to the agents with the menu of their local copy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DishKeys:
    pinyin: str  # 'lajiaochaorou'
    initials: str  # 'ljcr'


def _plain(text: str) -> str:
    return "".join(text.lower().split())


def matches(query: str, name: str, name_en: str, keys: DishKeys) -> bool:
    """Whether what was typed finds this dish (case and spaces do not count)."""
    q = _plain(query)
    if not q:
        return True
    return (q in _plain(name) or q in _plain(name_en) or keys.pinyin.startswith(q) or keys.initials.startswith(q)
            or q in keys.pinyin)


def rank(query: str, name: str, keys: DishKeys) -> int:
    """Lower is a better match: the initials exactly, the initials from the start, the name from
    the start, the pinyin from the start, anything else."""
    q = _plain(query)
    if keys.initials == q:
        return 0
    if keys.initials.startswith(q):
        return 1
    if name.startswith(query.strip()):
        return 2
    if keys.pinyin.startswith(q):
        return 3
    return 4


def search_text(name: str, name_en: str, keys: DishKeys) -> str:
    """Everything a search box may match, lower case, space separated ('红烧肉 … hongshaorou hsr')."""
    return " ".join(k for k in (name.lower(), name_en.lower(), keys.pinyin, keys.initials) if k)
