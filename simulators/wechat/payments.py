"""WeChat Pay v2 as a state machine: orders, payment codes, reversals, refunds.

Each API function takes the request's (already authenticated) parameters and returns the
business fields of a successful answer, or raises :class:`PayError` (``result_code`` FAIL with
an ``err_code``) or :class:`ReturnFail` (``return_code`` FAIL: the request itself is wrong).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from . import delivery
from .models import Order, Refund
from .payment_codes import AUTH_CODE_INVALID, outcome_for
from .protocol import beijing_time, encrypt_refund_info, nonce, parse_beijing_time, pay_sign, to_xml, yuan
from .store import Store


class ReturnFail(Exception):
    """``return_code`` FAIL: a malformed request (missing or invalid parameter)."""

    def __init__(self, return_msg: str) -> None:
        super().__init__(return_msg)
        self.return_msg = return_msg


class PayError(Exception):
    """``result_code`` FAIL with WeChat's ``err_code``."""

    def __init__(self, err_code: str, err_code_des: str, **fields: Any) -> None:
        super().__init__(f"{err_code}: {err_code_des}")
        self.err_code, self.err_code_des, self.fields = err_code, err_code_des, fields


class SheetError(Exception):
    """The payment sheet cannot pay this order (message for the diner, zh + en)."""


STATE_DESC = {
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "NOTPAY": "订单未支付",
    "CLOSED": "已关闭",
    "REVOKED": "已撤销（付款码支付）",
    "USERPAYING": "用户支付中（付款码支付）",
    "PAYERROR": "支付失败(其他原因，如银行返回失败)",
}

_FEE = re.compile(r"[1-9]\d{0,9}")
_FINGERPRINT_FIELDS = (
    "appid",
    "body",
    "detail",
    "attach",
    "fee_type",
    "total_fee",
    "trade_type",
    "openid",
    "product_id",
    "goods_tag",
    "auth_code",
)


def _require(params: dict[str, str], *names: str) -> None:
    for name in names:
        if not params.get(name):
            raise ReturnFail(f"缺少参数{name}")


def _fee(params: dict[str, str], name: str = "total_fee") -> int:
    value = params.get(name, "")
    if not _FEE.fullmatch(value):
        raise ReturnFail(f"invalid {name}")
    return int(value)


def _fingerprint(params: dict[str, str]) -> tuple:
    return tuple(params.get(name) or "" for name in _FINGERPRINT_FIELDS)


def _repeat(order: Order, params: dict[str, str]) -> None:
    """The same out_trade_no again: same parameters may be retried, different ones not."""
    if order.state in ("SUCCESS",):
        raise PayError("ORDERPAID", "该订单已支付")
    if order.state == "CLOSED":
        raise PayError("ORDERCLOSED", "该订单已关")
    if order.state == "REVOKED":
        raise PayError("ORDERREVERSED", "该订单已撤销")
    if order.fingerprint != _fingerprint(params):
        raise PayError("INVALID_REQUEST", "201 商户订单号重复")


def _order(store: Store, params: dict[str, str]) -> Order:
    if not (params.get("transaction_id") or params.get("out_trade_no")):
        raise ReturnFail("transaction_id和out_trade_no不能同时为空")
    order = store.order_by(transaction_id=params.get("transaction_id"), out_trade_no=params.get("out_trade_no"))
    if order is None:
        raise PayError("ORDERNOTEXIST", "订单不存在")
    return order


# --- unified order (JSAPI, NATIVE) --------------------------------------------------------------


