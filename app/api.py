"""flask-smorest `Api` with our error shape and strict input types."""

from __future__ import annotations

import flask_smorest
from flask import Response, current_app, jsonify
from marshmallow import Schema as _Schema
from marshmallow import ValidationError, fields, pre_load, validate

from app.errors import error_response

MAX_CENTS = 10**12  # ten billion yuan: far above any bill, far below BIGINT overflow


class Api(flask_smorest.Api):
    def handle_http_exception(self, error):  # type: ignore[override]
        return error_response(error)


class Schema(_Schema):
    """Base schema: unknown fields are refused (marshmallow's default RAISE), values bounded."""

    @pre_load
    def _refuse_nul_characters(self, data, **kwargs):
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
        if isinstance(data, dict):
            bad = {key: ["Must not contain NUL characters."] for key, value in data.items()
                   if isinstance(value, str) and "\x00" in value}
            if bad:
                raise ValidationError(bad)
        return data


def Cents(**kwargs) -> fields.Integer:
    """An amount in fen; strict integers only (no 12.5, no "12")."""
    kwargs.setdefault("validate", validate.Range(min=-MAX_CENTS, max=MAX_CENTS))
    return fields.Integer(strict=True, **kwargs)


def PositiveCents(**kwargs) -> fields.Integer:
    return Cents(validate=validate.Range(min=1, max=MAX_CENTS), **kwargs)


def NonNegativeCents(**kwargs) -> fields.Integer:
    return Cents(validate=validate.Range(min=0, max=MAX_CENTS), **kwargs)


def Id(**kwargs) -> fields.Integer:
    """A row id as sent by a client: a positive 32-bit integer."""
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1), **kwargs)


def max_id() -> int:
    return current_app.config["MAX_ID"]


class Text(fields.String):
    """A name as typed by a person: surrounding spaces dropped, blank refused."""

    def __init__(self, max_length: int, *, allow_blank: bool = False, **kwargs) -> None:
        self.allow_blank = allow_blank
        super().__init__(validate=validate.Length(max=max_length), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text and not self.allow_blank:
            raise ValidationError("Must not be blank.")
        return text


class Flag(fields.Boolean):
    """A JSON true or false; nothing else (no 1, no "yes")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def QueryId(**kwargs) -> fields.Integer:
    """A row id in a query string (text there, so not strict)."""
    return fields.Integer(validate=validate.Range(min=1, max=2**31 - 1), **kwargs)


def json_response(body: dict, status: int) -> Response:
    """A JSON answer with its own status, for views that choose it (replays, 202 pending)."""
    response = jsonify(body)
    response.status_code = status
    return response
