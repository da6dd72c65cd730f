"""Card readers and code scanners on serial ports, read with pyserial's ``ReaderThread``.

Two framings:

* ``rdm6300`` — 125 kHz readers: ``0x02`` + 10 ASCII hex (the card) + 2 ASCII hex (XOR of the
  five card bytes) + ``0x03``, repeated for as long as the card lies on the reader. Frames with a
  bad checksum are dropped; repeats of the same card are debounced.
* ``line`` — scanners and line-mode card readers: one code per line, ending in CR (which also
  covers CRLF) or LF.

A reader that is unplugged is reopened every few seconds; its state shows on the status page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import reduce
from operator import xor
from typing import Any

import serial
from serial.threaded import Packetizer, ReaderThread

from .codes import classify, normalise
from .config import ReaderConfig
from .events import EventLog

log = logging.getLogger(__name__)

STX, ETX = b"\x02", b"\x03"
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_MAX_BUFFER = 4096  # a line longer than this is noise, not a code


class _ReaderThread(ReaderThread):
    """``ReaderThread`` whose read loop also survives the port vanishing.

    pyserial's loop asks ``in_waiting`` outside its error handling; when a USB adapter is pulled
    (or a pty's other end closes) that ioctl raises ``OSError`` and the thread dies without telling
    its protocol, so the reader would never be reopened. Here every I/O error ends the loop the
    same way: ``connection_lost(error)``.
    """

    def run(self) -> None:
        self.protocol = self.protocol_factory()
        try:
            self.protocol.connection_made(self)
        except Exception as exc:
            self.alive = False
            self.protocol.connection_lost(exc)
            self._connection_made.set()
            return
        self._connection_made.set()
        error: BaseException | None = None
        while self.alive and self.serial.is_open:
            try:
                data = self.serial.read(self.serial.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial reading a port that was closed under it (fd is None).
                error = exc
                break
            if data:
                try:
                    self.protocol.data_received(data)
                except Exception as exc:
                    error = exc
                    break
        self.alive = False
        self.protocol.connection_lost(error)
        self.protocol = None


class CardFrameProtocol(Packetizer):
    """Splits the byte stream at ETX and checks each RDM6300 frame."""

    TERMINATOR = ETX

    def __init__(
        self,
        on_card: Callable[[str], None],
        on_reject: Callable[[bytes, str], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        super().__init__()
        self.on_card = on_card
        self.on_reject = on_reject
        self.on_lost = on_lost

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if len(self.buffer) > _MAX_BUFFER:
            del self.buffer[:-64]

    def handle_packet(self, packet: bytes) -> None:
        start = packet.rfind(STX)
        if start < 0:
            self.on_reject(bytes(packet), "no start byte")
            return
        card = parse_rdm6300(bytes(packet[start + 1 :]))
        if card is None:
            self.on_reject(bytes(packet[start:]), "bad frame or checksum")
        else:
            self.on_card(card)

    def connection_lost(self, exc: BaseException | None) -> None:
        # Not the base behaviour of re-raising inside the reader thread: the reader is
        # reopened by its supervisor instead.
        self.transport = None
        self.on_lost(exc)


def parse_rdm6300(body: bytes) -> str | None:
    """The card's 10 hex digits (upper case) if ``body`` (between STX and ETX) is a valid frame."""
    if len(body) != 12 or not set(body) <= _HEX:
        return None
    data = bytes.fromhex(body[:10].decode("ascii"))
    if reduce(xor, data) != int(body[10:12], 16):
        return None
    return body[:10].decode("ascii").upper()


class LineProtocol(Packetizer):
    def __init__(
        self, eol: str, on_line: Callable[[str], None], on_lost: Callable[[BaseException | None], None]
    ) -> None:
        super().__init__()
        # CR as terminator handles CR and CRLF alike: the LF is stripped from the next line.
        self.TERMINATOR = b"\r" if eol == "cr" else b"\n"
        self.on_line = on_line
        self.on_lost = on_lost

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if len(self.buffer) > _MAX_BUFFER:
            del self.buffer[:]

    def handle_packet(self, packet: bytes) -> None:
        text = bytes(packet).strip(b"\r\n").decode("utf-8", "replace").strip()
        if text:
            self.on_line(text)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        self.on_lost(exc)


class Debouncer:
    """Drops a code seen again within ``window_s`` of the last time it was seen.

    The window slides: a card left on the reader keeps being swallowed, and counts again only
    after it has been away for the whole window.
    """

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self._last_seen: dict[str, float] = {}

    def accept(self, code: str) -> bool:
        now = self.clock()
        last = self._last_seen.get(code)
        self._last_seen[code] = now
        if len(self._last_seen) > 1000:
            self._last_seen = {k: t for k, t in self._last_seen.items() if now - t < self.window_s}
        return last is None or now - last >= self.window_s


ReadCallback = Callable[[str, str, str, dict[str, Any]], None]  # reader, kind, code, extra


class SerialReader:
    """One configured reader: keeps its port open, turns frames into reads, reopens on loss."""

    def __init__(
        self,
        config: ReaderConfig,
        on_read: ReadCallback,
        *,
        reconnect_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.on_read = on_read
        self.reconnect_s = reconnect_s
        self.debouncer = Debouncer(config.debounce_ms / 1000, clock)
        self.connected = threading.Event()
        self.reads = 0
        self.rejected = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"reader-{self.config.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)

    def status(self) -> dict[str, Any]:
        return {
            "name": self.config.name,
            "kind": self.config.kind,
            "port": self.config.port,
            "framing": self.config.framing,
            "connected": self.connected.is_set(),
            "reads": self.reads,
            "rejected": self.rejected,
            "last_error": self.last_error,
        }

    # --- the supervisor ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                port = serial.Serial(self.config.port, self.config.baudrate, timeout=None)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._note_error(f"cannot open {self.config.port}: {exc}")
                self._stop.wait(self.reconnect_s)
                continue
            self._wake.clear()
            if self._stop.is_set():
                port.close()
                break
            thread = _ReaderThread(port, self._protocol)
            thread.start()
            try:
                thread.connect()
            except RuntimeError:
                port.close()
                self._stop.wait(self.reconnect_s)
                continue
            self.last_error = ""
            self.connected.set()
            log.info("reader %s listening on %s", self.config.name, self.config.port)
            while not self._wake.wait(1.0) and thread.is_alive():
                pass
            self.connected.clear()
            thread.close()
            if not self._stop.is_set():
                self._stop.wait(self.reconnect_s)

    def _protocol(self) -> Packetizer:
        if self.config.framing == "rdm6300":
            return CardFrameProtocol(self._card, self._reject, self._lost)
        return LineProtocol(self.config.eol, self._line, self._lost)

    def _lost(self, exc: BaseException | None) -> None:
        if exc is not None:
            self._note_error(f"{self.config.port}: {exc}")
        self._wake.set()

    def _note_error(self, message: str) -> None:
        if message != self.last_error:
            log.warning("reader %s: %s", self.config.name, message)
        self.last_error = message

    # --- reads -------------------------------------------------------------------------------

    def _card(self, card_hex: str) -> None:
        # The number printed on most 125 kHz cards is the last four bytes in decimal.
        self._emit("card", card_hex, {"card_decimal": f"{int(card_hex[2:], 16):010d}"})

    def _line(self, text: str) -> None:
        kind = "card" if self.config.kind == "card" else classify(text)
        self._emit(kind, normalise(text, kind), {})  # type: ignore[arg-type]

    def _reject(self, frame: bytes, reason: str) -> None:
        self.rejected += 1
        log.info("reader %s rejected %r: %s", self.config.name, frame, reason)

    def _emit(self, kind: str, code: str, extra: dict[str, Any]) -> None:
        if not self.debouncer.accept(code):
            return
        self.reads += 1
        try:
            self.on_read(self.config.name, kind, code, extra)
        except Exception:  # a consumer's bug must not take the reader down
            log.exception("handling a read from %s failed", self.config.name)


class ReaderManager:
    """All configured readers, feeding one event log."""

    def __init__(self, configs: tuple[ReaderConfig, ...], events: EventLog, **options: Any) -> None:
        self.events = events
        self.readers = [SerialReader(c, self._on_read, **options) for c in configs]

    def _on_read(self, reader: str, kind: str, code: str, extra: dict[str, Any]) -> None:
        self.events.append(reader, kind, code, **extra)

    def start(self) -> None:
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        for reader in self.readers:
            reader.stop()

    def status(self) -> list[dict[str, Any]]:
        return [reader.status() for reader in self.readers]
