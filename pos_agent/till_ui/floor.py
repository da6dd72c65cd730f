"""The till's floor calls: 转台 (move a table's party and order to a free table), 并台 (one
table's open order joins another's: one bill), and the diners' picks waiting for the waiter
(待确认) with 确认下单.

A table seated at this till with nothing sent yet moves here alone, also offline: it lives only
in ``till_tables``. Anything with an order is the server's (its kitchen tickets, a diner's cart):
moved there with the cashier's token, then this till's copy follows. Offline that answers 409
``needs_server``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any

from ..local.db import dumps
from ..local.errors import TillError, needs_server
from ..local.till import option_names, void_locally

if TYPE_CHECKING:
    from .desk import TillDesk

PICKS_TTL_S = 2.0
# A move or merge sent again with its key answers the first answer (the server does the same).
SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_moves (
    idempotency_key TEXT PRIMARY KEY, request TEXT NOT NULL, answer TEXT NOT NULL, at TEXT NOT NULL);
"""
ROUTES = {
    "move": re.compile(r"^/api/v1/tables/([^/]{1,10})/move$"),
    "merge": re.compile(r"^/api/v1/tables/([^/]{1,10})/merge$"),
    "picks": re.compile(r"^/api/v1/tables/([^/]{1,10})/picks$"),
    "confirm": re.compile(r"^/api/v1/tables/([^/]{1,10})/confirm$"),
}
_HAS_ORDER = ("ordered", "billed")


def _invalid(field: str, message: str) -> TillError:
    return TillError(422, "validation_error", f"{field}: {message}", {"field": field})


def _key(data: dict) -> str:
    key = data.get("idempotency_key")
    if not isinstance(key, str) or not 8 <= len(key) <= 100:
        raise _invalid("idempotency_key", "8 to 100 characters")
    return key


def _code(data: Any, field: str) -> str:
    if not isinstance(data, dict):
        raise _invalid("body", "expected a JSON object")
    code = data.get(field)
    if not isinstance(code, str) or not 1 <= len(code.strip()) <= 10:
        raise _invalid(field, "expected a table code")
    return code.strip()


