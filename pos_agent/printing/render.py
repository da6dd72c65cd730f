"""Print operations → ESC/POS bytes, written through a python-escpos printer object.

Text never goes through python-escpos' ``text()``: its magic encoder picks a code page per
character and turns ``￥`` and rare Chinese characters into ``?``. Each line is encoded here as
GB18030 and sent with ``_raw``, which is what a Chinese thermal printer in Chinese mode expects.
Styles are sent only when they change, starting from the state ``ESC @`` leaves the printer in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos

from .ops import QR, Cut, Drawer, Feed, Line, Op

ENCODING = "gb18030"
# FS & — Chinese (Kanji) character mode: two-byte codes print as one full-width character.
FS_KANJI_ON = b"\x1c&"

QrMode = Literal["native", "image", "text"]
CutMode = Literal["partial", "full", "none"]


@dataclass(frozen=True)
class RenderOptions:
    chinese_mode: bool = True
    cut: CutMode = "partial"
    qr: QrMode = "native"


@dataclass
class _Style:
    align: str = "left"
    bold: bool = False
    width: int = 1
    height: int = 1


def encode(text: str) -> bytes:
    # GB18030 maps all of Unicode; "replace" only guards against lone surrogates.
    return text.encode(ENCODING, "replace")


def render(ops: Iterable[Op], printer: Escpos, options: RenderOptions = RenderOptions()) -> None:
    """Write one complete job for ``ops`` to ``printer``, starting with ``ESC @``."""
    printer.hw("INIT")
    if options.chinese_mode:
        printer._raw(FS_KANJI_ON)
    style = _Style()
    for op in ops:
        if isinstance(op, Line):
            # Alignment means nothing on an empty line; keep the current one and save two bytes.
            align = op.align if op.text else style.align
            _apply_style(printer, style, align, op.bold, op.width, op.height)
            printer._raw(encode(op.text) + b"\n")
        elif isinstance(op, QR):
            _qr(printer, style, op, options.qr)
        elif isinstance(op, Feed):
            printer.print_and_feed(op.lines)
        elif isinstance(op, Cut):
            if options.cut == "none":
                printer.print_and_feed(4)
            else:
                printer.cut(mode="PART" if options.cut == "partial" else "FULL")
        elif isinstance(op, Drawer):
            printer.cashdraw(op.pin)
        else:  # pragma: no cover - the Op union is closed
            raise TypeError(f"not a print operation: {op!r}")


def _apply_style(printer: Escpos, style: _Style, align: str, bold: bool, width: int, height: int) -> None:
    if (width, height) != (style.width, style.height):
        # GS ! rather than ESC !: it magnifies Chinese characters too, not only ASCII.
        printer.set(custom_size=True, width=width, height=height)
        style.width, style.height = width, height
    if bold != style.bold:
        printer.set(bold=bold)
        style.bold = bold
    if align != style.align:
        printer.set(align=align)
        style.align = align


def _qr(printer: Escpos, style: _Style, op: QR, mode: QrMode) -> None:
    _apply_style(printer, style, "center", style.bold, 1, 1)
    if mode == "native":
        printer.qr(op.content, ec=QR_ECLEVEL_M, size=op.size, native=True)
    elif mode == "image":
        printer.qr(op.content, ec=QR_ECLEVEL_M, size=op.size, native=False)
    else:
        printer._raw(encode(op.content) + b"\n")
