"""A small builder that lays text out in the paper's columns and collects print operations."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from . import layout
from .ops import QR, Align, Cut, Drawer, Feed, Line, Op

REPRINT_MARK = "重打 REPRINT"  # on every paper printed again, so a copy is never taken for the first


class Page:
    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.ops: list[Op] = []

    def text(self, text: str, *, align: Align = "left", bold: bool = False, width: int = 1, height: int = 1) -> None:
        """Wrap ``text`` to the paper; magnified text gets proportionally fewer columns."""
        for part in layout.wrap(text, self.columns // width):
            self.ops.append(Line(part, align=align, bold=bool(bold), width=width, height=height))

    def reprint_banner(self) -> None:
        """The large 重打 REPRINT line at the top of a paper printed again."""
        self.text(REPRINT_MARK, align="center", bold=True, width=2, height=2)

    def indented(self, text: str, *, prefix: str = "  ", bold: bool = False, height: int = 1) -> None:
        for part in layout.indent(layout.wrap(text, self.columns - layout.text_width(prefix)), prefix):
            self.ops.append(Line(part, bold=bold, height=height))

    def row(self, left: str, right: str, *, bold: bool = False, height: int = 1) -> None:
        for part in layout.row(left, right, self.columns):
            self.ops.append(Line(part, bold=bold, height=height))

    def table_row(self, name: str, cells: list[str], widths: list[int], *, bold: bool = False) -> None:
        for part in layout.table_row(name, cells, widths, self.columns):
            self.ops.append(Line(part, bold=bold))

    def rule(self, char: str = "-") -> None:
        self.ops.append(Line(layout.rule(self.columns, char)))

    def blank(self) -> None:
        self.ops.append(Line(""))

    def qr(self, content: str, size: int = 6) -> None:
        self.ops.append(QR(content, size=size))

    def feed(self, lines: int) -> None:
        self.ops.append(Feed(lines))

    def cut(self) -> None:
        self.ops.append(Cut())

    def drawer(self) -> None:
        self.ops.append(Drawer())


def local_time(value: str | datetime, timezone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show an ISO time (or datetime) in the store's time zone; naive values are store-local already."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(timezone))
    return moment.strftime(fmt)
