"""pos_agent.remote against a real local HTTP server: answers, refusals and unreachability."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pos_agent.remote import Refused, ServerClient, Unreachable


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body, content_type="application/json"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        if self.path.startswith("/base/ok"):
            self._answer(200, {"path": self.path, "auth": self.headers.get("Authorization")})
        elif self.path.startswith("/base/missing"):
            self._answer(404, {"error": {"code": "not_found", "message": "nope", "details": {"id": 3}}})
        elif self.path.startswith("/base/html"):
            self._answer(200, b"<html>proxy login</html>", "text/html")
        else:
            self._answer(503, {"error": {"code": "unavailable", "message": "later"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._answer(201, {"echo": body, "type": self.headers.get("Content-Type")})


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/base"
    httpd.shutdown()
    httpd.server_close()


def test_answers_carry_the_device_token_and_query(server):
    client = ServerClient(server, "tok-1")
    answer = client.get("/ok", {"after": 5, "kinds": "a,b"})
    assert answer == {"path": "/base/ok?after=5&kinds=a%2Cb", "auth": "Bearer tok-1"}
    assert client.post("/things", {"名": "湘"}) == {"echo": {"名": "湘"}, "type": "application/json"}


def test_a_4xx_is_a_refusal_with_the_servers_error(server):
    with pytest.raises(Refused) as caught:
        ServerClient(server, "t").get("/missing")
    assert (caught.value.status, caught.value.code, caught.value.details) == (404, "not_found", {"id": 3})


@pytest.mark.parametrize("path", ["/down", "/html"])
def test_a_5xx_or_a_non_json_answer_is_unreachable(server, path):
    with pytest.raises(Unreachable):
        ServerClient(server, "t").get(path)


def test_a_closed_port_is_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Unreachable):
        ServerClient(f"http://127.0.0.1:{port}", "t", timeout_s=2).get("/ok")


def test_only_http_urls_are_accepted():
    with pytest.raises(ValueError):
        ServerClient("ftp://example.com", "t")
