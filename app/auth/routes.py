"""/api/v1/auth, /api/v1/staff and /api/v1/devices."""

from __future__ import annotations

from flask import g, request

from app.api import Blueprint
from app.auth import schemas, service
from app.auth.guard import current_actor, id_argument, public, requires
from app.auth.models import Device, Staff
from app.auth.permissions import Permission, Role
from app.db import db, get_scoped_or_404, scoped, utcnow
from app.errors import Forbidden

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Login, staff accounts and devices")

id_argument("staff_id", Staff)
id_argument("device_id", Device)


@blp.route("/auth/token", methods=["POST"])
@public
@blp.arguments(schemas.TokenRequest)
@blp.response(200, schemas.TokenOut)
@blp.alt_response(429, response="DEFAULT_ERROR")
def issue_token(data):
    """Exchange a username and password for a bearer token.

    Wrong passwords are throttled per username and per address: while either is locked the
    answer is 429 `too_many_attempts` with `details.retry_after_s` and a `Retry-After` header."""
    staff = service.log_in_with_password(data["username"], data["password"], address=request.remote_addr)
    issued = service.issue_token(staff, utcnow())
    db.session.commit()
    return issued


@blp.route("/auth/token", methods=["DELETE"])
@requires(Permission.PROFILE)
@blp.response(204)
def revoke_token():
    """Log out: revoke the token used for this call."""
    service.revoke_token(g.api_token, now=utcnow())
    db.session.commit()


@blp.route("/auth/me", methods=["GET"])
@requires(Permission.PROFILE)
@blp.response(200, schemas.StaffOut)
def me():
    return g.staff


@blp.route("/staff", methods=["GET"])
@requires(Permission.STAFF_MANAGE)
@blp.response(200, schemas.StaffList)
def list_staff():
    staff = db.session.scalars(scoped(Staff).order_by(Staff.id)).all()
    return {"staff": staff}


@blp.route("/staff", methods=["POST"])
@requires(Permission.STAFF_MANAGE)
@blp.arguments(schemas.StaffCreate)
@blp.response(201, schemas.StaffOut)
def create_staff(data):
    actor = current_actor()
    staff = service.create_staff(actor, merchant_id=actor.merchant_id, username=data["username"],
                                 password=data["password"], role=Role.from_label(data["role"]),
                                 store_id=data["store_id"], display_name=data["display_name"])
    db.session.commit()
    return staff


@blp.route("/staff/<id:staff_id>", methods=["GET"])
@requires(Permission.STAFF_MANAGE)
@blp.response(200, schemas.StaffOut)
def get_staff(staff_id):
    return get_scoped_or_404(Staff, staff_id)


@blp.route("/staff/<id:staff_id>", methods=["PATCH"])
@requires(Permission.STAFF_MANAGE)
@blp.arguments(schemas.StaffUpdate)
@blp.response(200, schemas.StaffOut)
def update_staff(data, staff_id):
    """Change a name, password or locale; or the role (and the store of a cashier or kitchen
    account), which revokes the account's tokens."""
    staff = get_scoped_or_404(Staff, staff_id)
    if "role" in data or "store_id" in data:
        role = Role.from_label(data.pop("role")) if "role" in data else staff.role
        service.change_role(current_actor(), staff, role, data.pop("store_id", staff.store_id), now=utcnow())
    staff = service.update_staff(current_actor(), staff, data, now=utcnow())
    db.session.commit()
    return staff


@blp.route("/staff/<id:staff_id>", methods=["DELETE"])
@requires(Permission.STAFF_MANAGE)
@blp.response(204)
def deactivate_staff(staff_id):
    """Deactivate an account (it is kept for the audit trail) and revoke its tokens."""
    service.deactivate_staff(current_actor(), get_scoped_or_404(Staff, staff_id), now=utcnow())
    db.session.commit()


@blp.route("/staff/<id:staff_id>/unlock", methods=["POST"])
@requires(Permission.STAFF_MANAGE)
@blp.response(200, schemas.UnlockOut)
def unlock_staff(staff_id):
    """Lift an account's login lock (after too many wrong passwords) before it runs out."""
    staff = get_scoped_or_404(Staff, staff_id)
    was_locked = service.unlock_staff(current_actor(), staff)
    db.session.commit()
    return {"staff_id": staff.id, "was_locked": was_locked}


@blp.route("/devices", methods=["GET"])
@requires(Permission.DEVICES_MANAGE)
@blp.response(200, schemas.DeviceList)
def list_devices():
    return {"devices": db.session.scalars(scoped(Device).order_by(Device.id)).all()}


@blp.route("/devices", methods=["POST"])
@requires(Permission.DEVICES_MANAGE)
@blp.arguments(schemas.DeviceCreate)
@blp.response(201, schemas.DeviceCreated)
def create_device(data):
    """Register an on-site agent; the answer carries its token, shown only this once."""
    device, token = service.create_device(current_actor(), store_id=data["store_id"], name=data["name"])
    db.session.commit()
    return {"token": token, **{name: getattr(device, name) for name in schemas.DeviceOut().fields}}


@blp.route("/devices/<id:device_id>", methods=["DELETE"])
@requires(Permission.DEVICES_MANAGE)
@blp.response(204)
def revoke_device(device_id):
    service.revoke_device(get_scoped_or_404(Device, device_id), actor=current_actor(), now=utcnow())
    db.session.commit()


@blp.route("/devices/me", methods=["GET"])
@requires(Permission.DEVICE_SYNC, devices=True)
@blp.response(200, schemas.DeviceOut)
def device_me():
    """The calling device, for an agent to check its token."""
    device = g.device
    if device is None:
        raise Forbidden()
    return device



