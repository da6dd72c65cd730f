"""Configuration classes for the server, read from the environment.

`create_app()` picks one by `TABLELOOP_ENV` (development | production | testing) unless given
a class or a mapping. Every setting has one name, the same in the environment and in Flask's
config.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _sqlalchemy_url(url: str) -> str:
    # psycopg 3 is our PostgreSQL driver; accept the usual postgres:// spellings.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    """Shared defaults."""

    SECRET_KEY: str | None = _env("SECRET_KEY")
    # Fernet keys, comma-separated, that encrypt merchants' WeChat secrets in the database: the
    # first encrypts, all decrypt (rotation, see docs/deploy.md). Unset outside production, a
    # key is derived from SECRET_KEY.
    SECRETS_ENCRYPTION_KEYS: str | None = _env("SECRETS_ENCRYPTION_KEYS")
    SECRETS_REQUIRE_KEY = False
    SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(
        _env("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'tableloop.sqlite3'}")  # type: ignore[arg-type]
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # PostgreSQL: each web worker keeps one connection per thread (GUNICORN_THREADS, 16, unless
    # set apart); a connection returned to a full pool is closed, and a new one starts with
    # PostgreSQL's caches and its prepared statements cold. Up to 10 more are opened in a burst
    # (app/postgres.py).
    DATABASE_POOL_SIZE = int(_env("DATABASE_POOL_SIZE", _env("GUNICORN_THREADS", "16")))  # type: ignore[arg-type]
    REDIS_URL = _env("REDIS_URL")
    # Public base URL of this server, used in links sent to diners (QR codes, WeChat messages).
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

    # Bearer tokens for staff using the API.
    API_TOKEN_TTL = timedelta(hours=int(_env("API_TOKEN_TTL_HOURS", "12")))  # type: ignore[arg-type]
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # With REDIS_URL set, each worker keeps a valid token's staff member this long at most; a
    # change of staff or tokens reaches every worker at once through Redis (app/auth/token_cache.py).
    # 0 reads every token from the database.
    API_TOKEN_CACHE_SECONDS = int(_env("API_TOKEN_CACHE_SECONDS", "30"))  # type: ignore[arg-type]
    API_TOKEN_CACHE_KEY = _env("API_TOKEN_CACHE_KEY", "tableloop:auth-generation")

    # Login throttling (API token and page login; app/auth/throttle.py): this many wrong
    # passwords for one username, or from one address, within the window lock it for the
    # lockout time. Shared through Redis (keys under the prefix) when REDIS_URL is set.
    LOGIN_MAX_FAILURES_PER_ACCOUNT = int(_env("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5"))  # type: ignore[arg-type]
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(_env("LOGIN_MAX_FAILURES_PER_ADDRESS", "20"))  # type: ignore[arg-type]
    LOGIN_FAILURE_WINDOW_SECONDS = int(_env("LOGIN_FAILURE_WINDOW_SECONDS", "900"))  # type: ignore[arg-type]
    LOGIN_LOCKOUT_SECONDS = int(_env("LOGIN_LOCKOUT_SECONDS", "900"))  # type: ignore[arg-type]
    LOGIN_THROTTLE_PREFIX = _env("LOGIN_THROTTLE_PREFIX", "tableloop:login")
    # Behind a reverse proxy: how many proxies' X-Forwarded-For / -Proto to trust (nginx in front
    # of gunicorn: 1). 0 trusts none, so the address is the peer's own.
    PROXY_FIX_X_FOR = int(_env("PROXY_FIX_X_FOR", "0"))  # type: ignore[arg-type]

    # Housekeeping (`flask housekeeping run`, and the scheduler's daily job): idempotency records
    # are kept this long after their request: far longer than any client retries (see
    # app/housekeeping.py); delivered outbox messages this long, refused or dead ones longer
    # for inspection. Deleted in batches.
    IDEMPOTENCY_RETENTION_DAYS = int(_env("IDEMPOTENCY_RETENTION_DAYS", "30"))  # type: ignore[arg-type]
    OUTBOX_RETENTION_DAYS = int(_env("OUTBOX_RETENTION_DAYS", "30"))  # type: ignore[arg-type]
    OUTBOX_FAILED_RETENTION_DAYS = int(_env("OUTBOX_FAILED_RETENTION_DAYS", "90"))  # type: ignore[arg-type]
    HOUSEKEEPING_BATCH_SIZE = int(_env("HOUSEKEEPING_BATCH_SIZE", "500"))  # type: ignore[arg-type]
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the session lifetime bounds it already

    # flask-smorest / OpenAPI
    API_TITLE = "TableLoop API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    # Served from the swagger-ui-bundle package, so the docs page works without internet.
    OPENAPI_SWAGGER_UI_URL = "/api/docs/assets/"

    # i18n: diners and cashiers see Chinese unless they choose otherwise.
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")

    # Largest integer an id or an amount may take in a request; keeps every value inside a
    # 32-bit INTEGER column (ids) or a BIGINT (money), so no database overflow reaches a 500.
    MAX_ID = 2**31 - 1

    # WeChat: the hosts the real wechatpy clients talk to. The embedded default points them at
    # the WeChat simulator (python -m simulators.wechat); production leaves WeChat's own hosts.
    WECHAT_API_BASE_URL = _env("WECHAT_API_BASE_URL", "http://127.0.0.1:8100")
    WECHAT_OAUTH_BASE_URL = _env("WECHAT_OAUTH_BASE_URL", "http://127.0.0.1:8100/connect")
    WECHAT_PAY_BASE_URL = _env("WECHAT_PAY_BASE_URL", "http://127.0.0.1:8100")
    WECHAT_TIMEOUT_SECONDS = float(_env("WECHAT_TIMEOUT_SECONDS", "5"))  # type: ignore[arg-type]
    # A payment code at the till: ask WeChat this many times, this far apart, while the diner
    # confirms on the phone; then cancel (reverse) it.
    WECHAT_PAY_POLLS = int(_env("WECHAT_PAY_POLLS", "10"))  # type: ignore[arg-type]
    WECHAT_PAY_POLL_SECONDS = float(_env("WECHAT_PAY_POLL_SECONDS", "2"))  # type: ignore[arg-type]
    WECHAT_PAY_EXPIRE_MINUTES = float(_env("WECHAT_PAY_EXPIRE_MINUTES", "15"))  # type: ignore[arg-type]
    WECHAT_PAY_RECONCILE_AFTER_MINUTES = float(_env("WECHAT_PAY_RECONCILE_AFTER_MINUTES", "2"))  # type: ignore[arg-type]
    # This server's public address, sent as spbill_create_ip for trades not paid in a browser.
    WECHAT_PAY_SERVER_IP = _env("WECHAT_PAY_SERVER_IP", "127.0.0.1")

    # Live streams send a comment this often so proxies and clients know the line is alive.
    EVENT_HEARTBEAT_SECONDS = 15
    # The kitchen display colours a ticket yellow after this many minutes, red after the second.
    KITCHEN_WARN_MINUTES = int(_env("KITCHEN_WARN_MINUTES", "10"))  # type: ignore[arg-type]
    KITCHEN_LATE_MINUTES = int(_env("KITCHEN_LATE_MINUTES", "20"))  # type: ignore[arg-type]
    # The largest dish photo a manager may upload (kept in the database, app/menu/photos.py).
    DISH_PHOTO_MAX_BYTES = int(_env("DISH_PHOTO_MAX_BYTES", str(2 * 1024 * 1024)))  # type: ignore[arg-type]
    # 催菜: an order can be rushed once in this many minutes (the till's and the diners' together).
    KITCHEN_RUSH_EVERY_MINUTES = float(_env("KITCHEN_RUSH_EVERY_MINUTES", "3"))  # type: ignore[arg-type]
    # Without Redis, a separate stream process on this host (config/gunicorn_streams.conf.py)
    # hears the doorbell as UDP datagrams at this address; it sets EVENT_DOORBELL_LISTEN=1.
    EVENT_DOORBELL_UDP = _env("EVENT_DOORBELL_UDP")
    EVENT_DOORBELL_LISTEN = _env("EVENT_DOORBELL_LISTEN") == "1"

    TESTING = False
    DEBUG = False


class DevelopmentConfig(Config):
    """The embedded default: SQLite file, in-process doorbell, simulators."""

    SECRET_KEY = _env("SECRET_KEY", "dev-only-not-secret")
    DEBUG = False
    EVENT_DOORBELL_UDP = _env("EVENT_DOORBELL_UDP", "127.0.0.1:8002")  # the Procfile's stream process


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret"
    SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(
        _env("TEST_DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'test.sqlite3'}")  # type: ignore[arg-type]
    )
    WTF_CSRF_ENABLED = True
    # Each test run its own keys, should REDIS_URL be set for the tests.
    LOGIN_THROTTLE_PREFIX = f"tableloop:test:{os.getpid()}-{os.urandom(4).hex()}:login"
    API_TOKEN_CACHE_KEY = f"tableloop:test:{os.getpid()}-{os.urandom(4).hex()}:auth-generation"


class ProductionConfig(Config):
    SECRETS_REQUIRE_KEY = True
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "1") == "1"
    WECHAT_API_BASE_URL = _env("WECHAT_API_BASE_URL", "https://api.weixin.qq.com")
    WECHAT_OAUTH_BASE_URL = _env("WECHAT_OAUTH_BASE_URL", "https://open.weixin.qq.com/connect")
    WECHAT_PAY_BASE_URL = _env("WECHAT_PAY_BASE_URL", "https://api.mch.weixin.qq.com")

    @classmethod
    def check(cls, config: dict) -> None:
        """Refuse to start with a missing or well-known secret."""
        secret = config.get("SECRET_KEY") or ""
        if len(secret) < 32 or secret in {"dev-only-not-secret", "testing-secret", "change-me"}:
            raise RuntimeError(
                "SECRET_KEY must be set to a random value of at least 32 characters in production "
                "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')."
            )
        # Each key's form is checked when the app builds its key ring (app.secretbox).
        if not (config.get("SECRETS_ENCRYPTION_KEYS") or "").strip(" ,"):
            raise RuntimeError(
                "SECRETS_ENCRYPTION_KEYS must be set in production: merchants' WeChat secrets are "
                "encrypted with it (python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')."
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
