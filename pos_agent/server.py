"""The agent's local HTTP endpoint on 127.0.0.1: status page, print, events.

It is reachable only from the till itself, but any web page open in the till's browser could
send it requests. So it answers only requests addressed to a loopback host name (no DNS
rebinding) and only takes JSON bodies on POST (a cross-site form cannot send one without a CORS
preflight, which this server never approves).
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tablerules.documents import DocumentError

from .agent import Agent
from .local.errors import TillError
from .printing.adapter import PrinterError
from .printing.spooler import PrintRequest
from .status_page import render_status_page
from .till_ui import page as till_page
from .till_ui.desk import TillDesk

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20
MAX_WAIT_S = 30.0
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
_RESOLVE = re.compile(r"^/api/jobs/(\d+)/resolve$")
_ORDER = re.compile(r"^/api/v1/orders/([0-9a-fA-F-]{36})$")
_SETTLE = re.compile(r"^/api/v1/orders/([0-9a-fA-F-]{36})/settle$")


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class AgentHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], agent: Agent) -> None:
        self.agent = agent
        # The cashier's till (/till and its calls): only with the store's number on the server.
        self.desk = TillDesk(agent) if agent.local is not None else None
        super().__init__(address, AgentRequestHandler)


class AgentRequestHandler(BaseHTTPRequestHandler):
    server: AgentHTTPServer
    server_version = "TableLoopAgent/0.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    @property
    def agent(self) -> Agent:
        return self.server.agent

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            self._check_host()
            if url.path.startswith("/api/v1/"):
                self._till(method, url.path, query)
                return
            if method == "GET" and (url.path == "/till" or url.path.startswith("/till/")):
                self._till_page(url.path)
                return
            if method == "GET" and url.path == "/":
                self._send(HTTPStatus.OK, render_status_page(self.agent).encode(), "text/html; charset=utf-8")
            elif method == "GET" and url.path == "/api/status":
                self._json(HTTPStatus.OK, self.agent.status())
            elif method == "GET" and url.path == "/api/jobs":
                limit = _int_param(query, "limit", 50, 1, 500)
                self._json(HTTPStatus.OK, {"jobs": [j.as_dict() for j in self.agent.ledger.recent(limit)]})
            elif method == "GET" and url.path == "/api/events":
                self._events(query)
            elif method == "POST" and url.path == "/api/print":
                self._print(self._body())
            elif method == "POST" and url.path == "/api/retry":
                self._body()
                self.agent.spooler.retry_pending()
                self._json(HTTPStatus.OK, self.agent.status())
            elif method == "POST" and url.path == "/api/drawer":
                self._drawer(self._body())
            elif method == "POST" and (match := _RESOLVE.match(url.path)):
                self._resolve(int(match.group(1)), self._body())
            elif url.path in ("/", "/api/status", "/api/jobs", "/api/events", "/api/print", "/api/retry"):
                raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed")
            else:
                raise ApiError(HTTPStatus.NOT_FOUND, "not_found", "no such page")
        except ApiError as exc:
            self._json(exc.status, {"error": {"code": exc.code, "message": exc.message, "details": exc.details}})
        except TillError as exc:
            self._json(HTTPStatus(exc.status), exc.as_dict())
        except Exception:
            log.exception("request %s %s failed", method, self.path)
            self._json(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                {"error": {"code": "internal_error", "message": "internal error", "details": {}}},
            )

    # --- the till: /api/v1 (AGENT-API.md) --------------------------------------------------------

    def _till(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        agent = self.agent
        if method == "GET" and path == "/api/v1/status":
            self._json(HTTPStatus.OK, agent.sync_status())
            return
        local = agent.local
        if local is None:
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_configured",
                           "store_id must be the store's number on the server")
        if method == "POST" and path == "/api/v1/session":
            body = self._body()
            username = body.get("username") if isinstance(body, dict) else None
            password = body.get("password") if isinstance(body, dict) else None
            if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
                raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "username and password required")
            self._json(HTTPStatus.OK, local.sessions.login(username, password))
            return
        staff = local.sessions.staff_for(self.headers.get("Authorization"))
        if method == "GET" and path == "/api/v1/menu":
            self._json(HTTPStatus.OK, local.till.menu())
        elif method == "POST" and path == "/api/v1/orders":
            status, body = local.till.create_order(staff, self._body())
            self._json(HTTPStatus(status), body)
        elif method == "GET" and (match := _ORDER.match(path)):
            self._json(HTTPStatus.OK, local.till.get_order(match.group(1).lower()))
        elif method == "POST" and (match := _SETTLE.match(path)):
            status, body = local.till.settle(staff, match.group(1).lower(), self._body())
            self._json(HTTPStatus(status), body)
        elif method == "GET" and path == "/api/v1/members/lookup":
            self._member_lookup(query)
        elif self.server.desk is not None and (answer := self.server.desk.handle(
                method, path, query, self._body, staff, self.headers.get("Authorization"))) is not None:
            self._json(HTTPStatus(answer[0]), answer[1])
        elif method == "POST" and path == "/api/v1/local-copy/resync":
            self._body()
            try:
                local.resync()
            except Exception as exc:
                raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "server_unreachable", str(exc)) from exc
            self._json(HTTPStatus.OK, agent.sync_status())
        else:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found", "no such call")

    def _member_lookup(self, query: dict[str, list[str]]) -> None:
        local = self.agent.local
        assert local is not None
        found = None
        for name in ("phone", "card", "member_no"):
            if query.get(name):
                found = local.copy.find_member(**{name: query[name][0]})
                break
        else:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "validation_error", "give phone, card or member_no")
        if found is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found", "没有这位会员 / No such member")
        self._json(HTTPStatus.OK, {k: found[k] for k in ("id", "member_no", "name", "tier", "stored_value_cents",
                                                        "points")} | {"allowance_cents":
                                                                      found["allowance"]["allowance_cents"]})

    # --- the till's page (pos_agent/till_ui) ----------------------------------------------------

    def _till_page(self, path: str) -> None:
        if path in ("/till", "/till/"):
            store = self.agent.local.copy.store() if self.agent.local is not None else {}
            body = till_page.render(store.get("name") or self.agent.config.store.name)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Security-Policy", till_page.CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self._finish(body, "text/html; charset=utf-8")
            return
        found = till_page.static(path.removeprefix("/till/static/")) if path.startswith("/till/static/") else None
        if found is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found", "no such page")
        self.send_response(HTTPStatus.OK)
        self._finish(*found)

    def _finish(self, body: bytes, content_type: str) -> None:
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    # --- endpoints ---------------------------------------------------------------------------

    def _print(self, body: Any) -> None:
        try:
            request = PrintRequest.from_dict(body)
            outcomes = self.agent.spooler.submit(request)
        except DocumentError as exc:
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_document", str(exc), {"field": exc.field}) from exc
        jobs = [o.as_dict() for o in outcomes]
        printed = all(o.job.state == "printed" for o in outcomes)
        # 202: accepted and kept in the ledger, to be printed when the printer is back.
        self._json(HTTPStatus.OK if printed else HTTPStatus.ACCEPTED, {"printed": printed, "jobs": jobs})

    def _events(self, query: dict[str, list[str]]) -> None:
        after = _int_param(query, "after", 0, 0, 1 << 62)
        wait = min(float(_int_param(query, "wait", 0, 0, int(MAX_WAIT_S))), MAX_WAIT_S)
        events = self.agent.events.after(after, wait=wait)
        last = events[-1].seq if events else max(after, 0)
        self._json(HTTPStatus.OK, {"events": [e.as_dict() for e in events], "last": last})

    def _drawer(self, body: Any) -> None:
        name = body.get("printer") if isinstance(body, dict) else None
        candidates = [p for p in self.agent.config.printers if p.cash_drawer]
        if name is not None:
            candidates = [p for p in self.agent.config.printers if p.name == name]
        if not candidates:
            raise ApiError(HTTPStatus.NOT_FOUND, "no_cash_drawer", "no printer with a cash drawer")
        try:
            self.agent.adapters[candidates[0].name].kick_drawer()
        except PrinterError as exc:
            raise ApiError(HTTPStatus.CONFLICT, exc.code, str(exc), exc.as_dict()["details"]) from exc
        self._json(HTTPStatus.OK, {"opened": True, "printer": candidates[0].name})

    def _resolve(self, job_id: int, body: Any) -> None:
        printed = body.get("printed") if isinstance(body, dict) else None
        if not isinstance(printed, bool):
            raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_request", "printed: expected true or false")
        try:
            job = self.agent.spooler.resolve_uncertain(job_id, printed=printed)
        except DocumentError as exc:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found", str(exc)) from exc
        self._json(HTTPStatus.OK, {"job": job.as_dict()})

    # --- plumbing ----------------------------------------------------------------------------

    def _check_host(self) -> None:
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in _LOOPBACK_HOSTS:
            raise ApiError(HTTPStatus.FORBIDDEN, "forbidden_host", "only http://127.0.0.1 is served")

    def _body(self) -> Any:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "json_required", "send application/json")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large", "request body too large")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, "invalid_json", "request body is not valid JSON") from exc

    def _json(self, status: HTTPStatus, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, "invalid_parameter", f"{name}: expected a number") from None
    return max(low, min(high, value))


def make_server(agent: Agent, host: str | None = None, port: int | None = None) -> AgentHTTPServer:
    return AgentHTTPServer((host or agent.config.http_host, agent.config.http_port if port is None else port), agent)
