"""/api/v1/orders, kitchen tickets and table carts (staff); /api/v1/diner/… (diners, by table QR)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g
from flask_babel import gettext
from flask_smorest import Blueprint

from app.api import json_response
from app.auth.guard import id_argument, public, require_store, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, scoped, utcnow
from app.errors import NotFound, Unprocessable
from app.events.models import EventKind
from app.events.service import append as append_event
from app.idempotency import respond_once
from app.members.ledger import lock_member
from app.members.models import Member
from app.orders import documents, schemas, service, shift
from app.orders.models import CartLine, KitchenTicket, Order, OrderLine, TicketStatus
from app.orders.state import OrderStatus
from app.payments import service as payments
from app.payments.models import TradeType
from app.payments.schemas import intent_json
from app.tables.models import DiningTable
from app.tables.service import resolve_table_token
from app.tenants.models import Store

blp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Orders, bills, settlement, kitchen tickets")

id_argument("order_id", Order)
id_argument("line_id", OrderLine)
id_argument("ticket_id", KitchenTicket)
id_argument("cart_line_id", CartLine)



def _items(data: list[dict]) -> list[service.ItemRequest]:
    return [service.ItemRequest(i["dish_id"], i["qty"], tuple(i["option_ids"]), i["note"]) for i in data]


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
        store = _store_for_actor(data["store_id"])
        table = None
        if data["table"]:
            table = db.session.scalar(scoped(DiningTable).where(DiningTable.store_id == store.id,
                                                                DiningTable.code == data["table"]))
            if table is None:
                raise Unprocessable(gettext("This store has no such table."), error_code="unknown_table")
        order = service.create_order(store, table=table, items=_items(data["items"]), key=data["idempotency_key"])
        db.session.flush()
        return schemas.OrderOut().dump(order), 201

    return respond_once("order_create", data["idempotency_key"], data, work)


@blp.route("/orders", methods=["GET"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.OrderQuery, location="query")
@blp.response(200, schemas.OrderList)
def list_orders(query):
    stmt = scoped(Order).order_by(Order.id.desc()).limit(query["limit"])
    store_id = query.get("store_id") or getattr(g.staff, "store_id", None)
    if store_id:
        stmt = stmt.where(Order.store_id == store_id)
    if "status" in query:
        stmt = stmt.where(Order.status == OrderStatus[query["status"].upper()])
    return {"orders": db.session.scalars(stmt).all()}


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
        order = service.lock_order(order_id)
        service.add_items(order, _items(data["items"]), added_by=service._actor_label(), confirm=True)
        db.session.flush()
        return schemas.OrderOut().dump(order), 201

    return respond_once("order_items", data["idempotency_key"], {"order_id": order_id, **data}, work)


@blp.route("/orders/<id:order_id>/lines/confirm", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.LineIds)
@blp.response(200, schemas.OrderOut)
def confirm_lines(data, order_id):
    """The waiter confirms diner picks (submitted lines); they go to the kitchen."""
    order = service.lock_order(order_id)
    service._require_open(order)
    wanted = set(data["line_ids"])
    lines = [line for line in order.lines if line.id in wanted]
    if len(lines) != len(wanted):
        raise NotFound("order_line")
    service.confirm_lines(order, lines)
    db.session.commit()
    return order


@blp.route("/orders/<id:order_id>/lines/<id:line_id>/void", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.VoidIn)
@blp.response(200, schemas.OrderOut)
def void_line(data, order_id, line_id):
    """退菜: cancel a line with a reason (audited); the kitchen is told."""
    order = service.lock_order(order_id)
    service.void_line(order, line_id, data["reason"])
    db.session.commit()
    return order


@blp.route("/orders/<id:order_id>/bill", methods=["GET"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.BillQuery, location="query")
@blp.response(200, schemas.BillOut)
def preview_bill(query, order_id):
    """Exactly what settle would charge with the same member, points and coupons."""
    order = get_scoped_or_404(Order, order_id)
    member = get_scoped_or_404(Member, query["member_id"]) if query["member_id"] else None
    coupon_ids = [int(c) for c in query["coupon_ids"].split(",") if c]
    bill = service.price_order(order, member=member, points=query["points"], coupon_ids=coupon_ids, now=utcnow(),
                               lock=False)
    return bill.to_dict()


@blp.route("/orders/<id:order_id>/settle", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.SettleIn)
@blp.alt_response(200, schema=schemas.SettleOut)
def settle(data, order_id):
    """Settle with split tenders; all or nothing, once per idempotency key."""

    request = service.SettleRequest(
        member_id=data["member_id"], points=data["points"], coupon_ids=data["coupon_ids"],
        tenders=[service.TenderRequest(t["type"], t["amount_cents"]) for t in data["tenders"]])
    payload = {"order_id": order_id, **data}
    wechat = next((t for t in data["tenders"] if t["type"] == "wechat"), None)
    if wechat is not None:
        return _settle_by_wechat(order_id, request, wechat, data, payload)

    def work():
        if data["member_id"] is not None:
            lock_member(data["member_id"])  # 404 for another merchant's member before anything else
        order = service.settle_order(order_id, request, key=data["idempotency_key"], now=utcnow())
        return service.settle_result(order), 200

    return respond_once("settle", data["idempotency_key"], payload, work)


def _settle_by_wechat(order_id: int, request: service.SettleRequest, wechat: dict, data: dict, payload: dict):
    """A payment code scanned at the till is charged and settled in this request; a NATIVE or
    JSAPI trade answers 202 with the payment to confirm, and the order is settled when WeChat Pay
    notifies the payment."""
    if data["member_id"] is not None:
        lock_member(data["member_id"])
    if wechat.get("auth_code"):
        return json_response(*payments.settle_with_code(
            order_id, request, auth_code=wechat["auth_code"], key=data["idempotency_key"], payload=payload,
            now=utcnow(), answer=lambda order: (service.settle_result(order), 200)))
    others = [t for t in request.tenders if t.type != "wechat"]
    opened = payments.open_order_payment(
        order_id, trade_type=TradeType[wechat["trade_type"]], member_id=data["member_id"], points=data["points"],
        coupon_ids=data["coupon_ids"], tenders=others, key=data["idempotency_key"], payload=payload, now=utcnow(),
        openid=wechat.get("openid"), wechat_cents=wechat["amount_cents"])
    return json_response(intent_json(opened), 202)


@blp.route("/orders/<id:order_id>/refund", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.RefundIn)
@blp.alt_response(200, schema=schemas.RefundOut)
def refund(data, order_id):
    """Refund the whole order, or some of its lines, with a reason (audited)."""

    def work():
        lines = None
        if data["lines"] is not None:
            lines = {}
            for line in data["lines"]:
                lines[line["line_id"]] = lines.get(line["line_id"], 0) + line["qty"]
        before = get_scoped_or_404(Order, order_id).refunded_cents
        order = service.refund_order(order_id, reason=data["reason"], key=data["idempotency_key"], now=utcnow(),
                                     lines=lines)
        return {"id": order.id, "status": order.status.label, "refunded_cents": order.refunded_cents - before,
                "total_refunded_cents": order.refunded_cents}, 200

    return respond_once("refund", data["idempotency_key"], {"order_id": order_id, **data}, work)


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
    ticket = db.session.scalars(sa.select(KitchenTicket).where(KitchenTicket.id == ticket_id)
                                .with_for_update()).one()
    _store_for_actor(ticket.store_id)
    service.set_ticket(ticket, bumped)
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


@blp.route("/tables/<id:table_id>/cart", methods=["GET"])
@requires(Permission.ORDERS)
@blp.response(200, schemas.CartOut)
def staff_cart(table_id):
    session = service.open_session(_table(table_id))
    body = service.cart_json(session)
    db.session.commit()
    return body


@blp.route("/tables/<id:table_id>/cart/lines", methods=["POST"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.CartAdd)
@blp.response(201, schemas.CartOut)
def staff_cart_add(data, table_id):
    table = _table(table_id)
    item = service.ItemRequest(data["dish_id"], data["qty"], tuple(data["option_ids"]), data["note"])
    service.add_to_cart(table, item, added_by=data["diner"] or service._actor_label())
    body = service.cart_json(service.open_session(table))
    db.session.commit()
    return body


@blp.route("/tables/<id:table_id>/cart/lines/<id:cart_line_id>", methods=["PATCH"])
@requires(Permission.ORDERS)
@blp.arguments(schemas.CartChange)
@blp.response(200, schemas.CartOut)
def staff_cart_change(data, table_id, cart_line_id):
    table = _table(table_id)
    service.change_cart_line(table, cart_line_id, qty=data["qty"], expected_version=data["version"])
    body = service.cart_json(service.open_session(table))
    db.session.commit()
    return body


@blp.route("/tables/<id:table_id>/cart/send", methods=["POST"])
@requires(Permission.ORDERS)
@blp.response(200, schemas.OrderOut)
def staff_cart_send(table_id):
    order = service.send_cart(_table(table_id), by_staff=True)
    db.session.commit()
    return order


# --- the shared table cart: diners, identified by the signed table QR -------------------------

def _diner_table(token: str) -> DiningTable:
    table = resolve_table_token(token)
    if table is None or not table.is_active:
        raise NotFound("table", gettext("This table code is not valid any more; please scan the code on the table."))
    g.merchant_id = table.merchant_id
    return table


@blp.route("/diner/tables/<token>/cart", methods=["GET"])
@public
@blp.response(200, schemas.CartOut)
def diner_cart(token):
    table = _diner_table(token)
    body = service.cart_json(service.open_session(table))
    db.session.commit()
    return body


@blp.route("/diner/tables/<token>/cart/lines", methods=["POST"])
@public
@blp.arguments(schemas.CartAdd)
@blp.response(201, schemas.CartOut)
def diner_cart_add(data, token):
    table = _diner_table(token)
    item = service.ItemRequest(data["dish_id"], data["qty"], tuple(data["option_ids"]), data["note"])
    service.add_to_cart(table, item, added_by=data["diner"] or gettext("Diner"))
    body = service.cart_json(service.open_session(table))
    db.session.commit()
    return body


@blp.route("/diner/tables/<token>/cart/lines/<id:line>", methods=["PATCH"])
@public
@blp.arguments(schemas.CartChange)
@blp.response(200, schemas.CartOut)
def diner_cart_change(data, token, line):
    table = _diner_table(token)
    service.change_cart_line(table, line, qty=data["qty"], expected_version=data["version"])
    body = service.cart_json(service.open_session(table))
    db.session.commit()
    return body


@blp.route("/diner/tables/<token>/cart/send", methods=["POST"])
@public
@blp.response(200, schemas.CartOut)
def diner_cart_send(token):
    table = _diner_table(token)
    service.send_cart(table, by_staff=False)
    body = service.cart_json(service.open_session(table))
    db.session.commit()
    return body


# --- the cashier's shift ---------------------------------------------------------------------

def _cashier():
    staff = g.get("staff")
    if staff is None or staff.store_id is None:
        raise Unprocessable(gettext("Only staff working at a store have shifts."), error_code="no_store")
    return staff


@blp.route("/shifts/current", methods=["GET"])
@requires(Permission.MONEY)
@blp.arguments(schemas.ShiftQuery, location="query")
@blp.response(200, schemas.ShiftOut)
def current_shift(query):
    """The calling cashier's shift so far: sales, refunds, top-ups by tender and the expected cash."""
    staff, now = _cashier(), utcnow()
    start = shift.shift_start(staff.id, now)
    summary = shift.shift_summary(staff.id, staff.store_id, start, now,
                                  opening_float_cents=query["opening_float_cents"])
    return {"store_id": staff.store_id, "staff_id": staff.id, "opened_at": start, "closed_at": None,
            "summary": summary, "counted_cash_cents": None, "difference_cents": None}


