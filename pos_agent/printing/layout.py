"""Fixed-width column layout for thermal paper, where a Chinese character takes two columns.

Pure functions over ``str``: a line is only ever broken between characters, never inside one, so
the GB18030 bytes of a character always stay together on one printed line.

Width rule: text is sent to the printer as GB18030. ASCII is one byte and prints in the half-width
font; every other character is two or four bytes and the printer draws it with the full-width
Hanzi font, two columns wide. So the width is 1 for ASCII and 2 for everything else. That is the
same as Unicode's East Asian Width for W and F characters, and also right for the "ambiguous" ones
(``×``, ``°``, ``·``, ``①``) that Chinese printers print full-width.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

Align = Literal["left", "center", "right"]

# Characters a Chinese line must not start with (closing punctuation), so "，" or "）" is pulled
# onto the line before together with one character, as typesetters do.
_NO_LINE_START = frozenset("，。、；：？！）》」』】〕〉％%,.;:?!)]}…—～·")

# ... and characters it must not end with (opening brackets), which move to the next line.
_NO_LINE_END = frozenset("（《「『【〔〈(")

_TOKEN = re.compile(r"[!-~]+| +|[^ !-~]")
_VARIATION_SELECTOR = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def char_width(ch: str) -> int:
    """Columns one character takes on the paper: 1 for ASCII, 2 for anything else."""
    return 1 if ord(ch) < 0x80 else 2


def text_width(text: str) -> int:
    return sum(1 if ord(ch) < 0x80 else 2 for ch in text)


def clean(text: str) -> str:
    """Make free text printable: NFC, whitespace to plain spaces, control/format characters dropped.

    Dish names and notes come from staff and diners' phones; a stray tab, zero-width joiner or
    emoji variation selector would otherwise throw the column count off or print as a box.
    """
    text = str(text)
    if text.isprintable() and not _VARIATION_SELECTOR.search(text) and unicodedata.is_normalized("NFC", text):
        return text  # the common case, and this runs for every line of every document
    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in text:
        if ch in "\t\r\n\u3000" or (ch.isspace() and ord(ch) >= 0x80):
            # The ideographic space is kept as two ASCII spaces so widths stay predictable.
            out.append("  " if ch == "\u3000" else " ")
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cf", "Cs", "Co", "Cn") or _VARIATION_SELECTOR.match(ch):
            continue
        out.append(ch)
    return "".join(out)


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into lines of at most ``width`` columns.

    English words stay whole unless longer than a line; Chinese breaks between any two
    characters (but not before closing punctuation). Spaces at a break are dropped. Always
    returns at least one line (possibly empty).
    """
    if width < 2:
        raise ValueError("width must be at least 2 columns (one Chinese character)")
    lines: list[str] = []
    current: list[str] = []
    used = 0

    def flush() -> None:
        nonlocal current, used
        while current and current[-1].isspace():
            current.pop()
        lines.append("".join(current))
        current, used = [], 0

    for token in _TOKEN.findall(clean(text)):
        size = text_width(token)
        if token.isspace():
            if not current:
                continue
            if used + size <= width:
                current.append(token)
                used += size
            else:
                flush()
            continue
        if used + size <= width:
            current.append(token)
            used += size
            continue
        if size > width:
            # A word longer than the line (a long SKU or URL): split it by character.
            for ch in token:
                if used + 1 > width:
                    flush()
                current.append(ch)
                used += 1
            continue
        carried: list[str] = []
        if (
            len(current) >= 2
            and not current[-1].isspace()
            and text_width(current[-1]) + size <= width
            and (token in _NO_LINE_START or current[-1] in _NO_LINE_END)
        ):
            carried = [current.pop()]
        flush()
        current = [*carried, token]
        used = text_width("".join(current))
    if current or not lines:
        flush()
    return lines


def pad(text: str, width: int, align: Align = "left") -> str:
    """Pad ``text`` with spaces to exactly ``width`` columns (text must already fit)."""
    gap = max(0, width - text_width(text))
    if align == "right":
        return " " * gap + text
    if align == "center":
        left = gap // 2
        return " " * left + text + " " * (gap - left)
    return text + " " * gap


def row(left: str, right: str, width: int) -> list[str]:
    """A label on the left and an amount flush right: ``小计            ￥120.00``.

    A long label wraps in the space left of the amount; the amount stays on the first line.
    """
    left, right = clean(left), clean(right)
    right_w = text_width(right)
    if right_w + 1 + 2 > width:
        return [*wrap(left, width), pad(right, width, "right")]
    parts = wrap(left, width - right_w - 1)
    first = pad(parts[0], width - right_w) + right
    return [first, *parts[1:]]


def table_row(name: str, cells: Sequence[str], widths: Sequence[int], width: int) -> list[str]:
    """An item row: a name that wraps, then right-aligned cells of fixed ``widths``.

    ``宫保鸡丁（微辣）     2    ￥76.00`` — the cells sit on the first line, each preceded by one
    space; the name gets whatever is left of ``width``.
    """
    fixed = sum(widths) + len(widths)
    name_width = width - fixed
    if name_width < 2:
        raise ValueError("cells leave no room for the name")
    parts = wrap(name, name_width)
    tail = "".join(" " + pad(clean(cell), w, "right") for cell, w in zip(cells, widths, strict=True))
    first = pad(parts[0], name_width) + tail
    return [first, *parts[1:]]


def rule(width: int, char: str = "-") -> str:
    return char * (width // char_width(char))


def indent(lines: Sequence[str], prefix: str = "  ") -> list[str]:
    return [prefix + line for line in lines]
