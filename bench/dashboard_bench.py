"""The sales dashboard's time on the demo restaurant (PostgreSQL), optionally with many more bills.

Loads the demo data (`flask demo load`: about 2,000 members and six months of their bills, with
order lines and payments), optionally adds `--bills N` generated paid orders of the demo merchant
over the last 18 months (INSERT … SELECT over generate_series, each with one order line and one
cash payment, 3% refunded in full), then times `app.analytics.sales.dashboard` — the four
aggregate statements behind /manage/dashboard and GET /api/v1/analytics/sales — for today, this
week and this month, for the chain and for one store: the first run and the median of the next
runs. It also prints the query plan of the heaviest statement (the month's totals) so the index
it uses can be seen. With --keep the days before today are first kept in the sales rollup
(`app.orders.sales_days`, what the scheduler's `keep_sales_days` does) and read from it.

    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS tableloop_dashboard_bench' \\
         -c 'CREATE DATABASE tableloop_dashboard_bench'
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_dashboard_bench \\
        .venv/bin/python bench/dashboard_bench.py [--bills 1000000] [--runs 5]

The database must be empty (the script runs the migrations and refuses one with members), unless
--onto-pyramid names a database `bench/pyramid_bench.py` generated (1,000,000 members and
10,000,000 bills of one merchant over 18 months, in one store): then the dashboard is timed over
that merchant, after giving each of its bills one order line (one of 20 dishes, at the bill's
amount) and its cash payment (and refund) the first time:

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_pyramid_bench \\
        .venv/bin/python bench/dashboard_bench.py --onto-pyramid --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from config.settings import DevelopmentConfig, _sqlalchemy_url


def _timed(work, runs: int) -> tuple[float, float, object]:
    start = time.perf_counter()
    result = work()
    first = time.perf_counter() - start
    laps = []
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        laps.append(time.perf_counter() - start)
    return first, statistics.median(laps) if laps else first, result


def _generate(db, merchant_id: int, store_id: int, dish: tuple[int, str, int], bills: int) -> None:
    """`bills` paid orders of the merchant over the last 18 months, each with one line and one cash
    payment; 3% refunded in full (status REFUNDED, the line's quantity refunded)."""
    now = datetime.now(UTC)
    conn = db.session.connection()
    first = conn.execute(sa.text("SELECT coalesce(max(id), 0) + 1 FROM customer_order")).scalar()
    dish_id, name, price = dish
    conn.execute(sa.text("""
        INSERT INTO customer_order (id, merchant_id, store_id, table_code, status, subtotal_cents, discount_cents,
                                    payable_cents, paid_cents, change_cents, refunded_cents, paid_at, refunded_at,
                                    created_at)
        SELECT :first + g, :m, :store, '', CASE WHEN g % 33 = 0 THEN 3 ELSE 2 END, :price * (1 + g % 4), 0,
               :price * (1 + g % 4), :price * (1 + g % 4), 0, CASE WHEN g % 33 = 0 THEN :price * (1 + g % 4) ELSE 0 END,
               t.at, CASE WHEN g % 33 = 0 THEN t.at END, t.at
        FROM generate_series(0::bigint, :n - 1) AS g,
             LATERAL (SELECT :now - (((g * 7919) % 540) || ' days')::interval
                             - (((g * 104729) % 86400) || ' seconds')::interval AS at) AS t"""),
                 {"first": first, "m": merchant_id, "store": store_id, "price": price, "n": bills, "now": now})
    conn.execute(sa.text("""
        INSERT INTO order_line (merchant_id, order_id, dish_id, name, name_en, category_id, station, unit_price_cents,
                                qty, options, note, is_discountable, status, added_by, void_reason, refunded_qty,
                                created_at)
        SELECT :m, o.id, :dish, :name, '', NULL, 'hot', :price, 1 + (o.id - :first) % 4, '[]', '', true, 4, '', '',
               CASE WHEN o.status = 3 THEN 1 + (o.id - :first) % 4 ELSE 0 END, o.created_at
        FROM customer_order o WHERE o.id >= :first"""),
                 {"m": merchant_id, "dish": dish_id, "name": name, "price": price, "first": first})
    conn.execute(sa.text("""
        INSERT INTO payment (merchant_id, order_id, store_id, tender, kind, amount_cents, change_cents, reason,
                             created_at)
        SELECT :m, o.id, o.store_id, 1, 1, o.paid_cents, 0, '', o.paid_at FROM customer_order o WHERE o.id >= :first
        UNION ALL
        SELECT :m, o.id, o.store_id, 1, 2, o.refunded_cents, 0, 'bench', o.paid_at
        FROM customer_order o WHERE o.id >= :first AND o.refunded_cents > 0"""), {"m": merchant_id, "first": first})
    conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('customer_order', 'id'), "
                         "(SELECT max(id) FROM customer_order))")
    db.session.commit()
    conn = db.session.connection()
    for table in ("customer_order", "order_line", "payment", "member"):
        conn.exec_driver_sql(f"ANALYZE {table}")
    db.session.commit()