class Floor:
    def __init__(self, desk: TillDesk) -> None:
        self.desk = desk
        self.local = desk.local
        self.db = desk.db
        self._lock = threading.Lock()
        self._picks: tuple[float, dict[str, dict]] = (0.0, {})
        self._moves_lock = threading.Lock()
        with self.db.lock:
            self.db.conn.executescript(SCHEMA)

    def handle(self, method: str, path: str, body: Any, token: str | None) -> tuple[int, Any] | None:
        if method == "GET" and (match := ROUTES["picks"].match(path)):
            return 200, self.picks(self._known(match.group(1)), token)
        if method != "POST":
            return None
        if match := ROUTES["move"].match(path):
            code, data = self._known(match.group(1)), body()
            return 200, self._once("move", code, data, "to", lambda: self.move(code, data, token))
        if match := ROUTES["merge"].match(path):
            code, data = self._known(match.group(1)), body()
            return 200, self._once("merge", code, data, "into", lambda: self.merge(code, data, token))
        if match := ROUTES["confirm"].match(path):
            return 200, self.confirm(self._known(match.group(1)), body(), token)
        return None

    def _once(self, kind: str, code: str, data: Any, field: str, run: Callable[[], dict]) -> dict:
        """A move or merge applied once per idempotency key: the same key again answers the first
        answer; with another table, 409 ``idempotency_key_reused``."""
        request = dumps({"kind": kind, "from": code, "to": _code(data, field).upper()})
        key = _key(data)
        with self._moves_lock:
            done = self.db.one("SELECT request, answer FROM floor_moves WHERE idempotency_key = ?", (key,))
            if done is not None:
                if done[0] != request:
                    raise TillError(409, "idempotency_key_reused", "这个幂等键已用于另一次转台或并台 / This "
                                    "idempotency key was used for another move or merge", {})
                return json.loads(done[1])
            answer = run()
            now = self.local.clock().astimezone(UTC).isoformat(timespec="seconds")
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO floor_moves (idempotency_key, request, answer, at) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT DO NOTHING", (key, request, dumps(answer), now))
            return answer

    def _known(self, code: str) -> str:
        for table in self.local.copy.tables():
            if table["code"].upper() == code.upper():
                return table["code"]
        raise TillError(404, "not_found", "本店没有这张桌 / This store has no such table", {"table": code})

    def _pair(self, code: str, other: str) -> tuple[dict, dict]:
        other = self._known(other)
        if other == code:
            raise TillError(409, "same_table", "请选另一张桌 / Choose another table", {"table": code})
        return self.desk.table(code), self.desk.table(other)

    def _server_table_ids(self, client: Any, what: tuple[str, str], *codes: str) -> list[int]:
        answer = self.desk._call(client, "GET", f"/api/v1/stores/{self.local.copy.store_id}/tables", what)
        ids = {t["code"]: t["id"] for t in answer.get("tables", [])}
        for code in codes:
            if code not in ids:
                raise TillError(404, "not_found", "服务器上没有这张桌，请同步资料 / The server has no such table; "
                                "resync the local copy", {"table": code})
        return [ids[code] for code in codes]

    def _open_orders(self, code: str) -> list[dict]:
        """This till's open orders at the table, each sent to the server first (the outbox)."""
        rows = self.db.all("SELECT client_order_id FROM orders WHERE status = 'open' "
                           "AND json_extract(body, '$.table') = ?", (code,))
        orders = [self.local.till.get_order(cid) for (cid,) in rows]
        if any(not o.get("server_id") for o in orders) and self.local.till._server_first():
            orders = [self.local.till.get_order(cid) for (cid,) in rows]
        return orders

    def _forget_server_tables(self) -> None:
        self.desk._forget_server_tables()
        with self._lock:
            self._picks = (0.0, {})

    # --- 转台 ------------------------------------------------------------------------------------

    def move(self, code: str, data: Any, token: str | None) -> dict:
        """The party at `code` (guests, order, the diners' cart) to the free table `to`."""
        to = _code(data, "to")
        key = _key(data)
        source, target = self._pair(code, to)
        to = target["code"]
        if target["state"] != "free":
            raise TillError(409, "table_not_free", f"{to} 不是空桌 / Table {to} is not free",
                            {"table": to, "state": target["state"]})
        if source["state"] == "free":
            raise TillError(409, "no_open_order", f"{code} 没有客人 / Table {code} has nobody seated",
                            {"table": code})
        if source["state"] == "paid":
            raise TillError(409, "order_not_open", f"{code} 已结账，请清台 / Table {code} has paid; clear it",
                            {"table": code})
        if source["state"] == "ordering" and source["seated_at"] and not self._open_orders(code):
            # Seated here, nothing sent: only this till knows the party.
            self._move_local_party(code, to)
            return {"from": self.desk.table(code), "to": self.desk.table(to), "order": None}
        what = ("转台", "Moving a table")
        orders = self._open_orders(code)
        if any(not o.get("server_id") for o in orders):
            raise needs_server("转台", "Moving a table")
        client = self.desk._server(token, *what)
        source_id, target_id = self._server_table_ids(client, what, code, to)
        answer = self.desk._call(client, "POST", f"/api/v1/tables/{source_id}/move", what,
                                 body={"to_table_id": target_id, "idempotency_key": key})
        with self.db.transaction() as conn:
            for order in orders:
                body = {k: v for k, v in order.items() if k != "synced"} | {"table": to}
                conn.execute("UPDATE orders SET body = ? WHERE client_order_id = ?",
                             (dumps(body), order["client_order_id"]))
        self._move_local_party(code, to)
        self._forget_server_tables()
        return {"from": self.desk.table(code), "to": self.desk.table(to), "order": answer}

    def _move_local_party(self, code: str, to: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM till_tables WHERE code = ?", (to,))
            conn.execute("UPDATE till_tables SET code = ? WHERE code = ?", (to, code))

    # --- 并台 ------------------------------------------------------------------------------------

    def merge(self, code: str, data: Any, token: str | None) -> dict:
        """The open order at `code` joins the open order at `into` (one bill); `code` is free."""
        into = _code(data, "into")
        key = _key(data)
        source, target = self._pair(code, into)
        into = target["code"]
        for table in (source, target):
            if table["state"] == "billed":
                raise TillError(409, "table_paying", f"{table['code']} 已推送账单，不能并台 / Table {table['code']} "
                                "has its bill pushed; it cannot merge", {"table": table["code"]})
            if table["state"] not in _HAS_ORDER:
                raise TillError(409, "no_open_order", f"{table['code']} 没有未结账的订单 / Table {table['code']} has "
                                "no open order", {"table": table["code"]})
        what = ("并台", "Merging tables")
        joining, kept = self._open_orders(code), self._open_orders(into)
        if any(not o.get("server_id") for o in joining + kept):
            raise needs_server("并台", "Merging tables")
        if joining and not kept:
            # The bill is settled here by this till's order: the other table's order was not made here.
            raise TillError(409, "merge_the_other_way", f"{into} 的订单不是本收银台下的，请把 {into} 并到 {code} / "
                            f"The order at {into} was not made at this till: merge {into} into {code}",
                            {"table": into})
        client = self.desk._server(token, *what)
        source_id, target_id = self._server_table_ids(client, what, code, into)
        answer = self.desk._call(client, "POST", f"/api/v1/tables/{source_id}/merge", what,
                                 body={"into_table_id": target_id, "idempotency_key": key})
        with self.db.transaction() as conn:
            for order in joining:
                void_locally(conn, order, merged_into=into)
            guests = conn.execute("SELECT guests FROM till_tables WHERE code = ?", (code,)).fetchone()
            if guests:
                conn.execute("UPDATE till_tables SET guests = MIN(99, guests + ?) WHERE code = ?", (guests[0], into))
            conn.execute("DELETE FROM till_tables WHERE code = ?", (code,))
        kept_order = next((o for o in kept if o.get("server_id") == answer.get("id")), kept[-1] if kept else None)
        if kept_order is not None:
            self.desk._keep_server_order(kept_order["client_order_id"], kept_order, answer)
        self._forget_server_tables()
        return {"from": self.desk.table(code), "to": self.desk.table(into), "order": answer}

    # --- diners' picks waiting for the waiter ----------------------------------------------------

    def pending(self, token: str | None) -> dict[str, dict]:
        """Per table code, the diners' picks waiting for the waiter (the server's open orders, a
        moment old): ``{"order_id", "lines"}``. Empty offline or without a server token."""
        if token is None or not self.local.connectivity.online:
            return {}
        with self._lock:
            at, picks = self._picks
            if time.monotonic() - at < PICKS_TTL_S:
                return picks
        what = ("待确认的菜", "Picks to confirm")
        try:
            client = self.desk._server(token, *what)
            answer = self.desk._call(client, "GET", "/api/v1/orders", what,
                                     query={"store_id": self.local.copy.store_id, "status": "open", "limit": 200})
        except TillError:
            return {}
        picks = {}
        for order in answer.get("orders", []):
            lines = [_pick(i) for i in order.get("items", []) if i.get("status") == "submitted"]
            if lines and order.get("table"):
                table = picks.setdefault(order["table"], {"order_id": order["id"], "lines": []})
                table["lines"].extend(lines)
        with self._lock:
            self._picks = (time.monotonic(), picks)
        return picks

    def picks(self, code: str, token: str | None) -> dict:
        with self._lock:
            self._picks = (0.0, {})
        found = self.pending(token).get(code) or {"order_id": None, "lines": []}
        return {"table": code, **found}

    def confirm(self, code: str, data: Any, token: str | None) -> dict:
        """确认下单: the picks the cashier saw go to the kitchen (their ticket prints once, from
        the store's event log). Sent again, the same lines are refused (409), never cooked twice."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        line_ids = data.get("line_ids")
        if not isinstance(line_ids, list) or not 1 <= len(line_ids) <= 100 or any(
                isinstance(i, bool) or not isinstance(i, int) or not 1 <= i < 2**31 for i in line_ids):
            raise _invalid("line_ids", "expected 1 to 100 line ids")
        what = ("确认下单", "Confirming picks")
        client = self.desk._server(token, *what)
        with self._lock:
            self._picks = (0.0, {})
        waiting = self.pending(token).get(code) or {"order_id": None, "lines": []}
        known = {line["id"] for line in waiting["lines"]}
        if not set(line_ids) <= known:
            raise TillError(409, "picks_changed", "这些菜已确认或已取消，请刷新 / These picks were confirmed or "
                            "cancelled meanwhile", {"line_ids": sorted(set(line_ids) - known)})
        answer = self.desk._call(client, "POST", f"/api/v1/orders/{waiting['order_id']}/lines/confirm", what,
                                 body={"line_ids": line_ids})
        self._forget_server_tables()
        for order in self._open_orders(code):  # a till order at this table: its copy follows
            if order.get("server_id") == answer.get("id"):
                self.desk._keep_server_order(order["client_order_id"], order, answer)
        return {"table": code, "order_id": answer.get("id"), "confirmed": len(line_ids),
                "lines": [_pick(i) for i in answer.get("items", []) if i.get("id") in set(line_ids)]}


def _pick(item: dict) -> dict:
    return {"id": item["id"], "name": item["name"], "name_en": item.get("name_en", ""), "qty": item["qty"],
            "unit_price_cents": item["unit_price_cents"], "amount_cents": item["amount_cents"],
            "options": option_names(item.get("options")), "note": item.get("note", ""),
            "added_by": item.get("added_by", ""), "status": item.get("status", "")}
