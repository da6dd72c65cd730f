"""Settlement speed beside a trivial endpoint, the SQL one settle issues, and the kitchen-event
latency from commit to Server-Sent-Events clients — against one gunicorn server, in one run.

    BENCH_SECONDS=20 .venv/bin/python bench/settle_bench.py
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tl_bench_me BENCH_VERBOSE=1 \
        .venv/bin/python bench/settle_bench.py

What one run does:

1. Drops and recreates the database, builds the schema with the migrations and bootstraps one
   merchant with its owner in-process; starts gunicorn (config/gunicorn.conf.py, gthread) on a
   free port with the production config, and REDIS_URL set when Redis answers (the doorbell of
   the live streams then reaches every worker).
2. Seeds over the HTTP API: BENCH_STORES stores, one cashier per store, 10 dishes, one member
   per settle client topped up with cash.
3. `GET /healthz` (no database, no auth) with BENCH_CLIENTS clients for BENCH_SECONDS/2.
4. Settle throughput with BENCH_CLIENTS clients: client i works at store i mod BENCH_STORES with
   that store's cashier token and its own member. The orders are opened first, untimed, for
   BENCH_OPEN_SECONDS, so the window holds settles only; then the same clients settle, untimed,
   for BENCH_WARM_SECONDS, so that the window measures warm workers, as a server that has been
   running is: a pooled connection runs a statement five times before psycopg prepares it on
   the server, and five more before PostgreSQL settles on its generic plan. Each client
   alternates a cash settle (cash = subtotal) and a member settle paid in stored value, whose amount is the payable of
   `GET /orders/{id}/bill?member_id=` asked just before (the member's tier discount applies and
   stored value may not exceed the payable). The window ends after BENCH_SECONDS, or as soon as
   a store has no opened order left (printed; raise BENCH_OPEN_SECONDS for a longer window).
   Rate = settles answered 200 / window. The bill previews run inside the window (a till asks
   for one before taking stored value); the latency figures time the settle request alone.
5. Settle latency with BENCH_LATENCY_CLIENTS clients (one per store) for BENCH_SECONDS/2, the same
   alternation, on the orders left over (opened on the spot when none is left).
6. Kitchen event latency: BENCH_STREAMS clients, each on its own connection to
   `/api/v1/stores/{id}/events/stream?kinds=ticket_new&after=<head>` of the first store, while a
   paced producer opens orders there at BENCH_EVENT_RATE per second for BENCH_EVENT_SECONDS
   (open loop: order k is due at k/rate whatever the earlier answers took, with up to 24 in
   flight; the rate it reached is printed).
   Latency per (order, stream client): from the moment the order's HTTP answer was read to the
   moment that client read the order's ticket (clamped at 0 when the stream was faster than the
   answer). Events not seen 5 s after the last order count as lost.
7. After the server stopped: the SQL statements of one member settle paid in stored value,
   counted in-process (`create_app` against the same database and environment, `test_client()`,
   a `before_cursor_execute` listener on `db.engine` around exactly that one request, after one
   untimed warm-up settle; with Redis the token it used is then kept, as in a running worker).
   BEGIN/COMMIT are not cursor statements and are not counted.

Each timed window also gives the server's CPU per answered request (user + system time of the
gunicorn processes, read from /proc before and after the window): a figure that depends far less
on the machine's other load than the latencies do. A settle's includes the member settles' bill
previews, and in the latency window any order opened there (printed). Beside it, the same of the
PostgreSQL processes of this machine (meaningful when the database runs here, as by default).

It prints the figures and a table of the targets with PASS/FAIL. It exits non-zero only when the
bench itself fails (a crash, the server not starting), never because a target is missed.

Environment knobs:

    BENCH_DATABASE_URL     PostgreSQL database, DROPPED and recreated
                           (default postgresql://postgres@127.0.0.1:5432/tl_bench)
    BENCH_SECONDS          settle window with BENCH_CLIENTS clients (20); the /healthz window and
                           the latency window are half of it
    BENCH_OPEN_SECONDS     how long the settle clients open orders before the window
                           (BENCH_SECONDS + BENCH_WARM_SECONDS)
    BENCH_WARM_SECONDS     untimed settles before the throughput window (10)
    BENCH_CLIENTS          clients for /healthz and settle throughput (32)
    BENCH_LATENCY_CLIENTS  clients for the settle latency (8)
    BENCH_STORES           stores the settle clients are spread over (8)
    BENCH_WORKERS          gunicorn workers (4 with Redis, 1 without: the in-process doorbell
                           cannot reach streams in another worker)
    BENCH_THREADS          threads per gunicorn worker (16)
    BENCH_REDIS_URL        Redis for the doorbell, used when it answers (redis://127.0.0.1:6379/15);
                           empty to run without Redis
    BENCH_STREAMS          concurrent SSE clients (20)
    BENCH_EVENT_RATE       orders per second while the streams listen (50)
    BENCH_EVENT_SECONDS    how long the producer runs (10)
    BENCH_VERBOSE          1: print the first line of each counted SQL statement, and the
                           gunicorn log's tail at the end
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tl_bench")
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
WARM_SECONDS = float(os.environ.get("BENCH_WARM_SECONDS", "10"))
OPEN_SECONDS = float(os.environ.get("BENCH_OPEN_SECONDS", str(SECONDS + WARM_SECONDS)))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
LATENCY_CLIENTS = int(os.environ.get("BENCH_LATENCY_CLIENTS", "8"))
STORES = int(os.environ.get("BENCH_STORES", "8"))
THREADS = os.environ.get("BENCH_THREADS", "16")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
STREAMS = int(os.environ.get("BENCH_STREAMS", "20"))
EVENT_RATE = float(os.environ.get("BENCH_EVENT_RATE", "50"))
EVENT_SECONDS = float(os.environ.get("BENCH_EVENT_SECONDS", "10"))
VERBOSE = os.environ.get("BENCH_VERBOSE") == "1"
PRODUCERS = 24  # connections the event producer may have in flight to keep its pace

PASSWORD = "bench-password"
TOPUP_CENTS = 10**8  # a million yuan per member: far more than any run spends
HTTP_TIMEOUT = 30

# The targets of the settle-speed work, checked against this run's figures.
TARGET_RATIO = 0.20
TARGET_SETTLE_P99 = 0.100
TARGET_STATEMENTS = 15
TARGET_EVENT_P99 = 0.050


# --- plumbing --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _ms(values: list[float], q: float) -> str:
    return f"{_percentile(values, q) * 1000:.1f}" if values else "-"


class Client:
    """One keep-alive HTTP/1.1 connection, as a till or a screen holds one."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)

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

    def must(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        status, answer = self.call(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return answer


class Errors:
    """Failed requests by status and error code (a failed request is a figure, not a crash)."""

    def __init__(self) -> None:
        self.counts: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def add(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def failed(self, status: int, answer: dict) -> None:
        self.add(f"{status} {answer.get('error', {}).get('code', '')}".strip())

    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        return ", ".join(f"{what} ×{n}" for what, n in self.counts.most_common()) or "none"


def _parallel(count: int, target) -> None:
    """Run target(i) in `count` threads; a crash in any of them is a crash of the bench."""
    crashes: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # re-raised in the main thread below
            crashes.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if crashes:
        raise crashes[0]


# --- database, server, seed ------------------------------------------------------------------

def _recreate_database() -> None:
    if not DB_URL.startswith("postgresql"):
        raise SystemExit("BENCH_DATABASE_URL must be a PostgreSQL database")
    name = DB_URL.rsplit("/", 1)[1]
    if name in {"test", "postgres", "template0", "template1"}:
        raise SystemExit(f"refusing to drop the database {name!r}")
    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _server_env() -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": DB_URL, "SECRET_KEY": "bench-" + "x" * 40,
           "SECRETS_ENCRYPTION_KEYS": "YmVuY2gtb25seS1ub3QtYS1yZWFsLWtleS0wMDAwMDA=",
           "TABLELOOP_ENV": "production", "SESSION_COOKIE_SECURE": "0", "GUNICORN_THREADS": THREADS}
    env.pop("REDIS_URL", None)
    if REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
            env["REDIS_URL"] = REDIS_URL
        except Exception:
            pass
    env["WEB_CONCURRENCY"] = os.environ.get("BENCH_WORKERS", "4" if "REDIS_URL" in env else "1")
    return env


def _bootstrap():
    """Schema from the migrations and the merchant with its owner; the app is kept for the SQL count.
    The process environment is the server's, so this app is configured exactly as gunicorn's."""
    from flask_migrate import upgrade

    from app import create_app
    from app.db import db
    from app.onboarding import create_tenant

    app = create_app()
    with app.app_context():
        upgrade()
        create_tenant(merchant_name="压测餐厅", owner_username="bench_owner", password=PASSWORD,
                      store_name="压测店1")
        db.session.commit()
        db.session.remove()
    return app


def _start_server(env: dict[str, str], log) -> subprocess.Popen:
    # Its own process group, so the workers go with the master even if it must be killed.
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                             "--access-logfile", "/dev/null", "app:create_app()"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)  # quick shutdown: streams would hold a graceful one 10 s
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=15)