def unified_order(store: Store, params: dict[str, str]) -> dict[str, Any]:
    _require(params, "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type")
    trade_type = params["trade_type"]
    if trade_type not in ("JSAPI", "NATIVE"):
        raise ReturnFail(f"trade_type参数错误 (the simulator supports JSAPI and NATIVE, not {trade_type})")
    total_fee = _fee(params)
    openid = params.get("openid") or None
    if trade_type == "JSAPI":
        if not openid:
            raise ReturnFail("JSAPI支付必须传openid")
        if store.user(openid) is None:
            raise ReturnFail("appid和openid不匹配")
    if trade_type == "NATIVE" and not params.get("product_id"):
        raise ReturnFail("NATIVE支付必须传product_id")
    time_expire = None
    if params.get("time_expire"):
        try:
            time_expire = parse_beijing_time(params["time_expire"])
        except ValueError:
            raise ReturnFail("time_expire时间格式错误") from None
    with store.lock:
        existing = store.orders.get(params["out_trade_no"])
        if existing is not None:
            if existing.trade_type == "MICROPAY":
                raise PayError("OUT_TRADE_NO_USED", "商户订单号重复")
            _repeat(existing, params)
            order = existing
        else:
            order = Order(
                out_trade_no=params["out_trade_no"],
                trade_type=trade_type,
                body=params["body"],
                total_fee=total_fee,
                created_at=store.now(),
                notify_url=params["notify_url"],
                openid=openid,
                product_id=params.get("product_id") or None,
                attach=params.get("attach") or None,
                device_info=params.get("device_info") or None,
                fee_type=params.get("fee_type") or "CNY",
                fingerprint=_fingerprint(params),
                prepay_id=store.new_prepay_id(),
                time_expire=time_expire,
            )
            if trade_type == "NATIVE":
                order.code_url = store.new_code_url()
            store.orders[order.out_trade_no] = order
            store.changed()
        answer: dict[str, Any] = {"trade_type": trade_type, "prepay_id": order.prepay_id}
        if order.code_url:
            answer["code_url"] = order.code_url
        return answer


# --- payment code (MICROPAY) -------------------------------------------------------------------


def micropay(store: Store, params: dict[str, str]) -> dict[str, Any]:
    _require(params, "body", "out_trade_no", "total_fee", "spbill_create_ip", "auth_code")
    total_fee = _fee(params)
    outcome = outcome_for(params["auth_code"])
    with store.lock:
        existing = store.orders.get(params["out_trade_no"])
        if existing is not None:
            if existing.trade_type != "MICROPAY":
                raise PayError("OUT_TRADE_NO_USED", "商户订单号重复")
            _repeat(existing, params)
            return _micropay_answer(store, existing, outcome)
        if outcome is None:
            raise PayError(*AUTH_CODE_INVALID)
        payer = store.user(store.payment_codes.get(params["auth_code"])) or store.walk_in_payer()
        order = Order(
            out_trade_no=params["out_trade_no"],
            trade_type="MICROPAY",
            body=params["body"],
            total_fee=total_fee,
            created_at=store.now(),
            openid=payer.openid,
            attach=params.get("attach") or None,
            device_info=params.get("device_info") or None,
            fee_type=params.get("fee_type") or "CNY",
            fingerprint=_fingerprint(params),
            auth_code=params["auth_code"],
            code_ending=outcome.ending,
        )
        store.orders[order.out_trade_no] = order
        if outcome.answer in ("success", "systemerror"):
            _mark_paid(store, order, payer.openid)
        elif outcome.answer == "fail":
            order.state, order.state_desc = "PAYERROR", outcome.err_code_des or ""
        else:
            order.state = "USERPAYING"
        store.changed()
        if outcome.answer == "systemerror":
            raise PayError("SYSTEMERROR", outcome.err_code_des or "系统错误")
        return _micropay_answer(store, order, outcome)


def _micropay_answer(store: Store, order: Order, outcome: Any) -> dict[str, Any]:
    if order.state == "USERPAYING":
        raise PayError("USERPAYING", "需要用户输入支付密码")
    if order.state == "PAYERROR":
        assert outcome is not None
        raise PayError(outcome.err_code or "TRADE_ERROR", order.state_desc or "支付失败")
    return _paid_fields(store, order)


def _paid_fields(store: Store, order: Order) -> dict[str, Any]:
    user = store.user(order.openid)
    fields: dict[str, Any] = {
        "openid": order.openid,
        "is_subscribe": "Y" if user is not None and user.is_subscribed else "N",
        "trade_type": order.trade_type,
        "bank_type": order.bank_type,
        "fee_type": order.fee_type,
        "total_fee": order.total_fee,
        "cash_fee": order.total_fee,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "attach": order.attach,
        "time_end": order.time_end,
    }
    if order.device_info:
        fields["device_info"] = order.device_info
    return fields


