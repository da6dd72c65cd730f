"""Events appended to a store's log are written when their transaction commits, as its last
statement (the store counter's lock is then held for that statement and the COMMIT alone), in the
order they were appended, and savepoints that roll back take their own events with them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.db import begin_write
from app.events.models import EventKind, StoreEvent
from app.events.service import NewEvent, append_all, last_seq


@pytest.fixture
def store(make, db):
    """A tenant, committed, and its store log's head before the test appends anything."""
    tenant = make.tenant()
    db.session.commit()
    head = last_seq(tenant.store.id)
    db.session.commit()
    return tenant, head


def _append(tenant, *tags: str) -> None:
    append_all(tenant.merchant.id, tenant.store.id,
               [NewEvent(EventKind.ORDER_SUBMITTED, {"tag": tag}) for tag in tags])


def _log(db, tenant, after: int) -> list[tuple[int, str]]:
    return [(e.seq, e.payload["tag"]) for e in db.session.scalars(
        sa.select(StoreEvent).where(StoreEvent.store_id == tenant.store.id, StoreEvent.seq > after)
        .order_by(StoreEvent.seq))]


def test_events_wait_for_the_commit_and_keep_the_order_they_were_appended_in(store, db):
    tenant, head = store
    begin_write()
    _append(tenant, "a")
    _append(tenant, "b", "c")
    # Nothing is written yet: the counter (and its lock) is not touched before the commit.
    assert last_seq(tenant.store.id) == head
    assert _log(db, tenant, head) == []
    db.session.commit()

    assert _log(db, tenant, head) == [(head + 1, "a"), (head + 2, "b"), (head + 3, "c")]


def test_a_savepoint_rolled_back_drops_its_events_and_one_released_keeps_them(store, db):
    tenant, head = store
    begin_write()
    _append(tenant, "before")
    dropped = db.session.begin_nested()
    _append(tenant, "dropped")
    dropped.rollback()
    kept = db.session.begin_nested()
    _append(tenant, "kept")
    kept.commit()
    outer = db.session.begin_nested()
    inner = db.session.begin_nested()
    _append(tenant, "released inside a savepoint rolled back")
    inner.commit()
    outer.rollback()
    _append(tenant, "after")
    db.session.commit()

    assert [tag for _, tag in _log(db, tenant, head)] == ["before", "kept", "after"]


def test_a_transaction_rolled_back_leaves_nothing_for_the_next(store, db):
    tenant, head = store
    begin_write()
    _append(tenant, "rolled back")
    db.session.rollback()
    begin_write()
    _append(tenant, "committed")
    db.session.commit()

    assert _log(db, tenant, head) == [(head + 1, "committed")]
