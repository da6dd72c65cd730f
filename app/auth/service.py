"""Staff accounts, bearer tokens and device tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app.actor import Actor
from app.audit.service import record
from app.auth.models import ApiToken, Device, Staff
from app.auth.permissions import STORE_BOUND_ROLES, Role, can_manage_role
from app.auth.token_cache import changed as token_changes
from app.auth.token_cache import token_cache
from app.db import begin_write, db, get_scoped_or_404, utcnow
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


def _staff_named(name: str) -> list[Staff]:
    """The accounts a throttled name stands for (throttle keys ignore case)."""
    return list(db.session.scalars(sa.select(Staff).where(sa.func.lower(Staff.username) == name.lower())))


def log_in_with_password(username: str, password: str, *, address: str | None) -> Staff:
    """`verify_credentials` behind the login throttle: 429 `too_many_attempts` while the account
    or the address is locked; the failure that locks one is written to the audit log."""
    from app.auth.throttle import ACCOUNT, throttle

    limits = throttle().limits

    def on_lockout(scope: str, subject: str) -> None:
        # Committed on its own, in a writer's transaction: the failed login itself rolls back.
        db.session.rollback()
        begin_write()
        maximum = limits.account_failures if scope == ACCOUNT else limits.address_failures
        for staff in _staff_named(username):
            record("staff.lockout", staff, actor=Actor(merchant_id=staff.merchant_id, name="login", ip=address),
                   store_id=staff.store_id, scope=scope, failures=maximum, locked_for_s=limits.lockout_s,
                   **({"address": subject} if scope != ACCOUNT else {}))
        db.session.commit()

    with throttle().attempt(username, address, failure=Unauthorized, on_lockout=on_lockout):
        return verify_credentials(username, password)


def unlock_staff(actor: Actor, staff: Staff) -> bool:
    """Lift an account's login lock before it runs out and clear its failures; audited.
    Answers whether it was locked."""
    from app.auth.throttle import throttle

    acting = _acting_staff(actor)
    if not can_manage_role(acting.role, staff.role):
        raise Forbidden(gettext("You cannot manage an account with this role."))
    if acting.role is Role.MANAGER and acting.store_id is not None and staff.store_id != acting.store_id:
        raise Forbidden(gettext("You cannot manage an account with this role."))
    was_locked = throttle().unlock_account(staff.username)
    record("staff.unlock", staff, actor=actor, was_locked=was_locked)
    return was_locked


def _acting_staff(actor: Actor) -> Staff:
    """The staff member behind `actor`; only staff manage staff and devices."""
    staff = db.session.get(Staff, actor.staff_id) if actor.staff_id is not None else None
    if staff is None or staff.merchant_id != actor.merchant_id:
        raise Forbidden()
    return staff


def create_staff(actor: Actor | None, *, merchant_id: int, username: str, password: str, role: Role,
                 store_id: int | None = None, display_name: str = "") -> Staff:
    """Create a staff account; `actor` None means the command line (bootstrap)."""
    acting = _acting_staff(actor) if actor is not None else None
    if acting is not None and not can_manage_role(acting.role, role):
        raise Forbidden(gettext("You cannot create an account with this role."))
    if role in STORE_BOUND_ROLES and store_id is None:
        raise Unprocessable(gettext("Cashiers and kitchen staff must belong to a store."),
                            details={"fields": {"store_id": ["required for this role"]}})
    if store_id is not None and acting is not None:
        get_scoped_or_404(Store, store_id, merchant_id)
    if acting is not None and acting.role is Role.MANAGER and acting.store_id is not None \
            and store_id != acting.store_id:
        raise Forbidden(gettext("A store manager can only add staff to their own store."))
    if db.session.scalar(sa.select(Staff.id).where(Staff.username == username)) is not None:
        raise Conflict(gettext("This username is taken."), error_code="username_taken")
    staff = Staff(merchant_id=merchant_id, username=username, role=role, store_id=store_id,
                  display_name=display_name or username)
    staff.set_password(password)
    db.session.add(staff)
    db.session.flush()
    if actor is not None:
        record("staff.create", staff, actor=actor, role=role.label)
    return staff


def deactivate_staff(actor: Actor, staff: Staff, *, now: datetime) -> None:
    acting = _acting_staff(actor)
    if staff.id == acting.id:
        raise Conflict(gettext("You cannot deactivate your own account."), error_code="cannot_deactivate_self")
    if not can_manage_role(acting.role, staff.role):
        raise Forbidden(gettext("You cannot manage an account with this role."))
    staff.is_active = False
    revoke_staff_tokens(staff, now=now)
    record("staff.deactivate", staff, actor=actor)


def change_role(actor: Actor, staff: Staff, role: Role, store_id: int | None, *, now: datetime) -> Staff:
    """Give an account another role (and, for cashiers and kitchen staff, its store). The actor
    must be able to manage both the old and the new role; nobody changes their own. Audited;
    the account's tokens are revoked, so its next request carries the new role's rights."""
    acting = _acting_staff(actor)
    if staff.id == acting.id:
        raise Conflict(gettext("You cannot change your own role."), error_code="cannot_change_own_role")
    if not (can_manage_role(acting.role, staff.role) and can_manage_role(acting.role, role)):
        raise Forbidden(gettext("You cannot manage an account with this role."))
    if role not in STORE_BOUND_ROLES:
        store_id = None
    elif store_id is None:
        raise Unprocessable(gettext("Cashiers and kitchen staff must belong to a store."),
                            details={"fields": {"store_id": ["required for this role"]}})
    else:
        get_scoped_or_404(Store, store_id, staff.merchant_id)
    if acting.role is Role.MANAGER and acting.store_id is not None and store_id != acting.store_id:
        raise Forbidden(gettext("A store manager can only add staff to their own store."))
    if (role, store_id) == (staff.role, staff.store_id):
        return staff
    record("staff.role_change", staff, actor=actor, old_role=staff.role.label, new_role=role.label,
           old_store_id=staff.store_id, new_store_id=store_id)
    staff.role, staff.store_id = role, store_id
    revoke_staff_tokens(staff, now=now)
    return staff


def update_staff(actor: Actor, staff: Staff, changes: dict, *, now: datetime) -> Staff:
    """A staff member edits their own account, or one whose role theirs may manage."""
    acting = _acting_staff(actor)
    if staff.id != acting.id and not can_manage_role(acting.role, staff.role):
        raise Forbidden()
    changes = dict(changes)
    if "password" in changes:
        staff.set_password(changes.pop("password"))
        revoke_staff_tokens(staff, now=now)
        record("staff.password_reset", staff, actor=actor)
    if "card_no" in changes:
        set_card(actor, staff, changes.pop("card_no"))
    for key, value in changes.items():
        setattr(staff, key, value)
    return staff


def set_card(actor: Actor, staff: Staff, card_no: str | None) -> None:
    """Give a staff member a card (or take it away): one account per card in a merchant."""
    card_no = card_no.upper() if card_no else None
    if card_no is not None and db.session.scalar(sa.select(Staff.id).where(
            Staff.merchant_id == staff.merchant_id, Staff.card_no == card_no, Staff.id != staff.id)) is not None:
        raise Conflict(gettext("This card belongs to another staff member."), error_code="card_in_use")
    try:
        with db.session.begin_nested():  # a card given to two accounts at once: the UNIQUE constraint decides
            staff.card_no = card_no
    except IntegrityError:
        raise Conflict(gettext("This card belongs to another staff member."), error_code="card_in_use") from None
    record("staff.card_set" if card_no else "staff.card_removed", staff, actor=actor)


def approve_by_card(device: Device, card_nos: list[str], *, purpose: str, now: datetime) -> IssuedToken:
    """A manager's (or the owner's) staff card swiped at a till of their store: a token of theirs
    for a few minutes, so that the approved act is theirs. Any other card is refused. Refusals
    count against the device as wrong passwords count against an account (429
    `too_many_attempts` once the login limits are reached), so cards cannot be tried one by one."""
    from app.auth.throttle import throttle

    wanted = {c.upper() for c in card_nos}
    # "#" is in no username: the device's card approvals are counted apart from every account.
    with throttle().attempt(f"#card-approvals-device-{device.id}", f"device:{device.id}", failure=Forbidden):
        staff = db.session.scalar(sa.select(Staff).where(
            Staff.merchant_id == device.merchant_id, Staff.card_no.in_(wanted), Staff.is_active.is_(True)))
        if staff is None or staff.role not in (Role.OWNER, Role.MANAGER) \
                or staff.store_id not in (None, device.store_id):
            raise Forbidden(gettext("Only a manager's or the owner's staff card can approve this."),
                            error_code="manager_approval_refused")
    record("staff.card_approval", staff, actor=Actor(merchant_id=device.merchant_id, device_id=device.id,
                                                     store_id=device.store_id, name=device.name), purpose=purpose)
    return issue_token(staff, now, ttl=CARD_APPROVAL_TTL)


# A card swiped to approve one act: its token lives only as long as the act takes.
CARD_APPROVAL_TTL = timedelta(minutes=2)


# --- bearer tokens ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    staff: Staff


def issue_token(staff: Staff, now: datetime | None = None, *, ttl: timedelta | None = None) -> IssuedToken:
    now = now or utcnow()
    token = _new_token(STAFF_TOKEN_PREFIX)
    expires_at = now + (ttl or current_app.config["API_TOKEN_TTL"])
    db.session.add(ApiToken(merchant_id=staff.merchant_id, staff_id=staff.id,
                            token_hash=hash_token(token), expires_at=expires_at))
    return IssuedToken(token, expires_at, staff)


# Built once: every API request runs it, and building a statement costs more than running it.
_TOKEN_WITH_STAFF = (sa.select(ApiToken).options(joinedload(ApiToken.staff))
                     .where(ApiToken.token_hash == sa.bindparam("token_hash")))


def staff_for_token(token: str, now: datetime | None = None) -> Staff | None:
    """The active staff member of a valid token, or None. A worker may answer from what it read
    a moment ago (`app.auth.token_cache`: with Redis, and only until anything changes)."""
    now = now or utcnow()
    token_hash = hash_token(token)
    cache = token_cache()
    generation = cache.generation() if cache is not None else None  # read before the database
    if generation is not None and (kept := cache.get(token_hash, generation, now)) is not None:
        return db.session.merge(kept, load=False)
    row = db.session.scalar(_TOKEN_WITH_STAFF, {"token_hash": token_hash})
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.staff.is_active:
        return None
    if generation is not None:
        cache.keep(token_hash, generation, row.staff, row.expires_at)
    return row.staff


def revoke_token(token: str, *, now: datetime) -> None:
    token_changes(db.session())
    db.session.execute(sa.update(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                                 ApiToken.revoked_at.is_(None))
                       .values(revoked_at=now))


def revoke_staff_tokens(staff: Staff, *, now: datetime) -> int:
    token_changes(db.session())
    result = db.session.execute(sa.update(ApiToken).where(ApiToken.staff_id == staff.id,
                                                          ApiToken.revoked_at.is_(None))
                                .values(revoked_at=now))
    return result.rowcount


# --- devices ---------------------------------------------------------------------------------

def create_device(actor: Actor, *, store_id: int, name: str) -> tuple[Device, str]:
    """A device and its token; the token is shown once and only its hash is kept."""
    store = get_scoped_or_404(Store, store_id, actor.merchant_id)
    exists = db.session.scalar(sa.select(Device.id).where(
        Device.merchant_id == actor.merchant_id, Device.store_id == store.id, Device.name == name))
    if exists is not None:
        raise Conflict(gettext("A device with this name already exists in this store."),
                       error_code="device_exists")
    token = _new_token(DEVICE_TOKEN_PREFIX)
    device = Device(merchant_id=actor.merchant_id, store_id=store.id, name=name,
                    token_hash=hash_token(token), created_by_id=actor.staff_id)
    db.session.add(device)
    db.session.flush()
    record("device.create", device, actor=actor, name=name)
    return device, token


def device_for_token(token: str) -> Device | None:
    device = db.session.scalar(sa.select(Device).where(Device.token_hash == hash_token(token)))
    return device if device is not None and device.is_active else None


def revoke_device(device: Device, *, actor: Actor, now: datetime) -> None:
    if device.revoked_at is None:
        device.revoked_at = now
        record("device.revoke", device, actor=actor)
