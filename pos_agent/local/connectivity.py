"""Whether the server can be reached, as the last call to it found (`pos_agent.remote`:
``Unreachable`` → offline; an answer, even a refusal → online)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)


class Connectivity:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._online = False
        self._lock = threading.Lock()
        self.changed_at: datetime | None = None
        self.last_contact_at: datetime | None = None
        self.wake = threading.Event()  # set when the server answers again: push the outbox now

    @property
    def online(self) -> bool:
        return self._online

    def mark_online(self) -> None:
        with self._lock:
            self.last_contact_at = self.clock()
            if not self._online:
                self._online, self.changed_at = True, self.clock()
                log.info("server reachable: online")
                self.wake.set()

    def mark_offline(self) -> None:
        with self._lock:
            if self._online:
                self._online, self.changed_at = False, self.clock()
                log.warning("server unreachable: selling offline")
