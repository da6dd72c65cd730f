"""Sales at the till, through the agent (``../shared/AGENT-API.md``).

**Online**, an order and its settlement are forwarded to the server at once, as a one-operation
sync batch with the till's own keys; the server's answer is the truth, and the kitchen tickets
and the receipt print from the server's event log (the follower), not here.

**Offline** (the server does not answer), the agent prices with the shared rules core
(`tablerules.pricing`, `tablerules.tenders`) from its local copy, records the sale and appends it
to the outbox in one SQLite transaction, and prints the kitchen tickets and the receipt at once
through the spooler (its print ledger: never twice). WeChat Pay needs the server (409
``tender_unavailable_offline``); stored value is taken only within the member's offline
allowance the server signed (409 ``offline_limit_exceeded``).

A sale made offline reaches the server from the outbox exactly once; until then it is not
``synced``. Whatever was recorded but not yet printed when the agent stopped is printed at the
next start (the ledger's document ids make that safe).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tablerules import documents as doc
from tablerules import pricing
from tablerules.documents import DocumentError
from tablerules.menu import OptionChoice, OptionError, OptionGroup, choose_options
from tablerules.sync import Allowance, OperationResult, Priced, PricedLine, SyncBatch, SyncOperation, SyncResult
from tablerules.tenders import Tender, TenderError, TenderType, plan_tenders

from ..config import AgentConfig
from ..printing.spooler import PrintRequest, PrintSpooler
from ..remote import Refused, ServerClient, Unreachable
from .connectivity import Connectivity
from .copy import LocalCopy
from .db import LocalDB, dumps
from .errors import TillError, needs_server
from .outbox import Outbox, Pusher

log = logging.getLogger(__name__)

TENDER_TYPES = ("cash", "stored_value", "wechat")
_TENDER_MESSAGES = {
    "tenders_do_not_cover_total": "付款金额不足 / The tenders do not cover the total",
    "tenders_exceed_total": "只有现金可以超出应付金额 / Only cash may exceed the total",
    "invalid_tender": "每种付款金额必须大于零 / Every tender must be a positive amount",
}


# A payment code waits for the diner's password (USERPAYING) up to about half a minute.
WECHAT_TIMEOUT_S = 45.0


def _wechat_tender(tender: dict, i: int) -> dict:
    """What WeChat Pay needs beside the amount: the payment code scanned from the diner's phone
    (MICROPAY) or ``trade_type: NATIVE`` for a QR code the diner scans."""
    code, trade_type = tender.get("auth_code"), tender.get("trade_type")
    if code is not None:
        if not isinstance(code, str) or not code.isdigit() or not 16 <= len(code) <= 24 or trade_type is not None:
            raise _invalid(f"tenders[{i}].auth_code", "扫描顾客的微信付款码 / scan the diner's WeChat payment code")
        return {"auth_code": code}
    if trade_type == "NATIVE":
        return {"trade_type": "NATIVE"}
    raise _invalid(f"tenders[{i}].auth_code",
                   "微信支付需要扫描顾客付款码，或选择二维码收款 / WeChat Pay needs the diner's payment code "
                   "(auth_code) or trade_type NATIVE")


def _invalid(field: str, message: str) -> TillError:
    return TillError(422, "validation_error", f"{field}: {message}", {"field": field})


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(field, f"expected a whole number from {low} to {high}")
    return value


def _text(value: Any, field: str, high: int, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > high or any(ord(c) < 32 for c in value):
        raise _invalid(field, f"expected text of at most {high} characters")
    return value.strip()


MAX_OPTIONS = 10
_OPTION_MESSAGES = {
    "option_required": "请选择{group} / Choose {group}",
    "too_many_options": "{group}最多选 {max_choices} 项 / At most {max_choices} choice(s) for {group}",
    "unknown_option": "这道菜没有这个选项 / This dish has no such option",
    "duplicate_option": "同一个选项选了两次 / An option is chosen twice",
}


def parse_items(raw_items: Any) -> list[doc.SaleItem]:
    """The dishes of a request: ``[{"dish_id", "qty", "option_ids"?, "note"?}]`` (422 otherwise)."""
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= 100:
        raise _invalid("items", "expected 1 to 100 dishes")
    items = []
    for i, item in enumerate(raw_items):
        if not isinstance(item, dict):
            raise _invalid(f"items[{i}]", "expected an object")
        option_ids = item.get("option_ids") or []
        if not isinstance(option_ids, list) or len(option_ids) > MAX_OPTIONS or any(
                isinstance(o, bool) or not isinstance(o, int) or not 1 <= o < 2**31 for o in option_ids):
            raise _invalid(f"items[{i}].option_ids", f"expected up to {MAX_OPTIONS} option ids")
        items.append(doc.SaleItem(dish_id=_int(item.get("dish_id"), f"items[{i}].dish_id", 1, 2**31 - 1),
                                  qty=_int(item.get("qty"), f"items[{i}].qty", 1, 99),
                                  option_ids=tuple(option_ids),
                                  note=_text(item.get("note"), f"items[{i}].note", 100)))
    return items


def option_groups(dish: dict) -> tuple[OptionGroup, ...]:
    """A dish's option groups as the local copy carries them (the server's snapshot)."""
    return tuple(OptionGroup(id=g["id"], name=g["name"], is_required=bool(g.get("is_required")),
                             max_choices=int(g.get("max_choices") or 1),
                             choices=tuple(OptionChoice(c["id"], c["name"], int(c.get("price_delta_cents") or 0))
                                           for c in g.get("choices") or []))
                 for g in dish.get("options") or [])


def void_locally(conn: Any, order: dict, **marks: Any) -> dict:
    """The till's copy of an order the server voided (撤单, or merged into another): its body as kept."""
    body = {k: v for k, v in order.items() if k != "synced"} | {"status": "voided", **marks}
    conn.execute("UPDATE orders SET status = 'voided', body = ? WHERE client_order_id = ?",
                 (dumps(body), order["client_order_id"]))
    return body


