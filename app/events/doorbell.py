"""The doorbell: wakes event streams when a store's log grows. Never the data itself — a stream
always reads the durable log after its cursor, so a missed ring costs at most one heartbeat.

With REDIS_URL set, rings go through Redis pub/sub and reach streams in every worker and host;
otherwise an in-process condition serves the single-process embedded default.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

CHANNEL = "tableloop:store-events:{store_id}"


class Doorbell(Protocol):
    def ring(self, store_id: int) -> None: ...

    def listener(self, store_id: int) -> Listener: ...


class Listener(Protocol):
    def wait(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class LocalDoorbell:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[int, set[threading.Event]] = {}

    def ring(self, store_id: int) -> None:
        with self._lock:
            for event in self._waiters.get(store_id, ()):
                event.set()

    def listener(self, store_id: int) -> _LocalListener:
        return _LocalListener(self, store_id)


class _LocalListener:
    def __init__(self, bell: LocalDoorbell, store_id: int) -> None:
        self._bell, self._store_id, self._event = bell, store_id, threading.Event()
        with bell._lock:
            bell._waiters.setdefault(store_id, set()).add(self._event)

    def wait(self, timeout: float) -> bool:
        rung = self._event.wait(timeout)
        self._event.clear()
        return rung

    def close(self) -> None:
        with self._bell._lock:
            self._bell._waiters.get(self._store_id, set()).discard(self._event)


class RedisDoorbell:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)

    def ring(self, store_id: int) -> None:
        self._redis.publish(CHANNEL.format(store_id=store_id), b"1")

    def listener(self, store_id: int) -> _RedisListener:
        return _RedisListener(self._redis, store_id)


class _RedisListener:
    def __init__(self, client, store_id: int) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(CHANNEL.format(store_id=store_id))

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            # None also comes back when the message read was the (ignored) subscribe confirmation.
            if self._pubsub.get_message(timeout=remaining) is not None:
                # Drain whatever else arrived: one read of the log answers them all.
                while self._pubsub.get_message(timeout=0) is not None:
                    pass
                return True
        return False

    def close(self) -> None:
        self._pubsub.close()


def make_doorbell(redis_url: str | None) -> Doorbell:
    return RedisDoorbell(redis_url) if redis_url else LocalDoorbell()
