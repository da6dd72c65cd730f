"""`bin/front`, the one address of `make run`: streams to the stream process, the rest to the web
process, as nginx does in a deployment.

The front runs as its own process, in front of two small HTTP servers of this test that say who
answered; the stream server sends one event, waits until the test has read it, then sends another,
so a relay that buffered the answer would fail the test.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[tuple[str, str, str | None]] = []  # method, path, Connection header
        self.go_on = threading.Event()
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def log_message(self, *args) -> None:
        pass

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path, self.headers.get("Connection")))
        if self.path.endswith("/stream") or "/stream?" in self.path:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"data: first\n\n")
            self.wfile.flush()
            self.server.go_on.wait(10)
            self.wfile.write(b"data: second\n\n")
            self.wfile.flush()
            self.close_connection = True
            return
        self._answer(f"{self.server.name} {self.path}".encode())

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        self.server.seen.append(("POST", self.path, self.headers.get("Connection")))
        self._answer(f"{self.server.name} got {len(body)} {body[-8:].decode()}".encode())


@pytest.fixture
def upstreams():
    web, streams = Upstream("web"), Upstream("streams")
    for server in (web, streams):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield web, streams
    for server in (web, streams):
        server.go_on.set()
        server.shutdown()
        server.server_close()


def _start_front(web_port: int, streams_port: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    front = subprocess.Popen(
        [sys.executable, str(ROOT / "bin" / "front"), "--port", str(port),
         "--web", f"127.0.0.1:{web_port}", "--streams", f"127.0.0.1:{streams_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return front, port
        except OSError:
            time.sleep(0.05)
    front.kill()
    output = front.communicate()[0].decode()
    raise AssertionError(f"the front did not listen: {output}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.communicate(timeout=10)


@pytest.fixture
def front(upstreams):
    web, streams = upstreams
    process, port = _start_front(web.port, streams.port)
    yield port
    _stop(process)


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_pages_and_api_go_to_the_web_process(front, upstreams):
    web, streams = upstreams
    assert _get(front, "/manage/") == (200, b"web /manage/")
    assert _get(front, "/api/v1/orders?limit=5") == (200, b"web /api/v1/orders?limit=5")
    # Paths that only look like streams stay on the web process.
    assert _get(front, "/t/abc/stream/extra") == (200, b"web /t/abc/stream/extra")
    assert _get(front, "/t/abc/menu") == (200, b"web /t/abc/menu")
    assert streams.seen == []


@pytest.mark.parametrize("path", ["/t/tok-EN.x1/stream?after=12", "/kitchen/stores/3/stream",
                                  "/api/v1/stores/12/events/stream?after=0"])
def test_streams_go_to_the_stream_process_and_are_not_held(front, upstreams, path):
    web, streams = upstreams
    with socket.create_connection(("127.0.0.1", front), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n".encode())
        received = b""
        while b"data: first" not in received:
            chunk = sock.recv(4096)
            assert chunk, f"closed before the first event: {received!r}"
            received += chunk
        assert b"data: second" not in received
        streams.go_on.set()
        while b"data: second" not in received:
            chunk = sock.recv(4096)
            assert chunk, f"closed before the second event: {received!r}"
            received += chunk
    assert [(method, seen_path) for method, seen_path, _ in streams.seen] == [("GET", path)]
    assert web.seen == []


def test_a_kept_connection_is_closed_after_one_answer(front, upstreams):
    """A browser reuses its connection: the front asks the upstream to close after each answer,
    so the connection ends there and the browser's next request (a stream after a page) comes on
    a new one, routed on its own, instead of riding to the web process on the old one."""
    web, _ = upstreams
    with socket.create_connection(("127.0.0.1", front), timeout=10) as sock:
        sock.sendall(b"GET /t/abc/menu HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    assert received.startswith(b"HTTP/1.0 200") or received.startswith(b"HTTP/1.1 200")
    assert received.endswith(b"web /t/abc/menu")  # and then the end of the connection
    assert web.seen == [("GET", "/t/abc/menu", "close")]  # the client's keep-alive was replaced


def test_a_request_body_goes_through_whole(front, upstreams):
    web, _ = upstreams
    body = b"x" * 300_000 + b"THE-END!"
    conn = http.client.HTTPConnection("127.0.0.1", front, timeout=10)
    conn.request("POST", "/api/v1/orders", body=body, headers={"Content-Type": "application/json"})
    assert conn.getresponse().read() == f"web got {len(body)} THE-END!".encode()
    conn.close()


def test_garbage_gets_400_and_a_missing_upstream_502(upstreams):
    web, _ = upstreams
    process, port = _start_front(web.port, _free_port())  # nothing listens for the streams
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"NONSENSE\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")
        status, body = _get(port, "/t/abc/stream")
        assert status == 502 and b"not up" in body
        assert _get(port, "/manage/") == (200, b"web /manage/")  # the front itself is still up
    finally:
        _stop(process)