def _wait_ready(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        try:
            if Client(port).call("GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def _token(port: int, username: str) -> str:
    return Client(port).must("POST", "/api/v1/auth/token", {"username": username, "password": PASSWORD})["token"]


def _seed(port: int, members: int) -> dict:
    owner = Client(port, _token(port, "bench_owner"))
    stores = [s["id"] for s in owner.must("GET", "/api/v1/stores")["stores"]]
    for i in range(len(stores), STORES):
        stores.append(owner.must("POST", "/api/v1/stores", {"name": f"压测店{i + 1}"}, expect=201)["id"])
    cashiers = []
    for i, store_id in enumerate(stores):
        owner.must("POST", "/api/v1/staff", {"username": f"bench_cashier{i}", "password": PASSWORD,
                                              "role": "cashier", "store_id": store_id}, expect=201)
        cashiers.append(_token(port, f"bench_cashier{i}"))
    dishes = [owner.must("POST", "/api/v1/menu/dishes", {"name": f"菜{i}", "price_cents": 1_000 + 100 * i,
                                                         "category": "热菜"}, expect=201)["id"]
              for i in range(10)]
    member_ids = []
    for i in range(members):
        member = owner.must("POST", "/api/v1/members", {"phone": f"139{i:08d}", "name": f"会员{i}"}, expect=201)
        owner.must("POST", f"/api/v1/members/{member['id']}/topups",
                   {"amount_cents": TOPUP_CENTS, "tender": "cash", "idempotency_key": uuid.uuid4().hex},
                   expect=201)
        member_ids.append(member["id"])
    return {"stores": stores, "cashiers": cashiers, "dishes": dishes, "members": member_ids}


# --- the measured work -----------------------------------------------------------------------

def _open_order(client: Client, seed: dict, store_id: int, n: int, qty: int = 2) -> tuple[int, dict]:
    return client.call("POST", "/api/v1/orders", {
        "store_id": store_id, "idempotency_key": uuid.uuid4().hex,
        "items": [{"dish_id": seed["dishes"][n % len(seed["dishes"])], "qty": qty}]})


def _settle(client: Client, order: dict, member_id: int | None, errors: Errors) -> float | None:
    """One settle: cash when member_id is None, else stored value of exactly the member's payable.
    Returns the settle request's own latency, or None when anything failed."""
    if member_id is None:
        body = {"tenders": [{"type": "cash", "amount_cents": order["subtotal_cents"]}]}
    else:
        status, bill = client.call("GET", f"/api/v1/orders/{order['id']}/bill?member_id={member_id}")
        if status != 200:
            errors.failed(status, bill)
            return None
        body = {"member_id": member_id, "tenders": [{"type": "stored_value", "amount_cents": bill["payable_cents"]}]}
    body["idempotency_key"] = uuid.uuid4().hex
    started = time.perf_counter()
    status, answer = client.call("POST", f"/api/v1/orders/{order['id']}/settle", body)
    if status != 200:
        errors.failed(status, answer)
        return None
    return time.perf_counter() - started


SERVER: list[subprocess.Popen] = []  # the gunicorn master, whose process group holds the workers
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) used so far by the server's processes — the master and its
    live workers (a worker that exited is not counted; none does during a run) — and by the
    PostgreSQL processes of this machine (every backend, the WAL writer, the checkpointer…)."""
    if not SERVER:
        return 0.0, 0.0
    group, server, database = SERVER[0].pid, 0, 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        if int(fields[2]) == group:  # pgrp
            server += ticks
        elif head.partition("(")[2] == "postgres":
            # cutime and cstime: the backends that ended (only the postmaster has children)
            database += ticks + int(fields[13]) + int(fields[14])
    return server / _TICKS, database / _TICKS


def _cpu_window(result: dict, cpu_before: tuple[float, float], count: int) -> dict:
    server, database = (after - before for after, before in zip(_cpu(), cpu_before, strict=True))
    result["cpu_ms"] = server * 1000 / count if count else 0.0
    result["db_ms"] = database * 1000 / count if count else 0.0
    result["load"] = os.getloadavg()[0]
    return result


def _trivial(port: int, clients: int, seconds: float) -> dict:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop_at = time.perf_counter() + seconds

    def run(i: int) -> None:
        client = Client(port)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            client.call("GET", "/healthz")
            latencies[i].append(time.perf_counter() - started)

    cpu = _cpu()
    started = time.perf_counter()
    _parallel(clients, run)
    elapsed = time.perf_counter() - started
    flat = [x for lat in latencies for x in lat]
    return _cpu_window({"latencies": flat, "rate": len(flat) / elapsed, "errors": Errors(), "clients": clients},
                       cpu, len(flat))


def _open_orders(port: int, seed: dict, clients: int, seconds: float) -> tuple[list[collections.deque], Errors]:
    """Orders for the settle clients, opened before the window (client i at store i mod STORES),
    one pool per store so that the clients of a store use them up evenly."""
    pools: list[collections.deque] = [collections.deque() for _ in seed["stores"]]
    errors = Errors()
    stop_at = time.perf_counter() + seconds

    def run(i: int) -> None:
        store = i % len(seed["stores"])
        client = Client(port, seed["cashiers"][store])
        n = 0
        while time.perf_counter() < stop_at:
            n += 1
            status, order = _open_order(client, seed, seed["stores"][store], n)
            if status == 201:
                pools[store].append(order)
            else:
                errors.failed(status, order)

    _parallel(clients, run)
    return pools, errors


def _settle_throughput(port: int, seed: dict, pools: list[collections.deque], clients: int,
                       seconds: float) -> dict:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = Errors()
    stop_at = time.perf_counter() + seconds
    ran_dry = threading.Event()
    dry_at: list[float] = []

    def run(i: int) -> None:
        store = i % len(seed["stores"])
        client = Client(port, seed["cashiers"][store])
        member_id = seed["members"][i]
        n = 0
        while time.perf_counter() < stop_at and not ran_dry.is_set():
            try:
                order = pools[store].popleft()
            except IndexError:
                ran_dry.set()  # the window ends for everyone: the rate must not mix in order opening
                dry_at.append(time.perf_counter() - started)
                break
            n += 1
            latency = _settle(client, order, member_id if n % 2 else None, errors)
            if latency is not None:
                latencies[i].append(latency)

    cpu = _cpu()
    started = time.perf_counter()
    _parallel(clients, run)
    elapsed = time.perf_counter() - started
    flat = [x for lat in latencies for x in lat]
    return _cpu_window({"latencies": flat, "rate": len(flat) / elapsed, "errors": errors, "clients": clients,
                        "window": elapsed, "dry_at": min(dry_at, default=None)}, cpu, len(flat))


def _settle_latency(port: int, seed: dict, pools: list[collections.deque], clients: int,
                    seconds: float) -> dict:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = Errors()
    opened_here = [0] * clients
    stop_at = time.perf_counter() + seconds

    def run(i: int) -> None:
        store = i % len(seed["stores"])
        client = Client(port, seed["cashiers"][store])
        member_id = seed["members"][i]
        n = 0
        while time.perf_counter() < stop_at:
            n += 1
            try:
                order = pools[store].popleft()
            except IndexError:
                status, order = _open_order(client, seed, seed["stores"][store], n)
                opened_here[i] += 1
                if status != 201:
                    errors.failed(status, order)
                    continue
            latency = _settle(client, order, member_id if n % 2 else None, errors)
            if latency is not None:
                latencies[i].append(latency)

    cpu = _cpu()
    started = time.perf_counter()
    _parallel(clients, run)
    elapsed = time.perf_counter() - started
    flat = [x for lat in latencies for x in lat]
    return _cpu_window({"latencies": flat, "rate": len(flat) / elapsed, "errors": errors, "clients": clients,
                        "opened_here": sum(opened_here)}, cpu, len(flat))


class _Stream:
    """One SSE client on its own connection; notes when it reads each order's first new ticket."""

    def __init__(self, port: int, token: str, store_id: int, after: int) -> None:
        self.arrivals: dict[int, float] = {}
        self.connected = threading.Event()
        self.failure: str | None = None
        self.closing = False
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
        self.conn.request("GET", f"/api/v1/stores/{store_id}/events/stream?kinds=ticket_new&after={after}",
                          headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            response = self.conn.getresponse()
            if response.status != 200:
                self.failure = f"stream answered {response.status}"
                self.connected.set()
                return
            while True:
                line = response.readline()  # de-chunks; blocks until a whole line arrived
                if not line:
                    return
                if line.startswith(b"retry:"):
                    self.connected.set()  # the server subscribed to the doorbell before sending this
                elif line.startswith(b"data: "):
                    seen = time.perf_counter()
                    order_id = json.loads(line[6:])["order_id"]
                    self.arrivals.setdefault(order_id, seen)
        except Exception as exc:
            if not self.closing:  # what closing the socket under the reader raises is expected
                self.failure = f"stream broke: {exc!r}"
        finally:
            self.connected.set()

    def close(self) -> None:
        self.closing = True
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked in recv
        self.thread.join(timeout=5)
        self.conn.close()


def _event_latency(port: int, seed: dict) -> dict:
    store_id, token = seed["stores"][0], seed["cashiers"][0]
    head = Client(port, token).must("GET", f"/api/v1/stores/{store_id}/events?limit=1&after=0")["head_seq"]
    streams = [_Stream(port, token, store_id, head) for _ in range(STREAMS)]
    errors = Errors()
    answered: dict[int, float] = {}
    answer_times: list[float] = []
    try:
        # A stream that does not open is a figure, not a crash: gthread lets a worker accept more
        # connections than it has threads, and a stream queued behind streams never starts.
        opening_ends = time.perf_counter() + 15
        for stream in streams:
            stream.connected.wait(max(0.0, opening_ends - time.perf_counter()))
        opened = [s for s in streams if s.connected.is_set() and not s.failure]
        total = int(EVENT_RATE * EVENT_SECONDS)
        slots = iter(range(total))
        slots_lock = threading.Lock()
        t0 = time.perf_counter() + 0.2

        def produce(p: int) -> None:
            # Open-loop arrivals: order k is sent at t0 + k/rate by whichever producer is free, so
            # slow answers do not slow the arrivals down (up to PRODUCERS orders in flight).
            client = Client(port, token)
            while True:
                with slots_lock:
                    k = next(slots, None)
                if k is None:
                    return
                delay = t0 + k / EVENT_RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                status, order = _open_order(client, seed, store_id, k, qty=1)
                if status == 201:
                    answered[order["id"]] = time.perf_counter()
                    answer_times.append(answered[order["id"]] - sent)
                else:
                    errors.failed(status, order)

        _parallel(PRODUCERS, produce)
        produced_in = time.perf_counter() - t0
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline and any(len(s.arrivals) < len(answered) for s in opened):
            time.sleep(0.01)
    finally:
        for stream in streams:
            stream.close()
    latencies, lost, early = [], 0, 0
    for order_id, at in answered.items():
        for stream in opened:
            seen = stream.arrivals.get(order_id)
            if seen is None:
                lost += 1
            else:
                early += seen < at
                latencies.append(max(0.0, seen - at))
    broken = [s.failure for s in streams if s.failure]
    return {"latencies": latencies, "lost": lost, "early": early, "orders": len(answered), "errors": errors,
            "rate": len(answered) / produced_in, "broken": broken, "answer_times": answer_times,
            "unopened": len(streams) - len(opened)}


def _count_settle_statements(app, seed: dict) -> list[str]:
    """The SQL statements of exactly one member settle paid in stored value, in-process."""
    import sqlalchemy as sa

    from app.db import db

    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "bench_cashier0", "password": PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    store_id, member_id = seed["stores"][0], seed["members"][0]

    def member_settle(record: list[str] | None) -> None:
        order = client.post("/api/v1/orders", headers=headers, json={
            "store_id": store_id, "idempotency_key": uuid.uuid4().hex,
            "items": [{"dish_id": seed["dishes"][0], "qty": 2}]})
        assert order.status_code == 201, order.json
        order_id = order.json["id"]
        bill = client.get(f"/api/v1/orders/{order_id}/bill?member_id={member_id}", headers=headers)
        assert bill.status_code == 200, bill.json
        body = {"member_id": member_id, "idempotency_key": uuid.uuid4().hex,
                "tenders": [{"type": "stored_value", "amount_cents": bill.json["payable_cents"]}]}

        def seen(conn, cursor, statement, parameters, context, executemany):
            record.append(statement)

        with app.app_context():
            engine = db.engine
        if record is not None:
            sa.event.listen(engine, "before_cursor_execute", seen)
        try:
            answer = client.post(f"/api/v1/orders/{order_id}/settle", headers=headers, json=body)
        finally:
            if record is not None:
                sa.event.remove(engine, "before_cursor_execute", seen)
        assert answer.status_code == 200, answer.json

    member_settle(None)  # warm-up: first-use work of this process is not what a settle costs
    statements: list[str] = []
    member_settle(statements)
    return statements


# --- report ----------------------------------------------------------------------------------

def _ceiling(trivial: dict, throughput: dict) -> float | None:
    """The highest settle rate, as a share of /healthz's, that this machine allows with the run's
    PostgreSQL CPU per settle: an estimate assuming both windows keep every CPU busy. One
    /healthz answer costs the machine (server, clients, kernel) cpus / rate; a settle costs at
    least 1.5 such answers (its bill preview one in two) plus what PostgreSQL spends on it."""
    if not trivial["rate"] or not throughput["latencies"]:
        return None
    per_answer_ms = 1000 * (os.cpu_count() or 1) / trivial["rate"]
    return per_answer_ms / (1.5 * per_answer_ms + throughput["db_ms"])


def _report(env: dict, seed: dict, trivial: dict, prepared: int, prepare_errors: Errors, throughput: dict,
            latency: dict, events: dict, statements: list[str]) -> None:
    redis = "yes" if "REDIS_URL" in env else "no"
    print()
    print(f"database {DB_URL.split('@')[-1]} · gunicorn {env['WEB_CONCURRENCY']} workers × {THREADS} threads "
          f"(gthread) · Redis doorbell: {redis} · {len(seed['stores'])} stores · {os.cpu_count()} CPUs")
    print(f"{'measure':<42}{'clients':>8}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'n':>8}{'errors':>8}"
          f"{'CPU ms':>8}{'DB ms':>7}{'load':>6}")
    rows = [("GET /healthz (trivial)", trivial),
            ("POST /orders/{id}/settle (throughput)", throughput),
            ("POST /orders/{id}/settle (latency)", latency)]
    for name, r in rows:
        print(f"{name:<42}{r['clients']:>8}{r['rate']:>9.0f}{_ms(r['latencies'], .5):>9}"
              f"{_ms(r['latencies'], .99):>9}{len(r['latencies']):>8}{r['errors'].total():>8}"
              f"{r['cpu_ms']:>8.2f}{r['db_ms']:>7.2f}{r['load']:>6.1f}")
    print(f"{'kitchen event commit -> SSE client':<42}{STREAMS:>8}{events['rate']:>9.0f}"
          f"{_ms(events['latencies'], .5):>9}{_ms(events['latencies'], .99):>9}{len(events['latencies']):>8}"
          f"{events['errors'].total() + events['lost']:>8}")
    print(f"{'SQL statements, one member settle (stored value)':<42}{len(statements):>8}")

    notes = [f"throughput window {throughput['window']:.1f} s"
             + (f" (a store's opened orders ran out at {throughput['dry_at']:.1f} s)"
                if throughput["dry_at"] is not None and throughput["dry_at"] < SECONDS - 0.5 else "")
             + f", {prepared} orders opened before it; member settles include their bill preview in the window",
             f"latency run: {latency['opened_here']} orders opened during the run (when its store had none "
             "left over)",
             "CPU ms: the server's processes' CPU time (user + system, /proc) in the window per answered "
             "request; a settle's includes the bill preview of the member settles (one in two); DB ms: the "
             "same of this machine's PostgreSQL processes; load: the machine's 1-minute load average at the "
             "window's end",
             f"events: {events['orders']} orders at {events['rate']:.1f}/s (POST /orders p50 "
             f"{_ms(events['answer_times'], .5)} ms, p99 {_ms(events['answer_times'], .99)} ms), {events['lost']} "
             f"(order, client) pairs lost, {events['early']} read before the order's answer (counted as 0 ms)"]
    ceiling = _ceiling(trivial, throughput)
    if ceiling is not None:
        notes.append(f"ceiling: were the web process to spend on a settle no more than on /healthz per request "
                     f"(1.5 requests: the settle and, one in two, its bill preview), this run's PostgreSQL CPU "
                     f"per settle ({throughput['db_ms']:.2f} ms) would still hold the rate at {ceiling:.1%} of "
                     f"/healthz on these {os.cpu_count()} CPUs")
    for what, errors in (("opening orders", prepare_errors), ("settle throughput", throughput["errors"]),
                         ("settle latency", latency["errors"]), ("event producer", events["errors"])):
        if errors.total():
            notes.append(f"errors {what}: {errors}")
    if events["unopened"]:
        notes.append(f"{events['unopened']} of {STREAMS} streams did not open within 15 s (not measured)")
    if events["broken"]:
        notes.append(f"streams broken: {events['broken'][:3]}")
    for note in notes:
        print(f"  · {note}")
    if VERBOSE:
        print("SQL statements of the counted settle:")
        for i, statement in enumerate(statements, 1):
            print(f"  {i:>2}. {statement.strip().splitlines()[0][:150]}")

    ratio = throughput["rate"] / trivial["rate"] if trivial["rate"] else 0.0
    settle_p99 = _percentile(latency["latencies"], .99)
    # The figure answers the target only if the orders did arrive at (nearly) the rate asked.
    paced = events["rate"] >= 0.9 * EVENT_RATE
    event_ok = paced and not events["lost"] and not events["unopened"] and not events["broken"] \
        and bool(events["latencies"])
    event_p99 = _percentile(events["latencies"], .99)
    checks = [
        (f"settle rate ≥ {TARGET_RATIO:.0%} of /healthz ({throughput['clients']} clients)", f"{ratio:.1%}",
         ratio >= TARGET_RATIO),
        (f"settle p99 ≤ {TARGET_SETTLE_P99 * 1000:.0f} ms ({latency['clients']} clients)",
         f"{settle_p99 * 1000:.1f} ms", settle_p99 <= TARGET_SETTLE_P99),
        (f"SQL statements per member settle ≤ {TARGET_STATEMENTS}", f"{len(statements)}",
         len(statements) <= TARGET_STATEMENTS),
        (f"event commit → SSE p99 ≤ {TARGET_EVENT_P99 * 1000:.0f} ms ({STREAMS} streams, "
         f"{EVENT_RATE:.0f} orders/s)", f"{_ms(events['latencies'], .99)} ms"
         + (f", {events['lost']} lost" if events["lost"] else "")
         + (f", {events['unopened']} unopened" if events["unopened"] else "")
         + ("" if paced else f" at {events['rate']:.0f}/s"),
         event_ok and event_p99 <= TARGET_EVENT_P99),
    ]
    print(f"{'target':<58}{'figure':>16}  result")
    for name, figure, ok in checks:
        print(f"{name:<58}{figure:>16}  {'PASS' if ok else 'FAIL'}")


def main() -> None:
    if LATENCY_CLIENTS > STORES or STORES > CLIENTS:
        raise SystemExit("need BENCH_LATENCY_CLIENTS ≤ BENCH_STORES ≤ BENCH_CLIENTS (one store per latency client)")
    env = _server_env()
    port = _free_port()
    env["TABLELOOP_PORT"] = str(port)
    # The in-process app (bootstrap, SQL count) reads the same settings as the server.
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "SECRETS_ENCRYPTION_KEYS", "TABLELOOP_ENV",
                                           "SESSION_COOKIE_SECURE")})
    if "REDIS_URL" in env:
        os.environ["REDIS_URL"] = env["REDIS_URL"]
    else:
        os.environ.pop("REDIS_URL", None)

    _recreate_database()
    app = _bootstrap()
    fd, log_name = tempfile.mkstemp(prefix="settle_bench_gunicorn_", suffix=".log")
    with os.fdopen(fd, "wb") as log:  # the server keeps its own copy of the descriptor
        server = _start_server(env, log)
    SERVER.append(server)
    crashed = True
    try:
        _wait_ready(server, port)
        seed = _seed(port, members=CLIENTS)
        trivial = _trivial(port, CLIENTS, SECONDS / 2)
        pools, prepare_errors = _open_orders(port, seed, CLIENTS, OPEN_SECONDS)
        if WARM_SECONDS > 0:  # untimed: the pooled connections prepare the statements, plans settle
            _settle_throughput(port, seed, pools, CLIENTS, WARM_SECONDS)
        prepared = sum(len(p) for p in pools)
        throughput = _settle_throughput(port, seed, pools, CLIENTS, SECONDS)
        latency = _settle_latency(port, seed, pools, LATENCY_CLIENTS, SECONDS / 2)
        events = _event_latency(port, seed)
        crashed = False
    finally:
        _stop_server(server)
        if crashed or VERBOSE:
            tail = Path(log_name).read_text(errors="replace").splitlines()[-40:]
            print(f"gunicorn log ({log_name}), last lines:", *tail, sep="\n", file=sys.stderr)
    Path(log_name).unlink(missing_ok=True)
    statements = _count_settle_statements(app, seed)
    _report(env, seed, trivial, prepared, prepare_errors, throughput, latency, events, statements)


if __name__ == "__main__":
    main()
