"""What the local API answers when it cannot do what the till asked: the server's error shape."""

from __future__ import annotations

from typing import Any


class TillError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def needs_server(what_zh: str, what_en: str) -> TillError:
    """409 ``needs_server``: what only the server can do, asked while it cannot be reached."""
    return TillError(409, "needs_server", f"{what_zh}需要联网，请稍后再试 / {what_en} needs the server, which cannot "
                     "be reached now", {})
