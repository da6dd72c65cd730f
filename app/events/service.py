"""Append to the store event log inside the caller's transaction; ring the doorbell after commit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, SessionTransaction

from app.db import db, insert_unique, utcnow
from app.events.models import EventKind, StoreEvent, StoreEventCounter

_PENDING_KEY = "tableloop_rings"
_EVENTS_KEY = "tableloop_events"  # appended, written at commit
_WRITING_KEY = "tableloop_events_writing"  # the commit is writing them: write at once
_MARKS_KEY = "tableloop_event_marks"
# What an on-site agent puts on paper (see tablerules.documents.PRINTED_EVENTS).
PRINTED_KINDS = frozenset({EventKind.TICKET_NEW, EventKind.TICKET_CHANGED, EventKind.TICKET_CANCELLED,
                           EventKind.ORDER_RUSHED, EventKind.PRINT_JOB})


@contextmanager
def printed_at_source(device_id: int) -> Iterator[None]:
    """Within this block, every printed event appended in the session (kitchen tickets, print
    jobs) carries ``source_device_id`` and ``printed_at_source: true``: a till's offline sale,
    synced, whose paper its agent already printed — the event-log follower skips them."""
    db.session.info[_MARKS_KEY] = {"source_device_id": device_id, "printed_at_source": True}
    try:
        yield
    finally:
        db.session.info.pop(_MARKS_KEY, None)


# One statement on PostgreSQL: take n numbers from the store's counter and insert the events
# with them (a constant text, so it is compiled once). The events come as one JSON array: a
# text array would have psycopg escape every quote of every payload.
_APPEND_PG = sa.text("""
    WITH counter AS (
        UPDATE store_event_counter SET last_seq = last_seq + :n WHERE store_id = :store_id RETURNING last_seq
    )
    INSERT INTO store_event (merchant_id, store_id, seq, kind, order_id, payload, created_at)
    SELECT :merchant_id, :store_id, counter.last_seq - :n + e.i, CAST(e.event ->> 'kind' AS SMALLINT),
           CAST(e.event ->> 'order_id' AS INTEGER), e.event -> 'payload', :created_at
    FROM counter CROSS JOIN json_array_elements(CAST(:events AS JSON)) WITH ORDINALITY AS e(event, i)
    RETURNING id
