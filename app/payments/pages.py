"""The diner's bill page (`/t/<token>/bill?order=<id>`, where the pushed bill leads) and the
endpoints WeChat Pay posts its payment and refund notifications to."""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, current_app, g, render_template, request
from markupsafe import escape

from app.coupons import service as coupon_service
from app.coupons.models import CouponStatus
from app.db import db, utcnow
from app.errors import NotFound
from app.events.service import last_seq
from app.extensions import csrf
from app.members.models import Member
from app.orders import split as splits
from app.orders.documents import billable_lines
from app.orders.models import Order
from app.orders.settlement import price_order
from app.orders.state import OrderStatus
from app.payments import notices, service
from app.payments.providers import wechat_settings
from app.payments.wechat import MAX_NOTIFICATION_BYTES
from app.tables.service import resolve_table_token
from app.wechat.pages import diner_openid, oauth_redirect

bp = Blueprint("payments_pages", __name__)

WECHAT_PAY_HOST = "https://api.mch.weixin.qq.com"


def _bridge_url() -> str | None:
    """Outside WeChat, with the simulator as WeChat Pay, its stand-in for WeixinJSBridge."""
    base = current_app.config["WECHAT_PAY_BASE_URL"].rstrip("/")
    if base.startswith(WECHAT_PAY_HOST) or "MicroMessenger" in (request.user_agent.string or ""):
        return None
    return f"{base}/jsapi/bridge.js"


@bp.route("/t/<token>/bill")
def diner_bill(token: str):
    """The itemised bill of the table's order, priced exactly as the settlement charges it, with
    a 微信支付 button. Payment is confirmed by WeChat Pay's notification, never by this page."""
    table = resolve_table_token(token)
    order_id = request.args.get("order", type=int)
    order = db.session.get(Order, order_id) if table is not None and order_id and 0 < order_id < 2**31 else None
    if order is None or order.merchant_id != table.merchant_id or order.table_id != table.id:
        raise NotFound("order")
    g.merchant_id = table.merchant_id
    openid = diner_openid(order.merchant_id)
    if openid is None and order.status is OrderStatus.OPEN and wechat_settings(order.merchant_id) is not None:
        return oauth_redirect(order.merchant_id, request.full_path)  # who is paying, before the bill
    member = service.diner_member(order.merchant_id, openid)
    lines = billable_lines(order)
    if order.status is OrderStatus.OPEN:
        bill = price_order(order, member=member, points=0, coupon_ids=[], now=utcnow()).to_dict()
    else:
        bill = order.bill or {"subtotal_cents": order.subtotal_cents, "payable_cents": order.payable_cents,
                              "lines": []}
    split = splits.latest_split(order)
    amounts = {share.id: share.amount_cents for share in split.shares} if split is not None else {}
    if split is not None and order.status is OrderStatus.OPEN:  # the bill as the split priced it (its coupons)
        priced_for = db.session.get(Member, split.member_id) if split.member_id is not None else None
        bill = price_order(order, member=priced_for, points=0, coupon_ids=split.coupon_ids, now=utcnow()).to_dict()
        amounts = splits.current_amounts(order, split, utcnow())
    payable = order.status is OrderStatus.OPEN and bill["payable_cents"] > 0
    usable_coupons = []
    if member is not None and payable and split is None:
        now = utcnow()
        usable_coupons = [c for c in coupon_service.member_coupons(member, CouponStatus.ISSUED, limit=20)
                          if c.expires_at > now]
    can_pay = payable and bool(openid) and wechat_settings(order.merchant_id) is not None
    return render_template("diner/bill.html", table=table, store=table.store, order=order, lines=lines, bill=bill,
                           member=member, payable=payable, can_pay=can_pay, has_openid=bool(openid),
                           token=token, bridge_url=_bridge_url() if can_pay else None,
                           stored_value_key=secrets.token_urlsafe(18), split=split, amounts=amounts,
                           coupons=[(c, coupon_service.terms(c.template)) for c in usable_coupons],
                           seq=last_seq(table.store_id))


# --- notifications from WeChat Pay ----------------------------------------------------------------

def _body() -> bytes:
    if (request.content_length or 0) > MAX_NOTIFICATION_BYTES:
        return b""
    return request.get_data(cache=False)


def _wechat_answer(accepted: bool, reason: str) -> Response:
    """What WeChat Pay expects back: SUCCESS stops its retries, FAIL (with why) does not."""
    code, message = ("SUCCESS", "OK") if accepted else ("FAIL", escape(reason))
    xml = (f"<xml><return_code><![CDATA[{code}]]></return_code>"
           f"<return_msg><![CDATA[{message}]]></return_msg></xml>")
    return Response(xml, mimetype="text/xml")


@bp.post("/payments/wechat/notify")
@csrf.exempt
def wechat_payment_notify():
    """WeChat Pay's payment notification (signed XML): verified, checked against the intent, and
    applied once."""
    return _wechat_answer(*notices.handle_payment_notification(_body(), utcnow()))


@bp.post("/payments/wechat/refund-notify")
@csrf.exempt
def wechat_refund_notify():
    """WeChat Pay's refund notification (encrypted with the merchant's key): the refund's result."""
    return _wechat_answer(*notices.handle_refund_notification(_body(), utcnow()))
