"""Live streams of one store share one reader of the log: every stream still gets every event
exactly once and in order, a stream older than the buffer catches up from the log, and a new
event costs one read of the log however many streams are open.

Streams are the real `sse_stream` generators, each consumed by its own thread as a response
would be; writers are real transactions that ring the real doorbell after commit.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
import sqlalchemy as sa

from app.db import begin_write
from app.events import feed as feeds
from app.events.doorbell import RedisDoorbell
from app.events.models import EventKind
from app.events.service import NewEvent, append_all, last_seq, sse_stream

REDIS_URL = "redis://127.0.0.1:6379/14"
PATIENCE = 30  # seconds a wait that must succeed may take on a loaded machine
READS_OF_THE_LOG = re.compile(r"^\s*SELECT\b.*\bFROM store_event\b", re.IGNORECASE | re.DOTALL)


class Stream(threading.Thread):
    """One client: reads `sse_stream` until it has `expected` events, then closes it."""

    def __init__(self, app, store_id: int, cursor: int, expected: int, kinds=None):
        super().__init__(daemon=True)
        self.source = sse_stream(app, store_id, cursor, kinds)
        self.expected = expected
        self.events: list[tuple[int, str, dict]] = []
        self.opened = threading.Event()
        self.progress = threading.Semaphore(0)  # one release per event
        self.done = threading.Event()

    def run(self):
        try:
            for block in self.source:
                if block.startswith("retry:"):
                    self.opened.set()
                    continue
                if block.startswith(":"):
                    continue
                fields = dict(line.split(": ", 1) for line in block.strip().splitlines())
                self.events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                self.progress.release()
                if len(self.events) >= self.expected:
                    break
        finally:
            self.source.close()
            self.done.set()

    def seqs(self) -> list[int]:
        return [seq for seq, _, _ in self.events]


def _open(app, store_id, cursor, expected, count=1, kinds=None) -> list[Stream]:
    streams = [Stream(app, store_id, cursor, expected, kinds) for _ in range(count)]
    for stream in streams:
        stream.start()
    for stream in streams:
        assert stream.opened.wait(PATIENCE)
    return streams


def _finished(streams) -> None:
    for stream in streams:
        assert stream.done.wait(PATIENCE), f"a stream has {len(stream.events)} of {stream.expected} events"


def _write(app, tenant, batches: list[int], kind=EventKind.ORDER_SUBMITTED, tag="w") -> None:
    """One committed transaction per batch, each appending that many events."""
    from app.extensions import db

    with app.app_context():
        for b, size in enumerate(batches):
            begin_write()
            append_all(tenant.merchant.id, tenant.store.id,
                       [NewEvent(kind, {"writer": tag, "batch": b, "i": i}) for i in range(size)])
            db.session.commit()
        db.session.remove()


@pytest.fixture(params=["local", "redis"])
def doorbell(request, app):
    """The app's doorbell for the test: the in-process one, or Redis when it answers."""
    if request.param == "local":
        yield "local"
        return
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    previous = app.extensions["tableloop_doorbell"]
    app.extensions["tableloop_doorbell"] = RedisDoorbell(REDIS_URL)
    yield "redis"
    app.extensions["tableloop_doorbell"] = previous


def test_many_streams_of_one_store_each_get_every_event_once_and_in_order(app, make, doorbell):
    tenant = make.tenant()
    start = last_seq(tenant.store.id)
    writers, batches = 3, [1, 2, 1, 3, 1, 1, 2, 1]
    total = writers * sum(batches)
    streams = _open(app, tenant.store.id, start, total, count=15)
    if doorbell == "redis":
        _redis_subscribed(tenant.store.id)

    threads = [threading.Thread(target=_write, args=(app, tenant, batches), kwargs={"tag": str(w)}, daemon=True)
               for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)
    _finished(streams)

    expected = list(range(start + 1, start + total + 1))
    for stream in streams:
        assert stream.seqs() == expected
        assert [data["seq"] for _, _, data in stream.events] == expected
        assert {kind for _, kind, _ in stream.events} == {"order_submitted"}
    # Every writer's every event, each once.
    written = sorted((d["payload"]["writer"], d["payload"]["batch"], d["payload"]["i"])
                     for _, _, d in streams[0].events)
    assert written == sorted((str(w), b, i) for w in range(writers) for b, n in enumerate(batches) for i in range(n))


def _redis_subscribed(store_id: int) -> None:
    """Return once the Redis server counts the feed's subscriber: a ring before it reaches no one
    (the stream would still get the event, but only at the next heartbeat)."""
    import time

    import redis

    from app.events.doorbell import CHANNEL

    client = redis.Redis.from_url(REDIS_URL)
    channel = CHANNEL.format(store_id=store_id)
    deadline = time.monotonic() + PATIENCE
    while not dict(client.pubsub_numsub(channel)).get(channel.encode()):
        assert time.monotonic() < deadline, f"no subscriber on {channel}"
    client.close()


