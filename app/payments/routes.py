"""/api/v1: WeChat Pay trades for orders (NATIVE QR, JSAPI), their status and QR code; the
diner's JSAPI payment from the bill page (by signed table QR)."""

from __future__ import annotations

from flask import Response, request
from flask_babel import gettext

from app.actor import Actor
from app.api import Blueprint, json_response
from app.auth.guard import current_actor, id_argument, public, requires
from app.auth.permissions import Permission
from app.db import db, get_scoped_or_404, utcnow
from app.errors import NotFound, Unauthorized
from app.orders.models import Order
from app.orders.settlement import TenderRequest
from app.payments import schemas, service
from app.payments.models import PaymentIntent, TradeType
from app.tables import qr
from app.tables.service import resolve_table_token
from app.wechat.pages import diner_nickname, diner_openid

blp = Blueprint("payments", __name__, url_prefix="/api/v1", description="WeChat Pay trades")

id_argument("intent_id", PaymentIntent)

# What the WeChat OAuth of the diner pages leaves in the session: the diner's openid and the
# merchant whose official account it belongs to (an openid is per account).

@blp.route("/orders/<id:order_id>/wechat-pay", methods=["POST"])
@requires(Permission.MONEY)
@blp.arguments(schemas.WeChatPayIn)
@blp.alt_response(201, schema=schemas.IntentOut, description="The trade to pay (also the replay of the same key)")
def order_wechat_pay(data, order_id):
    """A WeChat Pay trade for what is left of the bill: NATIVE answers the `code_url` to show as a
    QR code (screen, receipt), JSAPI the parameters for the diner's phone. The order is settled,
    with the other tenders, when WeChat Pay notifies the payment; poll `GET /payments/{id}`."""
    tenders = [TenderRequest(t["type"], t["amount_cents"]) for t in data["tenders"]]
    opened = service.open_order_payment(
        order_id, trade_type=TradeType[data["trade_type"]], member_id=data["member_id"], points=data["points"],
        coupon_ids=data["coupon_ids"], tenders=tenders, actor=current_actor(), key=data["idempotency_key"],
        payload={"order_id": order_id, **data}, now=utcnow(), openid=data["openid"])
    return json_response(schemas.intent_json(opened), 201)


@blp.route("/payments/<id:intent_id>", methods=["GET"])
@requires(Permission.MONEY)
@blp.response(200, schemas.IntentOut)
def get_payment(intent_id):
    """A payment attempt and where it stands: pending until WeChat Pay confirms it."""
    return schemas.intent_json(service.Opened(get_scoped_or_404(PaymentIntent, intent_id)))


@blp.route("/payments/<id:intent_id>/qr.svg", methods=["GET"])
@requires(Permission.MONEY)
@blp.response(200, description="The NATIVE trade's code_url as an SVG QR code", content_type="image/svg+xml")
def intent_qr(intent_id):
    intent = get_scoped_or_404(PaymentIntent, intent_id)
    if not intent.code_url:
        raise NotFound("code_url", gettext("This payment has no QR code."))
    return Response(qr.qr_svg(intent.code_url), mimetype="image/svg+xml")


# --- the diner's phone ----------------------------------------------------------------------------

def _diner_order(token: str, order_id: int) -> Order:
    table = resolve_table_token(token)
    if table is None or not table.is_active:
        raise NotFound("table", gettext("This table code is not valid any more; please scan the code on the table."))
    order = db.session.get(Order, order_id)
    if order is None or order.merchant_id != table.merchant_id or order.table_id != table.id:
        raise NotFound("order")
    return order


@blp.route("/diner/tables/<token>/wechat-pay", methods=["POST"])
@public
@blp.arguments(schemas.DinerPayIn)
@blp.alt_response(201, schema=schemas.DinerPaymentOut)
def diner_wechat_pay(data, token):
    """The diner pays the table's bill in WeChat (JSAPI): answers the parameters for
    `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`. The order is settled by WeChat Pay's
    notification, never by the page."""
    order = _diner_order(token, data["order_id"])
    openid = diner_openid(order.merchant_id)
    if openid is None:
        raise Unauthorized(gettext("Open this page in WeChat to pay with WeChat Pay."),
                           error_code="wechat_login_required")
    actor = Actor.diner(order.merchant_id, ip=request.remote_addr)
    opened = service.open_diner_payment(order, openid=openid, actor=actor, now=utcnow())
    return json_response(_diner_json(opened), 201)


@blp.route("/diner/tables/<token>/shares/wechat-pay", methods=["POST"])
@public
@blp.arguments(schemas.DinerSharePayIn)
@blp.alt_response(201, schema=schemas.DinerPaymentOut)
def diner_share_wechat_pay(data, token):
    """A diner pays their share(s) of the table's split bill in WeChat (JSAPI); the shares turn
    paid by WeChat Pay's notification, and the order when the shares cover it."""
    order = _diner_order(token, data["order_id"])
    openid = diner_openid(order.merchant_id)
    if openid is None:
        raise Unauthorized(gettext("Open this page in WeChat to pay with WeChat Pay."),
                           error_code="wechat_login_required")
    actor = Actor.diner(order.merchant_id, ip=request.remote_addr)
    opened = service.open_share_payment(order, data["share_ids"], openid=openid, paid_by=diner_name_for(order),
                                        actor=actor, now=utcnow())
    return json_response(_diner_json(opened), 201)


@blp.route("/diner/tables/<token>/wechat-pay/<id:intent>", methods=["GET"])
@public
@blp.response(200, schemas.DinerPaymentOut)
def diner_wechat_payment(token, intent):
    """Where the diner's payment stands (the page polls it after the payment sheet closes)."""
    found = db.session.get(PaymentIntent, intent)
    if found is None or found.order_id is None:
        raise NotFound("payment")
    order = _diner_order(token, found.order_id)
    if found.merchant_id != order.merchant_id or not found.openid or found.openid != diner_openid(order.merchant_id):
        raise NotFound("payment")
    return _diner_json(service.Opened(found))


def diner_name_for(order: Order) -> str:
    return diner_nickname(order.merchant_id) or gettext("Diner")


def _diner_json(opened: service.Opened) -> dict:
    intent = opened.intent
    order = db.session.get(Order, intent.order_id)
    return {"intent_id": intent.id, "status": intent.status.label, "amount_cents": intent.amount_cents,
            "order_status": order.status.label, "jsapi": opened.client_params}
