"""Record audit entries inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request

from app.audit.models import AuditEntry
from app.db import current_merchant_id, db


def record(action: str, obj: Any = None, *, store_id: int | None = None,
           merchant_id: int | None = None, **details: Any) -> AuditEntry:
    """Append an audit entry for `obj` (any model with an `id`), acted on by the current caller.

    The entry is added to the session, so it commits or rolls back with the change it describes.
    """
    staff = getattr(g, "staff", None) if has_request_context() else None
    device = getattr(g, "device", None) if has_request_context() else None
    if store_id is None:
        store_id = getattr(obj, "store_id", None) or getattr(staff, "store_id", None) \
            or getattr(device, "store_id", None)
    entry = AuditEntry(
        merchant_id=merchant_id or getattr(obj, "merchant_id", None) or current_merchant_id(),
        store_id=store_id,
        staff_id=staff.id if staff else None,
        device_id=device.id if device else None,
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "id", None),
        details=details,
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry
