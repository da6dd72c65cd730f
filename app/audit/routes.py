"""/api/v1/audit."""

from __future__ import annotations

from flask_smorest import Blueprint

from app.audit.models import AuditEntry
from app.auth import schemas
from app.auth.guard import requires
from app.auth.permissions import Permission
from app.db import db, scoped

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit log")


@blp.route("/audit", methods=["GET"])
@requires(Permission.AUDIT_READ)
@blp.arguments(schemas.AuditQuery, location="query")
@blp.response(200, schemas.AuditList)
def list_audit(query):
    """Newest first; filter by object."""
    stmt = scoped(AuditEntry).order_by(AuditEntry.id.desc()).limit(query["limit"])
    if "object_type" in query:
        stmt = stmt.where(AuditEntry.object_type == query["object_type"])
    if "object_id" in query:
        stmt = stmt.where(AuditEntry.object_id == query["object_id"])
    if "before_id" in query:
        stmt = stmt.where(AuditEntry.id < query["before_id"])
    return {"entries": db.session.scalars(stmt).all()}
