"""The agent's per-site YAML, read into frozen dataclasses.

Every mistake is reported with the path of the offending key (``printers[1].paper_width_mm``) so a
store technician can fix the file without reading code. Unknown keys are errors too: a misspelt
``adress`` silently falling back to a default is how a kitchen ends up with no tickets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

PrinterType = Literal["network", "serial", "usb", "file"]
PrinterRole = Literal["receipt", "kitchen"]
ReaderKind = Literal["card", "scanner"]
Framing = Literal["rdm6300", "line"]

PRINTER_TYPES: tuple[str, ...] = ("network", "serial", "usb", "file")
PRINTER_ROLES: tuple[str, ...] = ("receipt", "kitchen")
READER_KINDS: tuple[str, ...] = ("card", "scanner")
FRAMINGS: tuple[str, ...] = ("rdm6300", "line")
EOLS: tuple[str, ...] = ("cr", "lf")
CUT_MODES: tuple[str, ...] = ("partial", "full", "none")
QR_MODES: tuple[str, ...] = ("auto", "native", "image", "text")

# Font A on the common Chinese thermal printers: 58 mm paper holds 32 columns, 80 mm holds 48.
COLUMNS_BY_WIDTH: dict[int, int] = {58: 32, 80: 48}
CATCH_ALL_STATION = "*"

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class ConfigError(ValueError):
    """The YAML is unusable; the message names the key and what is wrong with it."""


@dataclass(frozen=True)
class StoreInfo:
    name: str
    address: str = ""
    phone: str = ""
    footer: tuple[str, ...] = ()
    signup_url: str = ""
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class PrinterConfig:
    name: str
    type: PrinterType
    address: str
    role: PrinterRole
    paper_width_mm: int = 80
    profile: str = "default"
    stations: tuple[str, ...] = ()
    columns: int = 48
    timeout_s: float = 5.0
    baudrate: int = 9600
    status_query: bool = True
    chinese_mode: bool = True
    cut: str = "partial"
    qr: str = "auto"
    cash_drawer: bool = False

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def serves(self, station: str) -> bool:
        return station in self.stations or CATCH_ALL_STATION in self.stations


@dataclass(frozen=True)
class ReaderConfig:
    name: str
    kind: ReaderKind
    port: str
    framing: Framing
    baudrate: int = 9600
    eol: str = "cr"
    debounce_ms: int = 1500


@dataclass(frozen=True)
class AgentConfig:
    store_id: str
    server_url: str
    device_token: str
    store: StoreInfo
    printers: tuple[PrinterConfig, ...] = ()
    readers: tuple[ReaderConfig, ...] = ()
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    data_dir: Path = field(default_factory=lambda: Path("var/pos_agent"))
    retry_interval_s: float = 5.0
    status_interval_s: float = 30.0
    sync_interval_s: float = 5.0
    sync_batch_size: int = 50
    resync_interval_s: float = 30.0
    forward_timeout_s: float = 5.0
    session_hours: float = 12.0

    @property
    def store_number(self) -> int | None:
        """The store's id on the server as a number (None when `store_id` is not one)."""
        return int(self.store_id) if self.store_id.isdigit() else None

    def printer(self, name: str) -> PrinterConfig:
        for printer in self.printers:
            if printer.name == name:
                return printer
        raise KeyError(name)

    def printers_with_role(self, role: PrinterRole) -> tuple[PrinterConfig, ...]:
        return tuple(p for p in self.printers if p.role == role)


