"""/api/v1/orders, kitchen tickets and table carts (staff); /api/v1/diner/… (diners, by table QR)."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext
from marshmallow import fields, validate

from app.actor import Actor
from app.api import Blueprint, Schema, json_response
from app.auth.guard import current_actor, id_argument, public, require_store, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, scoped, utcnow
from app.errors import NotFound
from app.idempotency import respond_once
from app.orders import access, cart, documents, kitchen, refunds, rush, schemas, settlement, shift, table_moves
from app.orders.kitchen import ItemRequest
from app.orders.models import CartLine, KitchenTicket, Order, OrderLine, TicketStatus
from app.orders.settlement import SettleRequest, TenderRequest
from app.orders.state import OrderStatus
from app.payments import service as payments
from app.payments.refunds import record_refund
from app.payments.schemas import intent_json
from app.tables.models import DiningTable
from app.tables.service import resolve_table_token
from app.tenants.models import Store
from tablerules.tenders import TenderType

blp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Orders, bills, settlement, kitchen tickets")
_ORDER_OUT, _SHIFT_OUT = schemas.OrderOut(), schemas.ShiftOut()  # built once (app.api.Blueprint)

id_argument("order_id", Order)
id_argument("line_id", OrderLine)
id_argument("ticket_id", KitchenTicket)
id_argument("cart_line_id", CartLine)


def _items(data: list[dict]) -> list[ItemRequest]:
    return [ItemRequest(i["dish_id"], i["qty"], tuple(i["option_ids"]), i["note"]) for i in data]


def _store_for_actor(store_id: int) -> Store:
    store = get_scoped_or_404(Store, store_id)
    require_store(store.id)
    return store


# --- orders ----------------------------------------------------------------------------------

@blp.route("/orders", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.OrderCreate)
@blp.alt_response(201, schema=schemas.OrderOut)
def create_order(data):
    """Open an order with its first dishes; they go straight to the kitchen."""

    def work():
        order = kitchen.create_order(_store_for_actor(data["store_id"]), table_code=data["table"],
                                     items=_items(data["items"]), key=data["idempotency_key"],
                                     actor=current_actor(), now=utcnow())
        db.session.flush()
        return _ORDER_OUT.dump(order), 201

    return respond_once("order_create", data["idempotency_key"], data, work)


@blp.route("/orders", methods=["GET"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.OrderQuery, location="query")
@blp.response(200, schemas.OrderList)
def list_orders(query):
    status = OrderStatus[query["status"].upper()] if "status" in query else None
    client_order_id = str(query["client_order_id"]) if "client_order_id" in query else None
    return {"orders": access.list_orders(current_actor(), store_id=query.get("store_id"), status=status,
                                         limit=query["limit"], client_order_id=client_order_id,
                                         before_id=query.get("before_id"))}


@blp.route("/orders/<id:order_id>", methods=["GET"])
@requires(Permission.ORDERS)
@blp.response(200, schemas.OrderOut)
def get_order(order_id):
    return get_scoped_or_404(Order, order_id)


@blp.route("/orders/<id:order_id>/items", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.ItemsAdd)
@blp.alt_response(201, schema=schemas.OrderOut)
def add_items(data, order_id):
    """加菜: more dishes on the same order, straight to the kitchen."""

    def work():
        order = kitchen.add_to_order(order_id, _items(data["items"]), actor=current_actor(), now=utcnow())
        db.session.flush()
        return _ORDER_OUT.dump(order), 201

    return respond_once("order_items", data["idempotency_key"], {"order_id": order_id, **data}, work)


@blp.route("/orders/<id:order_id>/lines/confirm", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.LineIds)
@blp.response(200, schemas.OrderOut)
def confirm_lines(data, order_id):
    """The waiter confirms diner picks (submitted lines); they go to the kitchen."""
    order = kitchen.confirm_order_lines(order_id, data["line_ids"], actor=current_actor(), now=utcnow())
    db.session.commit()
    return order


@blp.route("/orders/<id:order_id>/lines/<id:line_id>/void", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.VoidIn)
@blp.response(200, schemas.OrderOut)
def void_line(data, order_id, line_id):
    """退菜: cancel a line with a reason (audited); the kitchen is told."""
    order = kitchen.void_line(order_id, line_id, reason=data["reason"], actor=current_actor(), now=utcnow())
    db.session.commit()
    return order


@blp.route("/orders/<id:order_id>/cancel", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.VoidIn)
@blp.response(200, schemas.OrderOut)
def cancel_order(data, order_id):
    """撤单: close an open order whose dishes are all voided (409 `order_not_empty` otherwise),
    with a reason (audited); its table is free again."""
    order = settlement.cancel_order(order_id, reason=data["reason"], actor=current_actor(), now=utcnow())
    db.session.commit()
    return order


@blp.route("/orders/<id:order_id>/lines/<id:line_id>", methods=["PATCH"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.LineReduce)
@blp.response(200, schemas.OrderOut)
def reduce_line(data, order_id, line_id):
    """改单: fewer of a dish not served yet, with a reason (audited); the kitchen is told."""
    order = kitchen.reduce_line(order_id, line_id, qty=data["qty"], reason=data["reason"], actor=current_actor(),
                                now=utcnow())
    db.session.commit()
    return order


@blp.route("/orders/<id:order_id>/rush", methods=["POST"])
@requires(Permission.ORDERS)
@blp.alt_response(201, schema=schemas.RushOut)
def rush_order(order_id):
    """催菜: ask the kitchen to hurry the order's dishes not served yet (once in a few minutes)."""
    made = rush.rush_order(order_id, actor=current_actor(), is_diner=False,
                           every_minutes=current_app.config["KITCHEN_RUSH_EVERY_MINUTES"], now=utcnow())
    body = rush.rush_json(made)
    db.session.commit()
    return body, 201


