"""The till's side of the agent, assembled: local SQLite, local copy, sessions, sales, outbox and
its pusher. `Agent` builds one when its configuration names the store by number."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..config import AgentConfig
from ..printing.spooler import PrintSpooler
from ..remote import Refused, ServerClient, Unreachable
from .connectivity import Connectivity
from .copy import LocalCopy
from .db import LOCAL_FILE, LocalDB
from .outbox import Outbox, Pusher
from .sessions import Sessions
from .till import Till

log = logging.getLogger(__name__)


class LocalService:
    def __init__(self, config: AgentConfig, spooler: PrintSpooler, *, clock: Callable[[], datetime],
                 client: ServerClient | None = None) -> None:
        store_id = config.store_number
        if store_id is None:
            raise ValueError("store_id must be the store's number on the server")
        self.config = config
        self.clock = clock
        self.db = LocalDB(config.data_dir / LOCAL_FILE)
        self.client = client or ServerClient(config.server_url, config.device_token,
                                             timeout_s=config.forward_timeout_s)
        self.connectivity = Connectivity(clock)
        self.copy = LocalCopy(self.db, self.client, store_id)
        self.outbox = Outbox(self.db, config.sync_batch_size)
        self.pusher = Pusher(self.outbox, self.client, self.connectivity, interval_s=config.sync_interval_s,
                             resync_interval_s=config.resync_interval_s, refresh=self._refresh, clock=clock,
                             timeout_s=config.forward_timeout_s, refresh_members=self._refresh_members)
        self.sessions = Sessions(self.db, self.client, self.copy, self.connectivity, store_id,
                                 hours=config.session_hours, clock=clock, timeout_s=config.forward_timeout_s)
        self.till = Till(config=config, db=self.db, copy=self.copy, outbox=self.outbox, pusher=self.pusher,
                         connectivity=self.connectivity, client=self.client, spooler=spooler, clock=clock,
                         store_id=store_id)
        # The event-log follower's saved cursor and this agent's device id (set by the Agent).
        self.cursor_provider: Callable[[], int] | None = None
        self.device_id_provider: Callable[[], int | None] | None = None
        self.till.device_id = self.device_id
        self._full_done = False

    def start(self) -> None:
        """Read the local copy afresh before the till is served (when the server answers), print
        what a stop interrupted, then push and refresh in the background."""
        try:
            self.resync()
            self.pusher.refresh_wanted.clear()
            self.pusher.mark_refreshed()
        except (Unreachable, Refused) as exc:
            log.warning("no fresh local copy at start (%s); selling from the one kept", exc)
        self.till.print_unprinted()
        self.pusher.start()

    def stop(self) -> None:
        self.pusher.stop()
        self.db.close()

    def _refresh(self) -> None:
        if not self._full_done:
            self.copy.full_resync()  # at start: the whole copy again
            self._full_done = True
        else:
            self.copy.refresh()

    def _refresh_members(self) -> None:
        if self._full_done:
            self.copy.refresh_members()

    def resync(self) -> None:
        """A full resync now (raises remote.Unreachable / Refused)."""
        self.copy.full_resync()
        self.connectivity.mark_online()
        self._full_done = True

    def device_id(self) -> int | None:
        """This agent's device id on the server: as the follower learnt it, kept for offline starts."""
        known = self.device_id_provider() if self.device_id_provider is not None else None
        if known is not None:
            if self.db.get_meta("device_id") != known:
                with self.db.transaction() as conn:
                    LocalDB.put_meta(conn, "device_id", known)
            return known
        return self.db.get_meta("device_id")

    def server_paper(self, client_order_id: str, what: str) -> bool:
        """Whether the server's kitchen tickets / receipt of a till sale may print here."""
        return self.db.claim_paper(client_order_id, what, "server", self.clock().isoformat(timespec="seconds"))

    def want_refresh(self, *, base: bool) -> None:
        """The server said the copy changed (an event): read it again now, not at the next round."""
        if base:
            self.pusher.refresh_wanted.set()
        self.connectivity.wake.set()

    def status(self) -> dict[str, Any]:
        return {
            "online": self.connectivity.online,
            "outbox_pending": self.outbox.pending_sales(),
            "outbox_operations": self.outbox.pending_ops(),
            "oldest_unsynced_at": self.outbox.oldest_pending_at(),
            "last_synced_at": self.pusher.last_synced_at,
            "refused": len(self.outbox.refused()),
            "local_copy_as_of": self.copy.as_of,
            "cursor": int(self.cursor_provider()) if self.cursor_provider else 0,
        }