# --- reading -----------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> AgentConfig:
    """Read and validate the agent YAML at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_config(data)


def parse_config(data: Any) -> AgentConfig:
    """Validate an already-parsed mapping (what ``yaml.safe_load`` returns)."""
    root = _Section(data, "")
    store_id = root.text("store_id")
    server_url = root.text("server_url")
    if not server_url.startswith(("http://", "https://")):
        raise ConfigError(f"server_url: must start with http:// or https://, got {server_url!r}")
    token = _resolve_env(root.text("device_token"), "device_token")
    # Optional: without it, receipts carry the store's name, address and phone from the server.
    store = _parse_store(root.section("store", optional=True))
    http = root.section("http", optional=True)
    printers = tuple(_parse_printer(s) for s in root.items("printers"))
    readers = tuple(_parse_reader(s) for s in root.items("readers"))
    _unique([p.name for p in printers], "printers")
    _unique([r.name for r in readers], "readers")
    _unique([r.port for r in readers], "readers", what="port")
    config = AgentConfig(
        store_id=store_id,
        server_url=server_url.rstrip("/"),
        device_token=token,
        store=store,
        printers=printers,
        readers=readers,
        http_host=http.text("host", "127.0.0.1"),
        http_port=http.integer("port", 8765, low=0, high=65535),
        data_dir=Path(root.text("data_dir", "var/pos_agent")),
        retry_interval_s=root.number("retry_interval_s", 5.0, low=0.1, high=3600),
        status_interval_s=root.number("status_interval_s", 30.0, low=1, high=86400),
        sync_interval_s=root.number("sync_interval_s", 5.0, low=0.05, high=3600),
        sync_batch_size=root.integer("sync_batch_size", 50, low=1, high=200),
        resync_interval_s=root.number("resync_interval_s", 30.0, low=1, high=86400),
        forward_timeout_s=root.number("forward_timeout_s", 5.0, low=0.1, high=120),
        session_hours=root.number("session_hours", 12.0, low=0.1, high=24 * 30),
    )
    http.done()
    root.done()
    return config


def _parse_store(s: _Section) -> StoreInfo:
    tz = s.text("timezone", "Asia/Shanghai")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{s.key('timezone')}: unknown time zone {tz!r}") from exc
    store = StoreInfo(
        name=s.text("name", ""),
        address=s.text("address", ""),
        phone=s.text("phone", ""),
        footer=s.text_list("footer"),
        signup_url=s.text("signup_url", ""),
        timezone=tz,
    )
    s.done()
    return store


def _parse_printer(s: _Section) -> PrinterConfig:
    ptype = s.choice("type", PRINTER_TYPES)
    address = s.text("address")
    if ptype == "network":
        _check_host_port(address, s.key("address"))
    elif ptype == "usb":
        _check_usb_ids(address, s.key("address"))
    width = s.integer("paper_width_mm", 80)
    if width not in COLUMNS_BY_WIDTH:
        raise ConfigError(f"{s.key('paper_width_mm')}: must be 58 or 80, got {width}")
    role = s.choice("role", PRINTER_ROLES)
    stations = s.text_list("stations")
    if role == "kitchen" and not stations:
        raise ConfigError(
            f"{s.key('stations')}: a kitchen printer needs the stations it serves, e.g. [hot, cold] "
            f"or ['{CATCH_ALL_STATION}'] for everything not served elsewhere"
        )
    printer = PrinterConfig(
        name=s.text("name"),
        type=ptype,  # type: ignore[arg-type]
        address=address,
        role=role,  # type: ignore[arg-type]
        paper_width_mm=width,
        profile=s.text("profile", "default"),
        stations=stations,
        columns=s.integer("columns", COLUMNS_BY_WIDTH[width], low=24, high=64),
        timeout_s=s.number("timeout_s", 5.0, low=0.1, high=120),
        baudrate=s.integer("baudrate", 9600, low=1200, high=921600),
        # File and USB transports cannot read the printer's answer (File) or rarely get one (USB).
        status_query=s.boolean("status_query", ptype in ("network", "serial")),
        chinese_mode=s.boolean("chinese_mode", True),
        cut=s.choice("cut", CUT_MODES, "partial"),
        qr=s.choice("qr", QR_MODES, "auto"),
        cash_drawer=s.boolean("cash_drawer", False),
    )
    _check_profile(printer.profile, s.key("profile"))
    s.done()
    return printer


def _parse_reader(s: _Section) -> ReaderConfig:
    kind = s.choice("kind", READER_KINDS)
    reader = ReaderConfig(
        name=s.text("name"),
        kind=kind,  # type: ignore[arg-type]
        port=s.text("port"),
        framing=s.choice("framing", FRAMINGS, "rdm6300" if kind == "card" else "line"),  # type: ignore[arg-type]
        baudrate=s.integer("baudrate", 9600, low=1200, high=921600),
        eol=s.choice("eol", EOLS, "cr"),
        debounce_ms=s.integer("debounce_ms", 1500, low=0, high=60000),
    )
    s.done()
    return reader


def _check_host_port(address: str, key: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}: a network printer needs host:port, e.g. 192.168.1.50:9100, got {address!r}")


def _check_usb_ids(address: str, key: str) -> None:
    if not re.fullmatch(r"0x[0-9a-fA-F]{4}:0x[0-9a-fA-F]{4}", address):
        raise ConfigError(f"{key}: a USB printer needs vendor:product ids, e.g. 0x0416:0x5011, got {address!r}")


def _check_profile(name: str, key: str) -> None:
    # Imported here so that reading a config does not load escpos' capability database for
    # callers that only need the settings (the status page, tests of other parts).
    from escpos.capabilities import CAPABILITIES

    if name not in CAPABILITIES["profiles"]:
        known = ", ".join(sorted(CAPABILITIES["profiles"]))
        raise ConfigError(f"{key}: unknown python-escpos profile {name!r} (known: {known})")


def _resolve_env(value: str, key: str) -> str:
    match = _ENV_REF.match(value)
    if not match:
        return value
    env = os.environ.get(match.group(1))
    if not env:
        raise ConfigError(f"{key}: environment variable {match.group(1)} is not set")
    return env


def _unique(values: list[str], key: str, what: str = "name") -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{key}: {what} {value!r} is used twice")
        seen.add(value)


class _Section:
    """One mapping of the YAML, handing out typed values and remembering which keys were read."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            where = path or "the file"
            raise ConfigError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _get(self, name: str, default: Any, required: bool) -> Any:
        self.used.add(name)
        if name in self.data and self.data[name] is not None:
            return self.data[name]
        if required:
            raise ConfigError(f"{self.key(name)}: required")
        return default

    def text(self, name: str, default: str | None = None) -> str:
        value = self._get(name, default, default is None)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(f"{self.key(name)}: expected text, got {type(value).__name__}")
        value = str(value).strip()
        if default is None and not value:
            raise ConfigError(f"{self.key(name)}: must not be empty")
        return value

    def text_list(self, name: str) -> tuple[str, ...]:
        value = self._get(name, [], False)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise ConfigError(f"{self.key(name)}: expected a list of text")
        return tuple(str(v).strip() for v in value if str(v).strip())

    def integer(self, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
        value = self._get(name, default, False)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.key(name)}: expected a whole number, got {value!r}")
        self._range(name, value, low, high)
        return value

    def number(self, name: str, default: float, low: float | None = None, high: float | None = None) -> float:
        value = self._get(name, default, False)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.key(name)}: expected a number, got {value!r}")
        self._range(name, value, low, high)
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, default, False)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.key(name)}: expected true or false, got {value!r}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise ConfigError(f"{self.key(name)}: must be one of {', '.join(choices)}; got {value!r}")
        return value

    def section(self, name: str, optional: bool = False) -> _Section:
        value = self._get(name, {} if optional else None, not optional)
        return _Section(value, self.key(name))

    def items(self, name: str) -> list[_Section]:
        value = self._get(name, [], False)
        if not isinstance(value, list):
            raise ConfigError(f"{self.key(name)}: expected a list")
        return [_Section(item, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    def _range(self, name: str, value: float, low: float | None, high: float | None) -> None:
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{self.key(name)}: must be between {low} and {high}, got {value}")

    def done(self) -> None:
        unknown = sorted(str(k) for k in self.data if k not in self.used)
        if unknown:
            where = self.path or "top level"
            known = ", ".join(sorted(self.used))
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {known})")