def settle_due(store: Store, order: Order) -> None:
    """A diner typing the password (test codes 0003 / 0006) finishes after N queries or T s."""
    if order.state != "USERPAYING" or order.code_ending is None:
        return
    outcome = outcome_for(order.auth_code or "")
    if outcome is None or outcome.settles_to is None:
        return
    config = store.config
    if order.queries < config.userpaying_queries and store.now() - order.created_at < config.userpaying_seconds:
        return
    if outcome.settles_to == "SUCCESS":
        _mark_paid(store, order, order.openid)
    else:
        order.state, order.state_desc = "PAYERROR", "用户取消支付"
    store.changed()


def _mark_paid(store: Store, order: Order, openid: str | None) -> None:
    now = store.now()
    order.state, order.state_desc = "SUCCESS", ""
    order.openid = openid
    order.transaction_id = store.new_transaction_id()
    order.time_end = beijing_time(now)
    order.paid_at = now
    if openid:
        store.add_to_inbox(
            openid,
            "pay",
            "微信支付 支付凭证 Payment receipt",
            fields=[
                {"key": "amount", "label": "付款金额 Amount", "value": yuan(order.total_fee), "color": ""},
                {"key": "merchant", "label": "商户 Merchant", "value": store.config.merchant_name, "color": ""},
                {"key": "body", "label": "商品 Item", "value": order.body, "color": ""},
                {"key": "transaction_id", "label": "交易单号 Transaction", "value": order.transaction_id, "color": ""},
            ],
        )


# --- queries, reversal, closing -------------------------------------------------------------------


def order_query(store: Store, params: dict[str, str]) -> dict[str, Any]:
    with store.lock:
        order = _order(store, params)
        if order.state == "USERPAYING":
            order.queries += 1
            settle_due(store, order)
        return order_fields(store, order)


def order_fields(store: Store, order: Order) -> dict[str, Any]:
    state = order.trade_state
    fields: dict[str, Any] = {
        "out_trade_no": order.out_trade_no,
        "trade_state": state,
        "trade_state_desc": order.state_desc or STATE_DESC[state],
        "trade_type": order.trade_type,
        "total_fee": order.total_fee,
        "fee_type": order.fee_type,
        "attach": order.attach,
        "device_info": order.device_info,
    }
    if order.openid:
        user = store.user(order.openid)
        fields["openid"] = order.openid
        fields["is_subscribe"] = "Y" if user is not None and user.is_subscribed else "N"
    if order.transaction_id:
        fields.update(
            transaction_id=order.transaction_id,
            bank_type=order.bank_type,
            cash_fee=order.total_fee,
            time_end=order.time_end,
        )
    return fields


def reverse(store: Store, params: dict[str, str]) -> dict[str, Any]:
    with store.lock:
        order = _order(store, params)
        if order.trade_type != "MICROPAY":
            raise PayError("TRADE_ERROR", "撤销订单仅适用于付款码支付，请调用关单或退款")
        if order.refunded_fee:
            raise PayError("TRADE_ERROR", "订单已发生退款，不能撤销")
        was_paid = order.state == "SUCCESS"
        order.state, order.state_desc = "REVOKED", ""
        if was_paid and order.openid:
            store.add_to_inbox(
                order.openid,
                "pay",
                "微信支付 退款通知 Refund",
                text=f"{store.config.merchant_name} {yuan(order.total_fee)} 已撤销并退回 reversed",
            )
        store.changed()
        return {"recall": "N"}


def close_order(store: Store, params: dict[str, str]) -> dict[str, Any]:
    _require(params, "out_trade_no")
    with store.lock:
        order = _order(store, params)
        if order.state == "SUCCESS":
            raise PayError("ORDERPAID", "订单已支付，不能发起关单")
        if order.state in ("CLOSED", "REVOKED"):
            raise PayError("ORDERCLOSED", "订单已关闭，无法重复关闭")
        order.state, order.state_desc = "CLOSED", ""
        store.changed()
        return {"result_msg": "OK"}


