"""Append to the store event log inside the caller's transaction; ring the doorbell after commit."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from app.db import db, insert_unique
from app.events.models import EventKind, StoreEvent, StoreEventCounter

_PENDING_KEY = "tableloop_rings"


def append(merchant_id: int, store_id: int, kind: EventKind, payload: dict, *,
           order_id: int | None = None) -> StoreEvent:
    """Append one event; its seq is the store's next number, taken under the counter row's lock."""
    seq = db.session.execute(
        sa.update(StoreEventCounter).where(StoreEventCounter.store_id == store_id)
        .values(last_seq=StoreEventCounter.last_seq + 1).returning(StoreEventCounter.last_seq)
    ).scalar_one_or_none()
    if seq is None:
        # The store's first event: create its counter (a racing twin's insert simply loses).
        insert_unique(StoreEventCounter(merchant_id=merchant_id, store_id=store_id, last_seq=0))
        return append(merchant_id, store_id, kind, payload, order_id=order_id)
    event = StoreEvent(merchant_id=merchant_id, store_id=store_id, seq=seq, kind=kind, payload=payload,
                       order_id=order_id)
    db.session.add(event)
    db.session.info.setdefault(_PENDING_KEY, set()).add(store_id)
    return event


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