@blp.route("/orders/<id:order_id>/bill", methods=["GET"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.BillQuery, location="query")
@blp.response(200, schemas.BillOut)
def preview_bill(query, order_id):
    """Exactly what settle would charge with the same member, points and coupons."""
    coupon_ids = query["coupon_ids"]
    bill = settlement.preview_bill(order_id, member_id=query["member_id"], points=query["points"],
                                   coupon_ids=coupon_ids, actor=current_actor(), now=utcnow())
    return bill.to_dict()


@blp.route("/orders/<id:order_id>/settle", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.SettleIn)
@blp.alt_response(200, schema=schemas.SettleOut)
def settle(data, order_id):
    """Settle with split tenders; all or nothing, once per idempotency key."""
    actor = current_actor()
    settle_request = SettleRequest(
        member_id=data["member_id"], points=data["points"], coupon_ids=data["coupon_ids"],
        tenders=[TenderRequest(t["type"], t["amount_cents"]) for t in data["tenders"]])
    payload = {"order_id": order_id, **data}
    wechat = next((t for t in data["tenders"] if t["type"] is TenderType.WECHAT), None)
    if wechat is not None:
        return _settle_by_wechat(order_id, settle_request, wechat, data, payload, actor)

    def work():
        order = settlement.settle_order(order_id, settle_request, actor=actor, key=data["idempotency_key"],
                                        now=utcnow())
        return settlement.settle_result(order), 200

    return respond_once("settle", data["idempotency_key"], payload, work)


def _settle_by_wechat(order_id: int, settle_request: SettleRequest, wechat: dict, data: dict, payload: dict,
                      actor: Actor):
    return json_response(*payments.settle_by_wechat(
        order_id, settle_request, wechat, member_id=data["member_id"], points=data["points"],
        coupon_ids=data["coupon_ids"], key=data["idempotency_key"], payload=payload, actor=actor, now=utcnow(),
        answer=lambda order: (settlement.settle_result(order), 200),
        answer_opened=lambda opened: (intent_json(opened), 202)))


@blp.route("/orders/<id:order_id>/refund", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.RefundIn)
@blp.alt_response(200, schema=schemas.RefundOut)
def refund(data, order_id):
    """Refund the whole order, or some of its lines, with a reason (audited). Money WeChat Pay
    collected goes back through WeChat Pay after the refund is recorded."""

    def work():
        lines = None
        if data["lines"] is not None:
            lines = {}
            for line in data["lines"]:
                lines[line["line_id"]] = lines.get(line["line_id"], 0) + line["qty"]
        result = refunds.refund_order(order_id, reason=data["reason"], key=data["idempotency_key"],
                                      actor=current_actor(), now=utcnow(), provider_refund=record_refund,
                                      lines=lines)
        return refunds.refund_result(result), 200

    return respond_once("refund", data["idempotency_key"], {"order_id": order_id, **data}, work)


class RefundQuoteQuery(Schema):
    lines = fields.String(load_default="", validate=validate.Regexp(r"^(\d{1,10}:\d{1,4}(,\d{1,10}:\d{1,4}){0,99})?$"),
                          metadata={"description": "line_id:qty,… (omit for the whole order left)"})


@blp.route("/orders/<id:order_id>/refund-quote", methods=["GET"])
@requires(Permission.MONEY)
@blp.arguments(RefundQuoteQuery, location="query")
@blp.alt_response(200, success=True, schema={"type": "object", "required": ["refund_cents", "lines"]})
def refund_quote(query, order_id):
    """What a refund of these lines would give back (reading only): each billable line with what
    is left of it, and ``refund_cents`` — the amount `POST /orders/{id}/refund` will refund."""
    order = get_scoped_or_404(Order, order_id)
    lines = None
    if query["lines"]:
        lines = {}
        for part in query["lines"].split(","):
            line_id, qty = (int(x) for x in part.split(":"))
            lines[line_id] = lines.get(line_id, 0) + qty
    return json_response(refunds.quote_refund(order.id, actor=current_actor(), lines=lines), 200)


# --- kitchen tickets -------------------------------------------------------------------------

@blp.route("/stores/<id:store_id>/tickets", methods=["GET"])
@requires(Permission.KITCHEN, devices=True)
@blp.arguments(schemas.TicketQuery, location="query")
@blp.response(200, schemas.TicketList)
def list_tickets(query, store_id):
    store = _store_for_actor(store_id)
    stmt = scoped(KitchenTicket).where(KitchenTicket.store_id == store.id,
                                       KitchenTicket.status == TicketStatus[query["status"].upper()])
    if "station" in query:
        stmt = stmt.where(KitchenTicket.station == query["station"])
    return {"tickets": [documents.ticket_json(t) for t in db.session.scalars(stmt.order_by(KitchenTicket.id))]}


def _ticket_action(ticket_id: int, bumped: bool):
    ticket = kitchen.set_ticket(ticket_id, bumped=bumped, actor=current_actor(), now=utcnow())
    db.session.commit()
    return documents.ticket_json(ticket)


@blp.route("/tickets/<id:ticket_id>/bump", methods=["POST"])
@requires(Permission.KITCHEN, devices=True)
@blp.response(200, schemas.TicketOut)
def bump_ticket(ticket_id):
    """The ticket is done."""
    return _ticket_action(ticket_id, bumped=True)


@blp.route("/tickets/<id:ticket_id>/recall", methods=["POST"])
@requires(Permission.KITCHEN, devices=True)
@blp.response(200, schemas.TicketOut)
def recall_ticket(ticket_id):
    """Bring a bumped ticket back to the screen."""
    return _ticket_action(ticket_id, bumped=False)


# --- the shared table cart: staff side --------------------------------------------------------

def _table(table_id: int) -> DiningTable:
    table = get_scoped_or_404(DiningTable, table_id)
    _store_for_actor(table.store_id)
    return table


def _item(data: dict) -> ItemRequest:
    return ItemRequest(data["dish_id"], data["qty"], tuple(data["option_ids"]), data["note"])


@blp.route("/tables/<id:table_id>/cart", methods=["GET"])
@requires(Permission.ORDERS)
@blp.response(200, schemas.CartOut)
def staff_cart(table_id):
    return cart.cart_of(_table(table_id))


@blp.route("/tables/<id:table_id>/cart/lines", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.CartAdd)
@blp.response(201, schemas.CartOut)
def staff_cart_add(data, table_id):
    table, actor = _table(table_id), current_actor()
    cart.add_to_cart(table, _item(data), added_by=data["diner"] or actor.name, actor=actor, now=utcnow())
    body = cart.cart_of(table)
    db.session.commit()
    return body


@blp.route("/tables/<id:table_id>/cart/lines/<id:cart_line_id>", methods=["PATCH"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.CartChange)
@blp.response(200, schemas.CartOut)
def staff_cart_change(data, table_id, cart_line_id):
    table = _table(table_id)
    cart.change_cart_line(table, cart_line_id, qty=data["qty"], expected_version=data["version"],
                          actor=current_actor(), now=utcnow())
    body = cart.cart_of(table)
    db.session.commit()
    return body


@blp.route("/tables/<id:table_id>/cart/send", methods=["POST"])
@requires(Permission.ORDERS)
@blp.response(200, schemas.OrderOut)
def staff_cart_send(table_id):
    order = cart.send_cart(_table(table_id), actor=current_actor(), now=utcnow())
    db.session.commit()
    return order


# --- 转台 and 并台: a table's open order to another table --------------------------------------

@blp.route("/tables/<id:table_id>/move", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.TableMoveIn)
@blp.alt_response(200, schema=schemas.OrderOut)
def move_table(data, table_id):
    """转台: the table's open order and its diners' cart to a free table of the same store; the
    kitchen's tickets take the new table code (nothing is cooked twice)."""
    table = _table(table_id)

    def work():
        order = table_moves.move_to_table(table, data["to_table_id"], actor=current_actor(), now=utcnow())
        db.session.flush()
        return _ORDER_OUT.dump(order), 200

    return respond_once("table_move", data["idempotency_key"], {"table_id": table_id, **data}, work)


@blp.route("/tables/<id:table_id>/merge", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.TableMergeIn)
@blp.alt_response(200, schema=schemas.OrderOut)
def merge_table(data, table_id):
    """并台: the table's open order joins the other table's open order (one bill); this table is free."""
    table = _table(table_id)

    def work():
        order = table_moves.merge_into_table(table, data["into_table_id"], actor=current_actor(), now=utcnow())
        db.session.flush()
        return _ORDER_OUT.dump(order), 200

    return respond_once("table_merge", data["idempotency_key"], {"table_id": table_id, **data}, work)


# --- the shared table cart: diners, identified by the signed table QR -------------------------

def _diner_table(token: str) -> tuple[DiningTable, Actor]:
    table = resolve_table_token(token)
    if table is None or not table.is_active:
        raise NotFound("table", gettext("This table code is not valid any more; please scan the code on the table."))
    return table, Actor.diner(table.merchant_id, ip=request.remote_addr)


@blp.route("/diner/tables/<token>/cart", methods=["GET"])
@public
@blp.response(200, schemas.CartOut)
def diner_cart(token):
    table, _actor = _diner_table(token)
    return cart.cart_of(table)


@blp.route("/diner/tables/<token>/cart/lines", methods=["POST"])
@public
@blp.arguments(schemas.CartAdd)
@blp.response(201, schemas.CartOut)
def diner_cart_add(data, token):
    table, actor = _diner_table(token)
    cart.add_to_cart(table, _item(data), added_by=data["diner"] or gettext("Diner"), actor=actor, now=utcnow())
    body = cart.cart_of(table)
    db.session.commit()
    return body


@blp.route("/diner/tables/<token>/cart/lines/<id:line>", methods=["PATCH"])
@public
@blp.arguments(schemas.CartChange)
@blp.response(200, schemas.CartOut)
def diner_cart_change(data, token, line):
    table, actor = _diner_table(token)
    cart.change_cart_line(table, line, qty=data["qty"], expected_version=data["version"], actor=actor, now=utcnow())
    body = cart.cart_of(table)
    db.session.commit()
    return body


@blp.route("/diner/tables/<token>/cart/send", methods=["POST"])
@public
@blp.response(200, schemas.CartOut)
def diner_cart_send(token):
    table, actor = _diner_table(token)
    cart.send_cart(table, actor=actor, now=utcnow())
    body = cart.cart_of(table)
    db.session.commit()
    return body


# --- the cashier's shift ---------------------------------------------------------------------

@blp.route("/shifts/current", methods=["GET"])
@requires(Permission.MONEY)
@blp.arguments(schemas.ShiftQuery, location="query")
@blp.response(200, schemas.ShiftOut)
def current_shift(query):
    """The calling cashier's shift so far: sales, refunds, top-ups by tender and the expected cash."""
    now = shift.current_shift(current_actor(), opening_float_cents=query["opening_float_cents"], now=utcnow())
    return {"store_id": now.store_id, "staff_id": now.staff_id, "opened_at": now.opened_at, "closed_at": None,
            "summary": now.summary, "counted_cash_cents": None, "difference_cents": None}


@blp.route("/shifts/close", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.ShiftCloseIn)
@blp.alt_response(201, schema=schemas.ShiftOut)
def close_shift(data):
    """Close the shift with the counted cash; prints the summary at the till."""

    def work():
        closing = shift.close_shift(current_actor(), opening_float_cents=data["opening_float_cents"],
                                    counted_cash_cents=data["counted_cash_cents"], now=utcnow())
        return _SHIFT_OUT.dump(closing), 201

    return respond_once("shift_close", data["idempotency_key"], data, work)
