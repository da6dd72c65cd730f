"""The request guard of /api/v1: who is calling, may they, and do the ids in the URL belong to them.

Every API view declares its permission with `@requires(...)` (or `@public`). The guard runs
before the view and before body validation, in this order: 401 (no or bad token) → 403 (role
lacks the permission) → 404 (an id in the URL that does not exist for this merchant). The id
check is generic: every `<id:…_id>` URL argument names a model in `ID_ARGUMENTS`, so a new
route cannot skip tenancy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, has_request_context, request
from flask_babel import gettext
from werkzeug.routing import IntegerConverter

from app.actor import Actor
from app.auth.permissions import DEVICE_GRANTS, Permission, role_allows
from app.auth.service import DEVICE_TOKEN_PREFIX, device_for_token, staff_for_token
from app.db import begin_write, require_scoped
from app.errors import Forbidden, NotFound, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])

# URL argument name -> model class, filled by each domain's routes module.
ID_ARGUMENTS: dict[str, type] = {}


def id_argument(name: str, model: type) -> None:
    ID_ARGUMENTS[name] = model


class IdConverter(IntegerConverter):
    """`<id:member_id>`: a positive 32-bit integer; anything else simply does not match (404)."""

    def __init__(self, map, **kwargs):
        super().__init__(map, min=1, max=2**31 - 1, **kwargs)


def requires(permission: Permission, *, devices: bool = False) -> Callable[[F], F]:
    """Declare what a view needs; `devices=True` lets on-site agents call it with a device token."""

    def mark(view: F) -> F:
        view._permission = permission  # type: ignore[attr-defined]
        view._devices = devices  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    view._public = True  # type: ignore[attr-defined]
    return view


def token_in_query(view: F) -> F:
    """Also accept `?access_token=` (browsers' EventSource cannot send headers)."""
    view._token_in_query = True  # type: ignore[attr-defined]
    return view


def _bearer_token(view: Any) -> str | None:
    if getattr(view, "_token_in_query", False) and "Authorization" not in request.headers:
        return request.args.get("access_token") or None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def guard_api_request() -> None:
    if request.endpoint is None or not request.path.startswith("/api/v1/"):
        return
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        begin_write()
    view = current_app.view_functions[request.endpoint]
    if getattr(view, "_public", False):
        return
    permission: Permission | None = getattr(view, "_permission", None)
    if permission is None:
        raise RuntimeError(f"API view {request.endpoint} declares no permission")

    token = _bearer_token(view)
    if token is None:
        raise Unauthorized(gettext("A bearer token is required."), error_code="token_missing")
    if token.startswith(DEVICE_TOKEN_PREFIX):
        device = device_for_token(token)
        if device is None:
            raise Unauthorized(gettext("This device token is not valid."), error_code="token_invalid")
        if not (getattr(view, "_devices", False) and permission in DEVICE_GRANTS):
            raise Forbidden(gettext("Devices cannot call this."))
        g.device, g.staff, g.merchant_id = device, None, device.merchant_id
    else:
        staff = staff_for_token(token)
        if staff is None:
            raise Unauthorized(gettext("This token is not valid or has expired."), error_code="token_invalid")
        if not role_allows(staff.role, permission):
            raise Forbidden()
        g.device, g.staff, g.merchant_id = None, staff, staff.merchant_id
    g.api_token = token

    for name, value in (request.view_args or {}).items():
        if name.endswith("_id"):
            model = ID_ARGUMENTS.get(name)
            if model is None:
                raise RuntimeError(f"URL argument {name} of {request.endpoint} has no model in ID_ARGUMENTS")
            require_scoped(model, value)


def current_actor() -> Actor:
    """The authenticated caller of this request (API token, device token or page session) as the
    Actor that services take. Only routes and pages call it."""
    device, staff = g.get("device"), g.get("staff")
    ip = request.remote_addr
    if device is not None:
        return Actor(merchant_id=device.merchant_id, device_id=device.id, store_id=device.store_id,
                     name=device.name, ip=ip)
    if staff is not None:
        return Actor(merchant_id=staff.merchant_id, staff_id=staff.id, store_id=staff.store_id,
                     name=staff.display_name or staff.username, ip=ip)
    merchant_id = g.get("merchant_id")
    if merchant_id is None:
        raise Unauthorized(gettext("A bearer token is required."), error_code="token_missing")
    return Actor.system(merchant_id)


def works_at(store_id: int) -> bool:
    """Store-bound staff (cashiers, kitchen, a store's manager) and devices act in their own store
    only; owners and unbound managers in every store of their merchant."""
    actor = (g.get("device") or g.get("staff")) if has_request_context() else None
    return actor is None or actor.store_id in (None, store_id)


def require_store(store_id: int, what: str = "store") -> None:
    """404 for a store the caller does not work at — the same answer as a missing one."""
    if not works_at(store_id):
        raise NotFound(what)
