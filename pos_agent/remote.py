"""The agent's one way to the server: JSON over HTTP(S) with the device token, standard library only.

Every call either answers, or fails in one of two ways the callers treat differently:

- ``Unreachable``: the server could not be asked or could not answer (no route, refused
  connection, timeout, a 5xx, a body that is not JSON). The store is offline for this call;
  what was meant to reach the server stays queued and is tried again later.
- ``Refused``: the server answered with a 4xx and its error body. Retrying the same request
  will not help; the caller records the refusal.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

DEFAULT_TIMEOUT_S = 10.0
USER_AGENT = "TableLoopAgent/0.1"


class Unreachable(Exception):
    """The server could not be reached or did not answer properly; try again later."""


@dataclass
class Refused(Exception):
    """The server answered 4xx: the request itself was refused."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class ServerClient:
    """A small JSON client bound to one server and one device token. Safe to share between threads:
    each call opens its own connection."""

    def __init__(self, server_url: str, device_token: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        parts = urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"server_url must be an http(s) URL, got {server_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.token = device_token
        self.timeout_s = timeout_s

    def connection(self, timeout_s: float | None = None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=self.timeout_s if timeout_s is None else timeout_s)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", "User-Agent": USER_AGENT}
        headers.update(extra or {})
        return headers

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        return self.prefix + path + ("?" + urlencode(query) if query else "")

    def get(self, path: str, query: dict[str, Any] | None = None, *, timeout_s: float | None = None) -> Any:
        return self.request("GET", path, query=query, timeout_s=timeout_s)

    def post(self, path: str, body: Any, *, headers: dict[str, str] | None = None,
             timeout_s: float | None = None) -> Any:
        return self.request("POST", path, body=body, headers=headers, timeout_s=timeout_s)

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                headers: dict[str, str] | None = None, timeout_s: float | None = None) -> Any:
        """The decoded JSON answer of a 2xx (None for an empty body); ``Refused`` for a 4xx;
        ``Unreachable`` for everything else."""
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        extra = dict(headers or {})
        if payload is not None:
            extra["Content-Type"] = "application/json"
        conn = self.connection(timeout_s)
        try:
            conn.request(method, self.url(path, query), body=payload, headers=self.headers(extra))
            response = conn.getresponse()
            raw = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(f"{method} {path}: {exc}") from exc
        finally:
            conn.close()
        if status >= 500 or status < 200 or 300 <= status < 400:
            raise Unreachable(f"{method} {path}: HTTP {status}")
        try:
            answer = json.loads(raw) if raw else None
        except ValueError as exc:
            if status < 300:
                raise Unreachable(f"{method} {path}: answer is not JSON") from exc
            answer = None
        if status >= 400:
            error = answer.get("error") if isinstance(answer, dict) else None
            error = error if isinstance(error, dict) else {}
            raise Refused(status, str(error.get("code") or f"http_{status}"),
                          str(error.get("message") or f"HTTP {status}"),
                          error.get("details") if isinstance(error.get("details"), dict) else {})
        return answer
