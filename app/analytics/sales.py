"""The sales dashboard: today, this week or this month (Beijing time), for one store or the whole
chain — revenue, orders, average spend, tender mix, the members' share of revenue, new members by
what brought them in, top dishes, and revenue by hour or day.

What counts: a sale is an order paid inside the period (`paid_at`). Its revenue is what the
diner kept paid (`paid_cents - refunded_cents`): a refund, whenever it is made, is subtracted from
the period of the sale it gives back, so a period's figures are final once its refunds are in.
An order refunded in full (status REFUNDED) keeps nothing and is no order; a partly refunded one
counts once, with what it kept. The tender mix is each tender's charges (cash less the change
handed back) less its refunds, so it adds up to the revenue. Dish figures are the quantity kept
(ordered less refunded) at the price on the bill, before bill discounts.

Four statements, each one aggregate over one merchant's rows of the period (the indexes
`ix_customer_order_merchant_paid` and `ix_member_merchant_created` keep them to the period). The
days before today that the sales rollup keeps (`app.orders.sales_days`: per store, local day and
hour, tender and dish, recomputed from the bills by every settlement and refund of a bill of a
kept day) are read from it instead of their bills; only the other days' bills are read.
"""

from __future__ import annotations

import enum
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa

from app.actor import Actor
from app.db import begin_write, db
from app.members.models import Member
from app.orders import sales_days
from app.orders.models import Order, OrderLine, Payment, PaymentKind, SalesDayDish, SalesDayTender, SalesHour
from app.orders.state import BILLABLE, OrderStatus
from app.tables.models import DiningTable
from app.tenants.models import Store
from tablerules.tenders import TenderType

LOCAL = timezone(timedelta(hours=8), "Asia/Shanghai")  # no daylight saving
TOP_DISHES = 10


class Period(enum.StrEnum):
    TODAY = "today"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Span:
    """A period as local calendar days: [start, end) in UTC, and its buckets for the chart."""

    period: Period
    first_day: date
    days: int

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, datetime.min.time(), LOCAL).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

    @property
    def by_hour(self) -> bool:
        return self.period is Period.TODAY

    def buckets(self) -> list[str]:
        """The chart's labels: hours '00'…'23' for a day, ISO dates otherwise."""
        if self.by_hour:
            return [f"{h:02d}" for h in range(24)]
        return [(self.first_day + timedelta(days=i)).isoformat() for i in range(self.days)]


def span_of(period: Period, day: date) -> Span:
    """The period around the local calendar day `day`: that day, its week (Monday first) or its
    month."""
    if period is Period.TODAY:
        return Span(period, day, 1)
    if period is Period.WEEK:
        return Span(period, day - timedelta(days=day.weekday()), 7)
    return Span(period, day.replace(day=1), monthrange(day.year, day.month)[1])


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL).date()


# --- the figures ---------------------------------------------------------------------------------

