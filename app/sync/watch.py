"""Tell the stores' on-site agents when something their local copy holds has changed.

An agent sells offline from its copy of the store (`GET /stores/{id}/snapshot`): menu, options,
sold-out flags, tables, tiers and rules, staff, and the members' cards. Rather than each service
of the menu, the tables, the staff… remembering to say so — and the next one forgetting — one
watcher looks at what a transaction wrote: a ``menu_changed`` event goes into the log of every
store concerned (once per transaction and store), a card bound, lost or replaced a
``member_changed`` with the member's id. The events commit with the change itself; the agent's
follower reads them after its cursor and refreshes its copy at once.

What changes all day and is not in the copy's base — a table's seating state, a member's
balances — is left out: the seating has its own events, the balances are read by the agent's
regular member refresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain

import sqlalchemy as sa
from sqlalchemy.orm import Session, SessionTransaction

from app.auth.models import Staff
from app.db import db
from app.events import service as events
from app.events.models import EventKind
from app.members.models import Member, MemberCard, MemberSettings, Tier
from app.menu.models import DishAvailability
from app.menu.version import MENU_ROWS
from app.tables.models import Area, DiningTable
from app.tenants.models import Store

_MENU = "tableloop_copy_changes"
_MEMBERS = "tableloop_member_changes"

# A model whose rows are in the copy → its name in the event, and the columns that matter
# (None: any change). Rows with a ``store_id`` concern that store, the others every store of
# the merchant.
WATCHED: dict[type, tuple[str, frozenset[str] | None]] = {
    # The menu's rows, as the menu version counts them (app.menu.version).
    **{model: ("sold_out" if model is DishAvailability else "menu", None) for model in MENU_ROWS},
    Area: ("tables", None),
    DiningTable: ("tables", frozenset({"code", "seats", "area_id", "is_active", "store_id"})),
    Tier: ("tiers", None),
    MemberSettings: ("rules", frozenset({"points_per_yuan", "earning_tenders", "cents_per_point",
                                         "max_points_share_percent"})),
    Store: ("store", frozenset({"name", "address", "phone", "is_active", "rounding", "offline_allowance_cents"})),
    Staff: ("staff", frozenset({"username", "display_name", "password_hash", "role", "store_id", "is_active"})),
}
MEMBER_COLUMNS = frozenset({"phone", "member_no", "name", "tier_id"})


def install() -> None:
    """Start watching (at app start; idempotent)."""
    if not sa.event.contains(Session, "after_flush", _collect):
        sa.event.listen(Session, "after_flush", _collect)
        sa.event.listen(Session, "before_commit", _publish)
        sa.event.listen(Session, "after_transaction_end", _forget)


def _changed(obj: object, columns: frozenset[str] | None, *, is_dirty: bool) -> bool:
    if not is_dirty or columns is None:
        return True
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns if name in state.attrs)


def _collect(session: Session, _flush_context: object) -> None:
    """After each flush (the new/dirty/deleted sets still show what it wrote): note what changed."""
    menu: dict[tuple[int, int | None], set[str]] = session.info.setdefault(_MENU, {})
    members: dict[int, set[int]] = session.info.setdefault(_MEMBERS, {})
    dirty = set(session.dirty)
    for obj in chain(session.new, dirty, session.deleted):
        is_dirty = obj in dirty
        if isinstance(obj, MemberCard | Member):
            if isinstance(obj, Member) and not _changed(obj, MEMBER_COLUMNS, is_dirty=is_dirty):
                continue
            member_id = obj.member_id if isinstance(obj, MemberCard) else obj.id
            if obj.merchant_id is not None and member_id is not None and (is_dirty or isinstance(obj, MemberCard)):
                members.setdefault(obj.merchant_id, set()).add(member_id)
            continue
        watched = WATCHED.get(type(obj))
        if watched is None or not _changed(obj, watched[1], is_dirty=is_dirty):
            continue
        merchant_id = obj.merchant_id  # type: ignore[attr-defined]
        if merchant_id is None:
            continue
        store_id = obj.id if isinstance(obj, Store) else getattr(obj, "store_id", None)
        menu.setdefault((merchant_id, store_id), set()).add(watched[0])


def _publish(session: Session) -> None:
    """Before the commit: the events, in the same transaction as the change (what is still
    unflushed is flushed first, so that the watcher sees it)."""
    if session.in_nested_transaction() or not _is_app_session(session):
        return  # a savepoint: the changes are published with the real commit
    session.flush()
    menu = session.info.pop(_MENU, None) or {}
    members = session.info.pop(_MEMBERS, None) or {}
    if not (menu or members):
        return
    by_store: dict[tuple[int, int], set[str]] = {}
    for (merchant_id, store_id), what in menu.items():
        for sid in _stores(session, merchant_id, store_id):
            by_store.setdefault((merchant_id, sid), set()).update(what)
    for merchant_id in members:
        for sid in _stores(session, merchant_id, None):
            by_store.setdefault((merchant_id, sid), set())
    for (merchant_id, store_id), what in sorted(by_store.items()):
        new = []
        if what:
            new.append(events.NewEvent(EventKind.MENU_CHANGED, {"what": sorted(what)}))
        new += [events.NewEvent(EventKind.MEMBER_CHANGED, {"member_id": member_id})
                for member_id in sorted(members.get(merchant_id, ()))]
        events.append_all(merchant_id, store_id, new)


def _stores(session: Session, merchant_id: int, store_id: int | None) -> Iterable[int]:
    if store_id is not None:
        return (store_id,)
    return session.scalars(sa.select(Store.id).where(Store.merchant_id == merchant_id).order_by(Store.id)).all()


def _is_app_session(session: Session) -> bool:
    try:
        return session is db.session()
    except RuntimeError:  # no application context: not the app's session
        return False


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint or subtransaction: the outer transaction goes on
    session.info.pop(_MENU, None)
    session.info.pop(_MEMBERS, None)
