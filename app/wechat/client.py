"""The only module that builds wechatpy clients. Everything else asks for one here.

Base URLs come from the app config (WECHAT_API_BASE_URL, WECHAT_OAUTH_BASE_URL,
WECHAT_PAY_BASE_URL): WeChat's own hosts in production, the simulator in the embedded default
and the tests — the real library code runs either way. Every call has a timeout; the access
token is shared by all workers through Redis when REDIS_URL is set.
"""

from __future__ import annotations

import threading
import time

import requests
from flask import current_app
from wechatpy import WeChatClient, WeChatOAuth
from wechatpy.pay import WeChatPay
from wechatpy.session.memorystorage import MemoryStorage

from app.wechat.models import WeChatSettings

_storages: dict[str, object] = {}
_local_locks: dict[str, threading.Lock] = {}


class _TimeoutSession(requests.Session):
    """wechatpy's token fetch and OAuth calls pass no timeout; this gives every call one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


class OfficialAccountClient(WeChatClient):
    """`WeChatClient` whose token URL follows API_BASE_URL (wechatpy hard-codes the real host), and
    whose token refresh is one worker's job at a time (each fetch makes WeChat retire the token
    before it)."""

    def __init__(self, appid: str, secret: str, *, base_url: str, timeout: float, session=None,
                 refresh_lock=None) -> None:
        super().__init__(appid, secret, session=session, timeout=timeout)
        self.API_BASE_URL = base_url.rstrip("/") + "/cgi-bin/"
        self._http = _TimeoutSession(timeout)
        self._refresh_lock = refresh_lock
        self._token_used: str | None = None  # the last token this client handed out

    @property
    def access_token(self) -> str:
        token = self.session.get(self.access_token_key)
        if not (token and (not self.expires_at or self.expires_at - time.time() > 60)):
            self._refresh(stale=token)
            token = self.session.get(self.access_token_key)
        self._token_used = token
        return token

    def fetch_access_token(self):
        """wechatpy calls this when WeChat refused the token it was given (40001, 42001)."""
        return self._refresh(stale=self._token_used)

    def _refresh(self, stale: str | None):
        """A new token unless another worker already replaced `stale` (the token this client found
        missing, expiring or refused). `stale` must be what the caller saw before waiting for the
        lock: read again afterwards, it could be the token another worker just fetched, and
        fetching once more would retire that one under its users."""
        if self._refresh_lock is None:
            return self._fetch()
        with self._refresh_lock:
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                return {"access_token": current}
            return self._fetch()

    def _fetch(self):
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def _redis():
    redis_url = current_app.config.get("REDIS_URL")
    if not redis_url:
        return None
    if redis_url not in _storages:
        import redis

        _storages[redis_url] = redis.Redis.from_url(redis_url, socket_timeout=5)
    return _storages[redis_url]


def _token_storage(settings: WeChatSettings):
    """Shared with every worker through Redis when configured; per process otherwise."""
    client = _redis()
    key = f"{id(client)}|{settings.appid}"
    if key not in _storages:
        if client is not None:
            from wechatpy.session.redisstorage import RedisStorage

            _storages[key] = RedisStorage(client, prefix="tableloop:wechat")
        else:
            _storages[key] = MemoryStorage()
    return _storages[key]


def _refresh_lock(settings: WeChatSettings):
    """One token refresh at a time: across workers through Redis, else within this process."""
    config = current_app.config
    client = _redis()
    if client is not None:
        return client.lock(f"tableloop:wechat:{settings.appid}:token-refresh", timeout=30,
                           blocking_timeout=config["WECHAT_TIMEOUT_SECONDS"] * 2)
    return _local_locks.setdefault(settings.appid, threading.Lock())


def official_account(settings: WeChatSettings) -> OfficialAccountClient:
    config = current_app.config
    return OfficialAccountClient(settings.appid, settings.app_secret, base_url=config["WECHAT_API_BASE_URL"],
                                 timeout=config["WECHAT_TIMEOUT_SECONDS"], session=_token_storage(settings),
                                 refresh_lock=_refresh_lock(settings))


def oauth(settings: WeChatSettings, redirect_uri: str, state: str, scope: str = "snsapi_base") -> WeChatOAuth:
    """A fresh OAuth helper per request (wechatpy's is stateful). The caller checks `state`."""
    config = current_app.config
    client = WeChatOAuth(settings.appid, settings.app_secret, redirect_uri, scope, state)
    client.API_BASE_URL = config["WECHAT_API_BASE_URL"].rstrip("/") + "/"
    client.OAUTH_BASE_URL = config["WECHAT_OAUTH_BASE_URL"].rstrip("/") + "/"
    client._http = _TimeoutSession(config["WECHAT_TIMEOUT_SECONDS"])
    return client


def pay(settings: WeChatSettings) -> WeChatPay:
    config = current_app.config
    client = WeChatPay(settings.appid, settings.api_key, settings.mch_id, mch_cert=None, mch_key=None,
                       timeout=config["WECHAT_TIMEOUT_SECONDS"])
    client.API_BASE_URL = config["WECHAT_PAY_BASE_URL"].rstrip("/") + "/"
    return client
