"""What an on-site agent reports about itself: kept on its device row, and put on the store's
event log when a printer's state changed, so the screens and the till can react
("后厨打印机缺纸")."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.auth.models import Device
from app.events.models import EventKind
from app.events.service import append

# An agent reports every 30 s; one not heard from for this long is shown offline.
ONLINE_WITHIN = timedelta(seconds=90)


def _printer_states(status: dict | None) -> list[tuple[str, str]]:
    return [(p.get("name", ""), p.get("state", "")) for p in (status or {}).get("printers", [])]


def record_device_status(device: Device, report: dict, *, now: datetime) -> bool:
    """Keep the report on the device; True when a printer's state changed (a `device_status`
    event was appended to the store's log, last in the transaction)."""
    previous = device.status
    status = {
        "printers": [dict(p) for p in report.get("printers", [])],
        "cursor": report.get("cursor"),
        "outbox_pending": report.get("outbox_pending", 0),
        "version": report.get("version", ""),
        "reported_at": now.isoformat(),
    }
    device.status = status
    device.last_seen_at = now
    changed = previous is None or _printer_states(previous) != _printer_states(status)
    if changed:
        append(device.merchant_id, device.store_id, EventKind.DEVICE_STATUS,
               {"device_id": device.id, "name": device.name, **status})
    return changed


def is_online(device: Device, now: datetime) -> bool:
    return device.last_seen_at is not None and now - device.last_seen_at <= ONLINE_WITHIN
