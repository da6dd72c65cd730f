"""ESC/POS bytes back into what the paper would show: text lines with their style, plus marks.

Two layers: ``split_commands`` cuts a byte stream into commands (knowing how many parameter and
data bytes each takes, so it can also tell when a command is still incomplete — the virtual
printer reads from a socket in arbitrary chunks); ``decode`` replays the commands on a small
model of the printer and returns a ``DecodedJob``.

It covers what receipts and tickets use (text, ESC @, ESC E, ESC !, GS !, ESC a, ESC d, GS V,
ESC p, GS ( k QR codes, raster images, barcodes, status queries) and skips the rest by length;
whatever it does not recognise is listed in ``DecodedJob.unknown`` so a test can insist on none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C
LF, CR, HT, FF = 0x0A, 0x0D, 0x09, 0x0C
TEXT_ENCODING = "gb18030"

# Number of parameter bytes after ESC x / GS x / FS x for fixed-length commands.
_ESC_FIXED: dict[int, int] = {
    **dict.fromkeys(b"@2<imLS", 0),
    **dict.fromkeys(b"E!adJ-Mt3{=GRV ?%reUTA+KeF", 1),
    **dict.fromkeys(b"cB$\\", 2),
    ord("p"): 3,
}
_GS_FIXED: dict[int, int] = {
    **dict.fromkeys(b":", 0),
    **dict.fromkeys(b"!BHhwfb|arI/TE", 1),
    **dict.fromkeys(b"LWP$\\", 2),
    ord("^"): 3,
}
_FS_FIXED: dict[int, int] = {
    **dict.fromkeys(b"&.", 0),
    **dict.fromkeys(b"!C-WU", 1),
    **dict.fromkeys(b"Sp", 2),
}
_CUT_WITH_FEED = {65, 66, 97, 98, 103, 104}


@dataclass(frozen=True)
class Command:
    """One ESC/POS command. ``kind`` is ``text``, ``control`` or the command's prefix and letter."""

    kind: str
    raw: bytes

    @property
    def params(self) -> bytes:
        return self.raw[2:]


def _command_length(buf: bytes, i: int) -> int | None:
    """Length of the command starting at ``buf[i]``; None when more bytes are needed."""
    n = len(buf)

    def need(length: int) -> int | None:
        return length if i + length <= n else None

    def byte(offset: int) -> int | None:
        return buf[i + offset] if i + offset < n else None

    first = buf[i]
    if first >= 0x20:
        j = i
        while j < n and buf[j] >= 0x20:
            j += 1
        return j - i
    if first not in (ESC, GS, DLE, FS):
        return 1
    c = byte(1)
    if c is None:
        return None
    if first == ESC:
        if c in _ESC_FIXED:
            return need(2 + _ESC_FIXED[c])
        if c == ord("*"):  # ESC * m nL nH d...: bit image, 1 or 3 bytes per column
            m, low, high = byte(2), byte(3), byte(4)
            if high is None or m is None or low is None:
                return None
            return need(5 + (low + 256 * high) * (1 if m in (0, 1) else 3))
        if c == ord("D"):  # ESC D n1 ... NUL: tab stops
            end = buf.find(b"\x00", i + 2)
            return None if end < 0 else end - i + 1
        if c == ord("("):  # ESC ( fn pL pH ...
            low, high = byte(3), byte(4)
            return None if high is None or low is None else need(5 + low + 256 * high)
        return 2
    if first == GS:
        if c in _GS_FIXED:
            return need(2 + _GS_FIXED[c])
        if c == ord("V"):
            m = byte(2)
            if m is None:
                return None
            return need(4 if m in _CUT_WITH_FEED else 3)
        if c == ord("("):  # GS ( fn pL pH ...: QR codes (k), graphics (L), ...
            low, high = byte(3), byte(4)
            return None if high is None or low is None else need(5 + low + 256 * high)
        if c == ord("8") and byte(2) == ord("L"):  # GS 8 L p1 p2 p3 p4 ...
            if byte(6) is None:
                return None
            size = int.from_bytes(buf[i + 3 : i + 7], "little")
            return need(7 + size)
        if c == ord("v"):  # GS v 0 m xL xH yL yH d...: raster image
            if byte(7) is None:
                return None
            width = buf[i + 4] + 256 * buf[i + 5]
            height = buf[i + 6] + 256 * buf[i + 7]
            return need(8 + width * height)
        if c == ord("*"):  # GS * x y d...: define downloaded bit image
            x, y = byte(2), byte(3)
            return None if x is None or y is None else need(4 + x * y * 8)
        if c == ord("k"):  # GS k m ...: barcode, NUL-terminated (m <= 6) or counted
            m = byte(2)
            if m is None:
                return None
            if m <= 6:
                end = buf.find(b"\x00", i + 3)
                return None if end < 0 else end - i + 1
            count = byte(3)
            return None if count is None else need(4 + count)
        return 2
    if first == DLE:
        if c in (0x04, 0x05):  # DLE EOT n / DLE ENQ n
            return need(3)
        if c == 0x14:  # DLE DC4 fn m t
            return need(5)
        return 2
    return need(2 + _FS_FIXED.get(c, 0))


