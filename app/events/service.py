"""Append to the store event log inside the caller's transaction; ring the doorbell after commit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app.db import UTCDateTime, db, insert_unique, utcnow
from app.events.models import EventKind, StoreEvent, StoreEventCounter

_PENDING_KEY = "tableloop_rings"


@dataclass(frozen=True)
class NewEvent:
    kind: EventKind
    payload: dict
    order_id: int | None = None


def append(merchant_id: int, store_id: int, kind: EventKind, payload: dict, *,
           order_id: int | None = None) -> None:
    """Append one event to the store's log (see `append_all`)."""
    append_all(merchant_id, store_id, [NewEvent(kind, payload, order_id)])


def append_all(merchant_id: int, store_id: int, events: Sequence[NewEvent]) -> None:
    """Append events in the caller's transaction, with the store's next sequence numbers in order.

    The numbers are taken under the store counter row's lock, which writers of one store then
    hold until they commit: call this as late in the transaction as possible, and with every
    event of the transaction at once. On PostgreSQL the counter update and the insert are one
    statement (an UPDATE … RETURNING in a CTE feeding the INSERT).
    """
    if not events:
        return
    n = len(events)
    created_at = utcnow()
    if db.session.get_bind().dialect.name == "postgresql":
        counter = (sa.update(StoreEventCounter).where(StoreEventCounter.store_id == store_id)
                   .values(last_seq=StoreEventCounter.last_seq + n).returning(StoreEventCounter.last_seq)
                   .cte("counter"))
        rows = sa.values(sa.column("i", sa.Integer), sa.column("kind", sa.SmallInteger),
                         sa.column("order_id", sa.Integer), sa.column("payload", sa.JSON), name="e").data(
            [(i, int(e.kind), e.order_id, e.payload) for i, e in enumerate(events, start=1)])
        inserted = db.session.execute(sa.insert(StoreEvent).from_select(
            ["merchant_id", "store_id", "seq", "kind", "order_id", "payload", "created_at"],
            sa.select(sa.literal(merchant_id), sa.literal(store_id), counter.c.last_seq - n + rows.c.i,
                      rows.c.kind, sa.cast(rows.c.order_id, sa.Integer), sa.cast(rows.c.payload, sa.JSON),
                      sa.literal(created_at, UTCDateTime))
            .select_from(counter).join(rows, sa.true())).returning(StoreEvent.id)).all()
        if len(inserted) == n:
            _ring_later(store_id)
            return
    else:
        last = db.session.execute(
            sa.update(StoreEventCounter).where(StoreEventCounter.store_id == store_id)
            .values(last_seq=StoreEventCounter.last_seq + n).returning(StoreEventCounter.last_seq)
        ).scalar_one_or_none()
        if last is not None:
            db.session.add_all(StoreEvent(merchant_id=merchant_id, store_id=store_id, seq=last - n + i, kind=e.kind,
                                          payload=e.payload, order_id=e.order_id, created_at=created_at)
                               for i, e in enumerate(events, start=1))
            _ring_later(store_id)
            return
    # The store's first event: create its counter (a racing twin's insert simply loses), then again.
    insert_unique(StoreEventCounter(merchant_id=merchant_id, store_id=store_id, last_seq=0))
    append_all(merchant_id, store_id, events)


def _ring_later(store_id: int) -> None:
    db.session.info.setdefault(_PENDING_KEY, set()).add(store_id)


def read_after(store_id: int, after: int, kinds: Iterable[EventKind] | None = None,
               limit: int = 200) -> list[StoreEvent]:
    stmt = sa.select(StoreEvent).where(StoreEvent.store_id == store_id, StoreEvent.seq > after)
    if kinds is not None:
        stmt = stmt.where(StoreEvent.kind.in_([int(k) for k in kinds]))
    return list(db.session.scalars(stmt.order_by(StoreEvent.seq).limit(limit)))


def last_seq(store_id: int) -> int:
    return db.session.scalar(sa.select(StoreEventCounter.last_seq).where(StoreEventCounter.store_id == store_id)) or 0


def event_json(event: StoreEvent) -> dict:
    return {"seq": event.seq, "kind": event.kind.label, "order_id": event.order_id,
            "created_at": event.created_at.isoformat(), "payload": event.payload}


@sa.event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    stores = session.info.pop(_PENDING_KEY, None)
    if not stores:
        return
    bell = current_app.extensions["tableloop_doorbell"]
    for store_id in stores:
        try:
            bell.ring(store_id)
        except Exception:
            current_app.logger.warning("doorbell ring failed for store %s", store_id, exc_info=True)


@sa.event.listens_for(Session, "after_rollback")
def _forget_rings(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def sse_stream(app, store_id: int, cursor: int, kinds: list[EventKind] | None):
    """Server-Sent Events of a store after `cursor`: the log, then whatever the doorbell announces;
    a heartbeat comment when nothing happened for a while. Holds no database connection between reads."""
    heartbeat = app.config["EVENT_HEARTBEAT_SECONDS"]
    listener = app.extensions["tableloop_doorbell"].listener(store_id)  # before the first read: no lost ring
    try:
        yield "retry: 3000\n\n"
        while True:
            with app.app_context():
                batch = [event_json(e) for e in read_after(store_id, cursor, kinds)]
                db.session.remove()
            for event in batch:
                cursor = event["seq"]
                yield f"id: {cursor}\nevent: {event['kind']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
            if batch:
                continue
            if not listener.wait(heartbeat):
                yield ": heartbeat\n\n"
    finally:
        listener.close()
