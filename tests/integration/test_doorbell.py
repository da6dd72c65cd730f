"""The doorbell wakes a stream in another worker through Redis, and in-process without it."""

import threading
import time

import pytest

from app.events.doorbell import LocalDoorbell, RedisDoorbell

REDIS_URL = "redis://127.0.0.1:6379/14"


def _wakes(bell, store_id: int) -> bool:
    listener = bell.listener(store_id)
    try:
        threading.Timer(0.1, bell.ring, args=(store_id,)).start()
        return listener.wait(5)
    finally:
        listener.close()


def test_local_doorbell_wakes_only_its_store():
    bell = LocalDoorbell()
    assert _wakes(bell, 1)
    listener = bell.listener(2)
    bell.ring(1)
    assert listener.wait(0.2) is False
    listener.close()


def test_redis_doorbell_reaches_a_listener_on_another_connection():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.fail("Redis must run on 127.0.0.1:6379 for the tests (.ci/run starts it)")
    ringer, listener_side = RedisDoorbell(REDIS_URL), RedisDoorbell(REDIS_URL)
    listener = listener_side.listener(7)
    time.sleep(0.05)  # the subscription is in place before the ring
    started = time.perf_counter()
    ringer.ring(7)
    assert listener.wait(5) is True
    assert time.perf_counter() - started < 1
    assert listener.wait(0.2) is False  # one ring, one wake
    listener.close()


def test_a_silent_doorbell_times_out_as_a_heartbeat():
    listener = LocalDoorbell().listener(3)
    started = time.perf_counter()
    assert listener.wait(0.2) is False
    assert time.perf_counter() - started >= 0.19
    listener.close()
