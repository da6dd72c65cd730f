"""300 phones at 50 tables: a cart change reaching every phone at the table, and the API meanwhile.

Builds a merchant with a 200-dish menu and T+1 tables in a fresh database, then starts the two
server processes of a real installation on free ports — the gthread web process
(`config/gunicorn.conf.py`, --web-workers) and the gevent stream process
(`config/gunicorn_streams.conf.py`), the stream process hearing the web process's doorbell over
UDP, as `make run` runs them — and:

1. measures the API idle: --samples reads of the last table's cart (`GET /t/<token>/cart.json`;
   nothing changes its cart, so a read costs the same all along) from a process of its own at
   20 reads a second, and adds of a dish (`POST /t/<token>/cart/lines`), one after another;
2. opens P streams per table at the other T tables (`/t/<token>/stream?after=<seq>`, from the
   cursor the page was rendered with, as the phones do; plain sockets read by one selector
   thread, whole messages counted) on the stream process;
3. changes the carts: --rate R adds a second for --seconds (open loop, to table k mod T, each
   table's adds one after another), or with --rate 0 --rounds rounds of one add per table (10
   at a time, as fast as the server answers); the time from each add's start to each of its
   table's P phones reading the `cart` message (which carries the table's view) is taken; the
   API is measured again with the streams open (nothing changing), and during the changes.

    .venv/bin/python bench/diner_streams_bench.py --rate 25 --seconds 30  # 50 × 6 on SQLite in /tmp
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_bench \\
        .venv/bin/python bench/diner_streams_bench.py --rate 25 --seconds 60   # an empty database
    .venv/bin/python bench/diner_streams_bench.py --streams-on web      # the streams on the gthread process

Figures only: nothing here asserts a speed. Targets: cart → phones p99 ≤ 1 s, API p99 under
the load ≤ 1.5 × idle.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from diner_menu_bench import _app, _percentile, _seed  # noqa: E402


def _free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(conf: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", conf, "app:create_app()"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


class Phone:
    """A phone's session at a table: the menu page once (session cookie, CSRF token), then adds."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token, self.http = base, token, requests.Session()
        page = self.http.get(f"{base}/t/{token}", timeout=10).text
        self.csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)

    def add(self, dish_id: int) -> float:
        start = time.perf_counter()
        answer = self.http.post(f"{self.base}/t/{self.token}/cart/lines", json={"dish_id": dish_id, "qty": 1},
                                headers={"X-CSRFToken": self.csrf}, timeout=30)
        assert answer.status_code == 201, answer.text[:300]
        return start


READS_PER_SECOND = 20  # the API sampler's pace: it measures the API without being a load itself


def _read_carts(url: str, count: int, stop, out) -> None:
    """In a process of its own, so that the bench's other threads (the adds, the 300 streams'
    reader) do not hold up its clock: `count` reads, or (count 0) reads until `stop` is set, at
    READS_PER_SECOND (open loop: read k is due at k / pace); sends back each read's milliseconds."""
    http, times = requests.Session(), []
    began = time.perf_counter()
    try:
        while len(times) < count if count else not stop.is_set():
            delay = began + len(times) / READS_PER_SECOND - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            start = time.perf_counter()
            status = http.get(url, timeout=30).status_code
            if status != 200:
                raise SystemExit(f"the cart read answered {status}")
            times.append((time.perf_counter() - start) * 1000)
    except requests.RequestException as error:
        out.send(type(error).__name__)
    else:
        out.send(times)


class ReadFailed(Exception):
    """The API did not answer the reader (its error's name)."""


class Reader:
    """The API's figure: a table's cart read (`GET /t/<token>/cart.json`) from its own process."""

    def __init__(self, url: str) -> None:
        self.url, self.context = url, multiprocessing.get_context("spawn")

    def start(self, count: int = 0) -> None:
        self.stop, (self.receive, send) = self.context.Event(), self.context.Pipe(duplex=False)
        self.process = self.context.Process(target=_read_carts, args=(self.url, count, self.stop, send), daemon=True)
        self.process.start()

    def finish(self) -> list[float]:
        self.stop.set()
        times = self.receive.recv()
        self.process.join(timeout=30)
        if isinstance(times, str):
            raise ReadFailed(times)
        return times

    def reads(self, count: int) -> list[float]:
        self.start(count)
        return self.finish()