""")


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
    """Append events to the store's log in the caller's transaction, in call order.

    They are written when the transaction commits, as its last statement: the store's sequence
    numbers are taken under its counter row's lock, which every writer of the store then waits
    for until this transaction ends — so it is held for that statement and the COMMIT alone,
    not while the rest of the transaction (and the building of its answer) runs. Events
    appended inside a savepoint that is rolled back are dropped with it. On PostgreSQL the
    counter update and the insert are one statement (an UPDATE … RETURNING in a CTE feeding the
    INSERT).
    """
    if not events:
        return
    marks = db.session.info.get(_MARKS_KEY)
    if marks:
        events = [NewEvent(e.kind, {**e.payload, **marks}, e.order_id) if e.kind in PRINTED_KINDS else e
                  for e in events]
    session = db.session()
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_EVENTS_KEY, []).append(_Pending(transaction, merchant_id, store_id, tuple(events)))
    if session.info.get(_WRITING_KEY):  # appended by a later before-commit hook: write at once
        _write_pending(session)


@dataclass(frozen=True)
class _Pending:
    transaction: SessionTransaction  # the (nested) transaction they were appended in
    merchant_id: int
    store_id: int
    events: tuple[NewEvent, ...]


@sa.event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its events wait for the real commit
    # From here on an append is written at once: another before-commit hook may append after
    # this one ran (app.sync.watch publishes the menu's and members' changes so).
    session.info[_WRITING_KEY] = True
    if session.info.get(_EVENTS_KEY):
        session.flush()  # every other write first: the counter's lock is the transaction's last
        _write_pending(session)


def _write_pending(session: Session) -> None:
    """The pending events, one statement per store, the stores in id order (the lock order)."""
    by_store: dict[int, tuple[int, list[NewEvent]]] = {}
    for pending in session.info.pop(_EVENTS_KEY, ()):
        by_store.setdefault(pending.store_id, (pending.merchant_id, []))[1].extend(pending.events)
    for store_id, (merchant_id, events) in sorted(by_store.items()):
        _insert(session, merchant_id, store_id, events)


def _insert(session: Session, merchant_id: int, store_id: int, events: list[NewEvent]) -> None:
    n = len(events)
    created_at = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        inserted = session.execute(_APPEND_PG, {
            "n": n, "merchant_id": merchant_id, "store_id": store_id, "created_at": created_at,
            "events": json.dumps([{"kind": int(e.kind), "order_id": e.order_id, "payload": e.payload} for e in events],
                                 ensure_ascii=False)}).all()
        if len(inserted) == n:
            _ring_later(session, store_id)
            return
    else:
        last = session.execute(
            sa.update(StoreEventCounter).where(StoreEventCounter.store_id == store_id)
            .values(last_seq=StoreEventCounter.last_seq + n).returning(StoreEventCounter.last_seq)
        ).scalar_one_or_none()
        if last is not None:
            session.add_all(StoreEvent(merchant_id=merchant_id, store_id=store_id, seq=last - n + i, kind=e.kind,
                                       payload=e.payload, order_id=e.order_id, created_at=created_at)
                            for i, e in enumerate(events, start=1))
            _ring_later(session, store_id)
            return
    # The store's first event: create its counter (a racing twin's insert simply loses), then again.
    insert_unique(StoreEventCounter(merchant_id=merchant_id, store_id=store_id, last_seq=0))
    _insert(session, merchant_id, store_id, events)


@sa.event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """A savepoint rolled back takes its events with it; the whole transaction, all of them."""
    pending = session.info.get(_EVENTS_KEY)
    if pending:
        session.info[_EVENTS_KEY] = [p for p in pending if not _within(p.transaction, previous_transaction)]


@sa.event.listens_for(Session, "after_transaction_end")
def _end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WRITING_KEY, None)
        session.info.pop(_EVENTS_KEY, None)


def _within(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def _ring_later(session: Session, store_id: int) -> None:
    session.info.setdefault(_PENDING_KEY, set()).add(store_id)


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
    if session.in_nested_transaction():
        return  # a savepoint released: nothing is visible to others until the real commit
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


def sse_stream(app, store_id: int, cursor: int, kinds: list[EventKind] | None, select=None,
               table_id: int | None = None):
    """Server-Sent Events of a store after `cursor`: the log, then what the store's shared feed
    reads as it grows; a heartbeat comment when nothing was sent for a while. Holds no database
    connection between reads, and makes none at all while it keeps up with the feed.

    `select(entry)`, when given, answers the message to send for an event, or None to skip it
    (a diner's table stream sends only its own table's news, in its own words); `table_id`, the
    table such a stream is about: another table's events do not wake it."""
    from app.events import feed as feeds  # the feed is built on this module's reads

    heartbeat = app.config["EVENT_HEARTBEAT_SECONDS"]
    wanted = None if kinds is None else {kind.label for kind in kinds}
    feed = feeds.join(app, store_id)
    try:
        yield "retry: 3000\n\n"
        pos, quiet_until = cursor, time.monotonic() + heartbeat  # pos: every event up to it is handled
        while True:
            timeout = max(0.0, quiet_until - time.monotonic())
            entries = feed.after(pos, timeout, table_id)
            if entries is None:  # older than the feed's buffer: catch up from the log itself
                with app.app_context():
                    entries = [feeds.render(event_json(e)) for e in read_after(store_id, pos, None, feeds.PAGE)]
                    db.session.remove()
                if not entries and not feed.covers(pos):
                    feed.wait(timeout)  # the log went back: until the feed has started again from its head
            for entry in entries:
                pos = entry.seq
                if wanted is None or entry.kind in wanted:
                    text = entry.text if select is None else select(entry)
                    if text:
                        yield text
                        quiet_until = time.monotonic() + heartbeat
            if time.monotonic() >= quiet_until:
                yield ": heartbeat\n\n"
                quiet_until = time.monotonic() + heartbeat
    except feeds.FeedStopped:
        return  # the client reconnects with its cursor and meets a new feed
    finally:
        feeds.leave(feed)
