"""Top-ups at the till: the merchant's rules in words, cash — or the member's WeChat payment
code, scanned at the till — onto a member's stored value, the cash drawer opened once for cash,
and the top-up slip (充值凭条) printed once and again on request.

Only the server can credit stored value, so a top-up needs it (the cashier's own server token).
Its answer carries the slip, built there through the document contract; a retried request with
the same idempotency key answers the same slip, and this agent's print ledger prints a document
once. The drawer is kicked once per key, claimed in the local file (the ``paper`` table), so a
retry, or the agent restarted in between, opens it no more.

A payment code is charged by the server (MICROPAY), which keeps asking WeChat Pay while the
member types the password and reverses the trade if it is not paid in time; the cashier may give
up meanwhile (``…/topups/wechat-cancel``): the server reverses it, or — paid first — the top-up
stands.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tablerules import stored_value
from tablerules.documents import DocumentError

from ..local.errors import TillError
from ..printing.adapter import PrinterError
from ..printing.spooler import JobOutcome, PrintRequest

if TYPE_CHECKING:
    from .desk import TillDesk

log = logging.getLogger(__name__)

TOPUP = re.compile(r"^/api/v1/members/(\d{1,10})/topups$")
CANCEL = re.compile(r"^/api/v1/members/(\d{1,10})/topups/wechat-cancel$")
PAYMENT_CODE = re.compile(r"^1[0-5]\d{16}$")  # a WeChat payment code: 18 digits, 10–15 first
REPRINT = "/api/v1/till/topups/reprint"
RULES = "/api/v1/till/topup-rules"
WHAT = ("充值", "Top-ups")
SLIP_KIND = "topup"


def _invalid(field: str, message: str) -> TillError:
    return TillError(422, "validation_error", f"{field}: {message}", {"field": field})


def rule_words(rule: dict) -> dict:
    """"充500送50" (each time: "每充500送50"), and in English."""
    label, label_en = stored_value.rule_words(
        stored_value.TopUpRule(rule["min_cents"], rule["bonus_cents"], bool(rule.get("is_repeat"))))
    return {"label": label, "label_en": label_en}


def slip_state(outcomes: list[JobOutcome]) -> str:
    """``printed`` when every copy is on paper; ``error`` when one may be partly printed and waits
    for a person; ``queued`` when the printer could not take it yet (the spooler retries)."""
    states = {o.job.state for o in outcomes}
    if states and states <= {"printed"}:
        return "printed"
    return "error" if "uncertain" in states else "queued"


class TopUpCounter:
    """The till's top-up calls, answered through the desk's server client and the agent's printers."""

    def __init__(self, desk: TillDesk) -> None:
        self.desk = desk
        self.agent = desk.agent

    def handle(self, method: str, path: str, body: Any, token: str | None, staff: dict) -> tuple[int, Any] | None:
        if method == "GET" and path == RULES:
            return 200, self.rules(token)
        if method != "POST":
            return None
        if match := TOPUP.match(path):
            return 201, self.top_up(int(match.group(1)), body(), token)
        if match := CANCEL.match(path):
            return 200, self.cancel_wechat(int(match.group(1)), body(), staff)
        if path == REPRINT:
            return 200, self.reprint(body())
        return None

    def rules(self, token: str | None) -> dict:
        """The merchant's top-up rules, each with the words the till shows ("充500送50")."""
        rules = self.desk._call(self.desk._server(token, *WHAT), "GET", "/api/v1/topup-rules", WHAT).get("rules", [])
        return {"rules": [{**r, **rule_words(r)} for r in rules]}

    def top_up(self, member_id: int, data: Any, token: str | None) -> dict:
        """Cash onto the member's stored value (the rules add the bonus), or WeChat Pay with the
        payment code on the member's phone (``auth_code``). The answer is the server's, with
        ``drawer`` (opened | none | error | not_needed — always the last for WeChat) and ``slip``
        (printed | queued | error | none) in place of the slip's document, whose id is
        ``slip_document_id``."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        amount, key, code = data.get("amount_cents"), data.get("idempotency_key"), data.get("auth_code")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= 10**9:
            raise _invalid("amount_cents", "expected a positive amount in fen")
        if not isinstance(key, str) or not 8 <= len(key) <= 100:
            raise _invalid("idempotency_key", "8 to 100 characters")
        if code is not None and not (isinstance(code, str) and PAYMENT_CODE.match(code)):
            raise _invalid("auth_code", "expected the 18 digits of a WeChat payment code")
        body: dict[str, Any] = {"amount_cents": amount, "tender": "cash", "idempotency_key": key}
        timeout: dict[str, Any] = {}
        if code is not None:
            if not self.desk.local.connectivity.online:
                raise TillError(409, "tender_unavailable_offline",
                                "网络中断，暂不能用微信支付 / WeChat Pay needs the server, which cannot be reached now",
                                {"tender": "wechat"})
            # The server keeps asking WeChat Pay while the member types the password.
            body, timeout = {**body, "tender": "wechat", "auth_code": code}, {"timeout_s": 60}
        answer = self.desk._call(self.desk._server(token, *WHAT), "POST", f"/api/v1/members/{member_id}/topups",
                                 WHAT, body=body, **timeout)
        drawer = "not_needed"
        if code is None:
            # The money is in the server's books: the drawer opens for the cash, once for this key.
            first = self.desk.db.claim_once(f"topup:{key}", "drawer", _now(self.agent.clock()))
            drawer = self._kick_drawer() if first else "not_needed"
        slip = answer.pop("slip", None)
        state, document_id = self._print(slip)
        return {**answer, "drawer": drawer, "slip": state, "slip_document_id": document_id}

    def cancel_wechat(self, member_id: int, data: Any, staff: dict) -> dict:
        """取消: give up on the member's payment code still waiting for the password. ``status``:
        ``cancelling`` (the waiting top-up reverses the trade and answers 409 ``payment_cancelled``),
        ``reversed`` — or ``paid`` when the member paid first: then the top-up stands."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        key = data.get("idempotency_key")
        if not isinstance(key, str) or not 8 <= len(key) <= 100:
            raise _invalid("idempotency_key", "8 to 100 characters")
        answer = self.desk.cancel_wechat(("取消微信收款", "Cancelling a WeChat payment"), member_id=member_id,
                                         staff_id=staff["id"], idempotency_key=key)
        return {"member_id": member_id, "status": answer.get("status")}

    def _print(self, slip: Any) -> tuple[str, str | None]:
        if not isinstance(slip, dict):
            log.warning("the server's top-up answer has no slip to print")
            return "error", None
        if not self.agent.config.printers_with_role("receipt"):
            return "none", None
        try:
            request = PrintRequest.for_document(slip)
            outcomes = self.agent.spooler.submit(request)
        except (DocumentError, PrinterError) as exc:
            log.warning("top-up slip not printed: %s", exc)
            return "error", None
        return slip_state(outcomes), request.document_id

    def _kick_drawer(self) -> str:
        printers = [p for p in self.agent.config.printers if p.cash_drawer]
        if not printers:
            return "none"
        try:
            self.agent.adapters[printers[0].name].kick_drawer()
        except PrinterError as exc:
            log.warning("cash drawer: %s", exc)
            return "error"
        return "opened"

    def reprint(self, data: Any) -> dict:
        """The last top-up slip printed here (or ``document_id``'s) again, marked 重打 REPRINT; the
        drawer stays shut."""
        if not isinstance(data, dict):
            raise _invalid("body", "expected a JSON object")
        document_id = data.get("document_id")
        if document_id is None:
            latest = self.agent.ledger.latest(SLIP_KIND)
            document_id = latest.document_id if latest else None
        elif not isinstance(document_id, str) or not document_id.startswith("topup-") or len(document_id) > 100:
            raise _invalid("document_id", "expected a top-up slip's document id")
        if document_id is None:
            raise TillError(409, "nothing_to_reprint", "本机还没有打印过充值凭条 / No top-up slip was printed here yet",
                            {})
        try:
            outcomes = self.agent.spooler.submit(PrintRequest(document_id=document_id, reprint=True))
        except DocumentError:
            raise TillError(409, "nothing_to_reprint", "这张充值凭条没有在本机打印过 / This top-up slip was never "
                            "printed here", {"document_id": document_id}) from None
        return {"document_id": document_id, "slip": slip_state(outcomes)}


def _now(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
