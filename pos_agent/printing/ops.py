"""Print operations: what a document is made of, before any printer is involved.

Documents are lists of these small values, built by pure functions and already laid out in
columns, so a test can read a receipt as text and the renderer only has to translate each one
into ESC/POS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class Line:
    """One printed line. ``width``/``height`` are character magnifications (1 or 2)."""

    text: str
    align: Align = "left"
    bold: bool = False
    width: int = 1
    height: int = 1


@dataclass(frozen=True)
class QR:
    """A QR code printed centred, e.g. the WeChat Pay NATIVE ``code_url``."""

    content: str
    size: int = 6


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class Drawer:
    """Pulse the cash drawer connected to the printer (pin 2 unless told otherwise)."""

    pin: int = 2


Op = Line | QR | Feed | Cut | Drawer


def as_text(ops: Iterable[Op]) -> str:
    """A plain-text view of a document, for logs, the status page and readable test failures."""
    out: list[str] = []
    for op in ops:
        if isinstance(op, Line):
            out.append(op.text)
        elif isinstance(op, QR):
            out.append(f"[QR {op.content}]")
        elif isinstance(op, Feed):
            out.extend([""] * op.lines)
        elif isinstance(op, Cut):
            out.append("[CUT]")
        elif isinstance(op, Drawer):
            out.append("[DRAWER]")
    return "\n".join(out)
