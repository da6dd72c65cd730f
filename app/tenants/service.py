"""Stores of a merchant. (A new merchant comes with its owner and its member rules: `app.onboarding.create_tenant`.)"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext

from app.actor import Actor
from app.audit.service import record
from app.db import db
from app.errors import Conflict
from app.tenants.models import Store


def create_store(actor: Actor, *, name: str, address: str = "", phone: str = "") -> Store:
    store = new_store(actor.merchant_id, name=name, address=address, phone=phone)
    record("store.create", store, actor=actor)
    return store


def new_store(merchant_id: int, *, name: str, address: str = "", phone: str = "") -> Store:
    """The store row alone: a new merchant's first store comes with the merchant (not audited)."""
    _check_store_name(merchant_id, name)
    store = Store(merchant_id=merchant_id, name=name, address=address, phone=phone)
    db.session.add(store)
    db.session.flush()
    return store


def update_store(store: Store, *, actor: Actor, **changes) -> None:
    if "name" in changes and changes["name"] != store.name:
        _check_store_name(store.merchant_id, changes["name"])
    for key, value in changes.items():
        setattr(store, key, value)
    record("store.update", store, actor=actor, **changes)


def _check_store_name(merchant_id: int, name: str) -> None:
    taken = db.session.scalar(sa.select(Store.id).where(Store.merchant_id == merchant_id, Store.name == name))
    if taken is not None:
        raise Conflict(gettext("A store with this name already exists."), error_code="store_exists")
