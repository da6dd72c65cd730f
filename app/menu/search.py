"""The pinyin of a dish name, the one place pypinyin is called: the diner's search and the
agents' local copy (for the till's search) take a dish's keys from here."""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from tablerules.dish_search import DishKeys


@lru_cache(maxsize=8192)
def dish_keys(name: str) -> DishKeys:
    """The pinyin of a dish name run together and its initials, lower case; characters that are
    not Chinese (digits, latin letters) are kept as they are."""
    syllables = [s.lower() for s in lazy_pinyin(name, errors="default") if s.strip()]
    initials = [s.lower() for s in lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default") if s.strip()]
    return DishKeys(pinyin="".join(syllables).replace(" ", ""), initials="".join(initials).replace(" ", ""))