def option_names(options: Any) -> list[str]:
    """The names of a line's options, from the server's ``[{"group","name",…}]`` or plain names."""
    return [o.get("name", "") if isinstance(o, dict) else str(o) for o in options or []]


class Till:
    def __init__(self, *, config: AgentConfig, db: LocalDB, copy: LocalCopy, outbox: Outbox, pusher: Pusher,
                 connectivity: Connectivity, client: ServerClient, spooler: PrintSpooler,
                 clock: Callable[[], datetime], store_id: int) -> None:
        self.config = config
        self.db = db
        self.copy = copy
        self.outbox = outbox
        self.pusher = pusher
        self.connectivity = connectivity
        self.client = client
        self.spooler = spooler
        self.clock = clock
        self.store_id = store_id
        # This agent's device id on the server, when known (set by LocalService): it prefixes
        # offline order numbers, so that two tills of one store never print the same number.
        self.device_id: Callable[[], int | None] = lambda: None

    # --- reading ---------------------------------------------------------------------------------

    def menu(self) -> dict:
        if self.connectivity.online or not self.copy.loaded:
            try:  # the sold-out flags of a moment ago, when the server answers
                self.copy.refresh_base() if self.copy.loaded else self.copy.full_resync()
                self.connectivity.mark_online()
            except Unreachable:
                self.connectivity.mark_offline()
            except Refused as refused:
                log.warning("menu refresh refused: %s", refused)
        return {"dishes": [{"id": d["id"], "name": d["name"], "name_en": d.get("name_en", ""),
                            "price_cents": d["price_cents"], "category": d["category"], "station": d["station"],
                            "is_sold_out": bool(d["is_sold_out"]),
                            "pinyin": d.get("pinyin", ""), "initials": d.get("initials", ""),
                            "options": d.get("options") or []}
                           for d in self.copy.dishes() if d.get("is_active", True)],
                "as_of": self.copy.as_of}

    def get_order(self, client_order_id: str) -> dict:
        row = self.db.one("SELECT body FROM orders WHERE client_order_id = ?", (client_order_id,))
        if row is None:
            raise TillError(404, "not_found", "没有这个订单 / No such order", {"client_order_id": client_order_id})
        body = json.loads(row[0])
        body["synced"] = not self.outbox.is_pending(client_order_id)
        return body

    # --- orders ----------------------------------------------------------------------------------

    def create_order(self, staff: dict, data: Any) -> tuple[int, dict]:
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        cid = self._client_order_id(data.get("client_order_id"))
        table = _text(data.get("table"), "table", 10)
        items = parse_items(data.get("items"))
        if self.db.one("SELECT 1 FROM orders WHERE client_order_id = ?", (cid,)):
            return 201, self.get_order(cid)  # the till sent it again: the same order
        if self._server_first(cid):
            try:
                return self._forward_order(staff, cid, table, items)
            except Unreachable:
                self.connectivity.mark_offline()
        return self._offline_order(staff, cid, table, items)

    def _client_order_id(self, value: Any) -> str:
        try:
            return str(uuid.UUID(str(value))) if isinstance(value, str) else _raise_uuid()
        except ValueError:
            raise _invalid("client_order_id", "expected a UUID") from None

    def _server_first(self, client_order_id: str | None = None) -> bool:
        """Whether to forward to the server: it answered last time, and nothing of this till is
        still waiting in the outbox (pushed first, so the server sees the till's operations in order)."""
        if not self.connectivity.online:
            return False
        if self.outbox.pending_ops():
            return self.pusher.push_now()
        return True

    def _forward(self, op: SyncOperation) -> OperationResult:
        batch = SyncBatch(f"forward-{uuid.uuid4().hex}", (op,))
        try:
            answer = self.client.post("/api/v1/sync/batches", batch.to_dict(), timeout_s=self.config.forward_timeout_s)
        except Refused as refused:
            self.connectivity.mark_online()
            raise TillError(refused.status, refused.code, refused.message, refused.details) from None
        self.connectivity.mark_online()
        try:
            result = SyncResult.from_dict(answer).by_key()[op.key]
        except (DocumentError, KeyError) as exc:
            raise Unreachable(f"unreadable sync answer: {exc}") from exc
        if result.status == "refused":
            error = result.error or {}
            raise TillError(int(error.get("status") or 409), str(error.get("code") or "refused"),
                            str(error.get("message") or "refused"), error.get("details") or {})
        return result

    def _forward_order(self, staff: dict, cid: str, table: str, items: list[doc.SaleItem]) -> tuple[int, dict]:
        op = SyncOperation(op="order", key=f"order:{cid}", client_order_id=cid, occurred_at=self._now(),
                           staff_id=staff["id"], table=table, items=tuple(items))
        order = self._forward(op).order or {}
        body = {"client_order_id": cid, "order_no": str(order.get("order_no") or order.get("id")),
                "server_id": order.get("id"), "status": order.get("status", "open"), "table": order.get("table", table),
                "subtotal_cents": order.get("subtotal_cents", 0),
                "items": [{"dish_id": i["dish_id"], "name": i["name"], "qty": i["qty"],
                           "unit_price_cents": i["unit_price_cents"], "amount_cents": i["amount_cents"],
                           "station": i.get("station", ""), "note": i.get("note", ""),
                           "options": option_names(i.get("options"))}
                          for i in order.get("items", [])],
                "offline": False}
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO orders (client_order_id, order_no, server_id, status, body, offline, printed, "
                         "created_at) VALUES (?, ?, ?, ?, ?, 0, 1, ?) ON CONFLICT DO NOTHING",
                         (cid, body["order_no"], body["server_id"], body["status"], dumps(body), self._now()))
        return 201, {**body, "synced": True}

    def _offline_order(self, staff: dict, cid: str, table: str, items: list[doc.SaleItem]) -> tuple[int, dict]:
        self._require_copy()
        lines = self._offline_lines(items)
        if table and table not in {t["code"] for t in self.copy.tables()}:
            raise TillError(422, "unknown_table", "本店没有这张桌 / This store has no such table", {"table": table})
        now = self._now()
        device_id = self.device_id()
        priced = Priced(lines=tuple(PricedLine(line["dish_id"], line["qty"], line["unit_price_cents"], line["name"])
                                    for line in lines),
                        subtotal_cents=sum(line["amount_cents"] for line in lines))
        with self.db.transaction() as conn:
            number = int(json.loads((conn.execute("SELECT value FROM meta WHERE key = 'order_counter'").fetchone()
                                     or ("0",))[0])) + 1
            LocalDB.put_meta(conn, "order_counter", number)
            order_no = offline_order_no(device_id, number)
            body = {"client_order_id": cid, "order_no": order_no, "server_id": None, "status": "open",
                    "table": table, "subtotal_cents": priced.subtotal_cents, "items": lines, "offline": True,
                    "created_at": now, "cashier": staff.get("name", "")}
            op = SyncOperation(op="order", key=f"order:{cid}", client_order_id=cid, occurred_at=now,
                               staff_id=staff["id"], order_no=order_no, table=table, items=tuple(items),
                               priced=priced, printed_at_source=True)
            conn.execute("INSERT INTO orders (client_order_id, order_no, server_id, status, body, offline, printed, "
                         "created_at) VALUES (?, ?, NULL, 'open', ?, 1, 0, ?)", (cid, order_no, dumps(body), now))
            Outbox.add(conn, op, member_id=None, stored_value_cents=0, now=now)
        self._print_order(cid)
        return 201, {**body, "synced": False}

    def _offline_lines(self, items: list[doc.SaleItem]) -> list[dict]:
        """The order lines of `items` from the local copy, each priced by the rules core as the
        server prices it (`tablerules.menu`: the dish's price plus its chosen options)."""
        lines = []
        for i, item in enumerate(items):
            dish = self.copy.dish(item.dish_id)
            if dish is None or not dish.get("is_active", True):
                raise TillError(404, "not_found", "菜单上没有这道菜 / This dish is not on the menu",
                                {"dish_id": item.dish_id, "field": f"items[{i}].dish_id"})
            if dish.get("is_sold_out"):
                raise TillError(409, "dish_sold_out", f"{dish['name']} 已售罄 / {dish['name']} is sold out",
                                {"dish_id": dish["id"], "name": dish["name"]})
            try:
                chosen = choose_options(item.option_ids, option_groups(dish))
            except OptionError as error:
                words = {"group": error.details.get("group", ""), "max_choices": error.details.get("max_choices", "")}
                raise TillError(422, error.code, _OPTION_MESSAGES[error.code].format(**words),
                                {**error.details, "dish_id": dish["id"], "field": f"items[{i}].option_ids"}) from None
            unit_price = dish["price_cents"] + sum(c.price_delta_cents for c in chosen)
            lines.append({"dish_id": dish["id"], "name": dish["name"], "name_en": dish.get("name_en", ""),
                          "qty": item.qty, "unit_price_cents": unit_price, "amount_cents": unit_price * item.qty,
                          "station": dish["station"], "category_id": dish.get("category_id"),
                          "is_discountable": dish.get("is_discountable", True), "unit": dish.get("unit", ""),
                          "note": item.note, "option_ids": [c.choice_id for c in chosen],
                          "options": [c.name for c in chosen]})
        return lines

    # --- 加菜 on an order only this till has ------------------------------------------------------

    def addition_known(self, key: str) -> bool:
        return self.db.one("SELECT 1 FROM additions WHERE idempotency_key = ?", (key,)) is not None

    def add_offline(self, staff: dict, cid: str, key: str, items: list[doc.SaleItem]) -> dict:
        """加菜 on an order made here while offline and not on the server yet: the lines join the
        local order, an ``add`` operation (its own key) follows the order's in the outbox, and a
        kitchen ticket of only these dishes prints at once, marked 加菜. The same key again
        answers the order and prints nothing more."""
        fingerprint = hashlib.sha256(dumps({"order": cid, "items": [i.to_dict() for i in items]}).encode()).hexdigest()
        if self._addition_again(key, fingerprint):
            return self.get_order(cid)
        self._require_copy()
        lines = self._offline_lines(items)
        now = self._now()
        with self.db.transaction() as conn:
            # The same key at the same moment: the first request recorded it, this one answers it.
            again = conn.execute("SELECT 1 FROM additions WHERE idempotency_key = ?", (key,)).fetchone() is not None
            if not again:
                self._record_addition(conn, staff, cid, key, fingerprint, items, lines, now)
        if again:
            self._addition_again(key, fingerprint)
            return self.get_order(cid)
        self._print_addition(key)
        return self.get_order(cid)

    def _record_addition(self, conn: Any, staff: dict, cid: str, key: str, fingerprint: str,
                         items: list[doc.SaleItem], lines: list[dict], now: str) -> None:
        row = conn.execute("SELECT status, body, server_id FROM orders WHERE client_order_id = ?",
                           (cid,)).fetchone()
        if row is None:
            raise TillError(404, "not_found", "没有这个订单 / No such order", {"client_order_id": cid})
        if row[0] != "open":
            raise TillError(409, "order_not_open", "订单已结账 / This order is not open any more",
                            {"status": row[0]})
        only_here = row[2] is None and conn.execute(
            "SELECT 1 FROM outbox WHERE key = ? AND state = 'pending'", (f"order:{cid}",)).fetchone()
        if not only_here:
            raise needs_server("加菜", "Adding dishes")
        number = conn.execute("SELECT COUNT(*) FROM additions WHERE client_order_id = ?", (cid,)).fetchone()[0] + 1
        for line in lines:
            line["added"] = number  # not on the order's first ticket
        body = json.loads(row[1])
        body["items"] = body["items"] + lines
        body["subtotal_cents"] = sum(line["amount_cents"] for line in body["items"])
        op = SyncOperation(
            op="add", key=f"add:{key}", client_order_id=cid, occurred_at=now, staff_id=staff["id"],
            order_no=body["order_no"], table=body.get("table", ""), items=tuple(items), idempotency_key=key,
            priced=Priced(lines=tuple(PricedLine(line["dish_id"], line["qty"], line["unit_price_cents"],
                                                 line["name"]) for line in lines),
                          subtotal_cents=sum(line["amount_cents"] for line in lines)),
            printed_at_source=True)
        conn.execute("INSERT INTO additions (idempotency_key, client_order_id, fingerprint, number, created_at) "
                     "VALUES (?, ?, ?, ?, ?)", (key, cid, fingerprint, number, now))
        conn.execute("UPDATE orders SET body = ? WHERE client_order_id = ?", (dumps(body), cid))
        Outbox.add(conn, op, member_id=None, stored_value_cents=0, now=now)

    def _addition_again(self, key: str, fingerprint: str) -> bool:
        """Whether this 加菜 was recorded already (then its ticket is printed if it was not yet);
        409 when its key was used for other dishes."""
        done = self.db.one("SELECT fingerprint FROM additions WHERE idempotency_key = ?", (key,))
        if done is None:
            return False
        if done[0] != fingerprint:
            raise TillError(409, "idempotency_key_reused",
                            "这个幂等键已用于另一次加菜 / This idempotency key was used for another addition")
        self._print_addition(key)
        return True

    # --- settling --------------------------------------------------------------------------------

    def settle(self, staff: dict, client_order_id: str, data: Any) -> tuple[int, dict]:
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        key = data.get("idempotency_key")
        if not isinstance(key, str) or not 8 <= len(key) <= 100:
            raise _invalid("idempotency_key", "8 to 100 characters")
        member_id = data.get("member_id")
        if member_id is not None:
            member_id = _int(member_id, "member_id", 1, 2**31 - 1)
        raw = data.get("tenders")
        if not isinstance(raw, list) or not 1 <= len(raw) <= 10:
            raise _invalid("tenders", "expected 1 to 10 tenders")
        tenders = []
        wechat: dict | None = None
        for i, tender in enumerate(raw):
            if not isinstance(tender, dict) or tender.get("type") not in TENDER_TYPES:
                raise _invalid(f"tenders[{i}].type", f"must be one of {', '.join(TENDER_TYPES)}")
            tenders.append(doc.TenderLine(type=tender["type"],
                                          amount_cents=_int(tender.get("amount_cents"), f"tenders[{i}].amount_cents",
                                                            1, 10**10)))
            if tender["type"] == "wechat":
                if wechat is not None:
                    raise _invalid("tenders", "at most one WeChat tender")
                wechat = {"index": i, **tender}  # what WeChat Pay needs is checked online only
        fingerprint = hashlib.sha256(dumps({"order": client_order_id, "member_id": member_id,
                                            "tenders": [t.to_dict() for t in tenders]}).encode()).hexdigest()
        done = self.db.one("SELECT fingerprint, status, body FROM settlements WHERE idempotency_key = ?", (key,))
        if done is not None:
            if done[0] != fingerprint:
                raise TillError(409, "idempotency_key_reused",
                                "这个幂等键已用于另一笔结账 / This idempotency key was used for another settlement")
            return done[1], self._with_synced(_public(json.loads(done[2])))
        order = self.get_order(client_order_id)
        if order["status"] != "open":
            raise TillError(409, "order_not_open", "订单已结账 / This order is not open any more",
                            {"status": order["status"]})
        if self._server_first(client_order_id):
            try:
                if wechat is not None:
                    return self._forward_wechat(staff, order, key, member_id, tenders,
                                                _wechat_tender(wechat, wechat["index"]), fingerprint)
                return self._forward_settle(staff, order, key, member_id, tenders, fingerprint)
            except Unreachable:
                self.connectivity.mark_offline()
        return self._offline_settle(staff, order, key, member_id, tenders, fingerprint)

    def _with_synced(self, body: dict) -> dict:
        return {**body, "synced": not self.outbox.is_pending(body["client_order_id"])}

    def _forward_settle(self, staff: dict, order: dict, key: str, member_id: int | None,
                        tenders: list[doc.TenderLine], fingerprint: str) -> tuple[int, dict]:
        cid = order["client_order_id"]
        op = SyncOperation(op="settle", key=f"settle:{key}", client_order_id=cid, occurred_at=self._now(),
                           staff_id=staff["id"], member_id=member_id, tenders=tuple(tenders), idempotency_key=key)
        server = self._forward(op).order or {}
        body = {"client_order_id": cid, "order_no": order["order_no"], "server_id": server.get("id"),
                "status": server.get("status", "paid"), "payable_cents": server.get("payable_cents"),
                "paid_cents": server.get("paid_cents"), "change_cents": server.get("change_cents"),
                "member_id": server.get("member_id"), "tenders": server.get("tenders", []), "offline": False}
        self.record_settlement(order, key, fingerprint, body, offline=False, op=None, member_id=None,
                                stored_value=0)
        return 200, {**body, "synced": True}

    def _forward_wechat(self, staff: dict, order: dict, key: str, member_id: int | None,
                        tenders: list[doc.TenderLine], wechat: dict, fingerprint: str) -> tuple[int, dict]:
        """WeChat Pay needs the server: the payment code scanned at the till is charged there and
        the order settled at once (200); a NATIVE QR answers 202 with the code to print or show,
        and the order turns paid when WeChat Pay notifies the server (the ``order_paid`` event).
        A lost answer is never sold again offline: the same idempotency key asks once more."""
        cid = order["client_order_id"]
        body = {"client_order_id": cid, "staff_id": staff["id"], "member_id": member_id, "idempotency_key": key,
                "tenders": [{"type": t.type, "amount_cents": t.amount_cents, **(wechat if t.type == "wechat" else {})}
                            for t in tenders]}
        try:
            answer = self.client.post("/api/v1/sync/wechat-settle", body, timeout_s=max(self.config.forward_timeout_s,
                                                                                          WECHAT_TIMEOUT_S))
        except Refused as refused:
            self.connectivity.mark_online()
            raise TillError(refused.status, refused.code, refused.message, refused.details) from None
        except Unreachable:
            self.connectivity.mark_offline()
            raise TillError(409, "tender_unavailable_offline",
                            "连不上服务器，微信支付结果未知：请稍后用同一笔结账重试，不会重复扣款 / "
                            "The server cannot be reached: try this settlement again later "
                            "(the same key never charges twice)",
                            {"tender": "wechat", "idempotency_key": key}) from None
        self.connectivity.mark_online()
        if answer.get("intent_id") is not None:  # NATIVE: waiting for the diner to pay
            return 202, {"client_order_id": cid, "order_no": order["order_no"], "status": "awaiting_payment",
                         "intent_id": answer["intent_id"], "code_url": answer.get("code_url"),
                         "amount_cents": answer.get("amount_cents"), "synced": True}
        body = {"client_order_id": cid, "order_no": order["order_no"], "server_id": answer.get("id"),
                "status": answer.get("status", "paid"), "payable_cents": answer.get("payable_cents"),
                "paid_cents": answer.get("paid_cents"), "change_cents": answer.get("change_cents"),
                "member_id": member_id, "tenders": [t.to_dict() for t in tenders], "offline": False}
        self.record_settlement(order, key, fingerprint, body, offline=False, op=None, member_id=None,
                                stored_value=0)
        return 200, {**body, "synced": True}

    def _offline_settle(self, staff: dict, order: dict, key: str, member_id: int | None,
                        tenders: list[doc.TenderLine], fingerprint: str) -> tuple[int, dict]:
        if any(t.type == "wechat" for t in tenders):
            raise TillError(409, "tender_unavailable_offline",
                            "网络中断，暂不能用微信支付，请用现金或储值 / WeChat Pay needs the server, which cannot "
                            "be reached now; take cash or stored value", {"tender": "wechat"})
        self._require_copy()
        member = None
        if member_id is not None:
            member = self.copy.member(member_id)
            if member is None:
                raise TillError(404, "not_found", "本机没有这位会员的资料 / This member is not in the local copy",
                                {"member_id": member_id})
        store = self.copy.store()
        tier = member["tier"] if member else None
        lines = [pricing.BillLine(line_id=i + 1, dish_id=line["dish_id"], category_id=line.get("category_id"),
                                  name=line["name"], unit_price_cents=line["unit_price_cents"], qty=line["qty"],
                                  is_discountable=line.get("is_discountable", True))
                 for i, line in enumerate(order["items"])]
        rounding = pricing.Rounding(store.get("rounding", "none"))
        bill = pricing.price_bill(
            lines, tier=pricing.TierDiscount(tier["name"], tier["discount_percent"]) if tier else None, coupons=[],
            member_id=member_id, points_to_redeem=0, points_balance=0, points_rule=None, rounding=rounding,
            now=self.clock())
        try:
            plan = plan_tenders(bill.payable_cents, [Tender(TenderType.parse(t.type), t.amount_cents) for t in tenders])
        except TenderError as error:
            raise TillError(422, error.code, _TENDER_MESSAGES.get(error.code, error.message), error.details) from None
        stored_value = plan.handed_cents(TenderType.STORED_VALUE)
        allowance = None
        if stored_value:
            if member is None:
                raise TillError(422, "member_required", "储值支付需要会员 / Stored value needs a member")
            allowance = Allowance.from_dict(member["allowance"])
            left = allowance.allowance_cents - self.copy.offline_spent_cents(member_id, allowance.issued_at)
            if stored_value > left:
                raise TillError(409, "offline_limit_exceeded",
                                f"离线时储值最多可用 {max(left, 0) / 100:.2f} 元 / Offline, at most "
                                f"{max(left, 0) / 100:.2f} yuan of stored value can be used",
                                {"allowance_cents": allowance.allowance_cents, "available_cents": max(left, 0),
                                 "requested_cents": stored_value})
        now = self._now()
        body = {"client_order_id": order["client_order_id"], "order_no": order["order_no"],
                "server_id": order.get("server_id"), "status": "paid", "payable_cents": bill.payable_cents,
                "paid_cents": bill.payable_cents, "change_cents": plan.change_cents, "member_id": member_id,
                "tenders": [t.to_dict() for t in tenders], "offline": True, "paid_at": now,
                "steps": [step.to_dict() for step in doc.steps_from_bill(bill.steps)]}
        op = SyncOperation(
            op="settle", key=f"settle:{key}", client_order_id=order["client_order_id"], occurred_at=now,
            staff_id=staff["id"], member_id=member_id, tenders=tuple(tenders), idempotency_key=key,
            priced=Priced(lines=tuple(PricedLine(line["dish_id"], line["qty"], line["unit_price_cents"], line["name"])
                                      for line in order["items"]),
                          subtotal_cents=bill.subtotal_cents, payable_cents=bill.payable_cents,
                          discount_cents=bill.discount_cents, tier_name=tier["name"] if tier else "",
                          tier_discount_percent=tier["discount_percent"] if tier else 0, rounding=rounding.value),
            allowance=allowance, printed_at_source=True)
        receipt = self._receipt(order, body, bill, plan.change_cents, tenders, member, stored_value, staff)
        body["receipt"] = receipt
        self.record_settlement(order, key, fingerprint, body, offline=True, op=op, member_id=member_id,
                                stored_value=stored_value)
        self._print_settlement(key)
        return 200, self._with_synced(_public(body))

    def record_settlement(self, order: dict, key: str, fingerprint: str, body: dict, *, offline: bool,
                           op: SyncOperation | None, member_id: int | None, stored_value: int) -> None:
        cid = order["client_order_id"]
        paid = {k: v for k, v in order.items() if k != "synced"}
        paid.update(status="paid", payable_cents=body["payable_cents"], paid_cents=body["paid_cents"],
                    change_cents=body["change_cents"], member_id=body["member_id"])
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO settlements (idempotency_key, client_order_id, fingerprint, status, body, "
                         "offline, printed) VALUES (?, ?, ?, 200, ?, ?, ?)",
                         (key, cid, fingerprint, dumps(body), int(offline), 0 if offline else 1))
            conn.execute("UPDATE orders SET status = 'paid', body = ? WHERE client_order_id = ?", (dumps(paid), cid))
            if op is not None:
                Outbox.add(conn, op, member_id=member_id, stored_value_cents=stored_value, now=op.occurred_at)

    # --- paper -----------------------------------------------------------------------------------

    def _store_header(self) -> doc.StoreHeader:
        store = self.copy.store()
        return doc.StoreHeader(name=store.get("name") or self.config.store.name,
                               address=store.get("address") or self.config.store.address,
                               phone=store.get("phone") or self.config.store.phone)

    def _tickets(self, order: dict, addition: int = 0) -> list[dict]:
        """The kitchen tickets of the order's first send (``addition`` 0), or of its n-th 加菜
        (only those dishes, marked ``add``), one per station."""
        by_station: dict[str, list[dict]] = {}
        for line in order["items"]:
            if line.get("added", 0) == addition:
                by_station.setdefault(line["station"], []).append(line)
        cid, order_no = order["client_order_id"], order["order_no"]
        tag = f"-add{addition}" if addition else ""
        return [doc.KitchenTicket(
            document_id=f"local-ticket-{cid}{tag}-{station}",
            ticket_no=f"{order_no}-A{addition}-{n}" if addition else f"{order_no}-{n}",
            order_no=order_no, created_at=order.get("created_at") or self._now(), station=station,
            table=order.get("table", ""), waiter=order.get("cashier", ""), mark="add" if addition else "new",
            items=tuple(doc.OrderItem(name=line["name"], qty=line["qty"], station=station, dish_id=line["dish_id"],
                                      name_en=line.get("name_en", ""), note=line.get("note", ""),
                                      options=tuple(line.get("options") or ()),
                                      unit_price_cents=line["unit_price_cents"]) for line in lines),
        ).to_dict() for n, (station, lines) in enumerate(sorted(by_station.items()), start=1)]

    def _receipt(self, order: dict, body: dict, bill: pricing.PricedBill, change: int, tenders: list[doc.TenderLine],
                 member: dict | None, stored_value: int, staff: dict) -> dict:
        summary = None
        if member is not None:
            balance = member["stored_value_cents"] - self.copy.offline_spent_cents(
                member["id"], member["allowance"]["issued_at"]) - stored_value
            summary = doc.MemberSummary(name=member["name"], member_no=member["member_no"], tier=member["tier"]["name"],
                                        balance_cents=max(balance, 0))
        return doc.Receipt(
            document_id=f"local-receipt-{order['client_order_id']}", order_no=order["order_no"],
            items=tuple(doc.ReceiptItem(name=line["name"], name_en=line.get("name_en", ""), qty=line["qty"],
                                        unit_price_cents=line["unit_price_cents"], amount_cents=line["amount_cents"],
                                        options=tuple(line.get("options") or ()), note=line.get("note", ""))
                          for line in order["items"]),
            payable_cents=bill.payable_cents, steps=doc.steps_from_bill(bill.steps), tenders=tuple(tenders),
            change_cents=change, table=order.get("table", ""), cashier=staff.get("name", ""), paid_at=body["paid_at"],
            member=summary, store=self._store_header(), signup_url=self.config.store.signup_url,
            note="离线收银，联网后同步 Offline sale, synced later",
        ).to_dict()

    def _print_order(self, cid: str) -> None:
        row = self.db.one("SELECT body FROM orders WHERE client_order_id = ? AND printed = 0 AND offline = 1", (cid,))
        if row is None:
            return
        if self.db.claim_paper(cid, "kitchen", "local", self._now()):
            for ticket in self._tickets(json.loads(row[0])):
                self._submit(ticket)
        else:  # the server took the order before its answer was lost: its tickets printed already
            log.info("order %s: the kitchen tickets came from the server; not printed again", cid)
        with self.db.transaction() as conn:
            conn.execute("UPDATE orders SET printed = 1 WHERE client_order_id = ?", (cid,))

    def _print_addition(self, key: str) -> None:
        """The kitchen ticket of one 加菜, once: its own paper claim, keyed by the addition's key."""
        row = self.db.one("SELECT a.client_order_id, a.number, o.body FROM additions a JOIN orders o "
                          "ON o.client_order_id = a.client_order_id WHERE a.idempotency_key = ? AND a.printed = 0",
                          (key,))
        if row is None:
            return
        if self.db.claim_paper(row[0], f"kitchen:{key}", "local", self._now()):
            for ticket in self._tickets(json.loads(row[2]), addition=row[1]):
                self._submit(ticket)
        with self.db.transaction() as conn:
            conn.execute("UPDATE additions SET printed = 1 WHERE idempotency_key = ?", (key,))

    def _print_settlement(self, key: str) -> None:
        row = self.db.one("SELECT body, client_order_id FROM settlements WHERE idempotency_key = ? AND printed = 0",
                          (key,))
        if row is None:
            return
        receipt = json.loads(row[0]).get("receipt")
        if receipt and self.db.claim_paper(row[1], "receipt", "local", self._now()):
            self._submit(receipt)
        with self.db.transaction() as conn:
            conn.execute("UPDATE settlements SET printed = 1 WHERE idempotency_key = ?", (key,))

    def _submit(self, document: dict) -> None:
        try:
            self.spooler.submit(PrintRequest.for_document(document))
        except Exception:  # the sale stands; the ledger keeps the job or the next start prints it
            log.exception("printing %s failed", document.get("document_id"))

    def print_unprinted(self) -> None:
        """At start: paper of sales recorded before a stop but not yet handed to the spooler."""
        for (cid,) in self.db.all("SELECT client_order_id FROM orders WHERE printed = 0 AND offline = 1"):
            self._print_order(cid)
        for (key,) in self.db.all("SELECT idempotency_key FROM additions WHERE printed = 0 ORDER BY created_at"):
            self._print_addition(key)
        for (key,) in self.db.all("SELECT idempotency_key FROM settlements WHERE printed = 0"):
            self._print_settlement(key)

    # --- helpers ---------------------------------------------------------------------------------

    def _require_copy(self) -> None:
        if not self.copy.loaded:
            try:
                self.copy.full_resync()
                self.connectivity.mark_online()
                return
            except (Unreachable, Refused):
                pass
            raise TillError(503, "local_copy_missing",
                            "本机还没有菜单和会员资料，请联网后再试 / The agent has no local copy of the store yet")

    def _now(self) -> str:
        return self.clock().astimezone(UTC).isoformat(timespec="seconds")


def offline_order_no(device_id: int | None, number: int) -> str:
    """The short number printed on an offline sale's paper: ``L`` with the till's device id, so
    that two tills of one store never print the same one (``L7-0012``)."""
    return f"L{device_id}-{number:04d}" if device_id is not None else f"L{number:04d}"


def _public(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "receipt"}


def _raise_uuid() -> str:
    raise ValueError("not a UUID")
