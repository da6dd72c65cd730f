"""Finding a dish at the till by what the cashier types: part of its name, its English name, its
pinyin run together, or its pinyin initials (``ljcr`` → 辣椒炒肉). The pinyin comes from pypinyin,
not from a hand-made table. Pure: no DB, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin


@dataclass(frozen=True)
class DishKeys:
    pinyin: str  # 'lajiaochaorou'
    initials: str  # 'ljcr'


@lru_cache(maxsize=8192)
def dish_keys(name: str) -> DishKeys:
    """The pinyin of a dish name run together and its initials, lower case; characters that are
    not Chinese (digits, latin letters) are kept as they are."""
    syllables = [s.lower() for s in lazy_pinyin(name, errors="default") if s.strip()]
    initials = [s.lower() for s in lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default") if s.strip()]
    return DishKeys(pinyin="".join(syllables).replace(" ", ""), initials="".join(initials).replace(" ", ""))


def matches(query: str, name: str, name_en: str = "") -> bool:
    """Whether what the cashier typed finds this dish (case and spaces do not count)."""
    q = "".join(query.lower().split())
    if not q:
        return True
    keys = dish_keys(name)
    return (q in name.lower().replace(" ", "") or q in name_en.lower().replace(" ", "")
            or keys.pinyin.startswith(q) or keys.initials.startswith(q) or q in keys.pinyin)


def rank(query: str, name: str, name_en: str = "") -> int:
    """Lower is a better match: initials from the start, then name, then pinyin."""
    q = "".join(query.lower().split())
    keys = dish_keys(name)
    if keys.initials == q:
        return 0
    if keys.initials.startswith(q):
        return 1
    if name.startswith(query.strip()):
        return 2
    if keys.pinyin.startswith(q):
        return 3
    return 4
