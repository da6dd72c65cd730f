"""The menu's version per merchant: a counter that moves in the same transaction as any change of
a category, dish, option group, option choice or sold-out flag of the merchant, whoever makes it
(the manager's pages, the API, an agent's sync, the demo loader): one session listener sees every
flush, so no writer can forget it. Readers that keep something derived from the menu (the diner's
rendered menu, `app.diner.service.rendered_menu`) key it by (merchant, version) and never have to
be told to forget.

Bulk statements (`sa.update(Dish)…`) do not pass through the listener: code that writes the menu
that way must call `bump()` itself (none does today).
"""

from __future__ import annotations

from itertools import chain

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import db
from app.menu.models import Category, Dish, DishAvailability, MenuVersion, OptionChoice, OptionGroup
from app.tenants.models import Merchant

MENU_ROWS = (Category, Dish, OptionGroup, OptionChoice, DishAvailability)


def current(merchant_id: int) -> tuple[int, str]:
    """The merchant's menu version now (0 before the menu was ever written), with the moment the
    merchant was created: a database built afresh (or restored) starts its counters again, and
    what a process kept for the old one must not pass for the new one's."""
    row = db.session.execute(current_query(merchant_id)).one_or_none()
    return from_row(row) if row is not None else (0, "")


def current_query(merchant_id: int) -> sa.Select:
    """`current`'s statement, for a reader that adds its own columns after the first two."""
    return (sa.select(sa.func.coalesce(MenuVersion.version, 0), Merchant.created_at)
            .select_from(Merchant).outerjoin(MenuVersion, MenuVersion.merchant_id == Merchant.id)
            .where(Merchant.id == merchant_id))


def from_row(row) -> tuple[int, str]:
    return int(row[0]), row[1].isoformat() if row[1] else ""


def bump(connection: sa.Connection, merchant_ids) -> None:
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    table = MenuVersion.__table__
    for merchant_id in sorted(set(merchant_ids)):  # in id order: two writers never wait on each other crosswise
        statement = insert(table).values(merchant_id=merchant_id, version=1)
        connection.execute(statement.on_conflict_do_update(index_elements=[table.c.merchant_id],
                                                           set_={"version": table.c.version + 1}))


@sa.event.listens_for(Session, "after_flush")
def _menu_changed(session: Session, _context) -> None:
    merchants = {row.merchant_id for row in chain(session.new, session.deleted) if isinstance(row, MENU_ROWS)}
    merchants |= {row.merchant_id for row in session.dirty
                  if isinstance(row, MENU_ROWS) and session.is_modified(row, include_collections=False)}
    merchants.discard(None)
    if merchants:
        bump(session.connection(), merchants)