# --- the diner's side (payment sheet, password on the phone) ----------------------------------------


def pay_as_user(store: Store, order: Order, openid: str | None = None) -> Order:
    """The diner confirms the payment on the phone (sheet, NATIVE scan, password for a code)."""
    with store.lock:
        settle_due(store, order)
        if order.state == "SUCCESS":
            raise SheetError("订单已支付 This order is already paid")
        if order.state in ("CLOSED", "REVOKED", "PAYERROR"):
            raise SheetError("订单已关闭 This order is closed")
        if order.time_expire is not None and store.now() > order.time_expire:
            raise SheetError("订单已过期 This order has expired")
        if order.trade_type == "NATIVE":
            if not openid or store.user(openid) is None:
                raise SheetError("请选择付款的微信用户 Choose the WeChat user who pays")
        else:
            if openid and openid != order.openid:
                raise SheetError("该订单属于其他微信用户 This order belongs to another WeChat user")
            openid = order.openid
        _mark_paid(store, order, openid)
        store.changed()
        if order.notify_url:
            delivery.notify(store, "payment", order.out_trade_no, order.notify_url, payment_notification(store, order))
        return order


def cancel_as_user(store: Store, order: Order) -> Order:
    """The diner closes the sheet (the order stays payable) or cancels the password entry of a
    payment code (the payment fails)."""
    with store.lock:
        if order.state == "USERPAYING":
            order.state, order.state_desc = "PAYERROR", "用户取消支付"
        elif order.state == "NOTPAY":
            order.cancelled_on_sheet += 1
        store.changed()
        return order


def payment_notification(store: Store, order: Order) -> dict[str, Any]:
    config = store.config
    message = {
        "appid": config.appid,
        "mch_id": config.mch_id,
        "nonce_str": nonce(),
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        **_paid_fields(store, order),
    }
    message = {k: message[k] for k in sorted(message) if message[k] not in (None, "")}
    message["sign"] = pay_sign(message, config.api_key)
    return message


# --- refunds ---------------------------------------------------------------------------------------


