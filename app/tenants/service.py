"""Merchants and stores."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext

from app.auth.permissions import Role
from app.db import db
from app.errors import Conflict
from app.tenants.models import Merchant, Store


def create_store(merchant_id: int, *, name: str, address: str = "", phone: str = "") -> Store:
    _check_store_name(merchant_id, name)
    store = Store(merchant_id=merchant_id, name=name, address=address, phone=phone)
    db.session.add(store)
    db.session.flush()
    return store


def update_store(store: Store, **changes) -> None:
    if "name" in changes and changes["name"] != store.name:
        _check_store_name(store.merchant_id, changes["name"])
    for key, value in changes.items():
        setattr(store, key, value)


def _check_store_name(merchant_id: int, name: str) -> None:
    taken = db.session.scalar(sa.select(Store.id).where(Store.merchant_id == merchant_id, Store.name == name))
    if taken is not None:
        raise Conflict(gettext("A store with this name already exists."), error_code="store_exists")


def create_tenant(*, merchant_name: str, owner_username: str, password: str,
                  store_name: str | None = None) -> tuple[Merchant, Store, object]:
    """A merchant, its first store and its owner — the bootstrap of a new restaurant business."""
    from app.auth.service import create_staff

    merchant = Merchant(name=merchant_name)
    db.session.add(merchant)
    db.session.flush()
    store = create_store(merchant.id, name=store_name or merchant_name)
    owner = create_staff(None, merchant_id=merchant.id, username=owner_username, password=password,
                         role=Role.OWNER, display_name=owner_username)
    return merchant, store, owner