def _kind(raw: bytes) -> str:
    first = raw[0]
    if first >= 0x20:
        return "text"
    prefix = {ESC: "ESC", GS: "GS", DLE: "DLE", FS: "FS"}.get(first)
    if prefix is None or len(raw) < 2:
        return "control"
    return f"{prefix} {chr(raw[1])}" if 0x20 <= raw[1] < 0x7F else f"{prefix} 0x{raw[1]:02x}"


def split_commands(buf: bytes) -> tuple[list[Command], int]:
    """Commands at the start of ``buf`` and how many bytes they use; the rest is incomplete."""
    commands: list[Command] = []
    i = 0
    while i < len(buf):
        length = _command_length(buf, i)
        if length is None:
            break
        raw = bytes(buf[i : i + length])
        commands.append(Command(_kind(raw), raw))
        i += length
    return commands, i


class StreamParser:
    """Feeds arbitrary chunks from a socket; hands back whole commands as they complete."""

    MAX_PENDING = 16 << 20

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[Command]:
        self._pending += data
        commands, used = split_commands(bytes(self._pending))
        del self._pending[:used]
        if len(self._pending) > self.MAX_PENDING:  # a bogus length field; drop it
            self._pending.clear()
        return commands

    @property
    def pending(self) -> bytes:
        return bytes(self._pending)


# --- decoding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintedLine:
    text: str
    align: str = "left"
    bold: bool = False
    width: int = 1
    height: int = 1


@dataclass(frozen=True)
class Mark:
    """Something on the paper that is not text: ``cut``, ``qr``, ``drawer``, ``image``, ``barcode``, ``feed``."""

    kind: str
    value: str = ""


@dataclass
class DecodedJob:
    items: list[PrintedLine | Mark] = field(default_factory=list)
    unknown: list[bytes] = field(default_factory=list)

    @property
    def printed_lines(self) -> list[PrintedLine]:
        return [item for item in self.items if isinstance(item, PrintedLine)]

    @property
    def lines(self) -> list[str]:
        return [line.text for line in self.printed_lines]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def marks(self, kind: str) -> list[Mark]:
        return [item for item in self.items if isinstance(item, Mark) and item.kind == kind]

    @property
    def qr_codes(self) -> list[str]:
        return [mark.value for mark in self.marks("qr")]

    @property
    def cuts(self) -> int:
        return len(self.marks("cut"))

    @property
    def drawer_kicks(self) -> int:
        return len(self.marks("drawer"))

    def line(self, containing: str) -> PrintedLine | None:
        return next((line for line in self.printed_lines if containing in line.text), None)


