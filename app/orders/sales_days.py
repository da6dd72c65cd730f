"""The sales of past days kept per store and local calendar day (Beijing time), so the sales
dashboard (`app.analytics.sales`) reads a month as a few hundred rows instead of its bills.

It stays exact the way the members' rollup does: a day's rows are never adjusted by a difference,
always recomputed for the store and day from its bills —

- by `keep_days` (the scheduler, every ten minutes) for each day before today not kept yet (the
  first time, every day since the merchant's first bill);
- after a settlement or a refund of a bill paid on a kept day (a refund of an earlier day's bill,
  a bill the agent synced after its day): the outbox, after that commit (`ORDER_PAID` and
  `ORDER_REFUNDED` → `sales_days.bill`), so that a settlement pays nothing for it.

The outbox's handler takes the bill's day row (`SalesDay`, created not kept on first use) for
update before it looks, and `keep_days` takes the rows of the days it keeps before it reads their
bills. The handler runs after the bill's commit, so whichever of the two takes the row second sees
the bill: the job reads it, or the handler finds the day kept and recomputes it. Until the outbox
has run (seconds), a kept day lacks the late bill. Today is never kept: the dashboard reads
today's bills as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.db import begin_write, db
from app.events.domain import DomainEvent, subscribe
from app.orders.models import Order, OrderLine, Payment, PaymentKind, SalesDay, SalesDayDish, SalesDayTender, SalesHour
from app.orders.state import BILLABLE, OrderStatus
from app.outbox.models import OutboxMessage
from app.tenants.models import Store

LOCAL = timezone(timedelta(hours=8), "Asia/Shanghai")  # no daylight saving


def local_day(moment: datetime) -> date:
    return moment.astimezone(LOCAL).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The local day as [start, end) in UTC."""
    start = datetime.combine(day, datetime.min.time(), LOCAL).astimezone(UTC)
    return start, start + timedelta(days=1)


def _insert(model):
    return (postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert)(model)


def _take(rows: list[dict], *, keep: bool) -> list[tuple[int, date, bool]]:
    """Create or lock these day rows (in store, day order: two takers never wait crosswise);
    `keep` marks them kept. Answers (store, day, kept before)."""
    taken = []
    for row in sorted(rows, key=lambda r: (r["store_id"], r["day"])):
        insert = _insert(SalesDay).values(**row, is_kept=keep)
        upsert = insert.on_conflict_do_update(
            index_elements=[SalesDay.store_id, SalesDay.day],
            set_={"is_kept": sa.or_(SalesDay.is_kept, insert.excluded.is_kept)})
        kept = db.session.execute(upsert.returning(SalesDay.is_kept)).scalar_one()
        taken.append((row["store_id"], row["day"], kept))
    return taken


SALES_DAY_PAID, SALES_DAY_REFUNDED = "sales_days.paid", "sales_days.refunded"


def register() -> None:
    subscribe(DomainEvent.ORDER_PAID, SALES_DAY_PAID, recompute_after)
    subscribe(DomainEvent.ORDER_REFUNDED, SALES_DAY_REFUNDED, recompute_after)


def recompute_after(message: OutboxMessage) -> None:
    """ORDER_PAID / ORDER_REFUNDED {order_id}, after its commit: the bill's day row taken, and the
    day recomputed when it is kept."""
    order_id = message.payload.get("order_id")
    if not isinstance(order_id, int):
        return
    bill = db.session.execute(sa.select(Order.store_id, Order.paid_at).where(
        Order.id == order_id, Order.merchant_id == message.merchant_id)).one_or_none()
    if bill is None or bill.paid_at is None:
        return
    begin_write()
    day = local_day(bill.paid_at)
    [(_store, _day, kept)] = _take([{"merchant_id": message.merchant_id, "store_id": bill.store_id, "day": day}],
                                   keep=False)
    if kept:
        _recompute(message.merchant_id, bill.store_id, day, fresh=False)
    db.session.commit()


