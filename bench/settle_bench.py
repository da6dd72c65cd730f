"""Settlement throughput and latency under concurrent clients, beside a trivial endpoint, and
the kitchen-event latency from commit to an SSE client — all against one gunicorn server.

    python bench/settle_bench.py                      # PostgreSQL scratch db tl_bench, 32 clients
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tl_bench \
    BENCH_CLIENTS=32 BENCH_SECONDS=20 python bench/settle_bench.py

It creates the database schema with the migrations, a merchant with dishes and members with
stored value, starts gunicorn (config/gunicorn.conf.py, gthread) on a free port with
REDIS_URL set when Redis answers, and drives it over HTTP/1.1 keep-alive connections.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tl_bench")
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
WORKERS = os.environ.get("BENCH_WORKERS", "4")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recreate_database() -> None:
    if not DB_URL.startswith("postgresql"):
        return
    name = DB_URL.rsplit("/", 1)[1]
    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _seed(members: int) -> dict:
    os.environ["DATABASE_URL"] = DB_URL
    from flask_migrate import upgrade

    from app import create_app
    from app.actor import Actor
    from app.auth.service import create_tenant
    from app.db import db
    from app.members import service as members_service
    from app.members.ledger import Move, Refs, post
    from app.members.models import Account, EntryKind
    from app.menu import service as menu

    app = create_app({"SQLALCHEMY_DATABASE_URI": DB_URL.replace("postgresql://", "postgresql+psycopg://")})
    with app.app_context():
        upgrade()
        merchant, store, _owner = create_tenant(merchant_name="压测餐厅", owner_username="bench_owner",
                                                password="bench-password", store_name="压测店")
        from app.auth.permissions import Role
        from app.auth.service import create_staff

        create_staff(None, merchant_id=merchant.id, username="bench_cashier", password="bench-password",
                     role=Role.CASHIER, store_id=store.id)
        actor = Actor.system(merchant.id)
        dishes = [menu.create_dish(actor=actor, name=f"菜{i}", price_cents=1_000 + 100 * i, category="热菜").id
                  for i in range(10)]
        member_ids = []
        for i in range(members):
            member = members_service.create_member(actor=actor, phone=f"139{i:08d}", name=f"会员{i}")
            post(member, f"seed-{i}", [Move(Account.PRINCIPAL, EntryKind.TOPUP, 10**9)], Refs(), actor=actor)
            member_ids.append(member.id)
        db.session.commit()
        return {"store_id": store.id, "dishes": dishes, "members": member_ids}


class Client:
    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = json.dumps(body) if body is not None else None
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
        except (ConnectionError, http.client.HTTPException):
            # The server closed an idle keep-alive connection; every write here carries an
            # idempotency key, so sending it again is safe.
            self.conn.close()
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _drive(port: int, token: str, seed: dict, stop_at: float, index: int, out: dict) -> None:
    client = Client(port, token)
    latencies, errors = [], 0
    member_id = seed["members"][index % len(seed["members"])]
    n = 0
    while time.perf_counter() < stop_at:
        n += 1
        dish = seed["dishes"][n % len(seed["dishes"])]
        status, order = client.call("POST", "/api/v1/orders", {
            "store_id": seed["store_id"], "idempotency_key": uuid.uuid4().hex,
            "items": [{"dish_id": dish, "qty": 2}]})
        if status != 201:
            errors += 1
            continue
        tender = "stored_value" if n % 2 else "cash"
        body = {"tenders": [{"type": tender, "amount_cents": order["subtotal_cents"]}],
                "idempotency_key": uuid.uuid4().hex}
        if tender == "stored_value":
            body["member_id"] = member_id
        started = time.perf_counter()
        status, _ = client.call("POST", f"/api/v1/orders/{order['id']}/settle", body)
        if status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            errors += 1
    out[index] = (latencies, errors)


def _trivial(port: int, stop_at: float, index: int, out: dict) -> None:
    client = Client(port)
    latencies = []
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        client.call("GET", "/healthz")
        latencies.append(time.perf_counter() - started)
    out[index] = (latencies, 0)


def _run(target, port, args, seconds) -> tuple[list[float], int, float]:
    out: dict = {}
    stop_at = time.perf_counter() + seconds
    threads = [threading.Thread(target=target, args=(port, *args, stop_at, i, out)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies = [x for lat, _ in out.values() for x in lat]
    errors = sum(e for _, e in out.values())
    return latencies, errors, elapsed


def _event_latency(port: int, token: str, seed: dict, samples: int = 50) -> list[float]:
    """Time from the order's commit (its HTTP answer) to the ticket on an SSE stream."""
    client = Client(port, token)
    _, head = client.call("GET", f"/api/v1/stores/{seed['store_id']}/events?limit=1&after=0")
    stream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    stream.request("GET", f"/api/v1/stores/{seed['store_id']}/events/stream?kinds=ticket_new&after={head['head_seq']}",
                   headers={"Authorization": f"Bearer {token}"})
    response = stream.getresponse()
    arrivals: dict[int, float] = {}
    done = threading.Event()

    def read():
        buffer = b""
        while not done.is_set():
            chunk = response.fp.readline()
            if not chunk:
                return
            buffer += chunk
            if chunk == b"\n" and b"data: " in buffer:
                data = json.loads(buffer.split(b"data: ", 1)[1].split(b"\n", 1)[0])
                arrivals[data["order_id"]] = time.perf_counter()
                buffer = b""
            elif chunk == b"\n":
                buffer = b""

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    latencies = []
    for i in range(samples):
        status, order = client.call("POST", "/api/v1/orders", {
            "store_id": seed["store_id"], "idempotency_key": uuid.uuid4().hex,
            "items": [{"dish_id": seed["dishes"][i % 10], "qty": 1}]})
        committed = time.perf_counter()
        deadline = committed + 5
        while order["id"] not in arrivals and time.perf_counter() < deadline:
            time.sleep(0.0005)
        if order["id"] in arrivals:
            latencies.append(max(0.0, arrivals[order["id"]] - committed))
    done.set()
    stream.close()
    return latencies


