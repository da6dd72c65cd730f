"""The doorbell: wakes event streams when a store's log grows. Never the data itself — a stream
always reads the durable log after its cursor, so a missed ring costs at most one heartbeat.

With REDIS_URL set, rings go through Redis pub/sub and reach streams in every worker and host;
otherwise an in-process condition serves the single-process embedded default. Without Redis but
with a separate stream process on the same host (`config/gunicorn_streams.conf.py`), every
process also sends each ring as a UDP datagram to EVENT_DOORBELL_UDP, where the stream process
listens (EVENT_DOORBELL_LISTEN): a datagram holds just the store id and only wakes a read of the
log, so a lost or forged one costs at most a read.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import weakref
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


log = logging.getLogger(__name__)


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"EVENT_DOORBELL_UDP must be host:port, not {text!r}")
    return host, int(port)


class UdpDoorbell:
    """One host, several processes, no Redis: rings reach this process's streams and, as a
    datagram, the stream process listening at `address`."""

    def __init__(self, address: tuple[str, int], *, listen: bool = False) -> None:
        self._local = LocalDoorbell()
        self._closed = False
        self._out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._out.setblocking(False)
        self._in = None
        if listen:
            self._in = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._in.bind(address)
            self.address = self._in.getsockname()  # the port chosen, when `address` asked for 0
            threading.Thread(target=self._receive, name="doorbell-udp", daemon=True).start()
        else:
            self.address = address
        # An app thrown away (a test's, a CLI command's) closes its sockets with it.
        weakref.finalize(self, _close_all, self._out, self._in)

    def ring(self, store_id: int) -> None:
        self._local.ring(store_id)
        if self._in is None:  # the listening process rang its own streams already
            # Nobody listening, or the buffer full: the stream's heartbeat read covers it.
            with contextlib.suppress(OSError):
                self._out.sendto(str(int(store_id)).encode(), self.address)

    def listener(self, store_id: int) -> _LocalListener:
        return self._local.listener(store_id)

    def close(self) -> None:
        self._closed = True
        self._out.close()
        if self._in is not None:
            self._in.close()

    def _receive(self) -> None:
        while True:
            try:
                data, _peer = self._in.recvfrom(64)
            except OSError:
                if not self._closed:
                    log.warning("the UDP doorbell stopped listening", exc_info=True)
                return
            text = data.decode("ascii", "replace")
            if text.isdigit() and len(text) < 12:
                self._local.ring(int(text))


def _close_all(*sockets: socket.socket | None) -> None:
    for sock in sockets:
        if sock is not None:
            sock.close()


def make_doorbell(redis_url: str | None, udp: str | None = None, listen: bool = False) -> Doorbell:
    if redis_url:
        return RedisDoorbell(redis_url)
    if udp:
        return UdpDoorbell(parse_address(udp), listen=listen)
    return LocalDoorbell()
