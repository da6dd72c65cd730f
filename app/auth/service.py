"""Staff accounts, bearer tokens and device tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from sqlalchemy.orm import joinedload

from app.audit.service import record
from app.auth.models import ApiToken, Device, Staff
from app.auth.permissions import STORE_BOUND_ROLES, Role, can_manage_role
from app.db import db, get_scoped_or_404, utcnow
from app.errors import Conflict, Forbidden, Unauthorized, Unprocessable
from app.tenants.models import Store

STAFF_TOKEN_PREFIX = "tls_"
DEVICE_TOKEN_PREFIX = "tld_"


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a plain SHA-256 is enough (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


# --- staff -----------------------------------------------------------------------------------

def verify_credentials(username: str, password: str) -> Staff:
    staff = db.session.scalar(sa.select(Staff).where(Staff.username == username))
    if staff is None or not staff.is_active or not staff.check_password(password):
        raise Unauthorized(gettext("Wrong username or password."), error_code="invalid_credentials")
    return staff


def create_staff(actor: Staff | None, *, merchant_id: int, username: str, password: str, role: Role,
                 store_id: int | None = None, display_name: str = "") -> Staff:
    """Create a staff account; `actor` None means the command line (bootstrap)."""
    if actor is not None and not can_manage_role(actor.role, role):
        raise Forbidden(gettext("You cannot create an account with this role."))
    if role in STORE_BOUND_ROLES and store_id is None:
        raise Unprocessable(gettext("Cashiers and kitchen staff must belong to a store."),
                            details={"fields": {"store_id": ["required for this role"]}})
    if store_id is not None and actor is not None:
        get_scoped_or_404(Store, store_id)
    if actor is not None and actor.role is Role.MANAGER and actor.store_id is not None \
            and store_id != actor.store_id:
        raise Forbidden(gettext("A store manager can only add staff to their own store."))
    if db.session.scalar(sa.select(Staff.id).where(Staff.username == username)) is not None:
        raise Conflict(gettext("This username is taken."), error_code="username_taken")
    staff = Staff(merchant_id=merchant_id, username=username, role=role, store_id=store_id,
                  display_name=display_name or username)
    staff.set_password(password)
    db.session.add(staff)
    db.session.flush()
    if actor is not None:
        record("staff.create", staff, role=role.label)
    return staff


def deactivate_staff(actor: Staff, staff: Staff) -> None:
    if staff.id == actor.id:
        raise Conflict(gettext("You cannot deactivate your own account."), error_code="cannot_deactivate_self")
    if not can_manage_role(actor.role, staff.role):
        raise Forbidden(gettext("You cannot manage an account with this role."))
    staff.is_active = False
    revoke_staff_tokens(staff)
    record("staff.deactivate", staff)


# --- bearer tokens ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    staff: Staff


def issue_token(staff: Staff, now: datetime | None = None) -> IssuedToken:
    now = now or utcnow()
    token = _new_token(STAFF_TOKEN_PREFIX)
    expires_at = now + current_app.config["API_TOKEN_TTL"]
    db.session.add(ApiToken(merchant_id=staff.merchant_id, staff_id=staff.id,
                            token_hash=hash_token(token), expires_at=expires_at))
    return IssuedToken(token, expires_at, staff)


def staff_for_token(token: str, now: datetime | None = None) -> Staff | None:
    now = now or utcnow()
    row = db.session.scalar(sa.select(ApiToken).options(joinedload(ApiToken.staff))
                            .where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.staff.is_active:
        return None
    return row.staff


def revoke_token(token: str) -> None:
    db.session.execute(sa.update(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                                 ApiToken.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def revoke_staff_tokens(staff: Staff) -> int:
    result = db.session.execute(sa.update(ApiToken).where(ApiToken.staff_id == staff.id,
                                                          ApiToken.revoked_at.is_(None))
                                .values(revoked_at=utcnow()))
    return result.rowcount


# --- devices ---------------------------------------------------------------------------------

def create_device(actor: Staff, *, store_id: int, name: str) -> tuple[Device, str]:
    """A device and its token; the token is shown once and only its hash is kept."""
    store = get_scoped_or_404(Store, store_id)
    exists = db.session.scalar(sa.select(Device.id).where(
        Device.merchant_id == actor.merchant_id, Device.store_id == store.id, Device.name == name))
    if exists is not None:
        raise Conflict(gettext("A device with this name already exists in this store."),
                       error_code="device_exists")
    token = _new_token(DEVICE_TOKEN_PREFIX)
    device = Device(merchant_id=actor.merchant_id, store_id=store.id, name=name,
                    token_hash=hash_token(token), created_by_id=actor.id)
    db.session.add(device)
    db.session.flush()
    record("device.create", device, name=name)
    return device, token


def device_for_token(token: str) -> Device | None:
    device = db.session.scalar(sa.select(Device).where(Device.token_hash == hash_token(token)))
    return device if device is not None and device.is_active else None


def revoke_device(device: Device) -> None:
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        record("device.revoke", device)