def main() -> None:
    _recreate_database()
    seed = _seed(members=CLIENTS)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": DB_URL, "TABLELOOP_PORT": str(port), "WEB_CONCURRENCY": WORKERS,
           "GUNICORN_THREADS": "16", "SECRET_KEY": "bench-" + "x" * 40, "TABLELOOP_ENV": "production",
           "SESSION_COOKIE_SECURE": "0"}
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
        env["REDIS_URL"] = REDIS_URL
    except Exception:
        env.pop("REDIS_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                               "--access-logfile", "/dev/null", "app:create_app()"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                Client(port).call("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        status, body = Client(port).call("POST", "/api/v1/auth/token",
                                         {"username": "bench_cashier", "password": "bench-password"})
        token = body["token"]
        trivial, _, trivial_elapsed = _run(_trivial, port, (), SECONDS / 2)
        settles, errors, settle_elapsed = _run(_drive, port, (token, seed), SECONDS)
        events = _event_latency(port, token, seed)
    finally:
        server.terminate()
        server.wait(timeout=15)

    def ms(values, q):
        return f"{_percentile(values, q) * 1000:.1f}"

    print(f"database: {DB_URL.split('@')[-1]}  workers: {WORKERS} x 16 threads (gthread)  clients: {CLIENTS}  "
          f"redis: {'yes' if 'REDIS_URL' in env else 'no'}")
    print(f"{'measure':<34}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'n':>8}")
    print(f"{'GET /healthz (trivial)':<34}{len(trivial) / trivial_elapsed:>10.0f}{ms(trivial, .5):>10}"
          f"{ms(trivial, .99):>10}{len(trivial):>8}")
    print(f"{'POST /orders/{id}/settle':<34}{len(settles) / settle_elapsed:>10.0f}{ms(settles, .5):>10}"
          f"{ms(settles, .99):>10}{len(settles):>8}")
    print(f"{'kitchen event commit -> SSE client':<34}{'':>10}{ms(events, .5):>10}{ms(events, .99):>10}"
          f"{len(events):>8}")
    print(f"settle errors: {errors}; settle median {statistics.median(settles) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
