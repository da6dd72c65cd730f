import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pos_agent.printing import layout


def independent_width(text: str) -> int:
    """Width as a Chinese printer prints it, computed another way: East Asian Width W/F/A are
    double, and so is anything GB18030 encodes in more than one byte."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" or len(ch.encode("gb18030")) > 1 else 1 for ch in text)


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("abc", 3),
        ("宫保鸡丁", 8),
        ("￥12.00", 7),
        ("𠮷野家", 6),  # a four-byte GB18030 character is still one double-width glyph
        ("×2", 3),  # ambiguous width: full-width on a Chinese printer
        ("Café", 5),
        ("", 0),
    ],
)
def test_text_width_counts_chinese_as_two_columns(text, width):
    assert layout.text_width(text) == width
    assert independent_width(text) == width


def test_clean_drops_control_and_invisible_characters():
    assert layout.clean("宫保\t鸡丁\n") == "宫保 鸡丁 "
    assert layout.clean("辣\u200d椒\ufe0f") == "辣椒"  # zero-width joiner, variation selector
    assert layout.clean("全\u3000角") == "全  角"
    assert layout.clean("e\u0301") == "é"  # composed, so it prints as one glyph


def test_wrap_breaks_chinese_between_characters():
    assert layout.wrap("红烧牛肉面加辣", 8) == ["红烧牛肉", "面加辣"]


def test_wrap_never_splits_a_double_width_character_across_lines():
    # 7 columns hold three Chinese characters and one spare column, never half a character.
    assert layout.wrap("一二三四五六", 7) == ["一二三", "四五六"]


def test_wrap_keeps_english_words_whole_and_splits_overlong_ones():
    assert layout.wrap("Kung Pao Chicken with peanuts", 12) == ["Kung Pao", "Chicken with", "peanuts"]
    assert layout.wrap("ABCDEFGHIJKLMNOP", 6) == ["ABCDEF", "GHIJKL", "MNOP"]


def test_wrap_does_not_start_a_line_with_closing_punctuation():
    assert layout.wrap("鲜虾云吞面，加蛋", 10) == ["鲜虾云吞", "面，加蛋"]


def test_wrap_does_not_end_a_line_with_an_opening_bracket():
    assert layout.wrap("特制牛肉饭（大份）", 12) == ["特制牛肉饭", "（大份）"]


def test_wrap_mixed_text_and_empty_input():
    assert layout.wrap("宫保鸡丁 Kung Pao", 10) == ["宫保鸡丁", "Kung Pao"]
    assert layout.wrap("", 10) == [""]
    with pytest.raises(ValueError):
        layout.wrap("字", 1)


def test_row_puts_the_amount_flush_right_and_wraps_a_long_label():
    assert layout.row("小计", "￥120.00", 20) == ["小计        ￥120.00"]
    lines = layout.row("会员折扣 金卡九折 Member discount", "-￥8.00", 26)
    assert lines == ["会员折扣 金卡九折  -￥8.00", "Member discount"]
    assert layout.text_width(lines[0]) == 26


def test_table_row_keeps_cells_aligned_under_a_wrapped_name():
    lines = layout.table_row("𠮷祥馄饨（鲜虾）特大份", ["1", "￥18.00"], [4, 7], 32)
    assert lines == ["𠮷祥馄饨（鲜虾）特     1 ￥18.00", "大份"]
    assert all(layout.text_width(line) <= 32 for line in lines)
    assert layout.text_width(lines[0]) == 32


def test_pad_and_rule():
    assert layout.pad("￥1", 6, "right") == "   ￥1"
    assert layout.pad("中", 5, "center") == " 中  "
    assert layout.rule(5) == "-----"
    assert layout.rule(5, "—") == "——"  # a full-width rule character fills two columns


texts = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from("宫保鸡丁红烧牛肉，。（）《》￥𠮷龘㵘×·é"),
        st.sampled_from(["\t", "\u3000", "\u200d"]),
    ),
    max_size=80,
)


@settings(max_examples=300, database=None, deadline=None)
@given(text=texts, width=st.integers(min_value=2, max_value=48))
def test_wrap_properties(text, width):
    lines = layout.wrap(text, width)
    assert lines
    for line in lines:
        assert layout.text_width(line) <= width
        assert not line.startswith(" ")
        assert line.encode("gb18030").decode("gb18030") == line  # whole characters only
    # Nothing is lost or reordered: only spaces at the breaks disappear.
    assert "".join(lines).replace(" ", "") == layout.clean(text).replace(" ", "")


@settings(max_examples=200, database=None, deadline=None)
@given(
    left=texts,
    right=st.sampled_from(["￥0.00", "-￥8.00", "￥12345.67", "+137", "x2"]),
    width=st.sampled_from([32, 48]),
)
def test_row_properties(left, right, width):
    lines = layout.row(left, right, width)
    assert lines[0].endswith(right)
    assert layout.text_width(lines[0]) == width
    assert all(layout.text_width(line) <= width for line in lines)
