"""Record audit entries inside the caller's transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

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


def entries(merchant_id: int, *, limit: int, before_id: int | None = None, staff_id: int | None = None,
            action: str | None = None, object_type: str | None = None, object_id: int | None = None) -> sa.Select:
    """A page of the merchant's audit log, newest first: the entries before `before_id` (the last
    id of the previous page), of one staff member, of one kind (`dish.sold_out`) or family
    (`dish.`), of one object."""
    stmt = sa.select(AuditEntry).where(AuditEntry.merchant_id == merchant_id).order_by(AuditEntry.id.desc())
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    if staff_id is not None:
        stmt = stmt.where(AuditEntry.staff_id == staff_id)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".")
                          else AuditEntry.action == action)
    if object_type is not None:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    return stmt.limit(limit)


def kinds(merchant_id: int) -> list[str]:
    """The kinds of entry the merchant's log holds, for the filter."""
    return list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.merchant_id == merchant_id)
                                   .distinct().order_by(AuditEntry.action)))
