"""The small interface a payment provider implements, and the plain data it answers with.

Providers speak in fen, in one status vocabulary, and keep their own codes for the record. The
rest of the server never sees a provider's library or wire format: WeChat Pay v2
(`app.payments.wechat`) is one implementation; WeChat Pay v3 or Alipay would be another class
answering the same dataclasses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class PayStatus(enum.StrEnum):
    SUCCESS = "success"  # the money is in
    PENDING = "pending"  # not yet, or not known yet (the payer is confirming): ask again
    FAILED = "failed"  # no money moved; the payer may start a new attempt
    REVERSED = "reversed"  # cancelled by us; whatever was taken went back
    CLOSED = "closed"  # closed before it was paid
    REFUNDED = "refunded"  # paid, then refunded in part or in whole
    NOT_FOUND = "not_found"  # the provider never heard of this trade


class RefundStatus(enum.StrEnum):
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    NOT_FOUND = "not_found"  # the provider never heard of this refund


@dataclass(frozen=True)
class Charge:
    """One attempt to collect money: our trade number (unique forever), the amount, what the
    payer sees on their receipt, and the payer's (or the till's) IP address."""

    out_trade_no: str
    amount_cents: int
    description: str
    client_ip: str


@dataclass(frozen=True)
class PaymentResult:
    status: PayStatus
    out_trade_no: str
    transaction_id: str | None = None
    amount_cents: int | None = None
    payer: str | None = None  # the provider's id of the payer (WeChat: openid)
    code: str = ""  # the provider's own code (err_code, trade_state)
    message: str = ""


@dataclass(frozen=True)
class Prepared:
    """A trade created for the payer to confirm on the phone (JSAPI) or by scanning (NATIVE)."""

    out_trade_no: str
    prepay_id: str
    code_url: str | None = None


@dataclass(frozen=True)
class RefundResult:
    status: RefundStatus
    out_refund_no: str
    refund_id: str | None = None
    amount_cents: int | None = None
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class PaymentNotice:
    """A verified "this trade is paid" message from the provider."""

    out_trade_no: str
    transaction_id: str
    amount_cents: int
    payer: str | None = None
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RefundNotice:
    """A verified (decrypted) refund result from the provider."""

    out_refund_no: str
    out_trade_no: str
    refund_id: str
    amount_cents: int
    status: RefundStatus
    code: str = ""


class ProviderError(Exception):
    """Base of what a provider raises."""


class ProviderUnavailable(ProviderError):
    """No usable answer (refused, timed out, a 5xx or garbage): whether the provider acted is
    unknown, so a trade it may have started is checked again later."""

    def __init__(self, message: str, *, timed_out: bool = False, bad_answer: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out
        self.bad_answer = bad_answer


class ProviderRejected(ProviderError):
    """The provider answered and refused the request (its code and message kept)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidNotification(ProviderError):
    """A notification that is not well formed, not signed with the merchant's key, or not for
    the merchant's account."""


class PaymentProvider(Protocol):
    name: str

    def create_jsapi(self, charge: Charge, *, payer: str, notify_url: str, expires_at: datetime) -> Prepared:
        """A trade the payer confirms in the in-app browser; raises ProviderRejected."""

    def create_native(self, charge: Charge, *, product_id: str, notify_url: str, expires_at: datetime) -> Prepared:
        """A trade behind a QR code the payer scans; raises ProviderRejected."""

    def client_params(self, prepared: Prepared) -> dict:
        """What the payer's page hands to the provider's JavaScript to open the payment sheet."""

    def micropay(self, charge: Charge, *, auth_code: str) -> PaymentResult:
        """Charge the payment code shown on the payer's phone (scanned at the till)."""

    def query(self, out_trade_no: str) -> PaymentResult: ...

    def reverse(self, out_trade_no: str) -> PaymentResult:
        """Cancel a payment-code trade, paid or not; it can never be paid afterwards."""

    def close(self, out_trade_no: str) -> PaymentResult:
        """Close an unpaid JSAPI / NATIVE trade; PaymentResult SUCCESS if it was paid meanwhile."""

    def refund(self, *, out_trade_no: str, out_refund_no: str, total_cents: int, refund_cents: int,
               reason: str, notify_url: str) -> RefundResult:
        """Give money back; the same `out_refund_no` again answers the same refund."""

    def query_refund(self, out_refund_no: str) -> RefundResult:
        """Where a refund stands (NOT_FOUND when the provider never received it)."""

    def parse_payment_notice(self, body: bytes) -> PaymentNotice:
        """Verify and read a payment notification; raises InvalidNotification."""

    def parse_refund_notice(self, body: bytes) -> RefundNotice:
        """Verify and read a refund notification; raises InvalidNotification."""
