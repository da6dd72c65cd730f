"""The simulator on a real socket in a background thread, for tests and ``python -m``::

with SimulatorServer({"server_callback_url": receiver_url}) as sim:
    client.API_BASE_URL = sim.url + "/cgi-bin/"
    ...
    sim.state.wait_for(lambda s: s.notifications(kind="payment"))
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import EXTENSION, create_simulator
from .config import SimulatorConfig
from .store import Store

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s", self.requestline, code)


class SimulatorServer:
    def __init__(
        self,
        config: SimulatorConfig | Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
        log_requests: bool = False,
    ) -> None:
        self.app = create_simulator(config, clock)
        self.state: Store = self.app.extensions[EXTENSION]
        self.state.refuse_hook = self._refuse
        self.host = host
        self.port = port
        self._handler = WSGIRequestHandler if log_requests else _QuietHandler
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._listen()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config(self) -> SimulatorConfig:
        return self.state.config

    def _listen(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            server = make_server(self.host, self.port, self.app, threaded=True, request_handler=self._handler)
            self.port = server.server_port  # keep the port across outages
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="wechat-simulator", daemon=True
            )
            self._thread.start()

    def _close(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            if server is not None:
                server.shutdown()
                server.server_close()

    def _refuse(self, refuse: bool) -> None:
        """Outage mode ``refuse``: nothing listens on the port until it ends."""
        if refuse:
            self._close()
        else:
            self._listen()

    def stop(self) -> None:
        self.state.stopping.set()
        self._close()

    def __enter__(self) -> SimulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
