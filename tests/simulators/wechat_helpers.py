"""Helpers for driving the WeChat simulator with the real wechatpy clients.

The clients differ from production only in their base URLs (and, for `WeChatClient`, the
access-token URL that wechatpy hard-codes): exactly what the server's adapter does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl

from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.pay import WeChatPay
from werkzeug.serving import WSGIRequestHandler, make_server

from simulators.wechat import DEMO_API_KEY, DEMO_APPID, DEMO_MCH_ID, DEMO_SECRET

ACK = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"


class SimWeChatClient(WeChatClient):
    """`WeChatClient` asking the simulator: the API base URL, and the token URL wechatpy
    hard-codes to api.weixin.qq.com."""

    def __init__(self, base_url: str, appid: str = DEMO_APPID, secret: str = DEMO_SECRET, **kwargs):
        super().__init__(appid, secret, **kwargs)
        self.API_BASE_URL = base_url.rstrip("/") + "/cgi-bin/"

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def sim_oauth(base_url: str, redirect_uri: str, scope: str = "snsapi_base", state: str = "") -> WeChatOAuth:
    oauth = WeChatOAuth(DEMO_APPID, DEMO_SECRET, redirect_uri, scope, state)
    oauth.API_BASE_URL = base_url.rstrip("/") + "/"
    oauth.OAUTH_BASE_URL = base_url.rstrip("/") + "/connect/"
    return oauth


def sim_pay(base_url: str, api_key: str = DEMO_API_KEY, timeout: float = 5) -> WeChatPay:
    pay = WeChatPay(DEMO_APPID, api_key, DEMO_MCH_ID, mch_cert=None, mch_key=None, timeout=timeout)
    pay.API_BASE_URL = base_url.rstrip("/") + "/"
    return pay


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@dataclass
class Received:
    method: str
    path: str
    args: dict[str, str]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    """A tiny stand-in for the TableLoop server: records every request and answers from a
    script (``reply(...)``), else ``ACK`` — or, for a GET with ``echostr``, the echo."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script: list[tuple[int, str]] = []
        self._cond = threading.Condition()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def reply(self, *answers: tuple[int, str]) -> None:
        with self._cond:
            self._script.extend(answers)

    def clear(self) -> None:
        with self._cond:
            self.requests.clear()
            self._script.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.requests) >= count, timeout), (
                f"expected {count} requests, got {len(self.requests)}"
            )
            return list(self.requests)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        args = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        with self._cond:
            if self._script:
                status, text = self._script.pop(0)
            elif environ["REQUEST_METHOD"] == "GET" and "echostr" in args:
                status, text = 200, args["echostr"]
            else:
                status, text = 200, ACK
            self.requests.append(Received(environ["REQUEST_METHOD"], environ["PATH_INFO"], args, body, headers))
            self._cond.notify_all()
        start_response(f"{status} X", [("Content-Type", "text/xml; charset=utf-8")])
        return [text.encode("utf-8")]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str, str]] = []  # (type, name, value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.fields.append((a.get("type") or "text", a["name"], a.get("value") or ""))


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page's form (what a browser would send back)."""
    parser = _Forms()
    parser.feed(html)
    return {name: value for kind, name, value in parser.fields if kind == "hidden"}


def radio_values(html: str, name: str) -> list[str]:
    parser = _Forms()
    parser.feed(html)
    return [value for kind, n, value in parser.fields if kind == "radio" and n == name]
