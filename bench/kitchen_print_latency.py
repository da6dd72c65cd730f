"""Kitchen print latency: from the server's commit of an order to the last byte of its kitchen
ticket at the (virtual) kitchen printer, through the whole real chain.

    .venv/bin/python bench/kitchen_print_latency.py [--orders 300] [--gap-ms 50]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tl_bench_kpl .venv/bin/python bench/kitchen_print_latency.py

The chain: `POST /api/v1/orders` on the real server (gunicorn, `config/gunicorn.conf.py`, one
worker, the embedded in-process doorbell) commits the order and its `ticket_new` event → the
store's feed reads it → the SSE stream → the agent (`python -m pos_agent`, its own process,
following the log with its device token) → dispatch → print ledger row committed (fsync) →
cursor saved (fsync) → the sending thread → TCP to the virtual kitchen printer in this process,
status query, job, close. The database is a fresh SQLite file (or the PostgreSQL database named
by BENCH_DATABASE_URL, whose schema is DROPPED first), built by the migrations and the demo data
(whose device is the agent's).

"Commit" is the `created_at` of the order's `ticket_new` event, taken in the order's transaction
just before it commits (server wall clock); "last byte" is the printer's wall clock when the
ticket's last byte arrived (same machine, same clock). Each order is also timed on this side's
monotonic clock from just before the request is sent (an upper bound, with the request's own
work in it) and from its answer (a lower bound: the answer leaves after the commit). Orders go
one after another, each after the previous ticket printed, `--gap-ms` apart (with jitter).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support import free_port, fresh_app  # noqa: E402
from simulators.printer import VirtualPrinter  # noqa: E402
from tests.agent_support import AgentProcess, Http, agent_config, until  # noqa: E402


def prepare_database(url: str) -> tuple[int, int]:
    """Schema from the migrations, then the demo data; (store id, a dish of the menu with no options)."""
    import sqlalchemy as sa

    from app.demo.seed import load_demo
    from app.extensions import db
    from app.menu.models import Dish, OptionGroup
    from app.tenants.models import Store

    app = fresh_app(url)
    with app.app_context():
        load_demo()
        store = db.session.scalars(sa.select(Store).order_by(Store.id)).first()
        with_options = sa.select(OptionGroup.dish_id)
        dish = db.session.scalars(sa.select(Dish).where(Dish.station == "hot", Dish.id.not_in(with_options))
                                  .order_by(Dish.id)).first()
        ids = store.id, dish.id
        db.engine.dispose()
    return ids


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--gap-ms", type=float, default=50.0)
    args = parser.parse_args()

    from app.demo.seed import DEMO_DEVICE_TOKEN, PASSWORD

    work = Path(tempfile.mkdtemp(prefix="tableloop-kpl-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work / 'bench.sqlite3'}"
    store_id, dish_id = prepare_database(url)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "TABLELOOP_PORT": str(port), "WEB_CONCURRENCY": "1"}
    env.pop("REDIS_URL", None)
    server_log = open(work / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.conf.py",
                               "--access-logfile", "/dev/null", "app:create_app()"],
                              cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    agent = None
    try:
        def up() -> bool:
            try:
                Http(base).get("/healthz")
            except OSError:
                return False
            return True

        until(up, "the server", timeout=60)
        with VirtualPrinter(port=0, name="front") as front, \
                VirtualPrinter(port=0, name="kitchen", keep=args.orders + args.warmup + 10) as kitchen:
            config = agent_config(store_id=store_id, server_url=base, token=DEMO_DEVICE_TOKEN,
                                  data_dir=work / "agent", printers={"front": front.port, "kitchen": kitchen.port},
                                  report_interval_s=30, stream_timeout_s=40)
            agent = AgentProcess(config, work).start()
            until(lambda: agent.status()["follow"]["mode"] == "stream", "the agent on the stream", timeout=60)
            cashier = Http(base + "/api/v1")
            cashier.token = cashier.post("/auth/token", {"username": "cashier", "password": PASSWORD})["token"]

            upper, lower, last_bytes = [], [], {}
            for n in range(args.warmup + args.orders):
                sent = time.perf_counter()
                order = cashier.post("/orders", {"store_id": store_id, "idempotency_key": uuid.uuid4().hex,
                                                 "items": [{"dish_id": dish_id, "qty": 1 + n % 3}]}, expect=201)
                answered = time.perf_counter()
                (job,) = kitchen.wait_for_jobs(n + 1, timeout=30)[n:]
                assert f"单号 No. {order['id']}" in job.decoded.lines
                if n >= args.warmup:
                    upper.append((job.last_byte_at - sent) * 1000)
                    lower.append((job.last_byte_at - answered) * 1000)
                    # The printer's wall clock at the last byte, to meet the server's wall clock.
                    first = datetime.fromisoformat(job.received_at)
                    last_bytes[order["id"]] = first + timedelta(seconds=job.last_byte_at - job.first_byte_at)
                time.sleep(args.gap_ms / 1000 * (0.5 + random.random()))
            assert len(kitchen.jobs) == args.warmup + args.orders, "a ticket printed twice"
            # The event's created_at is taken in the order's transaction, just before its commit.
            committed, after = {}, 0
            while True:
                page = cashier.get(f"/stores/{store_id}/events?after={after}&kinds=ticket_new&limit=1000")
                committed.update({e["order_id"]: datetime.fromisoformat(e["created_at"]) for e in page["events"]})
                if not page["events"]:
                    break
                after = page["last_seq"]
            commit = [(at - committed[order_id]).total_seconds() * 1000 for order_id, at in last_bytes.items()]
    finally:
        if agent is not None:
            agent.stop()
        server.terminate()
        server.wait(20)
        server_log.close()

    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"kitchen print latency, {args.orders} orders one after another ({args.warmup} untimed), "
          f"{database}, gunicorn 1 worker, agent on the SSE stream")
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, CPython {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'measure':<46} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (("commit (event created_at) → last byte", commit),
                         ("request sent → last byte", upper),
                         ("answer received → last byte", lower)):
        print(f"{name:<46} {statistics.median(values):8.1f} {percentile(values, 90):8.1f} "
              f"{percentile(values, 99):8.1f} {max(values):8.1f}")
    p99 = percentile(commit, 99)
    print(f"target: commit → last byte p99 ≤ 300 ms: {p99:.1f} ms, {'reached' if p99 <= 300 else 'NOT reached'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
