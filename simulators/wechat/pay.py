"""WeChat Pay v2 over HTTP: signed XML in, signed XML out; plus the payment sheet a diner sees
(``/pay/sheet``), the page a NATIVE ``code_url`` leads to (``/pay/scan``) and a stand-in for
``WeixinJSBridge`` (``/jsapi/bridge.js``) so the server's JSAPI page works in a plain browser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from . import payments
from .app import get_store
from .models import Order
from .mp import USER_COOKIE, chosen_user, users_for_picker, with_query
from .protocol import nonce, parse_xml, pay_sign, pay_sign_ok, to_xml, yuan

bp = Blueprint("pay", __name__)

Handler = Callable[..., dict[str, Any]]


def _xml(values: dict[str, Any]) -> Response:
    return Response(to_xml(values), mimetype="text/xml")


def _fail(return_msg: str) -> Response:
    return _xml({"return_code": "FAIL", "return_msg": return_msg})


def _answer(handler: Handler) -> Response:
    """Authenticates the request as WeChat Pay does, runs ``handler`` and signs the answer."""
    store = get_store()
    config = store.config
    try:
        params = parse_xml(request.get_data())
    except ValueError:
        return _fail("XML格式错误")
    if not params.get("mch_id"):
        return _fail("缺少参数mch_id")
    if params["mch_id"] != config.mch_id:
        return _fail("mch_id参数错误，商户号不存在")
    if not params.get("sign") or not pay_sign_ok(params, config.api_key):
        return _fail("签名错误")
    answer: dict[str, Any] = {
        "return_code": "SUCCESS",
        "return_msg": "OK",
        "appid": config.appid,
        "mch_id": config.mch_id,
        "nonce_str": nonce(16),
    }
    if params.get("device_info"):
        answer["device_info"] = params["device_info"]
    if params.get("appid") != config.appid:
        answer.update(result_code="FAIL", err_code="APPID_MCHID_NOT_MATCH", err_code_des="appid和mch_id不匹配")
    else:
        try:
            answer.update(result_code="SUCCESS", **handler(store, params))
        except payments.ReturnFail as exc:
            return _fail(exc.return_msg)
        except payments.PayError as exc:
            answer.update(result_code="FAIL", err_code=exc.err_code, err_code_des=exc.err_code_des, **exc.fields)
    answer = {k: v for k, v in answer.items() if v not in (None, "")}
    answer["sign"] = pay_sign(answer, config.api_key, params.get("sign_type") or "MD5")
    return _xml(answer)


@bp.post("/pay/unifiedorder")
def unified_order():
    return _answer(payments.unified_order)


@bp.post("/pay/micropay")
def micropay():
    return _answer(payments.micropay)


@bp.post("/pay/orderquery")
def order_query():
    return _answer(payments.order_query)


@bp.post("/pay/closeorder")
def close_order():
    return _answer(payments.close_order)


@bp.post("/secapi/pay/reverse")
def reverse():
    return _answer(payments.reverse)


@bp.post("/secapi/pay/refund")
def refund():
    return _answer(payments.refund)


@bp.post("/pay/refundquery")
def refund_query():
    return _answer(payments.refund_query)


# --- the diner's payment sheet --------------------------------------------------------------------

_JSAPI_FIELDS = ("appId", "timeStamp", "nonceStr", "package", "signType")


def _safe_return_url(url: str | None) -> str | None:
    return url if url and urlsplit(url).scheme in ("http", "https") else None


def _sheet_order(args) -> tuple[Order | None, str | None]:
    """The order a sheet is for, checking ``paySign`` when the JSAPI parameters came along."""
    store = get_store()
    prepay_id = args.get("prepay_id") or ""
    package = args.get("package") or ""
    if not prepay_id and package.startswith("prepay_id="):
        prepay_id = package[len("prepay_id=") :]
    if args.get("paySign"):
        params = {k: args.get(k, "") for k in _JSAPI_FIELDS}
        if params["appId"] != store.config.appid:
            return None, "appId 参数错误 invalid appId"
        if params["signType"] not in ("MD5", "HMAC-SHA256") or args["paySign"] != pay_sign(
            params, store.config.api_key, params["signType"]
        ):
            return None, "支付验证签名失败 paySign check failed"
    order = store.order_by(prepay_id=prepay_id) if prepay_id else None
    if order is None:
        return None, "订单不存在或已失效 No such order (prepay_id)"
    return order, None


def _finish(order: Order, result: str, return_url: str | None, embed: bool) -> Response | str:
    if embed:
        return render_template(
            "wechat/sheet_done.html",
            order=order,
            result=result,
            embed=True,
            amount=yuan(order.total_fee),
            return_url=None,
        )
    if return_url:
        return redirect(with_query(return_url, {"result": result, "out_trade_no": order.out_trade_no}))
    return render_template(
        "wechat/sheet_done.html", order=order, result=result, embed=False, amount=yuan(order.total_fee), return_url=None
    )


@bp.route("/pay/sheet", methods=["GET", "POST"])
def sheet():
    store = get_store()
    args = request.form if request.method == "POST" else request.args
    embed = args.get("embed") == "1"
    return_url = _safe_return_url(args.get("return_url"))
    order, problem = _sheet_order(args)
    if order is None:
        return render_template("wechat/error.html", message=problem, embed=embed, bridge_result="fail"), 400
    if request.method == "POST":
        if args.get("action") == "cancel":
            payments.cancel_as_user(store, order)
            return _finish(order, "cancel", return_url, embed)
        user = chosen_user() if order.trade_type == "NATIVE" else None
        try:
            payments.pay_as_user(store, order, user.openid if user else None)
        except payments.SheetError as exc:
            problem = str(exc)
        else:
            response = current_app.make_response(_finish(order, "ok", return_url, embed))
            if user is not None:
                response.set_cookie(USER_COOKIE, user.openid, samesite="Lax")
            return response
    with store.lock:
        payments.settle_due(store, order)
    payer = store.user(order.openid)
    return render_template(
        "wechat/sheet.html",
        order=order,
        payer=payer,
        amount=yuan(order.total_fee),
        merchant=store.config.merchant_name,
        users=users_for_picker() if order.trade_type == "NATIVE" else [],
        problem=problem,
        embed=embed,
        return_url=return_url or "",
        hidden={k: args.get(k) for k in ("prepay_id", *_JSAPI_FIELDS, "paySign") if args.get(k)},
    )


@bp.get("/pay/scan")
def scan_code_url():
    """Scanning a NATIVE ``code_url`` (``weixin://wxpay/bizpayurl?pr=…``) opens its sheet."""
    code_url = request.args.get("code_url", "")
    if not code_url and request.args.get("pr"):
        code_url = "weixin://wxpay/bizpayurl?pr=" + request.args["pr"]
    order = get_store().order_by(code_url=code_url)
    if order is None:
        return render_template("wechat/error.html", message="二维码无效或已过期 Unknown payment QR code"), 404
    query = {"prepay_id": order.prepay_id}
    if request.args.get("return_url"):
        query["return_url"] = request.args["return_url"]
    return redirect(url_for("pay.sheet", **query))


@bp.get("/jsapi/bridge.js")
def bridge_js():
    return current_app.send_static_file("bridge.js")