class _Printer:
    """Just enough printer state to know how each line would look."""

    def __init__(self) -> None:
        self.job = DecodedJob()
        self.reset()
        self.qr_data = b""

    def reset(self) -> None:
        self.buffer = bytearray()
        self.align = "left"
        self.bold = False
        self.width = 1
        self.height = 1
        self.line_style: tuple[str, bool, int, int] | None = None

    def text(self, data: bytes) -> None:
        if self.line_style is None:
            # ESC a only takes effect at the start of a line, so the line keeps its first style.
            self.line_style = (self.align, self.bold, self.width, self.height)
        self.buffer += data

    def end_line(self, *, blank_ok: bool = True) -> None:
        if not self.buffer and not blank_ok:
            return
        align, bold, width, height = self.line_style or (self.align, self.bold, self.width, self.height)
        text = bytes(self.buffer).decode(TEXT_ENCODING, "replace")
        self.job.items.append(PrintedLine(text, align, bold, width, height))
        self.buffer.clear()
        self.line_style = None

    def mark(self, kind: str, value: str = "") -> None:
        self.end_line(blank_ok=False)
        self.job.items.append(Mark(kind, value))

    def apply(self, command: Command) -> None:
        raw, kind = command.raw, command.kind
        if kind == "text":
            self.text(raw)
        elif kind == "control":
            if raw[0] == LF:
                self.end_line()
            elif raw[0] == HT:
                self.text(b" ")
            elif raw[0] == FF:
                self.mark("feed", "page")
            # CR and other single control bytes print nothing on a roll printer
        elif kind == "ESC @":
            self.reset()  # also discards anything buffered but not yet printed
        elif kind == "ESC E":
            self.bold = bool(raw[2] & 1)
        elif kind == "ESC !":
            mode = raw[2]
            self.bold = bool(mode & 0x08)
            self.height = 2 if mode & 0x10 else 1
            self.width = 2 if mode & 0x20 else 1
        elif kind == "GS !":
            self.width = (raw[2] >> 4) + 1
            self.height = (raw[2] & 0x0F) + 1
        elif kind == "ESC a":
            self.align = {0: "left", 1: "center", 2: "right"}.get(raw[2] % 48, "left")
        elif kind in ("ESC d", "ESC J"):
            self.mark("feed", str(raw[2]))
        elif kind == "GS V":
            self.mark("cut", "full" if raw[2] in (0, 48, 65, 97, 103) else "partial")
        elif kind == "ESC p":
            self.mark("drawer", "pin5" if raw[2] in (1, 49) else "pin2")
        elif kind == "GS (":
            self._extended(raw)
        elif kind in ("GS v", "ESC *", "GS 8"):
            self.mark("image", kind)
        elif kind == "GS k":
            data = raw[3:-1] if raw[2] <= 6 else raw[4:]
            self.mark("barcode", data.decode("ascii", "replace"))
        elif kind in _IGNORED:
            pass
        else:
            self.job.unknown.append(raw)

    def _extended(self, raw: bytes) -> None:
        function = raw[2]
        if function == ord("k") and len(raw) >= 7:
            symbol, fn = raw[5], raw[6]
            if symbol == 0x31 and fn == 80:  # store QR data (after the m byte)
                self.qr_data = raw[8:]
            elif symbol == 0x31 and fn == 81:  # print the stored QR code
                self.mark("qr", self.qr_data.decode("utf-8", "replace"))
            elif fn == 81:
                self.mark("barcode", f"2D symbol 0x{symbol:02x}")
        elif function == ord("L") and len(raw) >= 7 and raw[6] in (50, 2):  # print graphics buffer
            self.mark("image", "GS ( L")


# Commands that change nothing the decoded text shows (fonts, spacing, code pages, Chinese mode,
# status queries, buzzer, ...): accepted without remark.
_IGNORED = frozenset(
    {"ESC -", "ESC M", "ESC t", "ESC 2", "ESC 3", "ESC {", "ESC =", "ESC G", "ESC R", "ESC V", "ESC c",
     "ESC B", "ESC D", "ESC  ", "ESC $", "ESC \\", "ESC (", "ESC %", "ESC ?", "ESC r", "ESC U", "ESC T",
     "ESC +", "ESC A", "ESC i", "ESC m", "ESC L", "ESC S", "ESC <", "GS B", "GS H", "GS h", "GS w",
     "GS f", "GS b", "GS |", "GS a", "GS r", "GS I", "GS L", "GS W", "GS P", "GS $", "GS \\", "GS ^",
     "GS /", "GS T", "GS E", "GS :", "GS *", "FS &", "FS .", "FS !", "FS C", "FS -", "FS W",
     "FS S", "FS p", "FS U", "DLE 0x04", "DLE 0x05", "DLE 0x14"}
)  # fmt: skip


def iter_commands(data: bytes) -> Iterator[Command]:
    commands, used = split_commands(data)
    yield from commands
    if used < len(data):
        yield Command("incomplete", data[used:])


def decode(data: bytes) -> DecodedJob:
    """What ``data`` would print, as lines and marks."""
    printer = _Printer()
    for command in iter_commands(data):
        if command.kind == "incomplete":
            printer.job.unknown.append(command.raw)
        else:
            printer.apply(command)
    printer.end_line(blank_ok=False)  # text never ended by LF still shows on a real printer
    return printer.job
