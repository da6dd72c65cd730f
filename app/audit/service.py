"""Record audit entries inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from app.actor import Actor
from app.audit.models import AuditEntry
from app.db import db


def record(action: str, obj: Any = None, *, actor: Actor, store_id: int | None = None,
           merchant_id: int | None = None, **details: Any) -> AuditEntry:
    """Append an audit entry for `obj` (any model with an `id`), acted on by `actor`.

    The entry is added to the session, so it commits or rolls back with the change it describes.
    """
    if store_id is None:
        store_id = getattr(obj, "store_id", None) or actor.store_id
    entry = AuditEntry(
        merchant_id=merchant_id or getattr(obj, "merchant_id", None) or actor.merchant_id,
        store_id=store_id,
        staff_id=actor.staff_id,
        device_id=actor.device_id,
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "id", None),
        details=details,
        ip=actor.ip,
    )
    db.session.add(entry)
    return entry
