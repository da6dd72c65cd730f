"""The member pyramid at scale, on PostgreSQL: one merchant with N members and M bills.

Generates the data inside the database (INSERT … SELECT over generate_series: members joined
over the last two years, bills spread over the last 18 months with a skew so some members come
often, 2% of bills refunded in full, 3% partly), builds the members' rollup (the scheduler's
`keep_figures` job), then times, first run and the median of the next runs:

- the pyramid as the API answers it as of now (`app.analytics.service.pyramid`), from the rollup:
  the first run counts it, the next ones (each as of its own "now") take the totals this process
  kept for the same rollup stamp and move them on (`app.analytics.kept_pyramid`);
- a hand-written single SQL over the raw bills that computes the same layer counts and revenue
  with the same thresholds in a CASE — the yardstick the issue names — and asserts that both
  give the same figures;
- the pyramid counted in SQL over the raw bills (an earlier moment, which the rollup does not
  stand for);
- with --with-python, every member scored in Python and a layer's likes.

    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS tableloop_pyramid_bench' \\
         -c 'CREATE DATABASE tableloop_pyramid_bench'
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_pyramid_bench \\
        .venv/bin/python bench/pyramid_bench.py --members 100000 --bills 1000000

The database must be empty (the script runs the migrations and refuses one with members), unless
--reuse names the data a previous run generated.
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
    """Seconds of the first run, the median of the next `runs`, and the last result."""
    start = time.perf_counter()
    result = work()
    first = time.perf_counter() - start
    laps = []
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        laps.append(time.perf_counter() - start)
    return first, statistics.median(laps) if laps else first, result


def _generate(db, merchant_id: int, store_id: int, tier_id: int, members: int, bills: int) -> None:
    now = datetime.now(UTC)
    conn = db.session.connection()
    conn.execute(sa.text("""
        INSERT INTO member (merchant_id, member_no, phone, name, gender, tags, notes, tier_id, principal_cents,
                            bonus_cents, points, created_at)
        SELECT :m, (1000000000 + g)::text, (13000000000 + g)::text, '会员' || g, 0, '[]', '', :tier, 0, 0, 0,
               :now - ((g % 730) || ' days')::interval - ((g % 1440) || ' minutes')::interval
        FROM generate_series(1, :n) AS g"""), {"m": merchant_id, "tier": tier_id, "n": members, "now": now})
    first_id = conn.execute(sa.text("SELECT min(id) FROM member WHERE merchant_id = :m"), {"m": merchant_id}).scalar()
    # Skewed visits: a bill's member is drawn with density rising towards the low ids (power 3),
    # so a few members come very often and many rarely or never.
    conn.execute(sa.text("""
        INSERT INTO customer_order (merchant_id, store_id, table_code, status, member_id, subtotal_cents,
                                    discount_cents, payable_cents, paid_cents, change_cents, refunded_cents,
                                    paid_at, refunded_at, created_at)
        SELECT :m, :store, '', CASE WHEN r.refund < 0.02 THEN 3 ELSE 2 END,
               :first + floor(:n * power(r.who, 3))::int, r.amount, 0, r.amount, r.amount, 0,
               CASE WHEN r.refund < 0.02 THEN r.amount WHEN r.refund < 0.05 THEN r.amount / 4 ELSE 0 END,
               r.paid_at, CASE WHEN r.refund < 0.05 THEN r.paid_at END, r.paid_at
        FROM (SELECT random() AS who, random() AS refund, (3000 + floor(random() * 60000))::bigint AS amount,
                     :now - random() * interval '540 days' AS paid_at
              FROM generate_series(1, :bills)) AS r"""),
                 {"m": merchant_id, "store": store_id, "first": first_id, "n": members - 1, "bills": bills,
                  "now": now})
    db.session.commit()
    conn = db.session.connection()
    conn.exec_driver_sql("ANALYZE member")
    conn.exec_driver_sql("ANALYZE customer_order")
    db.session.commit()


def _hand_written(merchant_id: int, start: datetime, end: datetime, t) -> sa.TextClause:
    """The same layers in one statement, computed in the database."""
    return sa.text("""
        WITH visits AS (
            SELECT member_id, count(*) AS visits, sum(paid_cents - refunded_cents) AS spend, max(paid_at) AS last
            FROM customer_order
            WHERE merchant_id = :m AND status = 2 AND member_id IS NOT NULL AND paid_at >= :start AND paid_at < :end
            GROUP BY member_id),
        figures AS (
            SELECT coalesce(v.visits, 0) AS visits, coalesce(v.spend, 0) AS spend,
                   floor(extract(epoch FROM :end - coalesce(v.last, m.created_at)) / 86400) AS seen,
                   floor(extract(epoch FROM :end - m.created_at) / 86400) AS member_days
            FROM member m LEFT JOIN visits v ON v.member_id = m.id
            WHERE m.merchant_id = :m AND m.created_at <= :end)
        SELECT CASE WHEN seen > :lost THEN 'lost' WHEN seen > :active THEN 'dormant'
                    WHEN visits >= :frequent AND spend >= :high THEN 'core'
                    WHEN visits >= :frequent OR spend >= :high THEN 'important'
                    WHEN visits < 2 AND member_days <= :new THEN 'new' ELSE 'potential' END AS layer,
               count(*) AS members, sum(visits) AS visits, sum(spend) AS revenue
        FROM figures GROUP BY 1""").bindparams(
        m=merchant_id, start=start, end=end, lost=t.lost_days, active=t.active_days, frequent=t.frequent_visits,
        high=t.high_spend_cents, new=t.new_member_days)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--bills", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--with-python", action="store_true", help="also score every member in Python")
    parser.add_argument("--reuse", action="store_true", help="time again over the data a previous run generated")
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
        from app.analytics import service
        from app.db import db
        from app.members.models import Member
        from app.members.service import tiers_of
        from app.onboarding import create_tenant
        from tablerules.rfm import Layer

        upgrade()
        from app.members.models import FiguresWindow
        from app.tenants.models import Merchant

        if db.session.scalar(sa.select(sa.func.count()).select_from(Member)):
            if not args.reuse:
                raise SystemExit("the database already holds members; give an empty one (or --reuse its data)")
            merchant = db.session.scalar(sa.select(Merchant).where(Merchant.name == "基准商户"))
            if merchant is None:
                raise SystemExit("--reuse: no merchant of this benchmark in the database")
            db.session.execute(sa.delete(FiguresWindow).where(FiguresWindow.merchant_id == merchant.id))
            db.session.commit()  # the rollup is built again below
            print("reusing the generated members and bills")
        else:
            merchant, store, _owner = create_tenant(merchant_name="基准商户", owner_username="bench-owner",
                                                    password="bench-password-1")
            tier_id = tiers_of(merchant.id)[0].id
            db.session.commit()
            started = time.perf_counter()
            _generate(db, merchant.id, store.id, tier_id, args.members, args.bills)
            print(f"generated {args.members:,} members and {args.bills:,} bills in "
                  f"{time.perf_counter() - started:.1f} s")

        from app.actor import Actor
        from app.db import begin_write, utcnow

        started = time.perf_counter()
        begin_write()
        service.keep_figures(utcnow(), actor=Actor.system(merchant.id))
        db.session.commit()
        built = time.perf_counter() - started
        db.session.connection().exec_driver_sql("ANALYZE member_figures")
        db.session.commit()

        def from_rollup():
            result = service.pyramid(merchant.id, utcnow())  # as the API asks: as of now
            db.session.rollback()
            return result

        rollup_first, rollup_warm, rolled = _timed(from_rollup, args.runs)
        end = utcnow()
        query = _hand_written(merchant.id, rolled.start, end, rolled.thresholds)

        def by_sql():
            rows = {row.layer: (row.members, int(row.visits), int(row.revenue))
                    for row in db.session.execute(query)}
            db.session.rollback()
            return rows

        sql_first, sql_warm, by_hand = _timed(by_sql, args.runs)
        again = service.pyramid(merchant.id, end)
        db.session.rollback()
        ours = {row.layer.value: (row.members, row.visits, row.revenue_cents) for row in again.layers if row.members}
        assert ours == by_hand, (ours, by_hand)  # the same figures both ways

        def counted_over_bills():  # an earlier moment: the rollup does not stand for it, the bills are read
            result = service.pyramid(merchant.id, end - service.NOW_TOLERANCE * 2)
            db.session.rollback()
            return result

        counted_first, counted_warm, _counted = _timed(counted_over_bills, args.runs)
        rows = [("pyramid from the rollup (`service.pyramid` as of now: quantiles + layers)", rollup_first,
                 rollup_warm),
                ("pyramid, hand-written single SQL over the bills", sql_first, sql_warm),
                ("pyramid counted in SQL over the bills (an earlier moment)", counted_first, counted_warm)]
        if args.with_python:
            def pyramid():
                scoring = service.score_members(merchant.id, end)
                summary = scoring.summary()
                db.session.rollback()
                return scoring, summary

            first, warm, (scoring, _summary) = _timed(pyramid, args.runs)
            rows.append(("pyramid, every member scored in Python (over the rollup)", first, warm))

            def likes():
                result = service.likes_of(merchant.id, scoring, Layer.CORE)
                db.session.rollback()
                return result

            likes_first, likes_warm, _ = _timed(likes, args.runs)
            rows.append(("likes of the core layer (visit side)", likes_first, likes_warm))

    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, CPython {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("thresholds in force:", rolled.thresholds)
    print(f"rollup built from the bills: {built:.2f} s")
    print("| measure | first run s | median of next runs s |")
    print("|---|---|---|")
    for name, first, warm in rows:
        print(f"| {name} | {first:.3f} | {warm:.3f} |")
    print(f"rollup / hand-written (cold): {rollup_first / sql_first:.2f}x; (warm): {rollup_warm / sql_warm:.2f}x")


if __name__ == "__main__":
    main()