class Streams:
    """Many SSE connections read by one selector thread; the times each saw a `cart` message."""

    def __init__(self, port: int, tokens: list[str], phones: int, after: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.arrivals: dict[int, list[float]] = {}
        self.table_of: dict[int, int] = {}
        self.lock = threading.Lock()
        for table, token in enumerate(tokens):
            for _ in range(phones):
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(f"GET /t/{token}/stream?after={after} HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                             f"Accept: text/event-stream\r\n\r\n".encode())
                sock.setblocking(False)
                self.selector.register(sock, selectors.EVENT_READ, len(self.table_of))
                self.arrivals[len(self.table_of)] = []
                self.table_of[len(self.table_of)] = table
        self.answered: set[int] = set()
        self.partial: dict[int, bytes] = {index: b"" for index in self.table_of}
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            for key, _ in self.selector.select(timeout=0.2):
                data = key.fileobj.recv(65536)
                now = time.perf_counter()
                if not data:
                    self.selector.unregister(key.fileobj)
                    continue
                self.answered.add(key.data)
                # Whole messages only: a message (with the table's view, a few KB) may come in parts.
                *blocks, self.partial[key.data] = (self.partial[key.data] + data).split(b"\n\n")
                count = sum(b"\nevent: cart\n" in b"\n" + block + b"\n" for block in blocks)
                if count:
                    with self.lock:
                        self.arrivals[key.data].extend([now] * count)

    def seen(self, index: int) -> int:
        with self.lock:
            return len(self.arrivals[index])

    def close(self) -> None:
        self.stop = True
        self.thread.join(timeout=2)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()


def _collect(streams: Streams, base_counts: dict[int, int], changes: dict[int, list[tuple[float, float]]],
             latencies: list[float], after_answer: list[float]) -> int:
    """For each stream, its table's n-th change against the n-th `cart` message it read; the
    changes of a table are made one after another, so their messages arrive in that order."""
    missing = 0
    with streams.lock:
        for index, table in streams.table_of.items():
            times = streams.arrivals[index][base_counts[index]:]
            for n, (sent, answered) in enumerate(changes.get(table, [])):
                if n < len(times):
                    latencies.append((times[n] - sent) * 1000)
                    after_answer.append(max(0.0, (times[n] - answered) * 1000))
                else:
                    missing += 1
    return missing


def _wait_seen(streams: Streams, base_counts: dict[int, int], changes: dict[int, list]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            streams.seen(i) < base_counts[i] + len(changes.get(t, [])) for i, t in streams.table_of.items()):
        time.sleep(0.01)


def _rounds(args, phones: list[Phone], dish_id: int, streams: Streams,
            base_counts: dict[int, int]) -> tuple[list[float], list[float], list[float], int]:
    """--rate 0: rounds of one change per table, 10 in flight, each round as fast as the server
    answers (a saturating load: it measures the server's capacity, not the streams' cost)."""
    changes: dict[int, list[tuple[float, float]]] = {}
    loaded_adds: list[float] = []
    with ThreadPoolExecutor(max_workers=10) as pool:
        for _ in range(args.rounds):
            def add(table: int) -> tuple[int, float, float]:
                start = phones[table].add(dish_id)
                return table, start, time.perf_counter()

            for table, start, answered in pool.map(add, range(len(phones))):
                changes.setdefault(table, []).append((start, answered))
                loaded_adds.append((answered - start) * 1000)
            _wait_seen(streams, base_counts, changes)
    latencies: list[float] = []
    after_answer: list[float] = []
    missing = _collect(streams, base_counts, changes, latencies, after_answer)
    return latencies, after_answer, loaded_adds, missing


def _paced(args, phones: list[Phone], dish_id: int, streams: Streams,
           base_counts: dict[int, int]) -> tuple[list[float], list[float], list[float], int]:
    """--rate R: R changes per second for --seconds, open loop (change k is due at k/R whatever
    the earlier answers took), to table k mod the tables, each table's changes one after another
    (a phone waits for its answer)."""
    count = int(args.rate * args.seconds)
    changes: dict[int, list[tuple[float, float]]] = {}
    table_locks = [threading.Lock() for _ in phones]
    loaded_adds: list[float] = []
    started = time.perf_counter()

    def add(k: int) -> None:
        delay = started + k / args.rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        table = k % len(phones)
        with table_locks[table]:
            start = phones[table].add(dish_id)
            answered = time.perf_counter()
            changes.setdefault(table, []).append((start, answered))
        loaded_adds.append((answered - start) * 1000)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(add, range(count)))
    reached = count / (time.perf_counter() - started)
    print(f"{count} changes asked at {args.rate:g}/s, made at {reached:.1f}/s")
    _wait_seen(streams, base_counts, changes)
    latencies: list[float] = []
    after_answer: list[float] = []
    missing = _collect(streams, base_counts, changes, latencies, after_answer)
    return latencies, after_answer, loaded_adds, missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--phones", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="cart changes per second, paced (0: --rounds of one change per table, 10 in flight)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the paced changes run")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--web-workers", type=int, default=1,
                        help="workers of the web process (its WEB_CONCURRENCY; the streams hear them all over UDP)")
    parser.add_argument("--streams-on", choices=("streams", "web"), default="streams")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/diner-streams.sqlite3"
    app = _app(url)
    # One table more than the phones': the API reader's, whose cart stays as it is, so that its
    # reads cost the same work idle and under the load (a cart's read grows with its lines).
    all_tokens, dish_id = _seed(app, args.tables + 1)
    tokens, reader_token = all_tokens[:-1], all_tokens[-1]
    del app

    web_port, stream_port, bell_port = _free_port(), _free_port(), _free_port(socket.SOCK_DGRAM)
    env = {**os.environ, "DATABASE_URL": url, "TABLELOOP_ENV": "development", "SECRET_KEY": "bench-secret",
           "EVENT_DOORBELL_UDP": f"127.0.0.1:{bell_port}"}
    env.pop("REDIS_URL", None)
    web = _start("config/gunicorn.conf.py", {**env, "TABLELOOP_PORT": str(web_port),
                                             "WEB_CONCURRENCY": str(args.web_workers)})
    streams_proc = _start("config/gunicorn_streams.conf.py", {**env, "TABLELOOP_STREAM_PORT": str(stream_port),
                                                              "EVENT_DOORBELL_LISTEN": "1"})
    base = f"http://127.0.0.1:{web_port}"
    try:
        _wait_up(f"{base}/t/{tokens[0]}/cart.json")
        _wait_up(f"http://127.0.0.1:{stream_port}/t/{tokens[0]}/cart.json")
        phones = [Phone(base, token) for token in tokens]
        reader = Reader(f"{base}/t/{reader_token}/cart.json")

        idle_reads = reader.reads(args.samples)
        idle_adds = []
        for index in range(min(args.samples, 100)):
            start = phones[index % len(phones)].add(dish_id)
            idle_adds.append((time.perf_counter() - start) * 1000)

        port = stream_port if args.streams_on == "streams" else web_port
        opened = time.perf_counter()
        seq = requests.get(f"{base}/t/{reader_token}/cart.json", timeout=10).json()["seq"]
        streams = Streams(port, tokens, args.phones, seq)  # from the page's cursor, as the phones start
        deadline = time.monotonic() + 60
        while len(streams.answered) < len(streams.table_of) and time.monotonic() < deadline:
            time.sleep(0.05)  # until every stream has answered (its first line: it follows the feed)
        print(f"{len(streams.answered)} of {len(streams.table_of)} streams answering on the {args.streams_on} "
              f"process after {time.perf_counter() - opened:.1f} s")

        try:
            open_reads = reader.reads(args.samples)  # the streams open, nothing changing
        except ReadFailed as error:
            streams.close()
            print(f"the API no longer answers with the streams open ({error}): every thread "
                  f"of the {args.streams_on} process holds a stream")
            return
        reader.start()  # reads until the changes are over
        base_counts = {index: streams.seen(index) for index in streams.table_of}
        if args.rate:
            latencies, after_answer, loaded_adds, missing = _paced(args, phones, dish_id, streams, base_counts)
        else:
            latencies, after_answer, loaded_adds, missing = _rounds(args, phones, dish_id, streams, base_counts)
        loaded_reads = reader.finish()
        streams.close()

        def figures(values: list[float]) -> str:
            if not values:
                return "none"
            return f"p50 {statistics.median(values):.0f} ms, p99 {_percentile(values, .99):.0f} ms"

        load = f"{args.rate:g} changes/s for {args.seconds:g} s" if args.rate else f"{args.rounds} rounds"
        print(f"cart change → every phone, {len(tokens)} tables × {args.phones} phones, {load}: "
              f"{figures(latencies)}, missing {missing}; from the add's answer: {figures(after_answer)}")
        print(f"API, cart read: idle {figures(idle_reads)}; with the streams open {figures(open_reads)}; "
              f"during the cart changes {figures(loaded_reads)} ({len(loaded_reads)} reads)")
        print(f"API, add a dish: idle {figures(idle_adds)}; under the load {figures(loaded_adds)}")
    finally:
        for process in (web, streams_proc):
            os.killpg(process.pid, 15)
        for process in (web, streams_proc):
            process.wait(timeout=15)


if __name__ == "__main__":
    main()
