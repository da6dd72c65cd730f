"""Reads from card readers and scanners, kept in memory with an increasing number.

The cashier page asks for "events after N" (long-polling), the same cursor pattern the server's
store event log uses, so a page that reconnects neither misses nor repeats a swipe. Only the last
few hundred are kept: a read is acted on within seconds or not at all.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ReadEvent:
    seq: int
    reader: str
    kind: str  # card, member_code, wechat_pay, alipay, coupon, dish_barcode, unknown
    code: str
    at: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "reader": self.reader,
            "kind": self.kind,
            "code": self.code,
            "at": self.at,
            **self.extra,
        }


class EventLog:
    def __init__(self, keep: int = 500) -> None:
        self._events: deque[ReadEvent] = deque(maxlen=keep)
        self._seq = 0
        self._changed = threading.Condition()

    def append(self, reader: str, kind: str, code: str, **extra: Any) -> ReadEvent:
        with self._changed:
            self._seq += 1
            at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            event = ReadEvent(self._seq, reader, kind, code, at, dict(extra))
            self._events.append(event)
            self._changed.notify_all()
        return event

    @property
    def last_seq(self) -> int:
        with self._changed:
            return self._seq

    def after(self, seq: int, *, wait: float = 0.0, limit: int = 100) -> list[ReadEvent]:
        """Events numbered above ``seq``; waits up to ``wait`` seconds for the first one."""
        with self._changed:
            if wait > 0:
                self._changed.wait_for(lambda: self._seq > seq, timeout=wait)
            return [e for e in self._events if e.seq > seq][:limit]
