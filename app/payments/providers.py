"""Which provider a merchant pays through, where its notifications go, and how a provider's
trouble reads as an API error.

Every provider handed out here refuses to be called while the database session holds a
transaction: a call can take seconds (a diner typing the password, an outage), and locks or
a snapshot held that long stall the store. Record the intent, commit, call, then record the
answer in a short transaction of its own.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from app.db import db
from app.errors import APIError, Conflict
from app.payments.provider import PaymentProvider, PaymentResult, ProviderRejected, ProviderUnavailable
from app.wechat.models import WeChatSettings


def wechat_settings(merchant_id: int) -> WeChatSettings | None:
    settings = db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == merchant_id))
    if settings is None or not (settings.mch_id and settings.api_key):
        return None
    return settings


class TransactionOpen(RuntimeError):
    """A provider was called while the database session held a transaction."""


class OutsideTransactions:
    """A provider whose calls over the network refuse to run inside an open transaction."""

    CALLS = frozenset({"create_jsapi", "create_native", "micropay", "query", "reverse", "close", "refund",
                       "query_refund"})

    def __init__(self, provider: PaymentProvider) -> None:
        self._provider = provider
        self.name = provider.name

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._provider, name)
        if name not in self.CALLS:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if db.session().in_transaction():
                raise TransactionOpen(f"payment provider call {name!r} inside an open database transaction")
            return attribute(*args, **kwargs)

        return call


def provider_of(settings: WeChatSettings) -> PaymentProvider:
    from app.payments.wechat import WeChatPayProvider

    return OutsideTransactions(WeChatPayProvider(settings))  # type: ignore[return-value]


def provider_for(merchant_id: int) -> PaymentProvider:
    settings = wechat_settings(merchant_id)
    if settings is None:
        raise Conflict(gettext("WeChat Pay is not set up for this merchant."), error_code="wechat_pay_not_configured")
    return provider_of(settings)


def _public_url(path: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def payment_notify_url() -> str:
    return _public_url("/payments/wechat/notify")


def refund_notify_url() -> str:
    return _public_url("/payments/wechat/refund-notify")


def unavailable(error: ProviderUnavailable, *, refund: bool = False) -> APIError:
    if refund:
        message = gettext("WeChat Pay cannot be reached right now; nothing was refunded. Please try again.")
    else:
        message = gettext("WeChat Pay cannot be reached right now; nothing was charged. "
                          "Please try again or take another tender.")
    return APIError(message, error_code="payment_provider_unavailable", status=502 if error.bad_answer else 503,
                    details={"timed_out": error.timed_out})


# WeChat's err_code for trouble on its own side: the request may well be right, so the answer
# stays a 502 (WeChat's codes for garbage answers and HTTP 5xx are ProviderUnavailable).
PROVIDER_TROUBLE = frozenset({"SYSTEMERROR", "BANKERROR", "FREQUENCY_LIMITED"})
# The trade as WeChat knows it cannot take the request: 409.
TRADE_STATE = frozenset({"ORDERPAID", "ORDERCLOSED", "ORDERREVERSED", "OUT_TRADE_NO_USED", "TRADE_STATE_ERROR",
                         "INVALID_TRANSACTIONID", "REFUND_FEE_MISMATCH", "NOTENOUGH"})


def refused(error: ProviderRejected, *, refund: bool = False) -> APIError:
    """WeChat answered and said no. Its own trouble is a 502; a refusal of the request (an
    openid of another appid, a bad parameter: `return_code` FAIL or an err_code) is a 422, and
    one the trade's state causes a 409 — WeChat's code and reason in the details either way."""
    details = {"provider_code": error.code, "provider_message": error.message}
    if refund:
        message = gettext("WeChat Pay refused the refund: %(reason)s", reason=error.message or error.code)
        return Conflict(message, error_code="payment_refund_refused", details=details)
    message = gettext("WeChat Pay refused the request: %(reason)s", reason=error.message or error.code)
    if error.code in PROVIDER_TROUBLE:
        status = 502
    elif error.code in TRADE_STATE:
        status = 409
    else:
        status = 422
    return APIError(message, error_code="payment_provider_refused", status=status, details=details)


def payment_failed(result: PaymentResult) -> APIError:
    return APIError(gettext("The WeChat payment failed (%(reason)s); nothing was charged.",
                            reason=result.message or result.code),
                    error_code="payment_failed", status=402,
                    details={"provider_code": result.code, "provider_message": result.message})


def payment_not_completed(result: PaymentResult) -> APIError:
    return Conflict(gettext("The diner did not confirm the payment in time; it was cancelled and nothing "
                            "was charged."),
                    error_code="payment_not_completed", details={"provider_code": result.code})