@blp.route("/shifts/close", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.ShiftCloseIn)
@blp.alt_response(201, schema=schemas.ShiftOut)
def close_shift(data):
    """Close the shift with the counted cash; prints the summary at the till."""

    def work():
        staff, now = _cashier(), utcnow()
        start = shift.shift_start(staff.id, now)
        summary = shift.shift_summary(staff.id, staff.store_id, start, now,
                                      opening_float_cents=data["opening_float_cents"])
        closing = shift.ShiftClose(merchant_id=staff.merchant_id, store_id=staff.store_id, staff_id=staff.id,
                                   opened_at=start, closed_at=now, summary=summary,
                                   counted_cash_cents=data["counted_cash_cents"],
                                   difference_cents=data["counted_cash_cents"] - summary["expected_cash_cents"])
        db.session.add(closing)
        db.session.flush()
        append_event(staff.merchant_id, staff.store_id, EventKind.PRINT_JOB, {
            "document": "shift_summary", "document_id": f"shift-{closing.id}", "version": 1,
            "cashier": staff.display_name, "opened_at": start.isoformat(), "closed_at": now.isoformat(),
            "summary": summary, "counted_cash_cents": closing.counted_cash_cents,
            "difference_cents": closing.difference_cents})
        return schemas.ShiftOut().dump(closing), 201

    return respond_once("shift_close", data["idempotency_key"], data, work)
