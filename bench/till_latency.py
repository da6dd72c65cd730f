"""Till latency: a till action → the agent's answer the page draws from, through the real chain.

    .venv/bin/python bench/till_latency.py [--rounds 200]
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tl_bench_till .venv/bin/python bench/till_latency.py

The server is gunicorn (`config/gunicorn.conf.py`, one worker) on a fresh SQLite file (or the
PostgreSQL database named by BENCH_DATABASE_URL, whose schema is DROPPED first) with the demo data;
the agent is `python -m pos_agent` in its own process, online, with virtual printers. Timed on
this side, from just before the request to the end of the answer, as the till page sees it:

- dish search (`GET /api/v1/dishes/search?q=<initials>`): from the agent's local copy;
- add dish (`POST /api/v1/orders/{id}/items`, 加菜): forwarded to the server with the cashier's
  token, answered with the order as the server committed it (its kitchen ticket follows from the
  event log); a new order every 8 additions, as a table's dinner;
- member identified (`GET /api/v1/members/identify?card=…`, what a swipe or a scan asks): the
  local copy finds the card, the server gives principal / bonus and the usable coupons.

The figures go in docs/benchmarks.md ("The till").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.menu.search import dish_keys  # noqa: E402
from bench.support import free_port, fresh_app  # noqa: E402
from simulators.printer import VirtualPrinter  # noqa: E402
from tests.agent_support import AgentProcess, Http, agent_config, until  # noqa: E402

CARD_NO = "0077000001"


def prepare_database(url: str) -> dict:
    """Schema from the migrations, the demo data, and one demo member with a card."""
    import sqlalchemy as sa

    from app.demo.seed import load_demo
    from app.extensions import db
    from app.members.models import Member, MemberCard
    from app.menu.models import Dish, OptionGroup
    from app.tenants.models import Store

    app = fresh_app(url)
    with app.app_context():
        load_demo(member_count=200)
        store = db.session.scalars(sa.select(Store).order_by(Store.id)).first()
        with_options = sa.select(OptionGroup.dish_id)
        dishes = db.session.scalars(sa.select(Dish).where(Dish.id.not_in(with_options), Dish.is_active)
                                    .order_by(Dish.id).limit(5)).all()
        member = db.session.scalars(sa.select(Member).where(Member.merchant_id == store.merchant_id)
                                    .order_by(Member.id)).first()
        db.session.add(MemberCard(merchant_id=store.merchant_id, member_id=member.id, card_no=CARD_NO))
        db.session.commit()
        found = {"store_id": store.id, "dishes": [(d.id, d.name) for d in dishes], "member_id": member.id}
        db.engine.dispose()
    return found


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    from app.demo.seed import DEMO_DEVICE_TOKEN, PASSWORD

    work = Path(tempfile.mkdtemp(prefix="tableloop-till-"))
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work / 'bench.sqlite3'}"
    found = prepare_database(url)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "TABLELOOP_PORT": str(port), "WEB_CONCURRENCY": "1"}
    env.pop("REDIS_URL", None)
    server_log = open(work / "server.log", "wb")  # noqa: SIM115
    server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.conf.py",
                               "--access-logfile", "/dev/null", "app:create_app()"],
                              cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    agent = None
    timings: dict[str, list[float]] = {"dish search (local copy)": [], "add dish (加菜, via the server)": [],
                                       "member identified (card)": []}
    try:
        def up() -> bool:
            try:
                Http(base).get("/healthz")
            except OSError:
                return False
            return True

        until(up, "the server", timeout=60)
        with VirtualPrinter(port=0, name="front") as front, \
                VirtualPrinter(port=0, name="kitchen", keep=args.rounds + args.warmup + 10) as kitchen:
            config = agent_config(store_id=found["store_id"], server_url=base, token=DEMO_DEVICE_TOKEN,
                                  data_dir=work / "agent", printers={"front": front.port, "kitchen": kitchen.port})
            agent = AgentProcess(config, work).start()
            till = Http(agent.url)
            until(lambda: till.get("/api/v1/status").get("local_copy_as_of"), "the local copy", timeout=60)
            till.token = till.post("/api/v1/session", {"username": "cashier", "password": PASSWORD})["token"]
            dishes = found["dishes"]
            cid = ""
            for n in range(args.warmup + args.rounds):
                if n % 8 == 0:  # a table's dinner: a new order, then dishes added to it (untimed)
                    cid = till.post("/api/v1/orders", {"client_order_id": str(uuid.uuid4()), "items": [
                        {"dish_id": dishes[0][0], "qty": 1}]}, expect=201)["client_order_id"]
                dish_id, name = dishes[n % len(dishes)]
                initials = quote(dish_keys(name).initials)
                search = timed(lambda initials=initials: till.get(f"/api/v1/dishes/search?q={initials}"))
                add = timed(lambda dish_id=dish_id, cid=cid: till.post(f"/api/v1/orders/{cid}/items", {
                    "items": [{"dish_id": dish_id, "qty": 1}], "idempotency_key": uuid.uuid4().hex}))
                member = timed(lambda: till.get(f"/api/v1/members/identify?card={CARD_NO}"))
                if n >= args.warmup:
                    timings["dish search (local copy)"].append(search)
                    timings["add dish (加菜, via the server)"].append(add)
                    timings["member identified (card)"].append(member)
    finally:
        if agent is not None:
            agent.stop()
        server.terminate()
        server.wait(20)
        server_log.close()

    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"till latency, {args.rounds} rounds ({args.warmup} untimed), {database}, gunicorn 1 worker, "
          "agent online")
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, CPython {platform.python_version()}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'till action → agent answer':<36} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    worst = 0.0
    for name, values in timings.items():
        print(f"{name:<36} {statistics.median(values):8.1f} {percentile(values, 90):8.1f} "
              f"{percentile(values, 99):8.1f} {max(values):8.1f}")
        worst = max(worst, percentile(values, 99))
    print(f"target: p99 ≤ 100 ms for every action: worst p99 {worst:.1f} ms, "
          f"{'reached' if worst <= 100 else 'NOT reached'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