def refund(store: Store, params: dict[str, str]) -> dict[str, Any]:
    _require(params, "out_refund_no", "total_fee", "refund_fee")
    total_fee, refund_fee = _fee(params), _fee(params, "refund_fee")
    with store.lock:
        order = _order(store, params)
        existing = store.refunds.get(params["out_refund_no"])
        if existing is not None:
            if existing.out_trade_no != order.out_trade_no or existing.refund_fee != refund_fee:
                raise PayError("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
            return _refund_fields(order, existing)
        if order.state != "SUCCESS":
            raise PayError("ERROR", f"订单状态为{order.trade_state}，不能退款")
        if total_fee != order.total_fee:
            raise PayError("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
        if refund_fee > order.total_fee - order.refunded_fee:
            raise PayError("ERROR", "申请退款金额超过订单可退金额")
        item = Refund(
            refund_id=store.new_refund_id(),
            out_refund_no=params["out_refund_no"],
            out_trade_no=order.out_trade_no,
            transaction_id=order.transaction_id or "",
            total_fee=order.total_fee,
            refund_fee=refund_fee,
            created_at=store.now(),
            notify_url=params.get("notify_url") or store.config.refund_notify_url,
            refund_desc=params.get("refund_desc") or None,
            refund_account=params.get("refund_account") or "REFUND_SOURCE_UNSETTLED_FUNDS",
        )
        store.refunds[item.out_refund_no] = item
        order.refunded_fee += refund_fee
        store.changed()
    delay = store.config.refund_delay_seconds
    if delay > 0:
        timer = threading.Thread(target=_finish_refund_later, args=(store, item, delay, store.generation), daemon=True)
        timer.start()
    else:
        _finish_refund(store, item)
    return _refund_fields(order, item)


def _refund_fields(order: Order, item: Refund) -> dict[str, Any]:
    return {
        "transaction_id": item.transaction_id,
        "out_trade_no": item.out_trade_no,
        "out_refund_no": item.out_refund_no,
        "refund_id": item.refund_id,
        "refund_fee": item.refund_fee,
        "settlement_refund_fee": item.refund_fee,
        "total_fee": order.total_fee,
        "cash_fee": order.total_fee,
        "cash_refund_fee": item.refund_fee,
    }


def _finish_refund_later(store: Store, item: Refund, delay: float, generation: int) -> None:
    if not store.stopping.wait(delay) and generation == store.generation:
        _finish_refund(store, item)


def _finish_refund(store: Store, item: Refund) -> None:
    with store.lock:
        item.status = "SUCCESS"
        item.success_time = beijing_time(store.now(), "%Y-%m-%d %H:%M:%S")
        order = store.orders[item.out_trade_no]
        if order.openid:
            store.add_to_inbox(
                order.openid,
                "pay",
                "微信支付 退款通知 Refund",
                text=f"{store.config.merchant_name} 退款 {yuan(item.refund_fee)} 已退回零钱 refunded",
            )
        store.changed()
    if item.notify_url:
        delivery.notify(store, "refund", item.out_refund_no, item.notify_url, refund_notification(store, item))


def refund_notification(store: Store, item: Refund) -> dict[str, Any]:
    config = store.config
    info = {
        "out_refund_no": item.out_refund_no,
        "out_trade_no": item.out_trade_no,
        "refund_account": item.refund_account,
        "refund_fee": item.refund_fee,
        "refund_id": item.refund_id,
        "refund_recv_accout": "支付用户零钱",
        "refund_request_source": "API",
        "refund_status": item.status,
        "settlement_refund_fee": item.refund_fee,
        "settlement_total_fee": item.total_fee,
        "success_time": item.success_time,
        "total_fee": item.total_fee,
        "transaction_id": item.transaction_id,
    }
    return {
        "return_code": "SUCCESS",
        "appid": config.appid,
        "mch_id": config.mch_id,
        "nonce_str": nonce(),
        "req_info": encrypt_refund_info(to_xml(info, root="root"), config.api_key),
    }


def refund_query(store: Store, params: dict[str, str]) -> dict[str, Any]:
    keys = ("refund_id", "out_refund_no", "transaction_id", "out_trade_no")
    if not any(params.get(k) for k in keys):
        raise ReturnFail("refund_id、out_refund_no、transaction_id、out_trade_no不能同时为空")
    with store.lock:
        if params.get("refund_id"):
            refunds = [r for r in store.refunds.values() if r.refund_id == params["refund_id"]]
        elif params.get("out_refund_no"):
            refunds = [r for r in store.refunds.values() if r.out_refund_no == params["out_refund_no"]]
        else:
            order = store.order_by(transaction_id=params.get("transaction_id"), out_trade_no=params.get("out_trade_no"))
            refunds = store.refunds_of(order.out_trade_no) if order else []
        if not refunds:
            raise PayError("REFUNDNOTEXIST", "退款订单查询失败")
        order = store.orders[refunds[0].out_trade_no]
        fields: dict[str, Any] = {
            "transaction_id": order.transaction_id,
            "out_trade_no": order.out_trade_no,
            "total_fee": order.total_fee,
            "cash_fee": order.total_fee,
            "refund_count": len(refunds),
        }
        for n, item in enumerate(refunds):
            fields.update(
                {
                    f"out_refund_no_{n}": item.out_refund_no,
                    f"refund_id_{n}": item.refund_id,
                    f"refund_channel_{n}": "ORIGINAL",
                    f"refund_fee_{n}": item.refund_fee,
                    f"settlement_refund_fee_{n}": item.refund_fee,
                    f"refund_status_{n}": item.status,
                    f"refund_account_{n}": item.refund_account,
                    f"refund_recv_accout_{n}": "支付用户零钱",
                    f"refund_success_time_{n}": item.success_time,
                }
            )
        return fields
