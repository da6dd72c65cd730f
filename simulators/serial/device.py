"""Virtual serial devices on pseudo-terminals: a 125 kHz card reader and a code scanner.

The device side is the pty master; the application opens ``path`` (the slave, or a symlink to
it) exactly like ``/dev/ttyUSB0``. Opening a serial port flushes its input, so nothing written
before the application opened the port reaches it — just as with the real hardware. Tests wait
until the reader reports it is connected before they swipe.
"""

from __future__ import annotations

import os
import time
import tty
from functools import reduce
from operator import xor

STX, ETX = b"\x02", b"\x03"


def rdm6300_checksum(card_hex: str) -> int:
    return reduce(xor, bytes.fromhex(card_hex))


def rdm6300_frame(card_hex: str, *, checksum: int | None = None) -> bytes:
    """The 14-byte frame a 125 kHz reader sends for ``card_hex`` (10 hex digits).

    ``checksum`` overrides the correct XOR, to make a corrupted frame.
    """
    card_hex = card_hex.upper()
    if len(card_hex) != 10 or any(c not in "0123456789ABCDEF" for c in card_hex):
        raise ValueError("a card number is 10 hex digits, e.g. 0A1B2C3D4E")
    value = rdm6300_checksum(card_hex) if checksum is None else checksum
    return STX + card_hex.encode("ascii") + f"{value:02X}".encode("ascii") + ETX


class VirtualSerialDevice:
    """A pty pair; the application opens ``path``, the simulator writes to the master end."""

    def __init__(self, link: str | None = None) -> None:
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no line editing — otherwise the tty would echo every frame back
        # and turn CR into LF before the application has configured the port.
        tty.setraw(self._slave)
        self.slave_path = os.ttyname(self._slave)
        self.link = link
        if link:
            if os.path.islink(link):
                os.unlink(link)
            os.symlink(self.slave_path, link)
        self.closed = False

    @property
    def path(self) -> str:
        return self.link or self.slave_path

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._master, view)
            view = view[written:]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self) -> VirtualSerialDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VirtualCardReader(VirtualSerialDevice):
    def swipe(self, card_hex: str, *, repeat: int = 1, interval_s: float = 0.0) -> None:
        """Present a card. A card held on a real reader repeats its frame; ``repeat`` does that."""
        frame = rdm6300_frame(card_hex)
        for i in range(repeat):
            if i and interval_s:
                time.sleep(interval_s)
            self.write(frame)

    def swipe_raw(self, data: bytes) -> None:
        self.write(data)


class VirtualScanner(VirtualSerialDevice):
    def scan(self, text: str, *, eol: str = "\r\n") -> None:
        self.write(text.encode("utf-8") + eol.encode("ascii"))
