"""Areas and tables of a store, table state moves, and the signed table QR URLs."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session, SessionTransaction, contains_eager

from app.actor import Actor
from app.audit.service import record
from app.db import db, insert_unique, utcnow
from app.errors import Conflict, Unprocessable
from app.tables.models import Area, DiningTable, TableQrSecret
from app.tables.state import IllegalTransition, TableEvent, transition
from app.tenants.models import Store

_QR_SALT = "table-qr"
_MAX_TOKEN_LENGTH = 200
_MAX_ID = 2**31 - 1


# --- areas and tables ------------------------------------------------------------------------

def create_area(store: Store, *, actor: Actor, name: str, name_en: str = "", sort_order: int | None = None) -> Area:
    if sort_order is None:
        highest = db.session.scalar(sa.select(sa.func.max(Area.sort_order)).where(Area.store_id == store.id))
        sort_order = (highest or 0) + 1
    area = Area(merchant_id=store.merchant_id, store_id=store.id, name=name, name_en=name_en, sort_order=sort_order)
    if not insert_unique(area):
        raise Conflict(gettext("This store already has an area with this name."), error_code="area_exists")
    record("area.create", area, actor=actor, name=name)
    return area


def _area_of_store(store_id: int, area_id: int | None) -> Area | None:
    if area_id is None:
        return None
    area = db.session.scalar(sa.select(Area).where(Area.id == area_id, Area.store_id == store_id))
    if area is None:
        raise Unprocessable(gettext("This area does not belong to the store."),
                            details={"fields": {"area_id": ["Unknown area for this store."]}})
    return area


def create_table(store: Store, *, actor: Actor, code: str, seats: int, area_id: int | None = None) -> DiningTable:
    table = DiningTable(merchant_id=store.merchant_id, store=store, code=code, seats=seats,
                        area=_area_of_store(store.id, area_id))
    if not insert_unique(table):
        raise _table_exists()
    qr_secret(store.merchant_id)  # the sticker can be printed in the same breath
    record("table.create", table, actor=actor, code=code, seats=seats)
    return table


def update_table(table: DiningTable, *, actor: Actor, **changes: Any) -> DiningTable:
    if changes.get("code", table.code) != table.code:
        taken = db.session.scalar(sa.select(DiningTable.id).where(DiningTable.store_id == table.store_id,
                                                                  DiningTable.code == changes["code"]))
        if taken is not None:
            raise _table_exists()
    audit: dict[str, list] = {}
    if "area_id" in changes:
        area = _area_of_store(table.store_id, changes.pop("area_id"))
        if (area and area.id) != table.area_id:
            audit["area_id"] = [table.area_id, area and area.id]
            table.area = area
    for key, value in changes.items():
        if getattr(table, key) != value:
            audit[key] = [getattr(table, key), value]
            setattr(table, key, value)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError:
        raise _table_exists() from None
    if audit:
        record("table.update", table, actor=actor, changes=audit)
    return table


def _table_exists() -> Conflict:
    return Conflict(gettext("This store already has a table with this code."), error_code="table_exists")


def move_table(table: DiningTable, event: TableEvent | str, now: datetime | None = None) -> DiningTable:
    """Apply a state event to a table (orders drive this); 409 when the table cannot make that move."""
    try:
        new_state = transition(table.state, event)
    except IllegalTransition as error:
        raise Conflict(gettext("The table cannot do this in its current state."), error_code="table_state_conflict",
                       details={"state": table.state.label, "event": str(error.event)}) from None
    if new_state is not table.state:
        table.state = new_state
        table.state_changed_at = now or utcnow()
    return table


# --- signed QR URLs ----------------------------------------------------------------------------

def qr_secret(merchant_id: int) -> TableQrSecret:
    """The merchant's QR signing key, created on first use.

    A caller that is not already writing must commit afterwards, or stickers printed from this
    request would carry a key that was never saved.
    """
    query = sa.select(TableQrSecret).where(TableQrSecret.merchant_id == merchant_id)
    row = db.session.scalar(query)
    if row is None:
        row = TableQrSecret(merchant_id=merchant_id, secret=secrets.token_hex(32), rotated_at=utcnow())
        if not insert_unique(row):
            row = db.session.scalars(query).one()
    return row


def rotate_qr_secret(*, actor: Actor, now: datetime, store_id: int | None = None) -> TableQrSecret:
    """A new signing key: every table QR code printed so far stops working (all stores)."""
    row = qr_secret(actor.merchant_id)
    row.secret = secrets.token_hex(32)
    row.rotated_at = now
    _signers().pop(actor.merchant_id, None)
    record("table_qr.rotate", row, actor=actor, store_id=store_id)
    return row


_SIGNERS = "table_qr_signers"


def _signers() -> dict[int, URLSafeSerializer]:
    # One serializer per merchant per transaction: listing 40 tables reads the key once, and a key
    # rotated by someone else is read afresh by the next transaction.
    return db.session.info.setdefault(_SIGNERS, {})


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_signers(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_SIGNERS, None)


def _signer(merchant_id: int) -> URLSafeSerializer:
    signers = _signers()
    if merchant_id not in signers:
        signers[merchant_id] = URLSafeSerializer(qr_secret(merchant_id).secret, salt=_QR_SALT)
    return signers[merchant_id]


def table_token(table: DiningTable) -> str:
    return _signer(table.merchant_id).dumps([table.merchant_id, table.store_id, table.id])


def table_url(table: DiningTable) -> str:
    """What the table's QR code says: `{PUBLIC_BASE_URL}/t/{token}`."""
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/t/{table_token(table)}"


def resolve_table_token(token: str) -> DiningTable | None:
    """The active table a scanned token names, or None for a bad, tampered or rotated-away token."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    # The payload says whose key to check it with; nothing in it is trusted before that check.
    _valid, payload = URLSafeSerializer("unverified", salt=_QR_SALT).loads_unsafe(token)
    if not (isinstance(payload, list) and len(payload) == 3
            and all(type(value) is int and 1 <= value <= _MAX_ID for value in payload)):
        return None
    merchant_id, store_id, table_id = payload
    # One read for the merchant's key, the table and its store; the table counts only once the
    # token is found signed with that key.
    row = db.session.execute(
        sa.select(TableQrSecret.secret, DiningTable)
        .join(Store, Store.id == DiningTable.store_id)
        .join(TableQrSecret, TableQrSecret.merchant_id == DiningTable.merchant_id)
        .where(DiningTable.id == table_id, DiningTable.merchant_id == merchant_id,
               DiningTable.store_id == store_id)
        .options(contains_eager(DiningTable.store))).one_or_none()
    if row is None:
        return None
    secret, table = row
    try:
        URLSafeSerializer(secret, salt=_QR_SALT).loads(token)
    except BadSignature:
        return None
    if not (table.is_active and table.store.is_active):
        return None
    return table