def keep_days(merchant_id: int, now: datetime) -> int:
    """Keep every day of the merchant's stores before today that is not kept yet; answers how
    many store days it kept. In the caller's transaction."""
    first = db.session.scalar(sa.select(sa.func.min(Order.paid_at)).where(
        Order.merchant_id == merchant_id, Order.status.in_([OrderStatus.PAID, OrderStatus.REFUNDED])))
    if first is None:
        return 0
    days = [local_day(first) + timedelta(days=n) for n in range((local_day(now) - local_day(first)).days)]
    if not days:
        return 0
    stores = db.session.scalars(sa.select(Store.id).where(Store.merchant_id == merchant_id)).all()
    kept = set(tuple(row) for row in db.session.execute(sa.select(SalesDay.store_id, SalesDay.day).where(
        SalesDay.merchant_id == merchant_id, SalesDay.is_kept, SalesDay.day >= days[0])).all())
    todo = [{"merchant_id": merchant_id, "store_id": store_id, "day": day}
            for store_id in stores for day in days if (store_id, day) not in kept]
    done = 0
    for store_id, day, was_kept in _take(todo, keep=True):
        _recompute(merchant_id, store_id, day, fresh=not was_kept)
        done += 1
    return done


def kept_days(merchant_id: int, store_ids: Iterable[int], first: date, last: date) -> set[date]:
    """The days from `first` to `last` kept for every one of `store_ids`."""
    ids = list(store_ids)
    if not ids:
        return set()
    return set(db.session.scalars(
        sa.select(SalesDay.day).where(SalesDay.merchant_id == merchant_id, SalesDay.store_id.in_(ids),
                                      SalesDay.is_kept, SalesDay.day >= first, SalesDay.day <= last)
        .group_by(SalesDay.day).having(sa.func.count() == len(ids))))


def local_hour(dialect: str) -> sa.ColumnElement[int]:
    if dialect == "postgresql":
        return sa.cast(sa.extract("hour", sa.func.timezone("Asia/Shanghai", Order.paid_at)), sa.Integer)
    return sa.cast(sa.func.strftime("%H", Order.paid_at, "+8 hours"), sa.Integer)


def _recompute(merchant_id: int, store_id: int, day: date, *, fresh: bool) -> None:
    """The day's rows again from its bills (`fresh`: it has none yet)."""
    if not fresh:
        for model in (SalesHour, SalesDayTender, SalesDayDish):
            db.session.execute(sa.delete(model).where(model.store_id == store_id, model.day == day))
    start, end = day_bounds(day)
    sales = [Order.merchant_id == merchant_id, Order.store_id == store_id,
             Order.status.in_([OrderStatus.PAID, OrderStatus.REFUNDED]), Order.paid_at >= start, Order.paid_at < end]
    fixed = [sa.literal(merchant_id).label("merchant_id"), sa.literal(store_id).label("store_id"),
             sa.literal(day, sa.Date).label("day")]
    hour = local_hour(db.session.get_bind().dialect.name)
    is_member = Order.member_id.is_not(None)
    paid = Order.status == OrderStatus.PAID
    by_hour = (sa.select(*fixed, hour, is_member, sa.func.count(sa.case((paid, Order.id))),
                         sa.func.coalesce(sa.func.sum(Order.paid_cents - Order.refunded_cents), 0),
                         sa.func.coalesce(sa.func.sum(Order.refunded_cents), 0),
                         sa.func.count(sa.case((~paid, Order.id))))
               .where(*sales).group_by(hour, is_member))
    db.session.execute(_insert(SalesHour).from_select(
        ["merchant_id", "store_id", "day", "hour", "is_member", "orders", "revenue_cents", "refunded_cents",
         "refunded_orders"], by_hour))
    net = sa.case((Payment.kind == PaymentKind.CHARGE, Payment.amount_cents - Payment.change_cents),
                  else_=-Payment.amount_cents)
    tenders = (sa.select(*fixed, Payment.tender, sa.func.sum(net)).join(Order, Order.id == Payment.order_id)
               .where(*sales).group_by(Payment.tender))
    db.session.execute(_insert(SalesDayTender).from_select(["merchant_id", "store_id", "day", "tender", "cents"],
                                                           tenders))
    kept = OrderLine.qty - OrderLine.refunded_qty
    dishes = (sa.select(*fixed, OrderLine.dish_id, sa.func.max(OrderLine.name), sa.func.max(OrderLine.name_en),
                        sa.func.sum(kept), sa.func.sum(kept * OrderLine.unit_price_cents))
              .join(Order, Order.id == OrderLine.order_id)
              .where(*sales, paid, OrderLine.status.in_(BILLABLE), kept > 0)
              .group_by(OrderLine.dish_id))
    db.session.execute(_insert(SalesDayDish).from_select(
        ["merchant_id", "store_id", "day", "dish_id", "name", "name_en", "qty", "revenue_cents"], dishes))
