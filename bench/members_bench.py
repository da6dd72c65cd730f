"""Members at scale: member lookups and top-ups with a million members in one merchant.

Loads N members (default 1,000,000), each with one physical card and a realistic mainland
mobile number, into the database named by BENCH_DATABASE_URL, then measures through the JSON
API — a Flask test client carrying a real staff bearer token, so each request runs the token
check, the request guard, the service, the serialisation and a real transaction:

- lookup by phone, by physical card number and by dynamic member code
  (GET /api/v1/members/lookup), p50/p99 over --lookups random members each; the same three
  also straight through the service functions in an app context, to show the API's share;
- top-ups (POST /api/v1/members/<id>/topups, ￥500 so the '充500送50' rule applies): one after
  another, with 8 threads on different members, and with 8 threads on one member (row-lock
  contention).

    # PostgreSQL (the figures that matter): a scratch database, dropped and re-created by you
    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS tableloop_bench' \\
         -c 'CREATE DATABASE tableloop_bench'
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_bench \\
        .venv/bin/python bench/members_bench.py

    # SQLite (default: a fresh file under /tmp)
    .venv/bin/python bench/members_bench.py --members 200000

The schema comes from the migrations (`flask db upgrade`, run in-process on that database);
members and cards are bulk-loaded (PostgreSQL COPY through psycopg, SQLite executemany in
batches), then ANALYZE. The merchant, its store, owner, tiers and top-up rules are created by
the real services. The database must be empty: the script refuses to load into one with members.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from config.settings import DevelopmentConfig, _sqlalchemy_url

PASSWORD = "bench-password-1"
# Mainland mobile prefixes in common use (China Mobile, Unicom, Telecom and virtual operators).
PHONE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "170", "171", "173", "175", "176", "177", "178", "180",
    "181", "182", "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红鹏辉建国建华文斌浩宇欣怡子涵梓轩雨桐"
TIER_SHARE = (0.85, 0.10, 0.04, 0.01)  # base, silver, gold, diamond: a pyramid


# --- data ----------------------------------------------------------------------------------------

def _phones(n: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    while len(seen) < n:
        seen.add(rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}")
    phones = list(seen)
    rng.shuffle(phones)
    return phones


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


class Population:
    """What was loaded, kept to draw lookups from."""

    def __init__(self, n: int, seed: int) -> None:
        rng = random.Random(seed)
        self.n = n
        self.phones = _phones(n, rng)
        self.member_nos = [str(x) for x in rng.sample(range(1_000_000_000, 10_000_000_000), n)]
        self.card_nos = [f"{x:010d}" for x in rng.sample(range(10**10), n)]
        self.rng = rng


def _member_rows(pop: Population, merchant_id: int, store_id: int, tier_ids: list[int],
                 start_id: int) -> Iterator[tuple]:
    rng = random.Random(pop.n)
    now = datetime.now(UTC)
    cumulative = [sum(TIER_SHARE[: i + 1]) for i in range(len(TIER_SHARE))]
    for i in range(pop.n):
        joined = now - timedelta(seconds=rng.randrange(3 * 365 * 86400))
        tier_id = tier_ids[_pick(rng.random(), cumulative)]
        birthday = date(rng.randrange(1960, 2006), rng.randrange(1, 13), rng.randrange(1, 29)) \
            if rng.random() < 0.6 else None
        yield (start_id + i, merchant_id, joined, pop.member_nos[i], pop.phones[i], _name(rng), birthday,
               rng.randrange(3), store_id, "[]", "", tier_id, 0, 0, 0)


def _pick(x: float, cumulative: list[float]) -> int:
    for index, bound in enumerate(cumulative):
        if x <= bound:
            return index
    return len(cumulative) - 1


MEMBER_COLUMNS = ("id", "merchant_id", "created_at", "member_no", "phone", "name", "birthday", "gender",
                  "source_store_id", "tags", "notes", "tier_id", "principal_cents", "bonus_cents", "points")
CARD_COLUMNS = ("id", "merchant_id", "created_at", "member_id", "card_no", "status", "status_changed_at")


def _card_rows(pop: Population, merchant_id: int, member_start: int, card_start: int) -> Iterator[tuple]:
    now = datetime.now(UTC)
    for i in range(pop.n):
        yield (card_start + i, merchant_id, now, member_start + i, pop.card_nos[i], 1, now)


# --- loading -------------------------------------------------------------------------------------

def _load_postgresql(engine: sa.Engine, rows: Iterator[tuple], table: str, columns: tuple[str, ...]) -> None:
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        raw.commit()
    finally:
        raw.close()


def _load_sqlite(engine: sa.Engine, rows: Iterator[tuple], table: str, columns: tuple[str, ...],
                 batch: int = 20_000) -> None:
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"

    def plain(row: tuple) -> tuple:
        # SQLite keeps naive UTC (app.db.UTCDateTime) and ISO dates.
        return tuple(v.astimezone(UTC).replace(tzinfo=None).isoformat(" ") if isinstance(v, datetime)
                     else v.isoformat() if isinstance(v, date) else v for v in row)

    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        cursor.execute("BEGIN")
        chunk: list[tuple] = []
        for row in rows:
            chunk.append(plain(row))
            if len(chunk) == batch:
                cursor.executemany(sql, chunk)
                chunk.clear()
        if chunk:
            cursor.executemany(sql, chunk)
        cursor.execute("COMMIT")
        cursor.close()
    finally:
        raw.close()


def load(app, pop: Population) -> dict:
    """The merchant through the services, then members and cards in bulk; returns ids and timings."""
    from app.extensions import db
    from app.members import service
    from app.members.models import Member
    from app.onboarding import create_tenant

    with app.app_context():
        if db.session.scalar(sa.select(sa.func.count()).select_from(Member)):
            raise SystemExit("this database already holds members: give an empty one (see the docstring)")
        merchant, store, owner = create_tenant(merchant_name="压测餐厅", owner_username="bench-owner",
                                               password=PASSWORD)
        tiers = service.tiers_of(merchant.id)
        db.session.commit()
        ids = {"merchant_id": merchant.id, "store_id": store.id, "owner": owner.username,
               "tier_ids": [t.id for t in tiers]}
        engine = db.engine
        loader = _load_postgresql if engine.dialect.name == "postgresql" else _load_sqlite
        started = time.perf_counter()
        loader(engine, _member_rows(pop, merchant.id, store.id, ids["tier_ids"], 1), "member", MEMBER_COLUMNS)
        ids["members_s"] = time.perf_counter() - started
        started = time.perf_counter()
        loader(engine, _card_rows(pop, merchant.id, 1, 1), "member_card", CARD_COLUMNS)
        ids["cards_s"] = time.perf_counter() - started
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        ids["analyze_s"] = time.perf_counter() - started
    return ids


def loaded(app, n: int) -> dict:
    """The ids of an earlier load (for --measure-only)."""
    from app.auth.models import Staff
    from app.extensions import db
    from app.members.models import Member
    from app.tenants.models import Merchant

    with app.app_context():
        owner = db.session.scalar(sa.select(Staff).join(Merchant, Staff.merchant_id == Merchant.id)
                                  .where(Merchant.name == "压测餐厅", Staff.username == "bench-owner"))
        if owner is None:
            raise SystemExit("no earlier load in this database: run without --measure-only first")
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Member)
                                  .where(Member.merchant_id == owner.merchant_id))
        if count != n:
            raise SystemExit(f"this database holds {count:,} members, not {n:,}: pass --members {count}")
        return {"merchant_id": owner.merchant_id, "owner": owner.username}


# --- measuring -----------------------------------------------------------------------------------

def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _timed(calls: list[Callable[[], int]], ok: int) -> dict:
    latencies, failures = [], 0
    started = time.perf_counter()
    for call in calls:
        t0 = time.perf_counter()
        status = call()
        latencies.append(time.perf_counter() - t0)
        failures += status != ok
    elapsed = time.perf_counter() - started
    return {"n": len(calls), "p50_ms": _percentile(latencies, 50) * 1000, "p99_ms": _percentile(latencies, 99) * 1000,
            "mean_ms": statistics.fmean(latencies) * 1000, "ops_s": len(calls) / elapsed, "failed": failures}


def measure(app, pop: Population, ids: dict, lookups: int, topups: int, threads: int) -> list[tuple[str, dict]]:
    from app.actor import Actor
    from app.db import utcnow
    from app.extensions import db
    from app.members import service
    from app.members.models import MemberSettings
    from tablerules import members as rules

    rng = random.Random(7)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": ids["owner"], "password": PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with app.app_context():
        secret = bytes.fromhex(db.session.scalar(sa.select(MemberSettings.member_code_secret).where(
            MemberSettings.merchant_id == ids["merchant_id"])))

    def sample() -> list[int]:
        return [rng.randrange(pop.n) for _ in range(lookups)]

    def api_lookup(query: Callable[[], dict]) -> Callable[[], int]:
        def call() -> int:
            with client.get("/api/v1/members/lookup", query_string=query(), headers=headers) as response:
                return response.status_code
        return call

    def code_of(member_no: str) -> str:
        # The code the member's phone shows right now (it changes every minute).
        return rules.member_code(secret, member_no, rules.code_step(utcnow()))

    results: list[tuple[str, dict]] = []
    for _ in range(200):  # warm the pool, caches and code paths
        api_lookup(lambda: {"phone": pop.phones[rng.randrange(pop.n)]})()
    results.append(("API lookup by phone", _timed(
        [api_lookup(lambda i=i: {"phone": pop.phones[i]}) for i in sample()], 200)))
    results.append(("API lookup by card number", _timed(
        [api_lookup(lambda i=i: {"card_no": pop.card_nos[i]}) for i in sample()], 200)))
    results.append(("API lookup by member code", _timed(
        [api_lookup(lambda i=i: {"code": code_of(pop.member_nos[i])}) for i in sample()], 200)))

    actor = Actor.system(ids["merchant_id"])
    with app.test_request_context():

        def service_call(find: Callable[[], object]) -> Callable[[], int]:
            def call() -> int:
                member = find()
                db.session.rollback()  # one short transaction per lookup, as a request has
                return 200 if member is not None else 404
            return call

        results.append(("service find_by_phone", _timed(
            [service_call(lambda i=i: service.find_by_phone(pop.phones[i], actor=actor)) for i in sample()], 200)))
        results.append(("service find_by_card", _timed(
            [service_call(lambda i=i: service.find_by_card(pop.card_nos[i], actor=actor)) for i in sample()], 200)))
        results.append(("service find_by_code", _timed([service_call(lambda i=i: service.find_by_code(
            code_of(pop.member_nos[i]), utcnow(), consume=False, actor=actor)) for i in sample()], 200)))

    def topup_call(member_id: int, own_client=None) -> Callable[[], int]:
        def call() -> int:
            body = {"amount_cents": 50_000, "tender": "cash", "idempotency_key": uuid.uuid4().hex}
            with (own_client or client).post(f"/api/v1/members/{member_id}/topups", json=body,
                                             headers=headers) as response:
                return response.status_code
        return call

    members = rng.sample(range(1, pop.n + 1), topups * 3)
    results.append(("API top-up, sequential", _timed([topup_call(m) for m in members[:topups]], 201)))

    def threaded(label: str, member_for: Callable[[int, int], int]) -> None:
        per_thread = topups // threads
        outcomes: list[dict] = [{} for _ in range(threads)]

        def worker(t: int) -> None:
            own = app.test_client()
            outcomes[t] = _timed([topup_call(member_for(t, k), own) for k in range(per_thread)], 201)

        workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
        n = per_thread * threads
        latencies_p50 = statistics.median(o["p50_ms"] for o in outcomes)
        results.append((label, {"n": n, "p50_ms": latencies_p50, "p99_ms": max(o["p99_ms"] for o in outcomes),
                                "mean_ms": statistics.fmean(o["mean_ms"] for o in outcomes), "ops_s": n / elapsed,
                                "failed": sum(o["failed"] for o in outcomes)}))

    spread = members[topups:]
    threaded(f"API top-up, {threads} threads", lambda t, k: spread[t * (topups // threads) + k])
    hot = members[-1]
    threaded(f"API top-up, {threads} threads, one member", lambda t, k: hot)
    return results


def _check_balances(app, ids: dict) -> str:
    """The cached balances still equal the ledger after all that (the invariant)."""
    from app.extensions import db

    with app.app_context():
        bad = db.session.execute(sa.text(
            "SELECT count(*) FROM member m WHERE m.merchant_id = :m AND m.principal_cents <> "
            "(SELECT coalesce(sum(delta), 0) FROM ledger_entry e WHERE e.member_id = m.id AND e.account = 1) "
            "AND m.id IN (SELECT DISTINCT member_id FROM ledger_entry WHERE merchant_id = :m)"),
            {"m": ids["merchant_id"]}).scalar()
    return "ok" if bad == 0 else f"{bad} members disagree with their ledger"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2_000, help="random lookups per kind")
    parser.add_argument("--topups", type=int, default=2_000, help="top-ups per run (divided among threads)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--measure-only", action="store_true",
                        help="measure again on a database this script loaded before (same --members and --seed)")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL") or \
        f"sqlite:///{Path(tempfile.mkdtemp(prefix='tableloop-bench-')) / 'bench.sqlite3'}"

    class BenchConfig(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(url)
        SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": args.threads + 2}

    from flask_migrate import upgrade

    from app import create_app

    if url.startswith("sqlite"):
        BenchConfig.SQLALCHEMY_ENGINE_OPTIONS = {}
    app = create_app(BenchConfig)
    with app.app_context():
        upgrade()

    print(f"database: {url.rsplit('@', 1)[-1]}  ({'PostgreSQL' if 'postgres' in url else 'SQLite'})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    started = time.perf_counter()
    pop = Population(args.members, args.seed)
    print(f"generated {args.members:,} members and cards in {time.perf_counter() - started:.1f} s")
    if args.measure_only:
        ids = loaded(app, args.members)
    else:
        ids = load(app, pop)
        print(f"loaded members in {ids['members_s']:.1f} s, cards in {ids['cards_s']:.1f} s, "
              f"ANALYZE {ids['analyze_s']:.1f} s")
    print("load average before measuring: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    results = measure(app, pop, ids, args.lookups, args.topups, args.threads)
    print()
    print(f"{'operation':<42} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'ops/s':>8} {'failed':>6}")
    for label, r in results:
        print(f"{label:<42} {r['n']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['mean_ms']:>8.2f} "
              f"{r['ops_s']:>8.0f} {r['failed']:>6}")
    print("load average after measuring: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"ledger check: {_check_balances(app, ids)}")


if __name__ == "__main__":
    main()
