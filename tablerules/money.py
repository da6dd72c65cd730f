"""Money is integer fen everywhere; this is the one place that turns it into yuan text and back."""

from __future__ import annotations

import re

_YUAN_RE = re.compile(r"^\s*(-)?(\d{1,12})(?:\.(\d{1,2}))?\s*$")


def to_yuan(cents: int) -> str:
    """1250 -> '12.50'; -5 -> '-0.05'."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def to_yuan_short(cents: int) -> str:
    """Whole yuan without the fen, as on menus and posters: 10000 -> '100'; 1250 -> '12.50'."""
    text = to_yuan(cents)
    return text.removesuffix(".00")


def zhe(percent_off: int) -> str:
    """Percent off as the figure before 折, as menus write it: 12 -> '8.8', 10 -> '9', 0 -> '10'."""
    paid = 100 - percent_off
    return str(paid // 10) if paid % 10 == 0 else f"{paid // 10}.{paid % 10}"


def format_cny(cents: int) -> str:
    """1250 -> '￥12.50' (full-width yen sign, as printed on Chinese receipts)."""
    return ("-" if cents < 0 else "") + "￥" + to_yuan(abs(cents))


def parse_yuan(text: str) -> int:
    """'12.5' -> 1250. Raises ValueError for anything that is not a plain yuan amount."""
    match = _YUAN_RE.match(text)
    if not match:
        raise ValueError(f"not a yuan amount: {text!r}")
    sign, whole, frac = match.groups()
    cents = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
    return -cents if sign else cents
