"""Session login for server-rendered pages (managers now; diner pages use WeChat identity)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, redirect, request, session, url_for

from app.auth.models import Staff
from app.auth.permissions import Permission, role_allows
from app.db import db
from app.errors import Forbidden


def load_page_user() -> None:
    staff_id = session.get("staff_id")
    staff = db.session.get(Staff, staff_id) if isinstance(staff_id, int) else None
    if staff is not None and not staff.is_active:
        session.clear()
        staff = None
    g.staff = staff
    g.merchant_id = staff.merchant_id if staff else None


def login_required(permission: Permission) -> Callable:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            if g.get("staff") is None:
                return redirect(url_for("pages.login", next=request.full_path))
            if not role_allows(g.staff.role, permission):
                raise Forbidden()
            return view(*args, **kwargs)

        return wrapper

    return decorate


def can(permission: Permission | str) -> bool:
    """Whether the logged-in staff member may do this (templates show only what they may use)."""
    staff = g.get("staff")
    return staff is not None and role_allows(staff.role, Permission(permission))


def log_in(staff: Staff) -> None:
    session.clear()  # a new session id at login: no fixation
    session["staff_id"] = staff.id
    session.permanent = True
