"""The till's own calls on the agent's local API (``AGENT-API.md``, "The till"): table map, dish
search, member identification, the priced bill, checkout with coupons and the cash drawer,
refunds approved by a manager.

Online, what only the server can do (coupons, adding to an order it has, refunds) is asked of the
server with the staff member's own server token, kept when the till session was opened online.
Offline, the till works from the local copy: tables, dish search, members by phone or card, the
bill with the tier discount, and the fixed settle of ``Till`` (its outbox).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from datetime import UTC
from typing import TYPE_CHECKING, Any

from tablerules import dish_search, pricing
from tablerules.documents import DocumentError

from ..codes import classify
from ..local.db import dumps
from ..local.errors import TillError, needs_server
from ..local.sessions import server_token
from ..local.till import option_names, parse_items, void_locally
from ..printing.spooler import PrintRequest
from ..remote import Refused, ServerClient, Unreachable
from .cards import CardCounter, card_json
from .floor import Floor
from .money import TillMoney
from .topups import TopUpCounter

if TYPE_CHECKING:
    from ..agent import Agent

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS till_tables (
    code TEXT PRIMARY KEY, guests INTEGER NOT NULL, seated_at TEXT NOT NULL, staff_id INTEGER);
"""

STATES = ("free", "ordering", "ordered", "billed", "paid")
SERVER_TABLES_TTL_S = 2.0
_CID = r"([0-9a-fA-F-]{36})"
_ROUTES = {
    "seat": re.compile(r"^/api/v1/tables/([^/]{1,10})/seat$"),
    "clear": re.compile(r"^/api/v1/tables/([^/]{1,10})/clear$"),
    "items": re.compile(rf"^/api/v1/orders/{_CID}/items$"),
    "bill": re.compile(rf"^/api/v1/orders/{_CID}/bill$"),
    "checkout": re.compile(rf"^/api/v1/orders/{_CID}/checkout$"),
    "refund": re.compile(rf"^/api/v1/orders/{_CID}/refund$"),
    "reprint": re.compile(rf"^/api/v1/orders/{_CID}/reprint$"),
    "void": re.compile(rf"^/api/v1/orders/{_CID}/void$"),
    "cancel": re.compile(rf"^/api/v1/orders/{_CID}/cancel$"),
    "push": re.compile(rf"^/api/v1/orders/{_CID}/push-bill$"),
    "rush": re.compile(rf"^/api/v1/orders/{_CID}/rush$"),
}
MANAGER_ROLES = frozenset({"owner", "manager"})


def _keys(dish: dict) -> dish_search.DishKeys:
    """A dish's pinyin keys from the local copy (the server computes them)."""
    return dish_search.DishKeys(dish.get("pinyin", ""), dish.get("initials", ""))


def _invalid(field: str, message: str) -> TillError:
    return TillError(422, "validation_error", f"{field}: {message}", {"field": field})


