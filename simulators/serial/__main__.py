"""``python -m simulators.serial [--card-link PATH] [--scanner-link PATH] [--http-port 9190]``

Prints the serial paths to put in the agent's YAML, then takes commands on stdin::

    swipe 0A1B2C3D4E [times]   present a card (repeat the frame, as a card held on the reader)
    bad 0A1B2C3D4E             a frame with a wrong checksum
    scan 134567890123456789    a scanner read (CRLF-terminated)
    quit

and the same over HTTP: ``POST /api/swipe {"card": "...", "repeat": 3}``,
``POST /api/scan {"code": "..."}`` (the page at ``/`` has buttons).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .device import VirtualCardReader, VirtualScanner, rdm6300_checksum, rdm6300_frame

_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>虚拟读卡器与扫码枪 Virtual card reader &amp; scanner</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem}}input{{width:16rem}}p{{margin:.8rem 0}}</style>
<script>
async function post(url, body){{
  const r = await fetch(url,{{method:'POST',headers:{{'Content-Type':'application/json'}},body:JSON.stringify(body)}});
  document.getElementById('out').textContent = await r.text();
}}
</script></head><body>
<h1>虚拟读卡器与扫码枪 Virtual card reader &amp; scanner</h1>
<p>读卡器 Card reader: <code>{card}</code><br>扫码枪 Scanner: <code>{scanner}</code></p>
<p><input id="card" value="0A1B2C3D4E"> <button onclick="post('/api/swipe',{{card:card.value}})">刷卡 Swipe</button>
<button onclick="post('/api/swipe',{{card:card.value,repeat:5}})">放卡不动 Hold</button>
<button onclick="post('/api/swipe',{{card:card.value,bad:true}})">坏校验 Bad checksum</button></p>
<p><input id="code" value="134567890123456789">
<button onclick="post('/api/scan',{{code:code.value}})">扫码 Scan</button></p>
<pre id="out"></pre></body></html>"""


class Simulator:
    def __init__(self, card_link: str | None, scanner_link: str | None) -> None:
        self.card = VirtualCardReader(card_link)
        self.scanner = VirtualScanner(scanner_link)
        self.lock = threading.Lock()

    def swipe(self, card: str, repeat: int = 1, bad: bool = False) -> str:
        with self.lock:
            if bad:
                self.card.swipe_raw(rdm6300_frame(card, checksum=rdm6300_checksum(card) ^ 0xFF))
            else:
                self.card.swipe(card, repeat=repeat, interval_s=0.1 if repeat > 1 else 0.0)
        return f"swiped {card.upper()}" + (" (bad checksum)" if bad else f" x{repeat}")

    def scan(self, code: str) -> str:
        with self.lock:
            self.scanner.scan(code)
        return f"scanned {code}"

    def command(self, line: str) -> str | None:
        parts = line.split()
        if not parts:
            return ""
        verb, args = parts[0].lower(), parts[1:]
        try:
            if verb == "swipe" and args:
                return self.swipe(args[0], int(args[1]) if len(args) > 1 else 1)
            if verb == "bad" and args:
                return self.swipe(args[0], bad=True)
            if verb == "scan" and args:
                return self.scan(" ".join(args))
            if verb in ("quit", "exit"):
                return None
        except ValueError as exc:
            return f"error: {exc}"
        return "commands: swipe CARDHEX [times] | bad CARDHEX | scan CODE | quit"

    def close(self) -> None:
        self.card.close()
        self.scanner.close()


def make_http(sim: Simulator, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            page = _PAGE.format(card=escape(sim.card.path), scanner=escape(sim.scanner.path))
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")

        def do_POST(self) -> None:
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path == "/api/swipe":
                    result = sim.swipe(str(body["card"]), int(body.get("repeat", 1)), bool(body.get("bad")))
                elif self.path == "/api/scan":
                    result = sim.scan(str(body["code"]))
                else:
                    self._send(HTTPStatus.NOT_FOUND, b'{"error":{"code":"not_found"}}', "application/json")
                    return
            except (ValueError, KeyError, TypeError) as exc:
                error = {"error": {"code": "invalid_request", "message": str(exc)}}
                self._send(HTTPStatus.UNPROCESSABLE_ENTITY, json.dumps(error).encode(), "application/json")
                return
            self._send(HTTPStatus.OK, json.dumps({"ok": True, "result": result}).encode(), "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.serial", description="Virtual card reader and scanner")
    parser.add_argument("--card-link", help="also make this symlink to the card reader's pty")
    parser.add_argument("--scanner-link", help="also make this symlink to the scanner's pty")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=9190, help="control page and API (0: any free port)")
    parser.add_argument("--no-http", action="store_true", help="stdin commands only")
    args = parser.parse_args(argv)

    sim = Simulator(args.card_link, args.scanner_link)
    print(f"读卡器 card reader: {sim.card.path} ({sim.card.slave_path})", flush=True)
    print(f"扫码枪 scanner: {sim.scanner.path} ({sim.scanner.slave_path})", flush=True)
    http = None
    if not args.no_http:
        http = make_http(sim, args.host, args.http_port)
        threading.Thread(target=http.serve_forever, daemon=True).start()
        print(f"控制页 control page: http://{args.host}:{http.server_address[1]}/", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def read_stdin() -> None:
        for line in sys.stdin:
            reply = sim.command(line)
            if reply is None:
                stop.set()
                return
            if reply:
                print(reply, flush=True)
        # End of input (e.g. started in the background): keep serving if the HTTP control is on.
        if http is None:
            stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if http is not None:
            http.shutdown()
            http.server_close()
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
