"""The local copy of the store the till sells from when the server cannot be reached: menu with
sold-out flags, tables, tiers and points rules, this store's staff (credential hashes), and the
members (phone, card, member number → id, name, tier, discount, balances as last seen, and the
offline allowance the server signed).

`full_resync` replaces everything from ``GET /api/v1/stores/{id}/snapshot`` (the members page by
page); `refresh` reads the base part again and only the members changed since the last read.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from ..remote import ServerClient
from .db import LocalDB, dumps

log = logging.getLogger(__name__)

MEMBER_PAGE = 500
# Members are read again from a little before the last read: a change committed while that
# read ran is then not missed.
SINCE_MARGIN = timedelta(minutes=2)


class LocalCopy:
    def __init__(self, db: LocalDB, client: ServerClient, store_id: int) -> None:
        self.db = db
        self.client = client
        self.store_id = store_id

    # --- refreshing ---------------------------------------------------------------------------

    def _snapshot(self, **query: Any) -> dict:
        return self.client.get(f"/api/v1/stores/{self.store_id}/snapshot", query)

    def full_resync(self) -> None:
        """Everything again from the server (raises remote.Unreachable / Refused)."""
        base = self._snapshot(part="base")
        pages, after = [], 0
        while True:
            page = self._snapshot(part="members", after=after, limit=MEMBER_PAGE)
            pages.append(page)
            if page.get("next_after") is None:
                break
            after = page["next_after"]
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM members")
            conn.execute("DELETE FROM member_keys")
            self._store_base(conn, base)
            for page in pages:
                self._store_members(conn, page["members"])
            LocalDB.put_meta(conn, "members_as_of", base["as_of"])
            LocalDB.put_meta(conn, "full_resync_at", base["as_of"])
        log.info("local copy: %d dishes, %d members", len(base["dishes"]),
                 sum(len(p["members"]) for p in pages))

    def refresh(self) -> None:
        """The base part again, and the members changed since the last read (all of them when
        the store's offline allowance changed: every member's allowance is signed anew)."""
        if self.db.get_meta("members_as_of") is None:
            self.full_resync()
            return
        base = self._snapshot(part="base")
        setting_changed = (base["store"].get("offline_allowance_cents")
                           != self.store().get("offline_allowance_cents"))
        with self.db.transaction() as conn:
            self._store_base(conn, base)
        self.refresh_members(everyone=setting_changed)

    def refresh_base(self) -> None:
        """The menu (sold-out flags), tables, staff and rules again."""
        base = self._snapshot(part="base")
        if base["store"].get("offline_allowance_cents") != self.store().get("offline_allowance_cents"):
            self.refresh()
            return
        with self.db.transaction() as conn:
            self._store_base(conn, base)

    def refresh_members(self, *, everyone: bool = False) -> None:
        """The members changed since the last read (a little before it, to miss nothing)."""
        since = self.db.get_meta("members_as_of")
        query: dict[str, Any] = {"part": "members", "limit": MEMBER_PAGE}
        if since is not None and not everyone:
            query["since"] = (datetime.fromisoformat(since) - SINCE_MARGIN).isoformat()
        pages, after, as_of = [], 0, None
        while True:
            page = self._snapshot(**query, after=after)
            as_of = as_of or page["as_of"]
            pages.append(page)
            if page.get("next_after") is None:
                break
            after = page["next_after"]
        with self.db.transaction() as conn:
            for page in pages:
                self._store_members(conn, page["members"])
            LocalDB.put_meta(conn, "members_as_of", as_of)

    def _store_base(self, conn, base: dict) -> None:
        conn.execute("DELETE FROM dishes")
        conn.executemany("INSERT INTO dishes (id, body) VALUES (?, ?)", [(d["id"], dumps(d)) for d in base["dishes"]])
        conn.execute("DELETE FROM staff")
        conn.executemany("INSERT INTO staff (id, username, body) VALUES (?, ?, ?)",
                         [(s["id"], s["username"], dumps(s)) for s in base["staff"]])
        for key in ("store", "tables", "tiers", "rules", "as_of"):
            LocalDB.put_meta(conn, key, base[key])

    def _store_members(self, conn, members: list[dict]) -> None:
        for member in members:
            conn.execute("INSERT INTO members (id, body) VALUES (?, ?) "
                         "ON CONFLICT (id) DO UPDATE SET body = excluded.body", (member["id"], dumps(member)))
            conn.execute("DELETE FROM member_keys WHERE member_id = ?", (member["id"],))
            keys = [f"phone:{member['phone']}", f"no:{member['member_no']}"]
            keys += [f"card:{card}" for card in member.get("cards", [])]
            conn.executemany("INSERT INTO member_keys (key, member_id) VALUES (?, ?) "
                             "ON CONFLICT (key) DO UPDATE SET member_id = excluded.member_id",
                             [(k, member["id"]) for k in keys])

    # --- reading ------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.db.get_meta("as_of") is not None

    @property
    def as_of(self) -> str | None:
        return self.db.get_meta("as_of")

    def store(self) -> dict:
        return self.db.get_meta("store", {}) or {}

    def dishes(self) -> list[dict]:
        return [json.loads(body) for (body,) in self.db.all("SELECT body FROM dishes ORDER BY id")]

    def dish(self, dish_id: int) -> dict | None:
        body = self.db.scalar("SELECT body FROM dishes WHERE id = ?", (dish_id,))
        return json.loads(body) if body else None

    def tables(self) -> list[dict]:
        return self.db.get_meta("tables", []) or []

    def staff(self, *, staff_id: int | None = None, username: str | None = None) -> dict | None:
        if staff_id is not None:
            body = self.db.scalar("SELECT body FROM staff WHERE id = ?", (staff_id,))
        else:
            body = self.db.scalar("SELECT body FROM staff WHERE username = ?", (username,))
        return json.loads(body) if body else None

    def member(self, member_id: int) -> dict | None:
        body = self.db.scalar("SELECT body FROM members WHERE id = ?", (member_id,))
        return json.loads(body) if body else None

    def find_member(self, *, phone: str | None = None, card: str | None = None,
                    member_no: str | None = None) -> dict | None:
        key = f"phone:{phone}" if phone else f"card:{card}" if card else f"no:{member_no}"
        member_id = self.db.scalar("SELECT member_id FROM member_keys WHERE key = ?", (key,))
        return self.member(member_id) if member_id is not None else None

    def offline_spent_cents(self, member_id: int, since: str) -> int:
        """Stored value this till took offline from the member since their allowance was issued."""
        return int(self.db.scalar(
            "SELECT COALESCE(SUM(stored_value_cents), 0) FROM outbox WHERE member_id = ? AND created_at >= ?",
            (member_id, since)) or 0)
