"""Orders, their lines and payments; table sessions with the shared cart; kitchen tickets."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import IntEnumType, TenantMixin, TimestampMixin, UTCDateTime, db, enum_check, utcnow
from app.orders.state import LineStatus, OrderStatus, SessionStatus, TicketStatus
from app.tenants.models import Store
from tablerules.bill import ChargedBill
from tablerules.tenders import TenderType


class PaymentKind(enum.IntEnum):
    CHARGE = 1
    REFUND = 2


class Order(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "customer_order"  # "order" is an SQL keyword
    __table_args__ = (
        enum_check("status", OrderStatus),
        sa.UniqueConstraint("merchant_id", "idempotency_key"),
        # An order made at a till through the on-site agent: the till's own id, once per store.
        sa.UniqueConstraint("store_id", "client_order_id"),
        sa.CheckConstraint("subtotal_cents >= 0 AND payable_cents >= 0 AND paid_cents >= 0 "
                           "AND change_cents >= 0 AND refunded_cents >= 0", name="amounts_not_negative"),
        sa.Index("ix_customer_order_store_time", "store_id", "created_at"),
        # The sales dashboard reads one merchant's sales of a period.
        sa.Index("ix_customer_order_merchant_paid", "merchant_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="RESTRICT"))
    table_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dining_table.id", ondelete="SET NULL"))
    table_code: Mapped[str] = mapped_column(sa.String(10), default="")
    status: Mapped[OrderStatus] = mapped_column(IntEnumType(OrderStatus), default=OrderStatus.OPEN)
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    client_order_id: Mapped[str | None] = mapped_column(sa.String(36))
    subtotal_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    discount_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    payable_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    paid_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    change_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    refunded_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # The bill as charged (`tablerules.bill.ChargedBill.to_dict`): receipts and refunds read it,
    # never a re-pricing.
    bill: Mapped[dict | None] = mapped_column(sa.JSON)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    settled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[OrderLine]] = relationship(back_populates="order", order_by="OrderLine.id")
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.id")
    store: Mapped[Store] = relationship(viewonly=True)

    @property
    def charged_bill(self) -> ChargedBill | None:
        return ChargedBill.from_dict(self.bill) if self.bill else None


class OrderLine(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "order_line"
    __table_args__ = (
        enum_check("status", LineStatus),
        sa.CheckConstraint("qty > 0", name="qty_positive"),
        sa.CheckConstraint("unit_price_cents >= 0", name="price_not_negative"),
        sa.CheckConstraint("refunded_qty >= 0 AND refunded_qty <= qty", name="refunded_within_qty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    dish_id: Mapped[int] = mapped_column(sa.ForeignKey("dish.id", ondelete="RESTRICT"))
    # A snapshot of the dish as ordered: later menu edits never change a bill.
    name: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120), default="")
    category_id: Mapped[int | None]
    station: Mapped[str] = mapped_column(sa.String(20), default="hot")
    unit_price_cents: Mapped[int] = mapped_column(sa.BigInteger)
    qty: Mapped[int]
    options: Mapped[list] = mapped_column(sa.JSON, default=list)
    note: Mapped[str] = mapped_column(sa.String(100), default="")
    is_discountable: Mapped[bool] = mapped_column(default=True)
    status: Mapped[LineStatus] = mapped_column(IntEnumType(LineStatus))
    added_by: Mapped[str] = mapped_column(sa.String(60), default="")
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("kitchen_ticket.id", ondelete="SET NULL"))
    void_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    refunded_qty: Mapped[int] = mapped_column(default=0)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def amount_cents(self) -> int:
        return self.unit_price_cents * self.qty


class Payment(TenantMixin, TimestampMixin, db.Model):
    """Money in (charge) or out (refund) for an order, per tender."""

    __table_args__ = (
        enum_check("tender", TenderType),
        enum_check("kind", PaymentKind),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("change_cents >= 0", name="change_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="RESTRICT"), index=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="RESTRICT"))
    tender: Mapped[TenderType] = mapped_column(IntEnumType(TenderType))
    kind: Mapped[PaymentKind] = mapped_column(IntEnumType(PaymentKind), default=PaymentKind.CHARGE)
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)  # what the tender handed over (cash before change)
    change_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    external_ref: Mapped[str | None] = mapped_column(sa.String(64))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("device.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")

    @property
    def net_cents(self) -> int:
        """What the business keeps (charge) or gives back (refund)."""
        return self.amount_cents - self.change_cents


class KitchenTicket(TenantMixin, TimestampMixin, db.Model):
    """The lines of one send for one kitchen station."""

    __tablename__ = "kitchen_ticket"
    __table_args__ = (
        enum_check("status", TicketStatus),
        sa.Index("ix_kitchen_ticket_store_status", "store_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    station: Mapped[str] = mapped_column(sa.String(20))
    table_code: Mapped[str] = mapped_column(sa.String(10), default="")
    status: Mapped[TicketStatus] = mapped_column(IntEnumType(TicketStatus), default=TicketStatus.OPEN)
    is_addition: Mapped[bool] = mapped_column(default=False)  # 加菜: not the order's first send
    bumped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The printed document's version: each change (改单) or cancellation (退菜) is the next one, so
    # the agent's print ledger prints every change once and the first ticket never again.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    lines: Mapped[list[OrderLine]] = relationship(order_by="OrderLine.id")
    # Set on a new order's first tickets, which go in with the order in one flush (orders/kitchen.py).
    order: Mapped[Order] = relationship()


class OrderRush(TenantMixin, db.Model):
    """催菜: someone (the till, or a diner on the table's phone) asked the kitchen to hurry an
    order's unserved dishes. ``rush_no`` counts an order's rushes; one per number."""

    __tablename__ = "order_rush"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "rush_no"),
        sa.CheckConstraint("rush_no > 0", name="rush_no_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    rush_no: Mapped[int]
    rushed_by: Mapped[str] = mapped_column(sa.String(60), default="")
    is_diner: Mapped[bool] = mapped_column(default=False)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id", ondelete="SET NULL"))
    rushed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TableSession(TenantMixin, db.Model):
    """A party at a table: the shared cart every phone and the cashier see, and its order."""

    __tablename__ = "table_session"
    __table_args__ = (
        enum_check("status", SessionStatus),
        # One open session per table.
        sa.Index("uq_table_session_open", "table_id", unique=True, sqlite_where=sa.text("status = 1"),
                 postgresql_where=sa.text("status = 1")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"))
    table_id: Mapped[int] = mapped_column(sa.ForeignKey("dining_table.id", ondelete="CASCADE"))
    status: Mapped[SessionStatus] = mapped_column(IntEnumType(SessionStatus), default=SessionStatus.OPEN)
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    cart: Mapped[list[CartLine]] = relationship(order_by="CartLine.id", cascade="all, delete-orphan")


class CartLine(TenantMixin, TimestampMixin, db.Model):
    __tablename__ = "cart_line"
    __table_args__ = (sa.CheckConstraint("qty > 0 AND qty <= 99", name="qty_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("table_session.id", ondelete="CASCADE"), index=True)
    dish_id: Mapped[int] = mapped_column(sa.ForeignKey("dish.id", ondelete="CASCADE"))
    qty: Mapped[int]
    option_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    note: Mapped[str] = mapped_column(sa.String(100), default="")
    added_by: Mapped[str] = mapped_column(sa.String(60), default="")
    version: Mapped[int] = mapped_column(default=1)


class SplitStatus(enum.IntEnum):
    OPEN = 1  # shares are being paid
    SETTLED = 2  # the shares covered the bill; the order is paid
    CANCELLED = 3  # replaced before any share was paid, or the bill changed

    @property
    def label(self) -> str:
        return self.name.lower()


class BillSplit(TenantMixin, TimestampMixin, db.Model):
    """A table's bill split into shares (`tablerules.split`): the payable is fixed when it is made
    (priced for `member_id`, with `coupon_ids`), and the order is settled with the shares'
    tenders when they cover it. One open split per order."""

    __tablename__ = "bill_split"
    __table_args__ = (
        enum_check("status", SplitStatus),
        sa.CheckConstraint("payable_cents > 0", name="payable_positive"),
        sa.CheckConstraint("share_count >= 2", name="at_least_two_shares"),
        sa.Index("uq_bill_split_open_order", "order_id", unique=True,
                 sqlite_where=sa.text("status = 1"), postgresql_where=sa.text("status = 1")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("customer_order.id", ondelete="CASCADE"), index=True)
    status: Mapped[SplitStatus] = mapped_column(IntEnumType(SplitStatus), default=SplitStatus.OPEN)
    payable_cents: Mapped[int] = mapped_column(sa.BigInteger)
    share_count: Mapped[int]
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    coupon_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    made_by: Mapped[str] = mapped_column(sa.String(60), default="")

    shares: Mapped[list[BillShare]] = relationship(order_by="BillShare.number", lazy="selectin")


class BillShare(TenantMixin, TimestampMixin, db.Model):
    """One diner's share of a split bill. Paid once: the payment that pays it is recorded with its
    idempotency key (UNIQUE per merchant), and a share turns paid only from unpaid."""

    __tablename__ = "bill_share"
    __table_args__ = (
        sa.UniqueConstraint("split_id", "number"),
        sa.UniqueConstraint("merchant_id", "payment_key"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
        sa.CheckConstraint("(paid_at IS NULL) = (payment_key IS NULL)", name="paid_has_key"),
        enum_check("tender", TenderType),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    split_id: Mapped[int] = mapped_column(sa.ForeignKey("bill_split.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    amount_cents: Mapped[int] = mapped_column(sa.BigInteger)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_key: Mapped[str | None] = mapped_column(sa.String(100))
    tender: Mapped[TenderType | None] = mapped_column(IntEnumType(TenderType))
    paid_by: Mapped[str] = mapped_column(sa.String(60), default="")
    payer_member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("member.id", ondelete="RESTRICT"))
    external_ref: Mapped[str | None] = mapped_column(sa.String(64))  # WeChat Pay's transaction id
    payer_openid: Mapped[str | None] = mapped_column(sa.String(64))

    @property
    def is_paid(self) -> bool:
        return self.paid_at is not None


# --- the sales of past days, kept per store and local day (`app.orders.sales_days`) ----------------

class SalesDay(TenantMixin, db.Model):
    """A store's local calendar day (Beijing time) in the sales rollup. `is_kept`: the day's rows
    below hold its sales (the dashboard reads them instead of its bills). The row is also the lock
    every settlement and refund of a bill paid that day takes, kept or not, so that a day is never
    kept from bills read before one of them committed."""

    __tablename__ = "sales_day"

    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_kept: Mapped[bool] = mapped_column(default=False)


class SalesHour(TenantMixin, db.Model):
    """A kept day's sales by local hour, members' and walk-ins' apart: as `analytics.sales`
    counts them (orders paid, kept revenue, refunds, orders refunded in full)."""

    __tablename__ = "sales_hour"

    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    hour: Mapped[int] = mapped_column(primary_key=True)
    is_member: Mapped[bool] = mapped_column(primary_key=True)
    orders: Mapped[int]
    revenue_cents: Mapped[int] = mapped_column(sa.BigInteger)
    refunded_cents: Mapped[int] = mapped_column(sa.BigInteger)
    refunded_orders: Mapped[int]


class SalesDayTender(TenantMixin, db.Model):
    """A kept day's net takings per tender (charges less change, less refunds)."""

    __tablename__ = "sales_day_tender"
    __table_args__ = (enum_check("tender", TenderType),)

    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    tender: Mapped[TenderType] = mapped_column(IntEnumType(TenderType), primary_key=True)
    cents: Mapped[int] = mapped_column(sa.BigInteger)


class SalesDayDish(TenantMixin, db.Model):
    """A kept day's dishes: the quantity kept and its revenue at the bill's price, with the
    greatest name the day's lines gave it (as the dashboard's `max`)."""

    __tablename__ = "sales_day_dish"

    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    dish_id: Mapped[int] = mapped_column(primary_key=True)  # no foreign key: a deleted dish's sales stay
    name: Mapped[str] = mapped_column(sa.String(60))
    name_en: Mapped[str] = mapped_column(sa.String(120))
    qty: Mapped[int] = mapped_column(sa.BigInteger)
    revenue_cents: Mapped[int] = mapped_column(sa.BigInteger)
