"""Payment intents (one per attempt to collect money through a provider) and provider refunds."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import IntEnumType, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check
from app.payments.state import IntentStatus, RefundState


class IntentKind(enum.IntEnum):
    ORDER = 1  # settles an order when paid
    TOPUP = 2  # credits a member's stored value when paid

    @property
    def label(self) -> str:
        return self.name.lower()


class TradeType(enum.IntEnum):
    JSAPI = 1  # the diner pays on the phone, in WeChat
    NATIVE = 2  # the diner scans a QR code (receipt, till screen)
    MICROPAY = 3  # the till scans the payment code on the diner's phone

    @property
    def label(self) -> str:
        return self.name


class PaymentIntent(TenantMixin, TimestampMixin, db.Model):
    """One attempt to collect `amount_cents` through a provider, and what to do when it is paid.

    `out_trade_no` is unique across all merchants (WeChat wants it unique per merchant account,
    and accounts may be shared); `transaction_id` is the provider's id of the payment, unique,
    so a notification for a payment already handled is recognised. An open attempt per
    idempotency key at a time: a retry that arrives while the first is still collecting is
    refused instead of charging twice.
    """

    __tablename__ = "payment_intent"
    __table_args__ = (
        enum_check("kind", IntentKind),
        enum_check("trade_type", TradeType),
        enum_check("status", IntentStatus),
        sa.UniqueConstraint("out_trade_no"),
        sa.UniqueConstraint("transaction_id"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("(kind = 1 AND order_id IS NOT NULL) OR (kind = 2 AND member_id IS NOT NULL)",
                           name="target_present"),
        sa.Index("uq_payment_intent_pending_key", "merchant_id", "idempotency_key", unique=True,
                 sqlite_where=sa.text("status = 1"), postgresql_where=sa.text("status = 1")),
        sa.Index("ix_payment_intent_status_time", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Where the money was taken (the till's store); a top-up by a manager away from a till has none.
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id", ondelete="RESTRICT"))
    provider: Mapped[str] = mapped_column(sa.String(20), default="wechat")
    kind: Mapped[IntentKind] = mapped_column(IntEnumType(IntentKind))
    trade_type: Mapped[TradeType] = mapped_column(IntEnumType(TradeType))
    status: Mapped[IntentStatus] = mapped_column(IntEnumType(IntentStatus), default=IntentStatus.PENDING)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="RESTRICT"),
                                                 index=True)
    # The member whose card is topped up, or the member the settlement is for.
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    out_trade_no: Mapped[str] = mapped_column(sa.String(32))
    transaction_id: Mapped[str | None] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str] = mapped_column(sa.String(100))
    # What the settlement applies when the money is in: points, coupon_ids, the other tenders.
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    openid: Mapped[str | None] = mapped_column(sa.String(64))
    prepay_id: Mapped[str | None] = mapped_column(sa.String(64))
    code_url: Mapped[str | None] = mapped_column(sa.String(256))
    provider_code: Mapped[str] = mapped_column(sa.String(32), default="")  # the provider's last word
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentRefund(TenantMixin, TimestampMixin, db.Model):
    """Money sent back through the provider: the provider's share of an order refund, or paid
    money that could not be applied. `out_refund_no` is derived from the refund's idempotency
    key, so a retried refund asks the provider for the same refund again."""

    __tablename__ = "payment_refund"
    __table_args__ = (
        enum_check("state", RefundState),
        sa.UniqueConstraint("out_refund_no"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    intent_id: Mapped[int] = mapped_column(sa.ForeignKey("payment_intent.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="RESTRICT"))
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment.id", ondelete="RESTRICT"))
    out_refund_no: Mapped[str] = mapped_column(sa.String(64))
    refund_id: Mapped[str | None] = mapped_column(sa.String(64))
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    state: Mapped[RefundState] = mapped_column(IntEnumType(RefundState), default=RefundState.PROCESSING)
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    provider_code: Mapped[str] = mapped_column(sa.String(32), default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
