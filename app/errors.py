"""One error shape for every 4xx: {"error": {"code", "message", "details"}}.

Domain code raises `APIError` subclasses; flask-smorest's and werkzeug's own HTTP errors are
translated by `error_response()`. Pages get the same message rendered in HTML.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, jsonify, render_template, request
from flask_babel import gettext, lazy_gettext
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

_DEFAULT_CODES: dict[int, tuple[str, Any]] = {
    400: ("bad_request", lazy_gettext("The request could not be understood.")),
    401: ("unauthorized", lazy_gettext("Please log in first.")),
    403: ("forbidden", lazy_gettext("Your role is not allowed to do this.")),
    404: ("not_found", lazy_gettext("Not found.")),
    405: ("method_not_allowed", lazy_gettext("This method is not allowed here.")),
    409: ("conflict", lazy_gettext("This conflicts with the current state.")),
    413: ("payload_too_large", lazy_gettext("The request body is too large.")),
    415: ("unsupported_media_type", lazy_gettext("Send the body as JSON.")),
    422: ("validation_error", lazy_gettext("Some fields are not valid.")),
    429: ("too_many_requests", lazy_gettext("Too many requests, please wait a moment.")),
    500: ("internal_error", lazy_gettext("Something went wrong on our side.")),
}


class APIError(HTTPException):
    """A domain error with a stable snake_case code."""

    code = 400
    error_code = "bad_request"

    def __init__(self, message: str | None = None, *, error_code: str | None = None,
                 details: dict | None = None, status: int | None = None) -> None:
        if status is not None:
            self.code = status
        if error_code is not None:
            self.error_code = error_code
        default = _DEFAULT_CODES.get(self.code or 400, ("", ""))[1]
        super().__init__(description=message or str(default))
        self.details = details or {}


class NotFound(APIError):
    code = 404
    error_code = "not_found"

    def __init__(self, what: str | None = None, message: str | None = None) -> None:
        super().__init__(message or gettext("Not found."), details={"object": what} if what else None)


class Conflict(APIError):
    code = 409
    error_code = "conflict"


class Unprocessable(APIError):
    code = 422
    error_code = "validation_error"


class Unauthorized(APIError):
    code = 401
    error_code = "unauthorized"


class Forbidden(APIError):
    code = 403
    error_code = "forbidden"


def _describe(error: HTTPException) -> tuple[int, str, str, dict]:
    status = error.code or 500
    if isinstance(error, APIError):
        return status, error.error_code, str(error.description), error.details
    code, message = _DEFAULT_CODES.get(status, ("http_error", error.description or ""))
    details: dict = {}
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        # webargs puts errors under the location ("json", "query", ...).
        if status == 400 and messages.get("json") == ["Invalid JSON body."]:
            code, message = "malformed_json", gettext("The body is not valid JSON.")
        else:
            # One location (the body, or the query string): its fields, as for a body.
            details = {"fields": next(iter(messages.values())) if len(messages) == 1 else messages}
    return status, code, str(message), details


def wants_json() -> bool:
    return request.path.startswith("/api") or request.accept_mimetypes.best == "application/json"


def _roll_back() -> None:
    """A failed request keeps nothing it has not committed, and the answer itself may need the
    session (the caller's locale): after a failed flush only a rollback makes it usable again."""
    db = current_app.extensions.get("sqlalchemy")  # not imported: the extensions import this module
    if db is None:
        return
    try:
        db.session.rollback()
    except Exception:  # a dead connection: the answer must still go out
        log.exception("rollback failed while answering an error")


def error_response(error: HTTPException) -> Response | tuple[str, int]:
    _roll_back()
    status, code, message, details = _describe(error)
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message, "details": details}})
        response.status_code = status
        for name, value in error.get_headers():
            if name.lower() not in {"content-type", "content-length"}:
                response.headers[name] = value
        return response
    return render_template("error.html", status=status, code=code, message=message), status


def internal_error_response(error: Exception) -> Response | tuple[str, int]:
    _roll_back()
    try:
        return error_response(APIError(status=500, error_code="internal_error"))
    except Exception:  # the error page failed too: answer plainly, never with the server's HTML
        log.exception("the error handler failed")
        message = "Something went wrong on our side."  # untranslated: the translation may be what failed
        if wants_json():
            response = jsonify({"error": {"code": "internal_error", "message": message, "details": {}}})
            response.status_code = 500
            return response
        return Response(message, status=500, mimetype="text/plain")
