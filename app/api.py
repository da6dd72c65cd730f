"""flask-smorest `Api` with our error shape and strict input types."""

from __future__ import annotations

import re
from collections.abc import Mapping

import flask_smorest
from flask import Response, current_app, jsonify, request
from marshmallow import Schema as _Schema
from marshmallow import ValidationError, fields, pre_load, validate

from app.errors import Unprocessable, error_response

MAX_CENTS = 10**12  # ten billion yuan: far above any bill, far below BIGINT overflow
ID_MAX = 2**31 - 1  # ids are INTEGER columns on PostgreSQL


# Characters no text of ours may hold: C0 controls, DEL, C1 controls and the non-characters
# U+FFFE/U+FFFF. PostgreSQL text cannot store NUL at all; the rest corrupt receipts, XML bodies
# for WeChat and CSV exports. Tab and line breaks are allowed only in multi-line text.
_NEVER = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff"
BAD_CHARACTERS = re.compile(f"[{_NEVER}\t\n\r]")
BAD_IN_MULTILINE = re.compile(f"[{_NEVER}]")
CONTROL_MESSAGE = "Must not contain control characters."


class ErrorBodySchema(_Schema):
    code = fields.String(required=True, metadata={"description": "A stable snake_case code"})
    message = fields.String(required=True, metadata={"description": "For people, in the caller's language"})
    details = fields.Dict(required=True, metadata={"description": "e.g. `fields`: the messages of each bad field"})


class ErrorSchema(_Schema):
    """Every error answer, 4xx and 5xx (app.errors.error_response)."""

    error = fields.Nested(ErrorBodySchema, required=True)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with each argument schema built once: given a class, webargs
    builds a new instance on every request, and a schema's construction (a deep copy of its
    declared fields) costs more than loading a small body. Schemas keep no per-call state, so
    one instance serves every request and thread."""

    def arguments(self, schema, *args, **kwargs):  # type: ignore[override]
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema  # documented as "Error" for every error answer

    def handle_http_exception(self, error):  # type: ignore[override]
        return error_response(error)


def _has_bad_characters(value, pattern: re.Pattern) -> bool:
    """True if a string anywhere in `value` (list items, object keys and values) holds one."""
    if isinstance(value, str):
        return pattern.search(value) is not None
    if isinstance(value, Mapping):
        return any(_has_bad_characters(k, pattern) or _has_bad_characters(v, pattern) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_bad_characters(item, pattern) for item in value)
    return False


class Schema(_Schema):
    """Base schema: unknown fields are refused (marshmallow's default RAISE), values bounded,
    control characters refused in every string (a field with `metadata={"multiline": True}`
    may hold tabs and line breaks)."""

    @pre_load
    def _refuse_control_characters(self, data, **kwargs):
        if not isinstance(data, Mapping):
            return data
        bad = {}
        by_key = {field.data_key or name: field for name, field in self.load_fields.items()}
        for name in data:
            field = by_key.get(name)
            inner = getattr(field, "inner", field)
            if isinstance(inner, fields.Nested):
                continue  # the nested schema checks its own fields
            multiline = field is not None and field.metadata.get("multiline", False)
            pattern = BAD_IN_MULTILINE if multiline else BAD_CHARACTERS
            if _has_bad_characters(name, BAD_CHARACTERS) or _has_bad_characters(data[name], pattern):
                bad[name] = [CONTROL_MESSAGE]
        if bad:
            raise ValidationError(bad)
        return data


def refuse_control_characters_in_urls() -> None:
    """Before every request: no control character in a query string or a path argument, on
    the API and on pages alike (a query argument no schema declares included)."""
    bad = {name: [CONTROL_MESSAGE] for name, values in request.args.lists()
           if _has_bad_characters(name, BAD_CHARACTERS) or _has_bad_characters(values, BAD_CHARACTERS)}
    bad.update({name: [CONTROL_MESSAGE] for name, value in (request.view_args or {}).items()
                if _has_bad_characters(value, BAD_CHARACTERS)})
    if bad:
        raise Unprocessable(details={"fields": bad})


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
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=ID_MAX), **kwargs)


def max_id() -> int:
    return current_app.config["MAX_ID"]


class Text(fields.String):
    """A name as typed by a person: surrounding spaces dropped, blank refused."""

    def __init__(self, max_length: int, *, allow_blank: bool = False, **kwargs) -> None:
        self.allow_blank = allow_blank
        if not allow_blank:  # documented, so that clients (and the API fuzzing) know
            metadata = kwargs.setdefault("metadata", {})
            metadata.setdefault("minLength", 1)
            metadata.setdefault("pattern", r"\S")
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
    return fields.Integer(validate=validate.Range(min=1, max=ID_MAX), **kwargs)


class QueryIdList(fields.String):
    """Row ids in a query string, comma-separated ("3,7"); each one a positive 32-bit integer,
    as the same ids in a JSON body. Loads as a list of ints (empty for "")."""

    def __init__(self, *, max_items: int = 10, **kwargs) -> None:
        self.max_items = max_items
        metadata = kwargs.setdefault("metadata", {})
        metadata.setdefault("description", f"comma-separated ids (at most {max_items}), each 1..{ID_MAX}")
        metadata.setdefault("pattern", f"^([0-9]{{1,10}}(,[0-9]{{1,10}}){{0,{max_items - 1}}})?$")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> list[int]:  # type: ignore[override]
        value = super()._deserialize(value, attr, data, **kwargs)
        parts = [part.strip() for part in value.split(",")] if value.strip() else []
        if len(parts) > self.max_items:
            raise ValidationError(f"At most {self.max_items} ids.")
        ids = []
        for part in parts:
            if not (part.isascii() and part.isdigit() and len(part) <= 10 and 1 <= int(part) <= ID_MAX):
                raise ValidationError(f"Each id must be a whole number from 1 to {ID_MAX}.")
            ids.append(int(part))
        return ids


def json_response(body: dict, status: int) -> Response:
    """A JSON answer with its own status, for views that choose it (replays, 202 pending)."""
    response = jsonify(body)
    response.status_code = status
    return response
