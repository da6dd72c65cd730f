"""300 phones at 50 tables: a cart change reaching every phone at the table, and the API meanwhile.

Builds a merchant with a 200-dish menu and T tables in a fresh database, then starts the two
server processes of a real installation on free ports — the gthread web process
(`config/gunicorn.conf.py`) and the gevent stream process (`config/gunicorn_streams.conf.py`),
the stream process hearing the web process's doorbell over UDP, as `make run` runs them — and:

1. measures the API idle: --samples reads of a table's cart (`GET /t/<token>/cart.json`) and
   adds of a dish (`POST /t/<token>/cart/lines`), one after another;
2. opens P streams per table (`/t/<token>/stream?after=<seq>`, from the cursor the page was
   rendered with, as the phones do; plain sockets read by one selector thread) on the stream
   process;
3. for --rounds rounds, one phone per table adds a dish (10 at a time) and the time from the
   add request's start to each of the table's P phones reading its `cart` message is taken;
   the API is measured again with the streams open (nothing changing), and during the rounds
   (another client keeps reading carts).

    .venv/bin/python bench/diner_streams_bench.py                       # 50 × 6 on SQLite in /tmp
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tableloop_bench \\
        .venv/bin/python bench/diner_streams_bench.py
    .venv/bin/python bench/diner_streams_bench.py --streams-on web      # the streams on the gthread process

Figures only: nothing here asserts a speed. Targets: cart → phones p99 ≤ 1 s, API p99 under
the load ≤ 1.5 × idle.
"""

from __future__ import annotations

import argparse
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

    def read(self) -> float:
        start = time.perf_counter()
        assert self.http.get(f"{self.base}/t/{self.token}/cart.json", timeout=30).status_code == 200
        return (time.perf_counter() - start) * 1000


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
                count = data.count(b"event: cart")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--phones", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--streams-on", choices=("streams", "web"), default="streams")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/diner-streams.sqlite3"
    app = _app(url)
    tokens, dish_id = _seed(app, args.tables)
    del app

    web_port, stream_port, bell_port = _free_port(), _free_port(), _free_port(socket.SOCK_DGRAM)
    env = {**os.environ, "DATABASE_URL": url, "TABLELOOP_ENV": "development", "SECRET_KEY": "bench-secret",
           "EVENT_DOORBELL_UDP": f"127.0.0.1:{bell_port}"}
    env.pop("REDIS_URL", None)
    web = _start("config/gunicorn.conf.py", {**env, "TABLELOOP_PORT": str(web_port)})
    streams_proc = _start("config/gunicorn_streams.conf.py", {**env, "TABLELOOP_STREAM_PORT": str(stream_port),
                                                              "EVENT_DOORBELL_LISTEN": "1"})
    base = f"http://127.0.0.1:{web_port}"
    try:
        _wait_up(f"{base}/t/{tokens[0]}/cart.json")
        _wait_up(f"http://127.0.0.1:{stream_port}/t/{tokens[0]}/cart.json")
        phones = [Phone(base, token) for token in tokens]
        reader = Phone(base, tokens[0])

        idle_reads = [reader.read() for _ in range(args.samples)]
        idle_adds = []
        for index in range(min(args.samples, 100)):
            start = phones[index % len(phones)].add(dish_id)
            idle_adds.append((time.perf_counter() - start) * 1000)

        port = stream_port if args.streams_on == "streams" else web_port
        opened = time.perf_counter()
        seq = reader.http.get(f"{base}/t/{tokens[0]}/cart.json", timeout=10).json()["seq"]
        streams = Streams(port, tokens, args.phones, seq)  # from the page's cursor, as the phones start
        deadline = time.monotonic() + 60
        while len(streams.answered) < len(streams.table_of) and time.monotonic() < deadline:
            time.sleep(0.05)  # until every stream has answered (its first line: it follows the feed)
        print(f"{len(streams.answered)} of {len(streams.table_of)} streams answering on the {args.streams_on} "
              f"process after {time.perf_counter() - opened:.1f} s")

        try:
            open_reads = [reader.read() for _ in range(args.samples)]  # the streams open, nothing changing
        except requests.RequestException as error:
            streams.close()
            print(f"the API no longer answers with the streams open ({type(error).__name__}): every thread "
                  f"of the {args.streams_on} process holds a stream")
            return
        loaded_reads: list[float] = []
        keep_reading = threading.Event()

        def read_meanwhile() -> None:
            while not keep_reading.is_set():
                loaded_reads.append(reader.read())

        sampler = threading.Thread(target=read_meanwhile, daemon=True)
        sampler.start()
        latencies, after_answer, loaded_adds, missing = [], [], [], 0
        base_counts = {index: streams.seen(index) for index in streams.table_of}
        with ThreadPoolExecutor(max_workers=10) as pool:
            for round_no in range(1, args.rounds + 1):
                def add(table: int) -> tuple[int, float, float]:
                    start = phones[table].add(dish_id)
                    return table, start, (time.perf_counter() - start) * 1000

                sent, answered = {}, {}
                for table, start, took in pool.map(add, range(len(tokens))):
                    sent[table], answered[table] = start, start + took / 1000
                    loaded_adds.append(took)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and any(
                        streams.seen(i) < base_counts[i] + round_no for i in streams.table_of):
                    time.sleep(0.01)
                with streams.lock:
                    for index, table in streams.table_of.items():
                        times = streams.arrivals[index]
                        position = base_counts[index] + round_no - 1
                        if len(times) > position:
                            latencies.append((times[position] - sent[table]) * 1000)
                            after_answer.append(max(0.0, (times[position] - answered[table]) * 1000))
                        else:
                            missing += 1
        keep_reading.set()
        sampler.join(timeout=30)
        streams.close()

        def figures(values: list[float]) -> str:
            if not values:
                return "none"
            return f"p50 {statistics.median(values):.0f} ms, p99 {_percentile(values, .99):.0f} ms"

        print(f"cart change → every phone, {len(tokens)} tables × {args.phones} phones, {args.rounds} rounds: "
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
