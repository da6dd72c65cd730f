"""A store on this machine for tests and benchmarks of the agent's link to the server: the real
server app in a subprocess (werkzeug's threaded WSGI server, on the test database), the real
agent as `python -m pos_agent` in a subprocess, virtual printers in this process.

Both subprocesses can be killed with SIGKILL and started again on the same port and files.

    python -m tests.agent_support serve --database-url URL [--port N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def until(condition: Callable[[], Any], what: str, timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it answers something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


class Http:
    """JSON over HTTP to a server, with a bearer token."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base, self.token = base.rstrip("/"), token

    def call(self, method: str, path: str, body: Any = None, *, expect: int | tuple[int, ...] = (200, 201)) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
            exc.close()
        answer = json.loads(raw) if raw else None
        expected = (expect,) if isinstance(expect, int) else expect
        assert status in expected, f"{method} {path}: {status} {answer}"
        return answer

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)


class _Process:
    def __init__(self, name: str, log_dir: Path) -> None:
        self.name, self.log_dir = name, log_dir
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def _spawn(self, args: list[str], env: dict[str, str] | None = None) -> Path:
        self.starts += 1
        out = self.log_dir / f"{self.name}-{self.starts}.out"
        err = self.log_dir / f"{self.name}-{self.starts}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            self.process = subprocess.Popen(args, cwd=ROOT, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                            env={**os.environ, **(env or {})})
        return out

    def _first_line(self, out: Path, what: str) -> str:
        def line() -> str | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            text = out.read_text(encoding="utf-8", errors="replace")
            return text.splitlines()[0] if "\n" in text else None

        return until(line, what, timeout=60)

    def log_tail(self, n: int = 3000) -> str:
        err = self.log_dir / f"{self.name}-{self.starts}.err"
        return err.read_text(encoding="utf-8", errors="replace")[-n:] if err.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up, as a power cut or `kill -9` would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class ServerProcess(_Process):
    """The TableLoop server app on `database_url`, served by werkzeug in a subprocess."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        super().__init__("server", log_dir)
        self.database_url = database_url
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        out = self._spawn([sys.executable, "-m", "tests.agent_support", "serve", "--database-url",
                           self.database_url, "--port", str(self.port)])
        self.port = int(self._first_line(out, "the server to listen"))
        return self


class AgentProcess(_Process):
    """`python -m pos_agent` with a YAML written from `config`."""

    def __init__(self, config: dict[str, Any], log_dir: Path) -> None:
        super().__init__("agent", log_dir)
        self.config = config
        self.url = ""

    def start(self) -> AgentProcess:
        path = self.log_dir / "agent.yaml"
        path.write_text(yaml.safe_dump(self.config, allow_unicode=True), encoding="utf-8")
        out = self._spawn([sys.executable, "-m", "pos_agent", "--config", str(path), "--port", "0",
                           "--log-level", "INFO"])
        line = self._first_line(out, "the agent to listen")
        self.url = "http://" + line.split("http://", 1)[1].split("/", 1)[0]
        return self

    def status(self) -> dict[str, Any]:
        return Http(self.url).get("/api/status")

    def jobs(self, limit: int = 1000) -> list[dict[str, Any]]:
        return Http(self.url).get(f"/api/jobs?limit={limit}")["jobs"]


def agent_config(*, store_id: int, server_url: str, token: str, data_dir: Path, printers: dict[str, int],
                 **follow: Any) -> dict[str, Any]:
    """An agent YAML: `printers` maps 'front' / 'kitchen' to the virtual printers' ports."""
    entries = []
    for name, port in printers.items():
        entry = {"name": name, "type": "network", "address": f"127.0.0.1:{port}", "timeout_s": 2}
        entry.update({"role": "kitchen", "stations": ["*"], "paper_width_mm": 58} if name == "kitchen"
                     else {"role": "receipt"})
        entries.append(entry)
    return {
        "store_id": str(store_id), "server_url": server_url, "device_token": token, "data_dir": str(data_dir),
        "retry_interval_s": 0.2, "status_interval_s": 2,
        "store": {"name": "老王面馆"},
        "printers": entries,
        "follow": {"backoff_initial_s": 0.05, "backoff_max_s": 0.5, "stream_timeout_s": 5,
                   "report_interval_s": 2, **follow},
    }


def serve(database_url: str, port: int) -> None:
    from werkzeug.serving import make_server

    from app import create_app
    from config.settings import TestingConfig

    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = database_url

    app = create_app(Config)
    server = make_server("127.0.0.1", port, app, threaded=True)
    print(server.server_port, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    serve_args = sub.add_parser("serve")
    serve_args.add_argument("--database-url", required=True)
    serve_args.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve(args.database_url, args.port)
