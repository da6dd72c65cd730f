"""/api/v1/audit."""

from __future__ import annotations

from app.api import Blueprint
from app.audit import service
from app.auth import schemas
from app.auth.guard import current_actor, requires
from app.auth.permissions import Permission
from app.db import db

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit log")


@blp.route("/audit", methods=["GET"])
@requires(Permission.AUDIT_READ)
@blp.arguments(schemas.AuditQuery, location="query")
@blp.response(200, schemas.AuditList)
def list_audit(query):
    """Newest first; filter by object, by who did it (`staff_id`) or by kind (`action`)."""
    stmt = service.entries(current_actor().merchant_id, limit=query["limit"], before_id=query.get("before_id"),
                           staff_id=query.get("staff_id"), action=query.get("action"),
                           object_type=query.get("object_type"), object_id=query.get("object_id"))
    return {"entries": db.session.scalars(stmt).all()}
