"""The doorbell wakes a stream in another worker through Redis, and in-process without it.

No test sleeps to let something happen: each waits for the thing itself (a thread that says it
is about to wait, the Redis server counting the subscriber), so a slow machine only makes them
slower, never wrong. The only timed waits are the ones that prove silence.
"""

import random
import threading
import time

import pytest

from app.events.doorbell import CHANNEL, LocalDoorbell, RedisDoorbell

REDIS_URL = "redis://127.0.0.1:6379/14"
PATIENCE = 5  # seconds a wait that must succeed may take on a loaded machine
# Redis channels are server-wide (not per database): store ids of this run only, so a test run
# beside this one cannot ring these listeners.
STORE = random.randrange(10**6, 10**8) * 10


class Waiter(threading.Thread):
    """A stream's thread: says when it starts waiting, then waits on its listener."""

    def __init__(self, listener):
        super().__init__(daemon=True)
        self.listener = listener
        self.waiting = threading.Event()
        self.woken: bool | None = None

    def run(self):
        self.waiting.set()
        self.woken = self.listener.wait(PATIENCE)


def _rung_while_waiting(bell, listener, store_id: int) -> Waiter:
    waiter = Waiter(listener)
    waiter.start()
    assert waiter.waiting.wait(PATIENCE)
    bell.ring(store_id)
    waiter.join(PATIENCE)
    return waiter


def test_local_doorbell_wakes_a_waiting_stream():
    bell = LocalDoorbell()
    listener = bell.listener(1)
    started = time.perf_counter()
    assert _rung_while_waiting(bell, listener, 1).woken is True
    assert time.perf_counter() - started < PATIENCE / 2  # woken by the ring, not by its timeout
    listener.close()


def test_local_doorbell_wakes_only_its_store():
    bell = LocalDoorbell()
    mine, other = bell.listener(1), bell.listener(2)
    bell.ring(1)  # the local bell rings synchronously: when it returns, every wake is set
    assert other.wait(0) is False
    assert mine.wait(0) is True
    assert mine.wait(0) is False  # one ring, one wake
    mine.close()
    other.close()


def test_a_closed_local_listener_is_not_rung():
    bell = LocalDoorbell()
    listener = bell.listener(1)
    listener.close()
    bell.ring(1)
    assert listener.wait(0) is False


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis must run on 127.0.0.1:6379 for the tests (.ci/run starts it)")
    yield client
    client.close()


def _subscribed(client, store_id: int) -> None:
    """Return once the Redis server counts a subscriber of the store's channel: a ring published
    before that would reach no one."""
    channel = CHANNEL.format(store_id=store_id)
    deadline = time.monotonic() + PATIENCE
    while not dict(client.pubsub_numsub(channel)).get(channel.encode()):
        assert time.monotonic() < deadline, f"no subscriber on {channel}"


def test_redis_doorbell_reaches_a_listener_on_another_connection(redis_client):
    ringer, listener_side = RedisDoorbell(REDIS_URL), RedisDoorbell(REDIS_URL)
    listener = listener_side.listener(STORE + 7)
    _subscribed(redis_client, STORE + 7)
    started = time.perf_counter()
    ringer.ring(STORE + 7)
    assert listener.wait(PATIENCE) is True
    assert time.perf_counter() - started < 1
    assert listener.wait(0.2) is False  # one ring, one wake
    listener.close()


def test_redis_doorbell_wakes_a_stream_waiting_in_another_thread_only_for_its_store(redis_client):
    # Each worker holds its own bell (the bell owns the connection its listeners use).
    ringer, worker, other_worker = RedisDoorbell(REDIS_URL), RedisDoorbell(REDIS_URL), RedisDoorbell(REDIS_URL)
    listener, other = worker.listener(STORE + 8), other_worker.listener(STORE + 9)
    _subscribed(redis_client, STORE + 8)
    _subscribed(redis_client, STORE + 9)

    started = time.perf_counter()
    assert _rung_while_waiting(ringer, listener, STORE + 8).woken is True
    assert time.perf_counter() - started < PATIENCE / 2
    assert other.wait(0.2) is False
    listener.close()
    other.close()


def test_a_silent_doorbell_times_out_as_a_heartbeat():
    listener = LocalDoorbell().listener(3)
    started = time.perf_counter()
    assert listener.wait(0.2) is False
    assert time.perf_counter() - started >= 0.19
    listener.close()
