"""WeChat Pay v2 behind the provider interface.

The wechatpy client comes from `app.wechat.client.pay` (the one place clients are built, with
the configured base URL and a timeout); this module turns its dict answers and exceptions into
`app.payments.provider` results. Facts it relies on (docs/wechat.md, LIBRARY-NOTES.md):

- any `result_code` FAIL raises `WeChatPayException` with `errcode` = WeChat's `err_code`; a
  request WeChat refuses outright (`return_code` FAIL) has no `errcode`; an HTTP error status
  raises it with `return_code` None;
- a refused connection or a timeout raises requests' own exceptions;
- answers are not signature-checked and their values are strings (`total_fee == "100"`);
- `client_ip` must always be passed, or wechatpy looks up the machine's public address;
- wechatpy writes each text value into the request's XML inside `<![CDATA[…]]>` as it is: a
  `]]>` or a character XML 1.0 cannot hold makes the whole request unreadable to WeChat, so
  every text is cleaned here (`_text`), and cut to WeChat Pay v2's field limits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests
import xmltodict
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException

from app.payments.provider import (
    Charge,
    InvalidNotification,
    PaymentNotice,
    PaymentResult,
    PayStatus,
    Prepared,
    ProviderRejected,
    ProviderUnavailable,
    RefundNotice,
    RefundResult,
    RefundStatus,
)
from app.wechat.client import pay
from app.wechat.models import WeChatSettings

NAME = "wechat"
BEIJING = ZoneInfo("Asia/Shanghai")
MAX_NOTIFICATION_BYTES = 64 * 1024

# err_code of a payment code still being confirmed on the phone, or of an answer WeChat does not
# know yet itself: the trade's state is learnt by querying it.
ASK_AGAIN = frozenset({"USERPAYING", "SYSTEMERROR", "BANKERROR"})

TRADE_STATES = {
    "SUCCESS": PayStatus.SUCCESS,
    "REFUND": PayStatus.REFUNDED,
    "NOTPAY": PayStatus.PENDING,
    "USERPAYING": PayStatus.PENDING,
    "CLOSED": PayStatus.CLOSED,
    "REVOKED": PayStatus.REVERSED,
    "PAYERROR": PayStatus.FAILED,
}

REFUND_STATES = {"SUCCESS": RefundStatus.SUCCESS, "PROCESSING": RefundStatus.PROCESSING,
                 "CHANGE": RefundStatus.FAILED, "REFUNDCLOSE": RefundStatus.FAILED}


# Field limits of WeChat Pay v2 (统一下单 / 付款码支付 / 申请退款): body and attach in UTF-8 bytes,
# refund_desc in characters.
BODY_MAX_BYTES = 128
ATTACH_MAX_BYTES = 127
DETAIL_MAX_BYTES = 6000
REFUND_DESC_MAX_CHARS = 80
_LIMITS = {"body": (BODY_MAX_BYTES, None), "attach": (ATTACH_MAX_BYTES, None), "detail": (DETAIL_MAX_BYTES, None),
           "refund_desc": (None, REFUND_DESC_MAX_CHARS)}

# What XML 1.0 cannot hold (C0 controls but tab, CR and LF; surrogates; U+FFFE/U+FFFF), what no
# receipt should show (DEL, C1 controls, the other non-characters of the BMP), and line breaks
# and tabs (one-line fields).
_UNWANTED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


def _text(value: str, *, max_bytes: int | None = None, max_chars: int | None = None) -> str:
    """`value` as WeChat can take it: unwanted characters and `]]>` removed (again until none is
    left: removing one can join the pieces of another, as in `]]]>>`), then cut to the limit
    without splitting a character."""
    text = _UNWANTED.sub("", value)
    while "]]>" in text:
        text = text.replace("]]>", "")
    if max_chars is not None:
        text = text[:max_chars]
    if max_bytes is not None:
        text = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    return text.strip()


def _clean(kwargs: dict[str, Any]) -> dict[str, Any]:
    cleaned = {}
    for name, value in kwargs.items():
        if isinstance(value, str):
            max_bytes, max_chars = _LIMITS.get(name, (None, None))
            value = _text(value, max_bytes=max_bytes, max_chars=max_chars)
            if name == "body" and not value:
                value = "-"  # WeChat requires a body; a name that was all garbage leaves none
        cleaned[name] = value
    return cleaned


def _cents(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _xml(body: bytes) -> dict:
    """The `<xml>` element of a notification as a flat dict of strings; nothing that could make
    the parser expand entities gets this far."""
    if len(body) > MAX_NOTIFICATION_BYTES or b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise InvalidNotification("not a WeChat Pay notification")
    try:
        data = xmltodict.parse(body).get("xml")
    except Exception:  # expat raises several types for garbage; all mean the same here
        raise InvalidNotification("not XML") from None
    if not isinstance(data, dict):
        raise InvalidNotification("no <xml> element")
    return data


def notification_account(body: bytes) -> tuple[str, str]:
    """The (appid, mch_id) a notification claims to be for, unverified: it picks the merchant
    whose key then verifies it."""
    data = _xml(body)
    appid, mch_id = data.get("appid"), data.get("mch_id")
    if not (isinstance(appid, str) and isinstance(mch_id, str)):
        raise InvalidNotification("no appid / mch_id")
    return appid, mch_id


class WeChatPayProvider:
    """`PaymentProvider` for one merchant's WeChat Pay v2 account."""

    name = NAME

    def __init__(self, settings: WeChatSettings) -> None:
        self.appid = settings.appid
        self.mch_id = settings.mch_id
        self._pay = pay(settings)

    # --- calls ---------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> dict:
        """One API call: its answer, ProviderRejected (with WeChat's code) or ProviderUnavailable."""
        try:
            answer = fn(**_clean(kwargs))
        except requests.Timeout as error:
            raise ProviderUnavailable(f"WeChat Pay timed out: {error}", timed_out=True) from None
        except requests.RequestException as error:
            raise ProviderUnavailable(f"WeChat Pay unreachable: {type(error).__name__}") from None
        except WeChatPayException as error:
            if error.return_code is None:
                status = getattr(error.response, "status_code", None)
                raise ProviderUnavailable(f"WeChat Pay answered HTTP {status}", bad_answer=True) from None
            if error.return_code != "SUCCESS":
                raise ProviderRejected("FAIL", error.return_msg or "") from None
            raise ProviderRejected(error.errcode or "FAIL", error.errmsg or "") from None
        if not isinstance(answer, dict):
            raise ProviderUnavailable("WeChat Pay answered something that is not XML", bad_answer=True)
        return answer

    def _paid(self, answer: dict, status: PayStatus, out_trade_no: str, code: str = "") -> PaymentResult:
        return PaymentResult(status=status, out_trade_no=answer.get("out_trade_no") or out_trade_no,
                             transaction_id=answer.get("transaction_id") or None,
                             amount_cents=_cents(answer.get("total_fee")), payer=answer.get("openid") or None,
                             code=code or answer.get("trade_state") or "", message=answer.get("trade_state_desc") or "")

    def create_jsapi(self, charge: Charge, *, payer: str, notify_url: str, expires_at: datetime) -> Prepared:
        answer = self._call(self._pay.order.create, trade_type="JSAPI", body=charge.description,
                            total_fee=charge.amount_cents, notify_url=notify_url, client_ip=charge.client_ip,
                            user_id=payer, out_trade_no=charge.out_trade_no,
                            time_expire=expires_at.astimezone(BEIJING))
        return Prepared(charge.out_trade_no, answer.get("prepay_id") or "")

    def create_native(self, charge: Charge, *, product_id: str, notify_url: str, expires_at: datetime) -> Prepared:
        answer = self._call(self._pay.order.create, trade_type="NATIVE", body=charge.description,
                            total_fee=charge.amount_cents, notify_url=notify_url, client_ip=charge.client_ip,
                            product_id=product_id, out_trade_no=charge.out_trade_no,
                            time_expire=expires_at.astimezone(BEIJING))
        return Prepared(charge.out_trade_no, answer.get("prepay_id") or "", answer.get("code_url") or None)

    def client_params(self, prepared: Prepared) -> dict:
        """The `getBrandWCPayRequest` parameters for WeixinJSBridge (signed with the API key)."""
        return self._pay.jsapi.get_jsapi_params(prepared.prepay_id)

    def micropay(self, charge: Charge, *, auth_code: str) -> PaymentResult:
        try:
            answer = self._call(self._pay.micropay.create, body=charge.description, total_fee=charge.amount_cents,
                                auth_code=auth_code, client_ip=charge.client_ip, out_trade_no=charge.out_trade_no)
        except ProviderRejected as error:
            status = PayStatus.PENDING if error.code in ASK_AGAIN else PayStatus.FAILED
            return PaymentResult(status, charge.out_trade_no, code=error.code, message=error.message)
        return self._paid(answer, PayStatus.SUCCESS, charge.out_trade_no, code="SUCCESS")

    def query(self, out_trade_no: str) -> PaymentResult:
        try:
            answer = self._call(self._pay.order.query, out_trade_no=out_trade_no)
        except ProviderRejected as error:
            if error.code == "ORDERNOTEXIST":
                return PaymentResult(PayStatus.NOT_FOUND, out_trade_no, code=error.code, message=error.message)
            if error.code in ASK_AGAIN:
                return PaymentResult(PayStatus.PENDING, out_trade_no, code=error.code, message=error.message)
            raise
        state = answer.get("trade_state") or ""
        return self._paid(answer, TRADE_STATES.get(state, PayStatus.PENDING), out_trade_no)

    def reverse(self, out_trade_no: str) -> PaymentResult:
        for _ in range(3):  # WeChat asks to call again while it answers recall=Y
            try:
                answer = self._call(self._pay.order.reverse, out_trade_no=out_trade_no)
            except ProviderRejected as error:
                if error.code == "ORDERNOTEXIST":
                    return PaymentResult(PayStatus.NOT_FOUND, out_trade_no, code=error.code, message=error.message)
                raise
            if answer.get("recall") != "Y":
                return PaymentResult(PayStatus.REVERSED, out_trade_no, code="REVOKED")
        raise ProviderUnavailable("WeChat Pay keeps asking to retry the reversal")

    def close(self, out_trade_no: str) -> PaymentResult:
        try:
            self._call(self._pay.order.close, out_trade_no=out_trade_no)
        except ProviderRejected as error:
            if error.code == "ORDERPAID":
                return PaymentResult(PayStatus.SUCCESS, out_trade_no, code=error.code)
            if error.code == "ORDERCLOSED":
                return PaymentResult(PayStatus.CLOSED, out_trade_no, code=error.code)
            if error.code == "ORDERNOTEXIST":
                return PaymentResult(PayStatus.NOT_FOUND, out_trade_no, code=error.code)
            raise
        return PaymentResult(PayStatus.CLOSED, out_trade_no, code="CLOSED")

    def refund(self, *, out_trade_no: str, out_refund_no: str, total_cents: int, refund_cents: int,
               reason: str, notify_url: str) -> RefundResult:
        answer = self._call(self._pay.refund.apply, out_trade_no=out_trade_no, out_refund_no=out_refund_no,
                            total_fee=total_cents, refund_fee=refund_cents,
                            refund_desc=_text(reason, max_chars=REFUND_DESC_MAX_CHARS) or None, notify_url=notify_url)
        return RefundResult(RefundStatus.PROCESSING, out_refund_no, refund_id=answer.get("refund_id") or None,
                            amount_cents=_cents(answer.get("refund_fee")))

    def query_refund(self, out_refund_no: str) -> RefundResult:
        try:
            answer = self._call(self._pay.refund.query, out_refund_no=out_refund_no)
        except ProviderRejected as error:
            if error.code == "REFUNDNOTEXIST":
                return RefundResult(RefundStatus.NOT_FOUND, out_refund_no, code=error.code, message=error.message)
            raise
        # One refund per out_refund_no: its fields carry the suffix _0.
        state = answer.get("refund_status_0") or ""
        return RefundResult(REFUND_STATES.get(state, RefundStatus.PROCESSING), out_refund_no,
                            refund_id=answer.get("refund_id_0") or None,
                            amount_cents=_cents(answer.get("refund_fee_0")), code=state)

    # --- notifications -------------------------------------------------------------------------

    def parse_payment_notice(self, body: bytes) -> PaymentNotice:
        _xml(body)
        try:
            data = self._pay.parse_payment_result(body)
        except InvalidSignatureException:
            raise InvalidNotification("signature does not verify") from None
        except Exception:  # a signed message whose fields are not what WeChat sends
            raise InvalidNotification("malformed notification") from None
        if data.get("appid") != self.appid or data.get("mch_id") != self.mch_id:
            raise InvalidNotification("not for this merchant's account")
        if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
            raise InvalidNotification("not a successful payment")
        out_trade_no, transaction_id = data.get("out_trade_no"), data.get("transaction_id")
        amount = data.get("total_fee")
        if not (isinstance(out_trade_no, str) and isinstance(transaction_id, str) and isinstance(amount, int)):
            raise InvalidNotification("missing out_trade_no, transaction_id or total_fee")
        return PaymentNotice(out_trade_no, transaction_id, amount, data.get("openid") or None, raw=data)

    def parse_refund_notice(self, body: bytes) -> RefundNotice:
        outer = _xml(body)
        if outer.get("return_code") != "SUCCESS":
            raise InvalidNotification("not a successful refund notification")
        try:
            data = self._pay.parse_refund_notify_result(body)
        except Exception:  # wrong account, wrong key (garbage after decryption), bad padding, ...
            raise InvalidNotification("refund notification does not decrypt for this account") from None
        if not isinstance(data, dict) or not isinstance(data.get("out_refund_no"), str):
            raise InvalidNotification("malformed refund notification")
        amount = data.get("refund_fee")
        if not isinstance(amount, int):
            raise InvalidNotification("missing refund_fee")
        state = data.get("refund_status") or ""
        return RefundNotice(out_refund_no=data["out_refund_no"], out_trade_no=data.get("out_trade_no") or "",
                            refund_id=data.get("refund_id") or "", amount_cents=amount,
                            status=REFUND_STATES.get(state, RefundStatus.PROCESSING), code=state)
