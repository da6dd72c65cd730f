"""The one place that talks to printers: python-escpos transports, status checks, clear errors.

A job is rendered to bytes first (on python-escpos' ``Dummy``), then sent in one write over a
fresh connection, after asking the printer whether it can print. The errors say whether anything
reached the printer: ``PrinterNotReady`` means nothing was sent and the job can simply wait;
``PrintInterrupted`` means some bytes may have been printed, so an automatic retry could print
the document twice.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from escpos.capabilities import get_profile
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import Dummy, File, Network, Serial, Usb

from ..config import PrinterConfig
from .ops import Op
from .render import RenderOptions, render

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"
# DLE EOT answers always have bits 1 and 4 set and bits 0 and 7 clear.
_STATUS_FIXED_MASK, _STATUS_FIXED_BITS = 0x93, 0x12
_OFFLINE = 0x08  # n=1: printer is offline
_COVER_OPEN = 0x04  # n=2
_PAPER_END_STOP = 0x20  # n=2: stopped because the paper ran out
_ERROR = 0x40  # n=2: an error occurred
_PAPER_NEAR_END = 0x0C  # n=4
_PAPER_END = 0x60  # n=4

Paper = Literal["ok", "low", "out", "unknown"]

# How long to wait for a network printer to close its side after the last byte (most do at once).
_CLOSE_WAIT_S = 0.5

_MESSAGES: dict[str, tuple[str, str]] = {
    "unreachable": ("打印机「{name}」无法连接（{address}）", "Printer '{name}' cannot be reached ({address})"),
    "no_status_reply": (
        "打印机「{name}」没有应答状态查询",
        "Printer '{name}' did not answer the status query (set status_query: false if this model never answers)",
    ),
    "offline": ("打印机「{name}」离线", "Printer '{name}' is offline"),
    "cover_open": ("打印机「{name}」上盖打开，请合上", "Printer '{name}' has its cover open"),
    "printer_error": ("打印机「{name}」故障（切刀或机芯）", "Printer '{name}' reports an error (cutter or mechanism)"),
    "paper_out": ("打印机「{name}」缺纸，请装纸", "Printer '{name}' is out of paper"),
    "interrupted": (
        "打印机「{name}」打印中断，单据可能只打印了一部分，如需要请重打",
        "Printing on '{name}' was interrupted; the document may be partly printed, reprint it if needed",
    ),
}


class PrinterError(Exception):
    """A printer problem with a stable ``code`` and a message in Chinese and English."""

    def __init__(self, printer: PrinterConfig, code: str, detail: str = "") -> None:
        zh, en = _MESSAGES[code]
        self.printer = printer.name
        self.code = code
        self.message_zh = zh.format(name=printer.name, address=printer.address)
        self.message_en = en.format(name=printer.name, address=printer.address)
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.message_zh} / {self.message_en}"
        return f"{text}: {self.detail}" if self.detail else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": str(self),
            "details": {"printer": self.printer, "zh_CN": self.message_zh, "en": self.message_en},
        }


class PrinterNotReady(PrinterError):
    """Nothing was sent: the job is intact and can be printed when the printer is back."""


class PrinterOffline(PrinterNotReady):
    pass


class PaperOut(PrinterNotReady):
    def __init__(self, printer: PrinterConfig, detail: str = "") -> None:
        super().__init__(printer, "paper_out", detail)


class PrintInterrupted(PrinterError):
    """The connection failed while sending: the printer may have printed part of the job."""

    def __init__(self, printer: PrinterConfig, detail: str = "") -> None:
        super().__init__(printer, "interrupted", detail)


@dataclass(frozen=True)
class PrinterStatus:
    printer: str
    online: bool | None  # None: the printer does not report (file/USB, or status_query off)
    paper: Paper = "unknown"
    error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"printer": self.printer, "online": self.online, "paper": self.paper, "error": self.error}


Connector = Callable[[PrinterConfig], Escpos]


class _Network(Network):
    """``Network`` whose ``open`` closes the socket when the connection fails.

    python-escpos 3.1 drops the half-made socket without closing it, which leaks a file
    descriptor (and a ResourceWarning) on every retry against a printer that is switched off.
    """

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            self.device = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            self.device = None
            if raise_not_found:
                raise DeviceNotFoundError(f"Could not open socket for {self.host}:{self.port}: {exc}") from exc
            log.error("network printer %s:%s not found", self.host, self.port)


def connect(config: PrinterConfig) -> Escpos:
    """Build the python-escpos transport the config names (not yet connected)."""
    kwargs: dict[str, Any] = {"profile": config.profile}
    if config.type == "network":
        return _Network(config.host, port=config.port, timeout=config.timeout_s, **kwargs)
    if config.type == "serial":
        return Serial(config.address, baudrate=config.baudrate, timeout=config.timeout_s, **kwargs)
    if config.type == "usb":
        vendor, product = (int(part, 16) for part in config.address.split(":"))
        return Usb(vendor, product, timeout=int(config.timeout_s * 1000), **kwargs)
    return File(config.address, **kwargs)


class PrinterAdapter:
    def __init__(self, config: PrinterConfig, *, connector: Connector = connect) -> None:
        self.config = config
        self._connector = connector
        # One connection at a time: most printers serve a single TCP client and would
        # interleave two jobs' bytes otherwise.
        self._lock = threading.Lock()
        supports_qr = bool(get_profile(config.profile).supports("qrCode"))
        qr = config.qr if config.qr != "auto" else ("native" if supports_qr else "image")
        self.render_options = RenderOptions(
            chinese_mode=config.chinese_mode,
            cut=config.cut,  # type: ignore[arg-type]
            qr=qr,  # type: ignore[arg-type]
        )

    @property
    def name(self) -> str:
        return self.config.name

    def render(self, ops: Iterable[Op]) -> bytes:
        dummy = Dummy(profile=self.config.profile)
        render(ops, dummy, self.render_options)
        return dummy.output

    def send(self, data: bytes) -> PrinterStatus:
        """Check the printer, then send ``data`` as one write. Raises a ``PrinterError``."""
        with self._lock:
            device = self._open()
            try:
                status = self._check(device)
                try:
                    device._raw(data)
                    _flush(device)
                    _wait_until_received(device, min(self.config.timeout_s, _CLOSE_WAIT_S))
                except Exception as exc:
                    raise PrintInterrupted(self.config, _describe(exc)) from exc
                return status
            finally:
                _close(device)

    def status(self) -> PrinterStatus:
        """The printer's state right now; never raises."""
        try:
            with self._lock:
                device = self._open()
                try:
                    return self._check(device)
                finally:
                    _close(device)
        except PrinterError as exc:
            paper: Paper = "out" if isinstance(exc, PaperOut) else "unknown"
            return PrinterStatus(self.name, online=False, paper=paper, error=exc.as_dict())

    def kick_drawer(self, pin: int = 2) -> None:
        dummy = Dummy(profile=self.config.profile)
        dummy.cashdraw(pin)
        with self._lock:
            device = self._open()
            try:
                device._raw(dummy.output)
                _flush(device)
            except Exception as exc:
                raise PrinterOffline(self.config, "unreachable", _describe(exc)) from exc
            finally:
                _close(device)

    # --- internals ---------------------------------------------------------------------------

    def _open(self) -> Escpos:
        try:
            device = self._connector(self.config)
            device.open()
        except Exception as exc:  # DeviceNotFoundError, OSError, a missing USB library...
            raise PrinterOffline(self.config, "unreachable", _describe(exc)) from exc
        return device

    def _check(self, device: Escpos) -> PrinterStatus:
        if not self.config.status_query:
            return PrinterStatus(self.name, online=None)
        # Printer status and paper sensor in one round trip; the printer answers in order.
        printer_status, paper_status = self._query(device, 1, 4)
        if printer_status is None:
            return PrinterStatus(self.name, online=None, extra={"status": "unrecognised reply"})
        if printer_status & _OFFLINE:
            (cause,) = self._query(device, 2)
            cause = cause or 0
            if cause & _PAPER_END_STOP:
                raise PaperOut(self.config)
            if cause & _COVER_OPEN:
                raise PrinterOffline(self.config, "cover_open")
            if cause & _ERROR:
                raise PrinterOffline(self.config, "printer_error")
            raise PrinterOffline(self.config, "offline")
        paper: Paper = "unknown"
        if paper_status is not None:
            if paper_status & _PAPER_END == _PAPER_END:
                raise PaperOut(self.config)
            paper = "low" if paper_status & _PAPER_NEAR_END == _PAPER_NEAR_END else "ok"
        return PrinterStatus(self.name, online=True, paper=paper)

    def _query(self, device: Escpos, *functions: int) -> list[int | None]:
        """Send ``DLE EOT n`` for each n; return each status byte (None where not a status byte)."""
        try:
            device._raw(b"".join(DLE_EOT + bytes([n]) for n in functions))
            reply = _read_bytes(device, len(functions))
        except Exception as exc:  # socket timeout, reset, serial error
            raise PrinterOffline(self.config, "no_status_reply", _describe(exc)) from exc
        if not reply:
            raise PrinterOffline(self.config, "no_status_reply", "no reply")
        answers: list[int | None] = []
        for i, n in enumerate(functions):
            byte = reply[i] if i < len(reply) else None
            if byte is None or byte & _STATUS_FIXED_MASK != _STATUS_FIXED_BITS:
                log.warning("printer %s: unrecognised status reply %r to DLE EOT %d", self.name, reply, n)
                byte = None
            answers.append(byte)
        return answers


