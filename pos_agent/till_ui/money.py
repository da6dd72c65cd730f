"""The till's WeChat waits and refunds by line, on the agent's local API.

- **扫码支付 (NATIVE)**: the server opens the trade (`POST /api/v1/sync/wechat-settle` answers
  202 with its ``code_url``); the agent prints a pre-bill slip with that QR code on the receipt
  printer, once per trade (the print ledger keys it by the trade), and the order turns paid
  when WeChat Pay notifies the server (its ``order_paid`` event reaches this agent).
- **取消**: the cashier gives up on a payment still waiting — a payment code the diner has not
  confirmed, or a QR not scanned. The server reverses or closes the trade
  (`POST /api/v1/sync/wechat-cancel`); a diner who paid first keeps the sale.
- **Refund by line**: what the server will give back for the lines chosen, before the manager
  approves (`GET /api/v1/orders/{id}/refund-quote` on the server).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from tablerules import documents as doc
from tablerules import money

from ..local.errors import TillError, needs_server
from ..printing.spooler import PrintRequest

if TYPE_CHECKING:
    from .desk import TillDesk

log = logging.getLogger(__name__)

_CID = r"([0-9a-fA-F-]{36})"
CANCEL = re.compile(rf"^/api/v1/orders/{_CID}/wechat-cancel$")
QUOTE = re.compile(rf"^/api/v1/orders/{_CID}/refund-quote$")
LINES = re.compile(r"^(\d{1,10}:\d{1,4}(,\d{1,10}:\d{1,4}){0,99})?$")


class TillMoney:
    def __init__(self, desk: TillDesk) -> None:
        self.desk = desk
        self.local = desk.local

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any, staff: dict,
               token: str | None) -> tuple[int, Any] | None:
        if method == "POST" and (match := CANCEL.match(path)):
            return 200, self.cancel_wechat(match.group(1).lower(), body(), staff)
        if method == "GET" and (match := QUOTE.match(path)):
            return 200, self.refund_quote(match.group(1).lower(), query, token)
        return None

    # --- 扫码支付: the pre-bill with the QR code ------------------------------------------------

    def print_prebill(self, staff: dict, cid: str, opened: dict, other_cents: int = 0) -> str:
        """The pre-bill slip of a NATIVE trade the server opened: the order's dishes, what WeChat
        Pay is to take, and the trade's QR code. Answers ``printed``, ``queued`` or ``error``."""
        code_url, intent_id = opened.get("code_url"), opened.get("intent_id")
        if not code_url or intent_id is None:
            return "error"
        order = self.local.till.get_order(cid)
        amount = int(opened.get("amount_cents") or 0)
        note = "扫码支付 Scan to pay"
        if other_cents:
            note += f" · 其余已收 Paid otherwise {money.to_yuan(other_cents)}"
        receipt = doc.Receipt(
            document_id=f"local-prebill-{intent_id}", order_no=order["order_no"],
            items=tuple(doc.ReceiptItem(name=line["name"], name_en=line.get("name_en", ""), qty=line["qty"],
                                        unit_price_cents=line["unit_price_cents"], amount_cents=line["amount_cents"],
                                        note=line.get("note", "")) for line in order["items"]),
            payable_cents=amount, table=order.get("table", ""), cashier=staff.get("name", ""),
            store=self.local.till._store_header(), payment_qr=code_url, note=note, client_order_id=cid,
        ).to_dict()
        try:
            outcomes = self.desk.agent.spooler.submit(PrintRequest.for_document(receipt))
        except Exception:  # the trade stands: the cashier can read the amount out, the QR prints again on retry
            log.exception("pre-bill %s did not print", intent_id)
            return "error"
        return "printed" if all(o.job.state == "printed" for o in outcomes) else "queued"

    # --- 取消: giving up on a WeChat payment still waiting -------------------------------------

    def cancel_wechat(self, cid: str, data: Any, staff: dict) -> dict:
        if not isinstance(data, dict):
            raise TillError(422, "validation_error", "body: expected a JSON object", {"field": "body"})
        key = data.get("idempotency_key")
        if not isinstance(key, str) or not 8 <= len(key) <= 100:
            raise TillError(422, "validation_error", "idempotency_key: 8 to 100 characters",
                            {"field": "idempotency_key"})
        order = self.local.till.get_order(cid)
        what = ("取消微信收款", "Cancelling a WeChat payment")
        if not order.get("server_id"):
            raise needs_server(*what)
        answer = self.desk.cancel_wechat(what, client_order_id=cid, staff_id=staff["id"], idempotency_key=key)
        return {"client_order_id": cid, "status": answer.get("status"), "order_status": answer.get("order_status")}

    # --- refunds by line -------------------------------------------------------------------------

    def refund_quote(self, cid: str, query: dict[str, list[str]], token: str | None) -> dict:
        lines = (query.get("lines") or [""])[0].strip()
        if not LINES.match(lines):
            raise TillError(422, "validation_error", "lines: line_id:qty, comma-separated", {"field": "lines"})
        order = self.local.till.get_order(cid)
        what = ("退款", "Refunds")
        if not order.get("server_id"):
            raise needs_server(*what)
        client = self.desk._server(token, *what)
        return self.desk._call(client, "GET", f"/api/v1/orders/{order['server_id']}/refund-quote", what,
                               query={"lines": lines} if lines else {})
