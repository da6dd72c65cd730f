"""The diner's phone at a table, behind the table's signed QR link `/t/<token>`: the menu, the
table's shared cart (live on every phone at the table), sending it, the order's state per dish
and calling the waiter.

The token is the only key: it names one table of one merchant, and every answer here is about
that table alone — another table's line, another merchant's dish: 404. The diner is who WeChat
says (their nickname is shown beside their picks); a merchant without a WeChat account gets a
per-browser "diner N" instead. The JSON calls need the page's CSRF token in `X-CSRFToken`.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, current_app, render_template, request, session
from flask_babel import gettext
from marshmallow import ValidationError, fields, validate
from werkzeug.exceptions import HTTPException

from app.actor import Actor
from app.api import Schema
from app.db import begin_write, db, utcnow
from app.diner import service
from app.errors import APIError, NotFound, Unauthorized, Unprocessable
from app.events.service import last_seq
from app.orders import cart
from app.orders.kitchen import ItemRequest
from app.orders.schemas import ItemIn
from app.tables.models import DiningTable
from app.tables.pages import localized
from app.tables.service import resolve_table_token
from app.wechat import notify
from app.wechat.pages import diner_at_table, diner_member, diner_nickname, diner_openid

bp = Blueprint("diner", __name__)

_GUEST = "diner_guest_no"  # a merchant without WeChat: "diner 37" for this browser
MAX_ID = 2**31 - 1


class TablePageError(APIError):
    """A stale or wrong table link: a friendly page asking to scan the table's code again."""


@bp.errorhandler(HTTPException)
def _answer_error(error: HTTPException):
    if request.endpoint == "diner.menu":
        status = error.code or 400
        return render_template("diner/message.html", message=error.description, scan_again=status == 404), status
    db.session.rollback()
    return _json_error(error)


def _json_error(error: HTTPException):
    # The phone's calls answer JSON whatever they accept (a CSRF refusal included).
    status = error.code or 400
    code = error.error_code if isinstance(error, APIError) else {
        400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        status, "http_error")
    message = str(error.description) if isinstance(error, APIError) else (
        gettext("This page has expired; please reload it.") if "CSRF" in str(error.description)
        else str(error.description or ""))
    if "CSRF" in str(error.description):
        code = "csrf_failed"
    details = error.details if isinstance(error, APIError) else {}
    return {"error": {"code": code, "message": message, "details": details}}, status


def _table(token: str) -> DiningTable:
    table = resolve_table_token(token)
    if table is None:
        raise TablePageError(gettext("This table code is not valid any more. Please scan the QR code on your table."),
                             error_code="table_not_found", status=404)
    return table


def _diner_name(table: DiningTable) -> str:
    """Who the diner is, as the table's other phones see it: their WeChat nickname."""
    nickname = diner_nickname(table.merchant_id)
    if nickname:
        return nickname
    if not isinstance(session.get(_GUEST), int):
        session[_GUEST] = secrets.randbelow(90) + 10
    return gettext("Diner %(number)s", number=session[_GUEST])


def _signed_in(table: DiningTable) -> None:
    """The JSON calls: where the merchant has WeChat, the diner must have signed in through it."""
    if notify.settings_for(table.merchant_id) is not None and diner_openid(table.merchant_id) is None:
        raise Unauthorized(gettext("Please scan the QR code on your table again."), error_code="not_signed_in")


def _body(schema: Schema) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise APIError(gettext("The body is not valid JSON."), error_code="malformed_json", status=400)
    try:
        return schema.load(body)
    except ValidationError as error:
        raise Unprocessable(details={"fields": error.messages}) from None


def _start_writing() -> None:
    db.session.commit()
    begin_write()


def _photo_url(token: str):
    def photo(dish) -> str:
        if dish.image_url:
            return dish.image_url
        return f"/t/{token}/photos/{dish.id}.svg"
    return photo


# --- the menu page -----------------------------------------------------------------------------------

@bp.route("/t/<token>")
def menu(token: str):
    """Where a table's QR code leads: the menu, the table's cart and its order."""
    table = _table(token)
    sign_in = diner_at_table(table)  # through WeChat first, where the merchant has an account
    if sign_in is not None:
        return sign_in
    member = diner_member(table)
    sections = service.menu_for(table, member, _photo_url(token))
    view = service.table_view(table)
    has_wechat = diner_openid(table.merchant_id) is not None
    dishes = [{"id": d.id, "name": localized(d.name, d.name_en), "price": d.price_cents,
               "member_price": d.member_price_cents, "groups": [
                   {"id": g["id"], "name": localized(g["name"], g["name_en"]), "required": g["required"],
                    "max": g["max"], "choices": [{"id": c["id"], "name": localized(c["name"], c["name_en"]),
                                                  "delta": c["delta"]} for c in g["choices"]]}
                   for g in d.option_groups]}
              for section in sections for d in section["dishes"] if not d.is_sold_out]
    body = render_template("diner/menu.html", table=table, store=table.store, token=token, sections=sections,
                           member=member, me=_diner_name(table), view=view, has_wechat=has_wechat,
                           dishes_json=dishes)
    return body, 200, {"Cache-Control": "no-store"}