def test_a_filtered_stream_gets_only_its_kinds_and_its_cursor_skips_the_rest(app, make):
    tenant = make.tenant()
    with app.app_context():
        head = last_seq(tenant.store.id)  # what setting up the store wrote (menu_changed…)
    _write(app, tenant, [1], kind=EventKind.TICKET_NEW)  # seq head+1
    both, = _open(app, tenant.store.id, 0, 3, kinds=[EventKind.TICKET_NEW])
    _write(app, tenant, [2], kind=EventKind.ORDER_PAID)  # seq head+2, +3: filtered out
    _write(app, tenant, [2], kind=EventKind.TICKET_NEW)  # seq head+4, +5
    _finished([both])
    assert [(seq - head, kind) for seq, kind, _ in both.events] == [(1, "ticket_new"), (4, "ticket_new"),
                                                                    (5, "ticket_new")]


def test_a_stream_older_than_the_buffer_catches_up_from_the_log_without_gaps(app, make):
    tenant = make.tenant()
    _write(app, tenant, [3])  # seq 1..3: history before any stream
    extra = (feeds.BUFFER_SIZE // 300 + 2) * 300
    live, = _open(app, tenant.store.id, 3, extra + 2)  # keeps the feed running while the log grows
    _write(app, tenant, [300] * (extra // 300))  # seq 4..3+extra: more than the buffer holds

    for _ in range(extra):
        assert live.progress.acquire(timeout=PATIENCE)
    feed = feeds.join(app, tenant.store.id)
    try:
        assert not feed.covers(5)  # the buffer no longer reaches back to cursor 5
        late, = _open(app, tenant.store.id, 5, extra + 2 - 2)
        for _ in range(extra - 2):
            assert late.progress.acquire(timeout=PATIENCE)  # caught up to the head of the log
        _write(app, tenant, [2])  # and then follows the feed
        _finished([live, late])
    finally:
        feeds.leave(feed)

    head = 3 + extra + 2
    assert live.seqs() == list(range(4, head + 1))
    assert late.seqs() == list(range(6, head + 1))


class LogReads:
    """Counts the statements that read the store event log (not its counter), on every connection."""

    def __init__(self, engine):
        self.engine, self.count, self._lock = engine, 0, threading.Lock()

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if READS_OF_THE_LOG.match(statement):
            with self._lock:
                self.count += 1


@pytest.mark.parametrize("streams_open", [1, 12])
def test_reads_of_the_log_per_event_do_not_grow_with_the_streams(app, make, streams_open):
    from app.extensions import db

    tenant = make.tenant()
    rounds = 8
    streams = _open(app, tenant.store.id, 0, rounds + 1, count=streams_open)
    _write(app, tenant, [1])  # every stream is live and caught up once it has this one
    for stream in streams:
        assert stream.progress.acquire(timeout=PATIENCE)

    with LogReads(db.engine) as reads:
        for _ in range(rounds):
            _write(app, tenant, [1])
            for stream in streams:
                assert stream.progress.acquire(timeout=PATIENCE)
    _finished(streams)

    assert all(stream.seqs() == list(range(1, rounds + 2)) for stream in streams)
    # One read of the log per ring by the store's feed, whatever the number of streams (reading per
    # stream would be streams_open × rounds); one spare for a heartbeat's safety-net read.
    assert 1 <= reads.count <= rounds + 1, reads.count


def test_an_event_of_one_table_wakes_that_tables_streams_and_not_the_others(app, make):
    """A diner's stream waits for its own table: at 50 tables a change must not wake 300 phones.
    An event of no table (an order's) still wakes every table's stream."""
    tenant = make.tenant()
    store_id = tenant.store.id
    feed = feeds.join(app, store_id)
    try:
        start = last_seq(store_id)
        deadline = time.monotonic() + PATIENCE
        while not feed.covers(start) and time.monotonic() < deadline:
            feed.wait(0.05)  # until the feed has read its baseline
        assert feed.covers(start)
        woken: dict[int, list] = {}

        def wait(table_id: int) -> None:
            woken[table_id] = feed.after(start, PATIENCE, table_id)

        waiters = {table_id: threading.Thread(target=wait, args=(table_id,), daemon=True) for table_id in (7, 8)}
        for waiter in waiters.values():
            waiter.start()
        _write_table_event(app, tenant, table_id=9)  # a third table's change
        published = feed.after(start, PATIENCE)  # the feed has it: a waiter of 7 or 8 woken now would return
        assert [entry.table_id for entry in published] == [9]
        waiters[7].join(0.5)
        assert waiters[7].is_alive() and waiters[8].is_alive()

        _write_table_event(app, tenant, table_id=7)
        waiters[7].join(PATIENCE)
        assert [entry.table_id for entry in woken[7]] == [9, 7]  # the other table's event too, to skip
        assert waiters[8].is_alive()

        _write(app, tenant, [1])  # an order's event, of no table
        waiters[8].join(PATIENCE)
        assert [entry.table_id for entry in woken[8]] == [9, 7, None]
    finally:
        feeds.leave(feed)


def _write_table_event(app, tenant, *, table_id: int) -> None:
    from app.extensions import db

    with app.app_context():
        begin_write()
        append_all(tenant.merchant.id, tenant.store.id,
                   [NewEvent(EventKind.CART_CHANGED, {"table_id": table_id, "session_id": 1})])
        db.session.commit()
        db.session.remove()