@dataclass
class Totals:
    revenue_cents: int = 0
    orders: int = 0
    member_revenue_cents: int = 0
    member_orders: int = 0
    refunded_cents: int = 0
    refunded_orders: int = 0  # refunded in full

    @property
    def avg_spend_cents(self) -> int:
        return (2 * self.revenue_cents + self.orders) // (2 * self.orders) if self.orders else 0

    @property
    def member_share_permille(self) -> int:
        if self.revenue_cents <= 0:
            return 0
        return (2 * 1000 * self.member_revenue_cents + self.revenue_cents) // (2 * self.revenue_cents)

    @property
    def non_member_revenue_cents(self) -> int:
        return self.revenue_cents - self.member_revenue_cents

    def add(self, other: Totals) -> None:
        for name in ("revenue_cents", "orders", "member_revenue_cents", "member_orders", "refunded_cents",
                     "refunded_orders"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class StoreTotals:
    store_id: int
    name: str
    totals: Totals


@dataclass(frozen=True)
class TenderFigure:
    tender: str
    cents: int


@dataclass(frozen=True)
class SourceFigure:
    source: str  # campaign, table, store, none
    label: str  # the campaign's name, the table's code, the store's name; "" for none
    store_id: int | None
    members: int


@dataclass(frozen=True)
class DishFigure:
    dish_id: int
    name: str
    name_en: str
    qty: int
    revenue_cents: int


@dataclass(frozen=True)
class BucketFigure:
    label: str
    revenue_cents: int
    orders: int


@dataclass
class Dashboard:
    span: Span
    store_id: int | None
    totals: Totals
    stores: list[StoreTotals]
    tenders: list[TenderFigure]
    new_members: int
    sources: list[SourceFigure]
    top_dishes: list[DishFigure]
    series: list[BucketFigure] = field(default_factory=list)

    @property
    def sources_by_kind(self) -> dict[str, int]:
        counts = {"campaign": 0, "table": 0, "store": 0, "none": 0}
        for source in self.sources:
            counts[source.source] += source.members
        return counts


# --- the statements ------------------------------------------------------------------------------

Ranges = list[tuple[datetime, datetime]]  # [start, end) moments of the period whose bills are read


def _sales(merchant_id: int, span: Span, store_id: int | None, ranges: Ranges | None = None
           ) -> list[sa.ColumnElement[bool]]:
    where = [Order.merchant_id == merchant_id, Order.status.in_([OrderStatus.PAID, OrderStatus.REFUNDED])]
    ranges = [(span.start, span.end)] if ranges is None else ranges
    where.append(sa.or_(*[sa.and_(Order.paid_at >= start, Order.paid_at < end) for start, end in ranges]))
    if store_id is not None:
        where.append(Order.store_id == store_id)
    return where


def totals_query(merchant_id: int, span: Span, store_id: int | None, dialect: str,
                 ranges: Ranges | None = None) -> sa.Select:
    """Per store, member / not member and local hour (a day) or date (a week, a month): orders,
    kept revenue, refunds — the totals, the stores and the chart from one pass over the period's
    orders."""
    is_member = Order.member_id.is_not(None)
    kept = Order.paid_cents - Order.refunded_cents
    paid = Order.status == OrderStatus.PAID
    bucket = _bucket(span, dialect).label("bucket")
    return (sa.select(Order.store_id, is_member.label("is_member"), bucket,
                      sa.func.count(sa.case((paid, Order.id))).label("orders"),
                      sa.func.coalesce(sa.func.sum(kept), 0).label("revenue_cents"),
                      sa.func.coalesce(sa.func.sum(Order.refunded_cents), 0).label("refunded_cents"),
                      sa.func.count(sa.case((~paid, Order.id))).label("refunded_orders"))
            .where(*_sales(merchant_id, span, store_id, ranges))
            .group_by(Order.store_id, is_member, bucket))


def tenders_query(merchant_id: int, span: Span, store_id: int | None, ranges: Ranges | None = None) -> sa.Select:
    """Per tender: charges less change, less refunds, over the period's sales."""
    net = sa.case((Payment.kind == PaymentKind.CHARGE, Payment.amount_cents - Payment.change_cents),
                  else_=-Payment.amount_cents)
    return (sa.select(Payment.tender, sa.func.sum(net).label("cents"))
            .join(Order, Order.id == Payment.order_id)
            # A payment belongs to its order's merchant: the order's index alone picks the rows (a
            # second condition on payment.merchant_id made PostgreSQL AND two bitmaps per order).
            .where(*_sales(merchant_id, span, store_id, ranges))
            .group_by(Payment.tender))


def _bucket(span: Span, dialect: str) -> sa.ColumnElement:
    if dialect == "postgresql":
        local = sa.func.timezone("Asia/Shanghai", Order.paid_at)
        return sa.func.to_char(local, "HH24" if span.by_hour else "YYYY-MM-DD")
    return sa.func.strftime("%H" if span.by_hour else "%Y-%m-%d", Order.paid_at, "+8 hours")


def dishes_query(merchant_id: int, span: Span, store_id: int | None, ranges: Ranges | None = None, *,
                 top: int | None = TOP_DISHES) -> sa.Select:
    kept = OrderLine.qty - OrderLine.refunded_qty
    revenue = sa.func.sum(kept * OrderLine.unit_price_cents)
    return (sa.select(OrderLine.dish_id, sa.func.max(OrderLine.name).label("name"),
                      sa.func.max(OrderLine.name_en).label("name_en"), sa.func.sum(kept).label("qty"),
                      revenue.label("revenue_cents"))
            .join(Order, Order.id == OrderLine.order_id)
            .where(*_sales(merchant_id, span, store_id, ranges), Order.status == OrderStatus.PAID,
                   OrderLine.status.in_(BILLABLE), kept > 0)
            .group_by(OrderLine.dish_id)
            .order_by(revenue.desc(), OrderLine.dish_id)
            .limit(top))


# --- the same from the kept days (`app.orders.sales_days`) --------------------------------------

def _kept(model, merchant_id: int, store_id: int | None, days: list[date]) -> list[sa.ColumnElement[bool]]:
    where = [model.merchant_id == merchant_id, model.day.in_(days)]
    if store_id is not None:
        where.append(model.store_id == store_id)
    return where


def kept_totals_query(merchant_id: int, span: Span, store_id: int | None, days: list[date]) -> sa.Select:
    bucket = (SalesHour.hour if span.by_hour else SalesHour.day).label("bucket")
    return (sa.select(SalesHour.store_id, SalesHour.is_member, bucket,
                      sa.func.sum(SalesHour.orders).label("orders"),
                      sa.func.sum(SalesHour.revenue_cents).label("revenue_cents"),
                      sa.func.sum(SalesHour.refunded_cents).label("refunded_cents"),
                      sa.func.sum(SalesHour.refunded_orders).label("refunded_orders"))
            .where(*_kept(SalesHour, merchant_id, store_id, days))
            .group_by(SalesHour.store_id, SalesHour.is_member, bucket))


def kept_tenders_query(merchant_id: int, store_id: int | None, days: list[date]) -> sa.Select:
    return (sa.select(SalesDayTender.tender, sa.func.sum(SalesDayTender.cents).label("cents"))
            .where(*_kept(SalesDayTender, merchant_id, store_id, days)).group_by(SalesDayTender.tender))


def kept_dishes_query(merchant_id: int, store_id: int | None, days: list[date]) -> sa.Select:
    return (sa.select(SalesDayDish.dish_id, sa.func.max(SalesDayDish.name).label("name"),
                      sa.func.max(SalesDayDish.name_en).label("name_en"), sa.func.sum(SalesDayDish.qty).label("qty"),
                      sa.func.sum(SalesDayDish.revenue_cents).label("revenue_cents"))
            .where(*_kept(SalesDayDish, merchant_id, store_id, days)).group_by(SalesDayDish.dish_id))


def _unkept(span: Span, kept: set[date]) -> Ranges:
    """The period's days not kept, as runs of [start, end) moments."""
    ranges: Ranges = []
    for i in range(span.days):
        day = span.first_day + timedelta(days=i)
        if day in kept:
            continue
        start, end = sales_days.day_bounds(day)
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def _label(bucket, span: Span) -> str:
    """A kept row's bucket (an hour, a date) as the chart's label."""
    if isinstance(bucket, str):
        return bucket
    return f"{bucket:02d}" if span.by_hour else bucket.isoformat()


def new_members_query(merchant_id: int, span: Span, store_id: int | None) -> sa.Select:
    """Members who joined in the period, by the store, table and campaign of the code they scanned
    (one store: those it brought in)."""
    query = (sa.select(Member.source_store_id, Member.source_table_id, Member.source_campaign,
                       sa.func.count().label("members"))
             .where(Member.merchant_id == merchant_id, Member.created_at >= span.start, Member.created_at < span.end)
             .group_by(Member.source_store_id, Member.source_table_id, Member.source_campaign))
    if store_id is not None:
        query = query.where(Member.source_store_id == store_id)
    return query


# --- the dashboard -------------------------------------------------------------------------------

def dashboard(merchant_id: int, span: Span, store_id: int | None = None) -> Dashboard:
    dialect = db.session.get_bind().dialect.name
    stores = {s.id: s.name for s in db.session.execute(
        sa.select(Store.id, Store.name).where(Store.merchant_id == merchant_id).order_by(Store.id))}

    kept = sorted(sales_days.kept_days(merchant_id, [store_id] if store_id is not None else stores,
                                       span.first_day, span.last_day))
    ranges = _unkept(span, set(kept))
    per_store: dict[int, Totals] = {}
    found: dict[str, list[int]] = {}
    rows = [*(db.session.execute(totals_query(merchant_id, span, store_id, dialect, ranges)) if ranges else ()),
            *(db.session.execute(kept_totals_query(merchant_id, span, store_id, kept)) if kept else ())]
    for row in rows:
        figures = Totals(revenue_cents=int(row.revenue_cents), orders=row.orders,
                         refunded_cents=int(row.refunded_cents), refunded_orders=row.refunded_orders)
        if row.is_member:
            figures.member_revenue_cents, figures.member_orders = figures.revenue_cents, figures.orders
        per_store.setdefault(row.store_id, Totals()).add(figures)
        bucket = found.setdefault(_label(row.bucket, span), [0, 0])
        bucket[0] += figures.revenue_cents
        bucket[1] += figures.orders
    totals = Totals()
    for figures in per_store.values():
        totals.add(figures)
    shown = [store_id] if store_id is not None else list(stores)
    store_rows = [StoreTotals(sid, stores.get(sid, ""), per_store.get(sid, Totals())) for sid in shown]

    by_tender: dict[TenderType, int] = {}
    for row in [*(db.session.execute(tenders_query(merchant_id, span, store_id, ranges)) if ranges else ()),
                *(db.session.execute(kept_tenders_query(merchant_id, store_id, kept)) if kept else ())]:
        by_tender[TenderType(row.tender)] = by_tender.get(TenderType(row.tender), 0) + int(row.cents)
    tenders = [TenderFigure(t.label, by_tender.get(t, 0)) for t in TenderType]

    sources = _sources(merchant_id, span, store_id, stores)
    dishes = _dishes(merchant_id, span, store_id, ranges, kept)
    series = [BucketFigure(label, *found.get(label, (0, 0))) for label in span.buckets()]
    return Dashboard(span, store_id, totals, store_rows, tenders, sum(s.members for s in sources), sources,
                     dishes, series)


def _dishes(merchant_id: int, span: Span, store_id: int | None, ranges: Ranges, kept: list[date]
            ) -> list[DishFigure]:
    if not kept:
        return [DishFigure(row.dish_id, row.name, row.name_en or "", int(row.qty), int(row.revenue_cents))
                for row in db.session.execute(dishes_query(merchant_id, span, store_id, ranges))]
    summed: dict[int, list] = {}  # dish: [name, name_en, qty, revenue]
    for row in [*(db.session.execute(dishes_query(merchant_id, span, store_id, ranges, top=None)) if ranges else ()),
                *db.session.execute(kept_dishes_query(merchant_id, store_id, kept))]:
        figures = summed.setdefault(row.dish_id, [row.name, row.name_en or "", 0, 0])
        figures[0], figures[1] = max(figures[0], row.name), max(figures[1], row.name_en or "")
        figures[2] += int(row.qty)
        figures[3] += int(row.revenue_cents)
    top = sorted(summed.items(), key=lambda item: (-item[1][3], item[0]))[:TOP_DISHES]
    return [DishFigure(dish_id, name, name_en, qty, revenue) for dish_id, (name, name_en, qty, revenue) in top]


def keep_sales_days(now: datetime, *, actor: Actor) -> int:
    """The scheduler's job for one merchant: every day before today kept (`app.orders.sales_days`);
    answers how many store days it kept now."""
    begin_write()
    return sales_days.keep_days(actor.merchant_id, now)


def _sources(merchant_id: int, span: Span, store_id: int | None, stores: dict[int, str]) -> list[SourceFigure]:
    rows = db.session.execute(new_members_query(merchant_id, span, store_id)).all()
    table_ids = {row.source_table_id for row in rows if row.source_table_id is not None}
    codes = dict(db.session.execute(sa.select(DiningTable.id, DiningTable.code).where(
        DiningTable.merchant_id == merchant_id, DiningTable.id.in_(table_ids))).all()) if table_ids else {}
    counted: dict[tuple[str, str, int | None], int] = {}
    for row in rows:
        if row.source_campaign:
            key = ("campaign", row.source_campaign, None)
        elif row.source_table_id is not None:
            key = ("table", codes.get(row.source_table_id, f"#{row.source_table_id}"), row.source_store_id)
        elif row.source_store_id is not None:
            key = ("store", stores.get(row.source_store_id, ""), row.source_store_id)
        else:
            key = ("none", "", None)
        counted[key] = counted.get(key, 0) + row.members
    order = {"campaign": 0, "table": 1, "store": 2, "none": 3}
    return sorted((SourceFigure(kind, label, sid, n) for (kind, label, sid), n in counted.items()),
                  key=lambda s: (order[s.source], -s.members, s.label))