def _read_bytes(device: Escpos, count: int) -> bytes:
    """Read ``count`` status bytes.

    Not python-escpos' ``_read()``: it asks for 16 bytes, which on a serial port means waiting out
    the whole timeout for a printer that answers one byte per query.
    """
    if isinstance(device, Serial):
        return device.device.read(count)
    if isinstance(device, Network):
        data = b""
        while len(data) < count:
            chunk = device.device.recv(count - len(data))
            if not chunk:
                break
            data += chunk
        return data
    data = b""
    for _ in range(count):
        chunk = device._read()
        if not chunk:
            break
        data += chunk
        if len(data) >= count:
            break
    return data


def _wait_until_received(device: Escpos, timeout: float) -> None:
    """On TCP, half-close and wait for the printer to close its side: then it has every byte.

    Closing outright while the printer has sent something we did not read (an automatic status
    report, say) makes the kernel send a reset, which can drop the end of the job still queued.
    A printer that does not close its side is closed anyway after ``timeout``.
    """
    if not isinstance(device, Network) or not device.device:
        return
    sock: socket.socket = device.device  # type: ignore[assignment]
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(timeout)
    try:
        while sock.recv(256):
            pass
    except OSError:
        log.debug("printer did not close its side of the connection", exc_info=True)


def _flush(device: Escpos) -> None:
    flush = getattr(device, "flush", None)
    if callable(flush):
        flush()


def _close(device: Escpos) -> None:
    try:
        device.close()
    except Exception:  # a half-dead connection may fail to close; it is going away anyway
        log.debug("closing printer connection failed", exc_info=True)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