class TillDesk:
    def __init__(self, agent: Agent) -> None:
        assert agent.local is not None
        self.agent = agent
        self.local = agent.local
        self.db = agent.local.db
        with self.db.lock:
            self.db.conn.executescript(SCHEMA)
        self._server_tables: tuple[float, dict[str, str]] = (0.0, {})
        self._tables_lock = threading.Lock()
        self.floor = Floor(self)  # 转台, 并台 and the diners' picks to confirm
        self.money = TillMoney(self)  # 扫码支付's pre-bill, 取消 of a WeChat wait, refunds by line
        self.cards = CardCounter(self)
        self.topups = TopUpCounter(self)  # the rules in words, the drawer once, the slip (充值凭条)

    # --- routing ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, staff: dict,
               authorization: str | None) -> tuple[int, Any] | None:
        """The answer of one of the till's calls, or None when the path is not one of them.
        ``body`` is a callable reading the JSON body (only POST calls read it)."""
        token = server_token(self.local.sessions, authorization)
        if (answer := self.floor.handle(method, path, body, token)) is not None:
            return answer
        if (answer := self.money.handle(method, path, query, body, staff, token)) is not None:
            return answer
        if (answer := self.cards.handle(method, path, body, token)) is not None:
            return answer
        if (answer := self.topups.handle(method, path, body, token, staff)) is not None:
            return answer
        if method == "GET":
            if path == "/api/v1/till/menu":
                return 200, self.menu()
            if path == "/api/v1/dishes/search":
                return 200, self.search(_one(query, "q"))
            if path == "/api/v1/tables":
                return 200, self.tables(token)
            if path == "/api/v1/members/identify":
                return 200, self.identify(query, token)
            if match := _ROUTES["bill"].match(path):
                return 200, self.bill(match.group(1).lower(), query, token)
            if path == "/api/v1/till/shift":
                return 200, self.shift(query, token)
            return None
        if method != "POST":
            return None
        if match := _ROUTES["seat"].match(path):
            return 200, self.seat(match.group(1), body(), staff)
        if match := _ROUTES["clear"].match(path):
            body()
            return 200, self.clear(match.group(1))
        if match := _ROUTES["items"].match(path):
            return 200, self.add_items(staff, match.group(1).lower(), body(), token)
        if match := _ROUTES["checkout"].match(path):
            return self.checkout(staff, match.group(1).lower(), body(), token)
        if match := _ROUTES["refund"].match(path):
            return 200, self.refund(match.group(1).lower(), body())
        if match := _ROUTES["reprint"].match(path):
            body()
            return 200, self.reprint(match.group(1).lower())
        if path == "/api/v1/till/shift/close":
            return 201, self.close_shift(body(), token)
        if path == "/api/v1/members":
            return 201, self.join(body(), token)
        if match := _ROUTES["void"].match(path):
            return 200, self.void_line(match.group(1).lower(), body(), token)
        if match := _ROUTES["cancel"].match(path):
            return 200, self.cancel_order(match.group(1).lower(), body(), token)
        if match := _ROUTES["push"].match(path):
            body()
            return 200, self.push_bill(match.group(1).lower(), token)
        if match := _ROUTES["rush"].match(path):
            body()
            return 201, self.rush(match.group(1).lower(), token)
        return None

    # --- the menu ------------------------------------------------------------------------------

    def menu(self) -> dict:
        menu = self.local.till.menu()
        categories: list[str] = []
        for dish in menu["dishes"]:  # each with its pinyin keys, as the server gave them
            if dish["category"] not in categories:
                categories.append(dish["category"])
        return {**menu, "categories": categories}

    def search(self, q: str) -> dict:
        if len(q) > 40:
            raise _invalid("q", "at most 40 characters")
        dishes = [d for d in self.local.copy.dishes() if d.get("is_active", True)
                  and dish_search.matches(q, d["name"], d.get("name_en", ""), _keys(d))]
        dishes.sort(key=lambda d: (dish_search.rank(q, d["name"], _keys(d)), d["id"]))
        return {"dishes": [{"id": d["id"], "name": d["name"], "name_en": d.get("name_en", ""),
                            "price_cents": d["price_cents"], "category": d["category"],
                            "is_sold_out": bool(d.get("is_sold_out"))} for d in dishes[:30]]}

    # --- tables --------------------------------------------------------------------------------

    def _server_states(self) -> dict[str, str]:
        """The server's own view of the tables (a diner's order, a pushed bill), a moment old."""
        if not self.local.connectivity.online:
            return {}
        with self._tables_lock:
            at, states = self._server_tables
            if time.monotonic() - at < SERVER_TABLES_TTL_S:
                return states
            try:
                answer = self.local.client.get(f"/api/v1/stores/{self.local.copy.store_id}/tables",
                                               timeout_s=self.agent.config.forward_timeout_s)
                states = {t["code"]: t.get("state", "") for t in answer.get("tables", [])}
            except (Unreachable, Refused) as exc:
                log.info("table states from the server: %s", exc)
                states = {}
            self._server_tables = (time.monotonic(), states)
            return states

    def _latest_order(self, code: str, since: str | None) -> dict | None:
        row = self.db.one("SELECT client_order_id, status, body FROM orders WHERE json_extract(body, '$.table') = ? "
                          "AND (? IS NULL OR created_at >= ?) "
                          "ORDER BY status = 'open' DESC, created_at DESC, rowid DESC LIMIT 1",
                          (code, since, since))
        if row is None:
            return None
        body = json.loads(row[2])
        return {"client_order_id": row[0], "status": row[1], "order_no": body.get("order_no"),
                "subtotal_cents": body.get("subtotal_cents", 0), "payable_cents": body.get("payable_cents"),
                "server_id": body.get("server_id")}

    def table(self, code: str, server_states: dict[str, str] | None = None) -> dict:
        known = {t["code"]: t for t in self.local.copy.tables()}
        if code not in known:
            raise TillError(404, "not_found", "本店没有这张桌 / This store has no such table", {"table": code})
        return self._table(known[code], server_states if server_states is not None else self._server_states())

    def _table(self, table: dict, server_states: dict[str, str]) -> dict:
        code = table["code"]
        seated = self.db.one("SELECT guests, seated_at FROM till_tables WHERE code = ?", (code,))
        order = self._latest_order(code, seated[1] if seated else None)
        if seated is None and order is not None and order["status"] != "open":
            order = None  # paid before and cleared since
        server = server_states.get(code, "")
        if order is not None and order["status"] == "open":
            state = "billed" if server == "awaiting_payment" else "ordered"
        elif order is not None:
            state = "paid"
        elif seated is not None:
            state = "ordering"
        elif server in ("ordering", "awaiting_payment", "seated"):
            state = {"ordering": "ordered", "awaiting_payment": "billed", "seated": "ordering"}[server]
        else:
            state = "free"
        return {"code": code, "area": table.get("area") or "", "seats": table.get("seats", 0), "state": state,
                "guests": seated[0] if seated else 0, "seated_at": seated[1] if seated else None, "order": order}

    def tables(self, token: str | None = None) -> dict:
        server_states = self._server_states()
        tables = [self._table(t, server_states) for t in self.local.copy.tables() if t.get("is_active", True)]
        picks = self.floor.pending(token)  # the diners' picks waiting for the waiter: 待确认
        for table in tables:
            table["pending"] = sum(line["qty"] for line in picks.get(table["code"], {}).get("lines", []))
        areas: list[str] = []
        for table in tables:
            if table["area"] not in areas:
                areas.append(table["area"])
        return {"areas": areas, "tables": tables, "online": self.local.connectivity.online}

    def seat(self, code: str, data: Any, staff: dict) -> dict:
        guests = data.get("guests") if isinstance(data, dict) else None
        if isinstance(guests, bool) or not isinstance(guests, int) or not 1 <= guests <= 99:
            raise _invalid("guests", "expected a whole number from 1 to 99")
        current = self.table(code)
        if current["state"] in ("ordered", "billed"):
            # The same party, more guests: only the count changes.
            with self.db.transaction() as conn:
                conn.execute("UPDATE till_tables SET guests = ? WHERE code = ?", (guests, code))
            return self.table(code)
        now = self.local.clock().astimezone(UTC).isoformat(timespec="seconds")
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO till_tables (code, guests, seated_at, staff_id) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (code) DO UPDATE SET guests = excluded.guests, seated_at = excluded.seated_at, "
                         "staff_id = excluded.staff_id", (code, guests, now, staff["id"]))
        return self.table(code)

    def clear(self, code: str) -> dict:
        current = self.table(code)
        if current["state"] in ("ordered", "billed"):
            raise TillError(409, "table_has_open_order", "这张桌还有未结账的订单 / This table has an open order",
                            {"table": code})
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM till_tables WHERE code = ?", (code,))
        return self.table(code)

    # --- orders --------------------------------------------------------------------------------

    def _server(self, token: str | None, what_zh: str, what_en: str) -> ServerClient:
        if not self.local.connectivity.online:
            raise needs_server(what_zh, what_en)
        if token is None:  # a session opened offline, or kept across a restart of the agent
            raise TillError(409, "login_again", f"{what_zh}需要重新登录一次（联网后登录） / {what_en} needs a fresh "
                            "login while the server can be reached", {})
        base = self.local.client
        client = ServerClient(f"{base.scheme}://{base.host}:{base.port}{base.prefix}", token,
                              timeout_s=self.agent.config.forward_timeout_s)
        return client

    def _call(self, client: ServerClient, method: str, path: str, what: tuple[str, str], **kwargs: Any) -> Any:
        try:
            answer = client.request(method, path, **kwargs)
        except Refused as refused:
            self.local.connectivity.mark_online()
            if refused.status == 401:
                raise TillError(401, "token_invalid",
                                "登录已失效，请重新登录 / Session expired, log in again") from None
            raise TillError(refused.status, refused.code, refused.message, refused.details) from None
        except Unreachable:
            self.local.connectivity.mark_offline()
            raise needs_server(*what) from None
        self.local.connectivity.mark_online()
        return answer

    def cancel_wechat(self, what: tuple[str, str], **paying: Any) -> dict:
        """取消: the server gives up on the WeChat payment the till is waiting for — of an order
        (``client_order_id``) or a top-up (``member_id``), with ``staff_id`` and the payment's
        ``idempotency_key`` — asked with this agent's own token, online only."""
        if not self.local.connectivity.online:
            raise needs_server(*what)
        return self._call(self.local.client, "POST", "/api/v1/sync/wechat-cancel", what, body=paying,
                          timeout_s=self.agent.config.forward_timeout_s)

    def add_items(self, staff: dict, cid: str, data: Any, token: str | None) -> dict:
        """加菜: more dishes (with their options) on an open order. On an order the server has,
        through the server (its kitchen tickets print from the store event log; offline 409
        ``needs_server``). On an order made here offline and not synced yet, here: the lines join
        the local order and its 加菜 ticket prints at once (``Till.add_offline``)."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        key = data.get("idempotency_key")
        if not isinstance(key, str) or not 8 <= len(key) <= 100:
            raise _invalid("idempotency_key", "8 to 100 characters")
        items = parse_items(data.get("items"))
        till = self.local.till
        if till.addition_known(key):  # sent again: the first answer, wherever the order is now
            return till.add_offline(staff, cid, key, items)
        for item in items:
            dish = self.local.copy.dish(item.dish_id)
            if dish is not None and dish.get("is_sold_out"):
                raise TillError(409, "dish_sold_out", f"{dish['name']} 已售罄 / {dish['name']} is sold out",
                                {"dish_id": item.dish_id, "name": dish["name"]})
        order = till.get_order(cid)
        if order["status"] != "open":
            raise TillError(409, "order_not_open", "订单已结账 / This order is not open any more",
                            {"status": order["status"]})
        if not order.get("server_id") and till._server_first(cid):
            order = till.get_order(cid)  # the outbox pushed: the order is on the server now
        if not order.get("server_id"):
            return till.add_offline(staff, cid, key, items)
        client = self._server(token, "加菜", "Adding dishes")
        answer = self._call(client, "POST", f"/api/v1/orders/{order['server_id']}/items",
                            ("加菜", "Adding dishes"),
                            body={"items": [{"dish_id": i.dish_id, "qty": i.qty, "option_ids": list(i.option_ids),
                                             "note": i.note} for i in items], "idempotency_key": key})
        return self._keep_server_order(cid, order, answer)

    def _keep_server_order(self, cid: str, order: dict, answer: dict) -> dict:
        """The till's copy of an order takes the lines the server answered (cancelled ones left out)."""
        items_out = [{"dish_id": i["dish_id"], "name": i["name"], "qty": i["qty"],
                      "unit_price_cents": i["unit_price_cents"], "amount_cents": i["amount_cents"],
                      "station": i.get("station", ""), "note": i.get("note", ""), "line_id": i.get("id"),
                      "options": option_names(i.get("options"))}
                     for i in answer.get("items", []) if i.get("status") != "cancelled"]
        updated = {k: v for k, v in order.items() if k != "synced"}
        updated.update(items=items_out, subtotal_cents=answer.get("subtotal_cents", order["subtotal_cents"]))
        with self.db.transaction() as conn:
            conn.execute("UPDATE orders SET body = ? WHERE client_order_id = ?", (dumps(updated), cid))
        return {**updated, "synced": True}

    def void_line(self, cid: str, data: Any, token: str | None) -> dict:
        """退菜: one line of an open order cancelled with a reason (audited on the server; the
        kitchen is told). The line is named by its server ``line_id`` (in the order's ``items`` once
        the server's lines are known here: sent again, it cancels nothing more), else by ``index``,
        its place in ``items``."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        index, reason, wanted = data.get("index"), data.get("reason"), data.get("line_id")
        if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1):
            raise _invalid("line_id", "expected a line id")
        if wanted is None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 1000):
            raise _invalid("index", "expected the line's place in the order")
        if not isinstance(reason, str) or not 2 <= len(reason.strip()) <= 200:
            raise _invalid("reason", "2 to 200 characters")
        order = self.local.till.get_order(cid)
        if order["status"] != "open":
            raise TillError(409, "order_not_open", "订单已结账 / This order is not open any more",
                            {"status": order["status"]})
        if wanted is None and index >= len(order["items"]):
            raise TillError(404, "not_found", "没有这一行 / No such line", {"index": index})
        what = ("退菜", "Voiding a line")
        if not order.get("server_id"):
            raise needs_server(*what)
        client = self._server(token, *what)
        server_order = self._call(client, "GET", f"/api/v1/orders/{order['server_id']}", what)
        live = [i for i in server_order.get("items", []) if i.get("status") != "cancelled"]
        line_id = wanted if wanted is not None else order["items"][index].get("line_id")
        if line_id is None:  # an order sent before its lines were known here: the same place on the server
            line_id = live[index]["id"] if index < len(live) else None
        if line_id is None or line_id not in {i["id"] for i in live}:
            raise TillError(409, "line_not_open", "这一行已经退过或不存在 / This line is already voided or unknown",
                            {"line_id": line_id})
        answer = self._call(client, "POST", f"/api/v1/orders/{order['server_id']}/lines/{line_id}/void", what,
                            body={"reason": reason.strip()})
        return self._keep_server_order(cid, order, answer)

    def cancel_order(self, cid: str, data: Any, token: str | None) -> dict:
        """撤单: an open order whose dishes are all voided is closed on the server with a reason
        (audited there) and its table cleared here: the next party starts afresh. While a dish is
        still on it the server refuses (409 ``order_not_empty``) and nothing changes. Answers the
        order as voided and its table (``None`` for an order at the counter)."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        reason = data.get("reason")
        if not isinstance(reason, str) or not 2 <= len(reason.strip()) <= 200:
            raise _invalid("reason", "2 to 200 characters")
        what = ("撤单", "Cancelling an order")
        order = self._open_on_server(cid, what)
        self._call(self._server(token, *what), "POST", f"/api/v1/orders/{order['server_id']}/cancel", what,
                   body={"reason": reason.strip()})
        code = order.get("table") or ""
        with self.db.transaction() as conn:
            body = void_locally(conn, {**order, "client_order_id": cid})
            if code:
                conn.execute("DELETE FROM till_tables WHERE code = ?", (code,))
        self._forget_server_tables()
        return {"order": body, "table": self.table(code) if code else None}

    def _open_on_server(self, cid: str, what: tuple[str, str]) -> dict:
        """The till's order `cid`, open and on the server (409 ``order_not_open``, ``needs_server``)."""
        order = self.local.till.get_order(cid)
        if order["status"] != "open":
            raise TillError(409, "order_not_open", "订单已结账 / This order is not open any more",
                            {"status": order["status"]})
        if not order.get("server_id"):
            raise needs_server(*what)
        return order

    def _forget_server_tables(self) -> None:
        with self._tables_lock:
            self._server_tables = (0.0, {})  # the tables' new states at the next look

    def push_bill(self, cid: str, token: str | None) -> dict:
        """The bill to the diners' WeChat at the table: the table shows 已推送账单, and 已结账 once
        a diner pays it on the phone (the store event log tells this agent)."""
        what = ("推送账单", "Pushing the bill")
        order = self._open_on_server(cid, what)
        answer = self._call(self._server(token, *what), "POST", f"/api/v1/orders/{order['server_id']}/push-bill",
                            what)
        self._forget_server_tables()
        return answer

    def rush(self, cid: str, token: str | None) -> dict:
        """催菜: the server records it (once in a few minutes per order: 429 ``rush_too_soon``) and
        the kitchen printer prints a short slip of the dishes not served yet."""
        order = self.local.till.get_order(cid)
        what = ("催菜", "Rushing the kitchen")
        if not order.get("server_id"):
            raise needs_server(*what)
        return self._call(self._server(token, *what), "POST", f"/api/v1/orders/{order['server_id']}/rush", what)

    # --- members -------------------------------------------------------------------------------

    def identify(self, query: dict[str, list[str]], token: str | None) -> dict:
        """One member by phone, swiped card, member number or dynamic member code (a scanner or
        a keyboard-wedge read alike)."""
        phone, card, code = _one(query, "phone"), _one(query, "card"), _one(query, "code")
        decimal = _one(query, "card_decimal")
        if not (phone or card or code):
            raise TillError(422, "validation_error", "请刷卡、扫码或输入手机号 / Swipe a card, scan a code or type a "
                            "phone number", {})
        for value in (phone, card, code, decimal):
            if len(value) > 40:
                raise _invalid("code", "at most 40 characters")
        copy = self.local.copy
        found, server_query = None, None
        card_numbers: list[str] = []  # a card the server is asked about online, found here or not
        if phone:
            found, server_query = copy.find_member(phone=phone), {"phone": phone}
        elif card:
            found = copy.find_member(card=card) or (copy.find_member(card=decimal) if decimal else None)
            card_numbers = [card] + ([decimal] if decimal else [])
        else:
            kind = classify(code)
            if kind == "member_code":
                server_query = {"code": code}
            elif re.fullmatch(r"1\d{10}", code):
                found, server_query = copy.find_member(phone=code), {"phone": code}
            else:
                by_card = copy.find_member(card=code)
                found = by_card or copy.find_member(member_no=code)
                if by_card is not None or found is None:
                    card_numbers = [code]
                if found is None and re.fullmatch(r"\d{10}", code):
                    server_query = {"member_no": code}  # a member the local copy has not had yet
        detail = None
        if token is not None and self.local.connectivity.online:
            client = self._server(token, "会员", "Members")
            what = ("查询会员", "Looking a member up")
            try:
                member_id = found["id"] if found and not card_numbers else None
                if card_numbers:  # a lost card is refused at once, whatever the local copy says
                    member_id = self.cards.lookup(client, card_numbers)
                    if member_id is None:
                        found = None  # the server knows no member with this card (any more)
                if member_id is None and server_query is not None:
                    member_id = self._call(client, "GET", "/api/v1/members/lookup", what, query=server_query)["id"]
                if member_id is not None:
                    detail = self._call(client, "GET", f"/api/v1/members/{member_id}", what)
                    coupons = self._call(client, "GET", f"/api/v1/members/{member_id}/coupons", what,
                                         query={"state": "issued", "limit": 50})
                    detail["coupons"] = [{"id": c["id"], "code": c.get("code", ""),
                                          "name": (c.get("template") or {}).get("name", ""),
                                          "terms": (c.get("template") or {}).get("terms", ""),
                                          "terms_en": (c.get("template") or {}).get("terms_en", ""),
                                          "expires_at": c.get("expires_at")} for c in coupons.get("coupons", [])]
            except TillError as error:
                if error.status != 404 and error.code != "needs_server":
                    raise
        if detail is None and found is None:
            raise TillError(404, "member_not_found", "没有这位会员 / No such member", {})
        if detail is not None:
            local = copy.member(detail["id"]) or {}
            stored = detail.get("stored_value") or {}
            return {"id": detail["id"], "member_no": detail.get("member_no", ""), "name": detail.get("name", ""),
                    "phone": _masked(detail.get("phone", "")), "tier": detail.get("tier") or {},
                    "stored_value": {"total_cents": stored.get("total_cents", 0),
                                     "principal_cents": stored.get("principal_cents", 0),
                                     "bonus_cents": stored.get("bonus_cents", 0)},
                    "points": detail.get("points", 0), "coupons": detail.get("coupons", []),
                    "allowance_cents": (local.get("allowance") or {}).get("allowance_cents"),
                    "cards": [card_json(c) for c in detail.get("cards", [])], "source": "server"}
        assert found is not None
        return {"id": found["id"], "member_no": found["member_no"], "name": found["name"],
                "phone": _masked(found.get("phone", "")), "tier": found["tier"],
                "stored_value": {"total_cents": found["stored_value_cents"], "principal_cents": None,
                                 "bonus_cents": None},
                "points": found.get("points", 0), "coupons": [],
                "allowance_cents": found["allowance"]["allowance_cents"],
                "cards": [{"id": None, "card_no": c, "status": "active"} for c in found.get("cards", [])],
                "source": "local"}

    def join(self, data: Any, token: str | None) -> dict:
        """Quick join at the till: a new member by phone (and a name), then identified as any other."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        phone, name = data.get("phone"), data.get("name")
        if not isinstance(phone, str) or not re.fullmatch(r"1\d{10}", phone.strip()):
            raise TillError(422, "validation_error", "请输入 11 位手机号 / Type an 11-digit mobile number",
                            {"field": "phone"})
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 40:
            raise _invalid("name", "1 to 40 characters")
        what = ("新会员", "A new member")
        created = self._call(self._server(token, *what), "POST", "/api/v1/members", what,
                             body={"phone": phone.strip(), "name": name.strip()})
        return self.identify({"phone": [created["phone"]]}, token)

    # --- the bill ------------------------------------------------------------------------------

    def bill(self, cid: str, query: dict[str, list[str]], token: str | None) -> dict:
        member_id = _id_param(query, "member_id")
        coupon_ids = _id_list(query, "coupon_ids")
        points = _cents_param(query, "points")
        order = self.local.till.get_order(cid)
        if order.get("server_id") and token is not None and self.local.connectivity.online:
            params: dict[str, Any] = {}
            if member_id:
                params["member_id"] = member_id
            if coupon_ids:
                params["coupon_ids"] = ",".join(str(i) for i in coupon_ids)
            if points:
                params["points"] = points
            try:
                answer = self._call(self._server(token, "账单", "The bill"), "GET",
                                    f"/api/v1/orders/{order['server_id']}/bill", ("账单", "The bill"), query=params)
            except TillError as error:
                if error.code != "needs_server":
                    raise
            else:
                return {"subtotal_cents": answer["subtotal_cents"], "discount_cents": answer["discount_cents"],
                        "payable_cents": answer["payable_cents"],
                        "steps": [_step(s) for s in answer.get("lines", [])], "coupons_applied": coupon_ids,
                        "points_redeemed": answer.get("points_redeemed", 0),
                        "max_points_redeemable": answer.get("max_points_redeemable", 0),
                        "offline": False, "order": order}
        if coupon_ids or points:
            raise needs_server("优惠券和积分抵扣", "Coupons and points")
        return {**self._local_bill(order, member_id), "order": order}

    def _local_bill(self, order: dict, member_id: int | None) -> dict:
        """The bill as the offline settle prices it (the tier discount and the store's rounding)."""
        member = self.local.copy.member(member_id) if member_id else None
        if member_id and member is None:
            raise TillError(404, "not_found", "本机没有这位会员的资料 / This member is not in the local copy",
                            {"member_id": member_id})
        tier = member["tier"] if member else None
        lines = [pricing.BillLine(line_id=i + 1, dish_id=line["dish_id"], category_id=line.get("category_id"),
                                  name=line["name"], unit_price_cents=line["unit_price_cents"], qty=line["qty"],
                                  is_discountable=line.get("is_discountable", True))
                 for i, line in enumerate(order["items"])]
        bill = pricing.price_bill(
            lines, tier=pricing.TierDiscount(tier["name"], tier["discount_percent"]) if tier else None, coupons=[],
            member_id=member_id, points_to_redeem=0, points_balance=0, points_rule=None,
            rounding=pricing.Rounding(self.local.copy.store().get("rounding", "none")), now=self.local.clock())
        return {"subtotal_cents": bill.subtotal_cents, "discount_cents": bill.discount_cents,
                "payable_cents": bill.payable_cents, "steps": [s.to_dict() for s in bill.steps],
                "coupons_applied": [], "points_redeemed": 0, "max_points_redeemable": 0, "offline": True}

    # --- settling ------------------------------------------------------------------------------

    def checkout(self, staff: dict, cid: str, data: Any, token: str | None) -> tuple[int, dict]:
        """Settle with split tenders (and coupons, online). The cash drawer opens with the receipt
        of a bill with a cash tender (the spooler kicks it, never on a reprint); ``drawer`` says
        whether this payment will open it. The same idempotency key again answers the first result
        and prints (and opens) nothing."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        key = data.get("idempotency_key")
        if not isinstance(key, str) or not 8 <= len(key) <= 100:
            raise _invalid("idempotency_key", "8 to 100 characters")
        coupon_ids = data.get("coupon_ids") or []
        if not isinstance(coupon_ids, list) or len(coupon_ids) > 10 or any(
                isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in coupon_ids):
            raise _invalid("coupon_ids", "expected up to 10 coupon ids")
        again = self.db.one("SELECT 1 FROM settlements WHERE idempotency_key = ?", (key,)) is not None
        points = data.get("points") or 0
        if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= 10**9:
            raise _invalid("points", "expected a whole number of points")
        fixed = {k: v for k, v in data.items() if k not in ("coupon_ids", "points")}
        wechat_code = any(isinstance(t, dict) and t.get("type") == "wechat" and t.get("auth_code")
                          for t in data.get("tenders") or [])
        if coupon_ids or points or wechat_code:
            status, body = self._settle_on_server(staff, cid, fixed, coupon_ids, token, points)
        else:
            status, body = self.local.till.settle(staff, cid, fixed)
        body = dict(body)
        if status == 202:  # 扫码支付: the QR on the pre-bill; paid when WeChat Pay notifies the server
            other = sum(t.get("amount_cents") or 0 for t in data.get("tenders") or []
                        if isinstance(t, dict) and t.get("type") != "wechat")
            body["prebill"] = self.money.print_prebill(staff, cid, body, other)
            body["drawer"] = "not_needed"
            return status, body
        cash = any(isinstance(t, dict) and t.get("type") == "cash" for t in data.get("tenders") or [])
        has_drawer = any(p.cash_drawer for p in self.agent.config.printers)
        body["drawer"] = "not_needed" if again or not cash else "with_receipt" if has_drawer else "none"
        return status, body

    def _settle_on_server(self, staff: dict, cid: str, data: dict, coupon_ids: list[int],
                          token: str | None, points: int = 0) -> tuple[int, dict]:
        """Coupons and points, and a WeChat payment code scanned at the till (MICROPAY), are the
        server's: settled there with the cashier's token. While the customer types the payment
        password the server keeps asking WeChat Pay, and reverses the trade if it is not paid in
        time. 扫码支付 (NATIVE) with coupons or points answers 202 with the trade to print, as
        without them; the order turns paid when WeChat Pay notifies the server."""
        key = data["idempotency_key"]
        tenders = data.get("tenders")
        member_id = data.get("member_id")
        if not isinstance(tenders, list) or not 1 <= len(tenders) <= 10 or not all(map(_plain_tender, tenders)):
            raise _invalid("tenders", "cash, stored value, a WeChat payment code or a NATIVE QR, each a positive "
                                      "amount")
        tenders = [{"type": t["type"], "amount_cents": t["amount_cents"]}
                   | ({k: t[k] for k in ("auth_code", "trade_type") if k in t} if t["type"] == "wechat" else {})
                   for t in tenders]
        what = (("优惠券和积分抵扣", "Coupons and points") if coupon_ids or points
                else ("微信付款码", "A WeChat payment code"))
        if member_id is not None and (isinstance(member_id, bool) or not isinstance(member_id, int)):
            raise _invalid("member_id", "expected a member id")
        fingerprint = hashlib.sha256(dumps({"order": cid, "member_id": member_id, "tenders": tenders,
                                            "coupon_ids": sorted(coupon_ids), "points": points}).encode()).hexdigest()
        done = self.db.one("SELECT fingerprint, status, body FROM settlements WHERE idempotency_key = ?", (key,))
        if done is not None:
            if done[0] != fingerprint:
                raise TillError(409, "idempotency_key_reused",
                                "这个幂等键已用于另一笔结账 / This idempotency key was used for another settlement")
            return done[1], {**json.loads(done[2]), "synced": True}
        order = self.local.till.get_order(cid)
        if order["status"] != "open":
            raise TillError(409, "order_not_open", "订单已结账 / This order is not open any more",
                            {"status": order["status"]})
        if any(t["type"] == "wechat" for t in tenders) and not self.local.connectivity.online:
            raise TillError(409, "tender_unavailable_offline",
                            "网络中断，暂不能用微信支付，请用现金或储值 / WeChat Pay needs the server, which cannot "
                            "be reached now; take cash or stored value", {"tender": "wechat"})
        if not order.get("server_id"):
            raise needs_server(*what)
        client = self._server(token, *what)
        answer = self._call(client, "POST", f"/api/v1/orders/{order['server_id']}/settle", what,
                            body={"member_id": member_id, "coupon_ids": coupon_ids, "points": points,
                                  "tenders": tenders, "idempotency_key": key}, timeout_s=60)
        if answer.get("intent_id") is not None:  # NATIVE: waiting for the diner to scan and pay
            return 202, {"client_order_id": cid, "order_no": order["order_no"], "status": "awaiting_payment",
                         "intent_id": answer["intent_id"], "code_url": answer.get("code_url"),
                         "amount_cents": answer.get("amount_cents"), "synced": True}
        body = {"client_order_id": cid, "order_no": order["order_no"], "server_id": order["server_id"],
                "status": answer.get("status", "paid"), "payable_cents": answer["payable_cents"],
                "paid_cents": answer["paid_cents"], "change_cents": answer["change_cents"], "member_id": member_id,
                "tenders": [{"type": t["type"], "amount_cents": t["amount_cents"]} for t in tenders],
                "coupon_ids": coupon_ids, "points": points, "offline": False}
        self.local.till.record_settlement(order, key, fingerprint, body, offline=False, op=None, member_id=None,
                                           stored_value=0)
        return 200, {**body, "synced": True}

    # --- paper again, and the shift ------------------------------------------------------------

    def reprint(self, cid: str) -> dict:
        """The order's receipt again, marked 重打 REPRINT (the drawer stays shut)."""
        order = self.local.till.get_order(cid)
        if order["status"] == "open":
            raise TillError(409, "order_not_paid", "订单还没结账 / This order is not paid yet", {})
        candidates = [f"local-receipt-{cid}"] + ([f"receipt-{order['server_id']}"] if order.get("server_id") else [])
        for document_id in candidates:
            try:
                outcomes = self.agent.spooler.submit(PrintRequest(document_id=document_id, reprint=True))
            except DocumentError:
                continue
            return {"document_id": document_id, "printed": all(o.job.state == "printed" for o in outcomes)}
        raise TillError(409, "nothing_to_reprint", "这张小票还没有在本机打印过 / This receipt was never printed here",
                        {"client_order_id": cid})

    def shift(self, query: dict[str, list[str]], token: str | None) -> dict:
        """The cashier's shift so far (the server's: sales per tender, counted per order; refunds;
        top-ups; the cash expected in the drawer)."""
        opening = _cents_param(query, "opening_float_cents")
        what = ("交班", "Closing the shift")
        return self._call(self._server(token, *what), "GET", "/api/v1/shifts/current", what,
                          query={"opening_float_cents": opening})

    def close_shift(self, data: Any, token: str | None) -> dict:
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        opening, counted, key = data.get("opening_float_cents", 0), data.get("counted_cash_cents"), \
            data.get("idempotency_key")
        for name, value in (("opening_float_cents", opening), ("counted_cash_cents", counted)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**10:
                raise _invalid(name, "expected an amount in fen")
        if not isinstance(key, str) or not 8 <= len(key) <= 100:
            raise _invalid("idempotency_key", "8 to 100 characters")
        what = ("交班", "Closing the shift")
        return self._call(self._server(token, *what), "POST", "/api/v1/shifts/close", what,
                          body={"opening_float_cents": opening, "counted_cash_cents": counted,
                                "idempotency_key": key})

    # --- refunds -------------------------------------------------------------------------------

    def refund(self, cid: str, data: Any) -> dict:
        """A refund of the whole order, or of ``lines`` (``[{"line_id", "qty"}]``), approved at the
        till by a manager's password (the server checks it and the refund is the manager's act)."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        reason = data.get("reason")
        username, password = data.get("manager_username"), data.get("manager_password")
        key = data.get("idempotency_key")
        if not isinstance(reason, str) or not 2 <= len(reason.strip()) <= 200:
            raise _invalid("reason", "2 to 200 characters")
        if not isinstance(key, str) or not 8 <= len(key) <= 100:
            raise _invalid("idempotency_key", "8 to 100 characters")
        lines = _refund_lines(data.get("lines"))
        card = _card_numbers(data.get("manager_card"), data.get("manager_card_decimal"))
        if card is None and (not isinstance(username, str) or not isinstance(password, str) or not username
                             or not password):
            raise TillError(422, "manager_required", "退款需要店长刷员工卡，或输入账号和密码 / A refund needs a "
                            "manager's staff card, or their username and password", {})
        order = self.local.till.get_order(cid)
        if not order.get("server_id"):
            raise needs_server("退款", "Refunds")
        if not self.local.connectivity.online:
            raise needs_server("退款", "Refunds")
        what = ("退款", "Refunds")
        try:
            if card is not None:  # the manager's staff card on the reader: a token of theirs for minutes
                login = self.local.client.post("/api/v1/sync/approvals", {"card_nos": card},
                                               timeout_s=self.agent.config.forward_timeout_s)
                username = login.get("approved_by") or login.get("username")
            else:
                login = self.local.client.post("/api/v1/auth/token", {"username": username, "password": password},
                                               timeout_s=self.agent.config.forward_timeout_s)
        except Refused:
            if card is not None:
                raise TillError(403, "manager_approval_refused", "这张卡不是店长的员工卡 / This card is not a "
                                "manager's staff card", {}) from None
            raise TillError(403, "manager_approval_refused", "店长账号或密码错误 / The manager's username or password "
                            "is wrong", {}) from None
        except Unreachable:
            self.local.connectivity.mark_offline()
            raise needs_server(*what) from None
        if (login.get("staff") or {}).get("role") not in MANAGER_ROLES:
            raise TillError(403, "manager_approval_refused", "只有店长或老板可以批准退款 / Only a manager or the owner "
                            "can approve a refund", {})
        client = self._server(login["token"], *what)
        try:
            answer = self._call(client, "POST", f"/api/v1/orders/{order['server_id']}/refund", what,
                                body={"reason": reason.strip(), "idempotency_key": key}
                                | ({"lines": lines} if lines is not None else {}))
        finally:  # the approval was for this refund only
            try:
                client.request("DELETE", "/api/v1/auth/token")
            except (Refused, Unreachable) as exc:
                log.info("approval token not revoked: %s", exc)
        status = answer.get("status", "refunded")  # some lines back: the order stays paid
        if status == "refunded":
            with self.db.transaction() as conn:
                body = {k: v for k, v in order.items() if k != "synced"}
                body["status"] = "refunded"
                conn.execute("UPDATE orders SET status = 'refunded', body = ? WHERE client_order_id = ?",
                             (dumps(body), cid))
        return {"client_order_id": cid, "order_no": order["order_no"], "status": status,
                "refunded_cents": answer.get("refunded_cents"),
                "total_refunded_cents": answer.get("total_refunded_cents"), "approved_by": username}


def _card_numbers(card: Any, decimal: Any) -> list[str] | None:
    """A staff card read on the reader (hex, and the digits printed on it), or None."""
    if card is None or card == "":
        return None
    numbers = [card] + ([decimal] if decimal else [])
    if not all(isinstance(n, str) and re.fullmatch(r"[0-9A-Fa-f]{4,20}", n) for n in numbers):
        raise _invalid("manager_card", "expected the card as the reader gives it")
    return numbers


def _refund_lines(value: Any) -> list[dict] | None:
    """The lines of a refund by line (``[{"line_id", "qty"}]``), or None for the whole order."""
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= 100:
        raise _invalid("lines", "expected 1 to 100 lines, or none for the whole order")
    lines = []
    for i, line in enumerate(value):
        line_id, qty = (line.get("line_id"), line.get("qty")) if isinstance(line, dict) else (None, None)
        if isinstance(line_id, bool) or not isinstance(line_id, int) or not 1 <= line_id < 2**31:
            raise _invalid(f"lines[{i}].line_id", "expected a line id")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= 9999:
            raise _invalid(f"lines[{i}].qty", "expected a whole number from 1")
        lines.append({"line_id": line_id, "qty": qty})
    return lines


# --- small helpers -------------------------------------------------------------------------------

def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0].strip()


def _cents_param(query: dict[str, list[str]], name: str) -> int:
    value = _one(query, name) or "0"
    if not value.isdigit() or int(value) > 10**10:
        raise _invalid(name, "expected an amount in fen")
    return int(value)


def _id_param(query: dict[str, list[str]], name: str) -> int | None:
    value = _one(query, name)
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) < 2**31:
        raise _invalid(name, "expected an id")
    return int(value)


def _id_list(query: dict[str, list[str]], name: str) -> list[int]:
    value = _one(query, name)
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > 10 or not all(p.isdigit() and 1 <= int(p) < 2**31 for p in parts):
        raise _invalid(name, "up to 10 comma-separated ids")
    return [int(p) for p in parts]


def _plain_tender(tender: Any) -> bool:
    """Cash or stored value of a positive whole number of fen, or WeChat with the payment code
    scanned at the till or as a NATIVE QR to print (what a settle on the server takes from the
    till)."""
    if not isinstance(tender, dict) or tender.get("type") not in ("cash", "stored_value", "wechat"):
        return False
    code = tender.get("auth_code")
    if tender["type"] == "wechat" and not (
            (isinstance(code, str) and re.fullmatch(r"1[0-5]\d{16}", code) and "trade_type" not in tender)
            or (code is None and tender.get("trade_type") == "NATIVE")):
        return False
    amount = tender.get("amount_cents")
    return isinstance(amount, int) and not isinstance(amount, bool) and 0 < amount <= 10**10


def _step(step: dict) -> dict:
    return {"kind": step.get("kind", ""), "label": step.get("label", ""), "label_en": step.get("label_en", ""),
            "amount_cents": step.get("amount_cents", 0)}


def _masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 11 else phone
