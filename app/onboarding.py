"""A new restaurant business: the merchant, its member rules, its first store and its owner.

Beside the domain packages, as the one place that starts a merchant in all of them (the member
rules are made with the merchant, so that reading them never writes)."""

from __future__ import annotations

from app.auth.models import Staff
from app.auth.permissions import Role
from app.auth.service import create_staff
from app.db import db
from app.members.service import set_up_members
from app.tenants.models import Merchant, Store
from app.tenants.service import new_store


def create_tenant(*, merchant_name: str, owner_username: str, password: str,
                  store_name: str | None = None) -> tuple[Merchant, Store, Staff]:
    """A merchant, its member rules, its first store and its owner."""
    merchant = Merchant(name=merchant_name)
    db.session.add(merchant)
    db.session.flush()
    set_up_members(merchant.id)
    store = new_store(merchant.id, name=store_name or merchant_name)
    owner = create_staff(None, merchant_id=merchant.id, username=owner_username, password=password,
                         role=Role.OWNER, display_name=owner_username)
    return merchant, store, owner