@bp.route("/t/<token>/photos/<int:dish_id>.svg")
def photo(token: str, dish_id: int):
    """A dish's drawn demo photo (dishes with a photo of their own link to it instead)."""
    table = _table(token)
    dish = service.dish_of_table(table, dish_id) if 1 <= dish_id <= MAX_ID else None
    if dish is None:
        raise NotFound("dish")
    return Response(service.demo_photo_svg(dish), mimetype="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400"})


# --- the table's cart and order (JSON) --------------------------------------------------------------

class AddIn(ItemIn):
    pass


class ChangeIn(Schema):
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=99))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))


def _view(table: DiningTable, **extra) -> dict:
    seen = request.args.get("order", "")
    seen_order = int(seen) if seen.isdigit() and 1 <= int(seen) <= MAX_ID else None
    return {**service.table_view(table, seen_order), "me": _diner_name(table), **extra}


@bp.route("/t/<token>/cart.json")
def cart_json(token: str):
    """The table's cart and order as every phone at the table shows them."""
    table = _table(token)
    body = _view(table)
    db.session.commit()
    return body, 200, {"Cache-Control": "no-store"}


@bp.route("/t/<token>/cart/lines", methods=["POST"])
def add(token: str):
    """Add a pick (dish, quantity, options) under the diner's name."""
    table = _table(token)
    _signed_in(table)
    data = _body(AddIn())
    name = _diner_name(table)
    _start_writing()
    cart.add_to_cart(table, ItemRequest(data["dish_id"], data["qty"], tuple(data["option_ids"]), data["note"]),
                     added_by=name, actor=Actor.diner(table.merchant_id, name, ip=request.remote_addr), now=utcnow())
    db.session.commit()
    return _view(table), 201


@bp.route("/t/<token>/cart/lines/<int:line_id>", methods=["PATCH"])
def change(token: str, line_id: int):
    """Change a pick's quantity (0 removes it). `version` is the line's as the phone saw it: a
    stale one answers 409 with the fresh cart, so the phone shows what the table has now."""
    table = _table(token)
    _signed_in(table)
    data = _body(ChangeIn())
    if not 1 <= line_id <= MAX_ID:
        raise NotFound("cart_line")
    _start_writing()
    try:
        cart.change_cart_line(table, line_id, qty=data["qty"], expected_version=data["version"],
                              actor=Actor.diner(table.merchant_id, ip=request.remote_addr), now=utcnow())
    except APIError as error:
        db.session.rollback()
        if error.code != 409:
            raise
        body, status = _json_error(error)
        body["cart"] = _view(table)
        return body, status
    db.session.commit()
    return _view(table)


@bp.route("/t/<token>/cart/send", methods=["POST"])
def send(token: str):
    """Send the table's picks: to the kitchen, or to the waiter first (the store's setting)."""
    table = _table(token)
    _signed_in(table)
    _start_writing()
    order = cart.send_cart(table, actor=Actor.diner(table.merchant_id, _diner_name(table), ip=request.remote_addr),
                           now=utcnow())
    waits = any(line.status.label == "submitted" for line in order.lines)
    db.session.commit()
    return _view(table, sent={"order_id": order.id, "needs_confirmation": waits})


@bp.route("/t/<token>/call-waiter", methods=["POST"])
def call_waiter(token: str):
    """Ask for the waiter: the staff screens show the table (the store event log)."""
    table = _table(token)
    _signed_in(table)
    _start_writing()
    service.call_waiter(table, diner=_diner_name(table), now=utcnow())
    db.session.commit()
    return {"called": True, "table": table.code}


@bp.route("/t/<token>/stream")
def stream(token: str):
    """The table's live news (Server-Sent Events): `cart`, `order` and `waiter`, each with the
    store log's cursor as its id; a reconnect resumes from Last-Event-ID."""
    table = _table(token)
    last_id = request.headers.get("Last-Event-ID", "") or request.args.get("after", "")
    cursor = int(last_id) if last_id.isdigit() and len(last_id) < 19 else None
    if cursor is None:
        cursor = last_seq(table.store_id)
    app = current_app._get_current_object()
    messages = service.table_stream(app, table, cursor)
    db.session.remove()  # the stream must not hold this request's connection
    response = Response(messages, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