def _complete_pyramid_bills(db, merchant_id: int, store_id: int) -> None:
    """One order line and the payments of every bill of the pyramid benchmark's merchant that has
    none yet (its bills are generated without them)."""
    from app.menu.models import Category, Dish

    conn = db.session.connection()
    if conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM payment WHERE merchant_id = :m)"),
                    {"m": merchant_id}).scalar():
        return
    category = Category(merchant_id=merchant_id, name="基准菜")
    db.session.add(category)
    db.session.flush()
    dishes = [Dish(merchant_id=merchant_id, category_id=category.id, name=f"基准菜{i:02d}", price_cents=3_000 + i)
              for i in range(20)]
    db.session.add_all(dishes)
    db.session.flush()
    conn = db.session.connection()
    conn.execute(sa.text("""
        INSERT INTO order_line (merchant_id, order_id, dish_id, name, name_en, category_id, station, unit_price_cents,
                                qty, options, note, is_discountable, status, added_by, void_reason, refunded_qty,
                                created_at)
        SELECT :m, o.id, (:dishes)[1 + o.id % 20], '基准菜' || lpad((o.id % 20)::text, 2, '0'), '', :category, 'hot',
               o.subtotal_cents, 1, '[]', '', true, 4, '', '', CASE WHEN o.status = 3 THEN 1 ELSE 0 END, o.created_at
        FROM customer_order o WHERE o.merchant_id = :m"""),
                 {"m": merchant_id, "dishes": [d.id for d in dishes], "category": category.id})
    conn.execute(sa.text("""
        INSERT INTO payment (merchant_id, order_id, store_id, tender, kind, amount_cents, change_cents, reason,
                             created_at)
        SELECT :m, o.id, o.store_id, 1, 1, o.paid_cents, 0, '', o.paid_at FROM customer_order o WHERE o.merchant_id = :m
        UNION ALL
        SELECT :m, o.id, o.store_id, 1, 2, o.refunded_cents, 0, 'bench', o.refunded_at
        FROM customer_order o WHERE o.merchant_id = :m AND o.refunded_cents > 0"""), {"m": merchant_id})
    db.session.commit()
    conn = db.session.connection()
    for table in ("order_line", "payment"):
        conn.exec_driver_sql(f"ANALYZE {table}")
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bills", type=int, default=0, help="generated bills on top of the demo data")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true",
                        help="keep the days before today first (the scheduler's keep_sales_days), then time")
    parser.add_argument("--onto-pyramid", action="store_true",
                        help="time the merchant of a database bench/pyramid_bench.py generated")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        raise SystemExit("set BENCH_DATABASE_URL to an empty PostgreSQL database")

    from flask_migrate import upgrade

    from app import create_app

    class Config(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(url)

    app = create_app(Config)
    with app.app_context():
        from app.analytics import sales
        from app.db import db
        from app.demo.seed import load_demo
        from app.members.models import Member
        from app.menu.models import Dish
        from app.orders.models import Order
        from app.tenants.models import Merchant, Store

        upgrade()
        if args.onto_pyramid:
            merchant = db.session.scalar(sa.select(Merchant).where(Merchant.name == "基准商户"))
            if merchant is None:
                raise SystemExit("--onto-pyramid: no merchant of bench/pyramid_bench.py in the database")
        elif db.session.scalar(sa.select(sa.func.count()).select_from(Member)):
            raise SystemExit("the database already holds members; give an empty one")
        else:
            started = time.perf_counter()
            load_demo()
            db.session.commit()
            print(f"demo data loaded in {time.perf_counter() - started:.1f} s")
            for table in ("customer_order", "order_line", "payment", "member"):  # as autovacuum soon would
                db.session.connection().exec_driver_sql(f"ANALYZE {table}")
            db.session.commit()
            merchant = db.session.scalars(sa.select(Merchant).order_by(Merchant.id)).first()
        stores = db.session.scalars(sa.select(Store).where(Store.merchant_id == merchant.id).order_by(Store.id)).all()
        if args.onto_pyramid:
            started = time.perf_counter()
            _complete_pyramid_bills(db, merchant.id, stores[0].id)
            print(f"order lines and payments of the bills: {time.perf_counter() - started:.1f} s")
        elif args.bills:
            dish = db.session.execute(sa.select(Dish.id, Dish.name, Dish.price_cents)
                                      .where(Dish.merchant_id == merchant.id).order_by(Dish.id)).first()
            started = time.perf_counter()
            _generate(db, merchant.id, stores[0].id, tuple(dish), args.bills)
            print(f"generated {args.bills:,} more bills in {time.perf_counter() - started:.1f} s")
        orders = db.session.scalar(sa.select(sa.func.count()).select_from(Order).where(
            Order.merchant_id == merchant.id))
        members = db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(
            Member.merchant_id == merchant.id))
        db.session.commit()

        kept_in = None
        if args.keep:
            from app.actor import Actor

            started = time.perf_counter()
            kept = sales.keep_sales_days(datetime.now(UTC), actor=Actor.system(merchant.id))
            db.session.commit()
            kept_in = time.perf_counter() - started
            print(f"kept {kept:,} store days in {kept_in:.1f} s")
        today = sales.local_today(datetime.now(UTC))
        rows = []
        for period in sales.Period:
            span = sales.span_of(period, today)
            for store_id, label in ((None, "chain"), (stores[0].id, "one store")):
                def work(span=span, store_id=store_id):
                    board = sales.dashboard(merchant.id, span, store_id)
                    db.session.rollback()
                    return board

                first, warm, board = _timed(work, args.runs)
                rows.append((period.value, label, board.totals.orders, board.totals.revenue_cents, first, warm))

        month = sales.span_of(sales.Period.MONTH, today)
        kept_days = sales.sales_days.kept_days(merchant.id, [s.id for s in stores], month.first_day, month.last_day)
        compiled = sales.totals_query(merchant.id, month, None, "postgresql", sales._unkept(month, kept_days)).compile(
            dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        plan = [row[0] for row in db.session.execute(sa.text(f"EXPLAIN {compiled}"))]
        db.session.rollback()

    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, CPython {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"merchant: {members:,} members, {orders:,} orders")
    print("days before today read from the sales rollup" if args.keep else
          "every day read from the bills (unless a run with --keep kept them)")
    print("| period | scope | orders | revenue ¥ | first run ms | median of next runs ms |")
    print("|---|---|---|---|---|---|")
    for period, label, count, revenue, first, warm in rows:
        print(f"| {period} | {label} | {count:,} | {revenue / 100:,.2f} | {first * 1000:.1f} | {warm * 1000:.1f} |")
    print("plan of the month's totals over the bills of the days not kept (chain):")
    for line in plan:
        print("   ", line)


if __name__ == "__main__":
    main()
