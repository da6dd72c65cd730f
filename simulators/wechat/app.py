"""``create_simulator(config)``: one Flask app that answers on WeChat's paths.

- official account: ``/cgi-bin/…``, ``/sns/…``, ``/connect/oauth2/authorize`` (``mp.py``)
- WeChat Pay v2: ``/pay/…``, ``/secapi/pay/…`` and the payment sheet (``pay.py``)
- the tester's side: ``/`` index, ``/inbox/<openid>`` phones, ``/_sim/…`` JSON controls
  (``control.py``)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException

from .config import SimulatorConfig
from .protocol import beijing_time
from .store import Store

EXTENSION = "wechat_simulator"

# Paths that belong to each half of WeChat, for simulated outages.
_MP_PREFIXES = ("/cgi-bin/", "/sns/", "/connect/", "/q/", "/inbox/")
_PAY_PREFIXES = ("/pay/", "/secapi/", "/jsapi/")


def create_simulator(
    config: SimulatorConfig | Mapping[str, Any] | None = None, clock: Callable[[], float] | None = None
) -> Flask:
    settings = config if isinstance(config, SimulatorConfig) else SimulatorConfig.from_mapping(config)
    app = Flask(__name__, static_folder="static", static_url_path="/_sim/static")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # WeChat answers in plain UTF-8
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = Store(settings, clock or time.time)

    from . import control, mp, pay

    app.register_blueprint(mp.bp)
    app.register_blueprint(pay.bp)
    app.register_blueprint(control.bp)
    app.before_request(_simulated_outage)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.add_template_filter(lambda ts: beijing_time(ts, "%Y-%m-%d %H:%M:%S"), "beijing")
    return app


def get_store() -> Store:
    return current_app.extensions[EXTENSION]


def _scope(path: str) -> str | None:
    if path.startswith(_MP_PREFIXES):
        return "mp"
    if path.startswith(_PAY_PREFIXES):
        return "pay"
    return None


def _simulated_outage():
    scope = _scope(request.path)
    if scope is None:
        return None
    outage = get_store().outage_for(scope)
    if outage is None:
        return None
    if outage.mode == "timeout":
        get_store().stopping.wait(outage.delay)
    return "503 Service Unavailable (simulated WeChat outage)\n", 503, {"Content-Type": "text/plain; charset=utf-8"}


def _http_error(exc: HTTPException):
    if request.path.startswith("/_sim/"):
        code = (exc.name or "error").lower().replace(" ", "_")
        return {"error": {"code": code, "message": exc.description or exc.name, "details": {}}}, exc.code
    return exc


def _unexpected_error(exc: Exception):
    current_app.logger.exception("simulator error on %s", request.path)
    if request.path.startswith("/_sim/"):
        return {"error": {"code": "simulator_error", "message": str(exc), "details": {}}}, 500
    return f"simulator error: {exc}\n", 500, {"Content-Type": "text/plain; charset=utf-8"}
