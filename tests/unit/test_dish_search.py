"""Finding a dish at the till by name, pinyin or pinyin initials (pypinyin, no hand-made table)."""

from app.menu.search import dish_keys
from tablerules import dish_search


def matches(query: str, name: str, name_en: str = "") -> bool:
    return dish_search.matches(query, name, name_en, dish_keys(name))


def rank(query: str, name: str) -> int:
    return dish_search.rank(query, name, dish_keys(name))


def test_pinyin_and_initials_come_from_the_name():
    assert dish_keys("辣椒炒肉").initials == "ljcr"
    assert dish_keys("辣椒炒肉").pinyin == "lajiaochaorou"
    assert dish_keys("可乐500ml").initials.startswith("kl")


def test_what_the_cashier_types_finds_the_dish():
    for query in ("ljcr", "LJ", "lajiao", "chaorou", "辣椒", " l j c r "):
        assert matches(query, "辣椒炒肉"), query
    assert matches("cola", "可乐", "Cola")
    assert not matches("ljcr", "剁椒鱼头")
    assert not matches("xyz", "辣椒炒肉")


def test_initials_rank_first():
    assert rank("ljcr", "辣椒炒肉") < rank("ljcr", "辣椒炒肉丝") < rank("la", "腊肉") + 10
    assert rank("ljcr", "辣椒炒肉") == 0
