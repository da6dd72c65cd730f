"""Login throttling: too many wrong passwords lock an account, or an address, for a while.

Both ways in — `POST /api/v1/auth/token` and the page login form — go through `attempt()`:

1. Before the password is checked, one slot is taken atomically on the account's and on the
   address's counter. While either is locked, or its counter is already full, the attempt is
   refused with 429 `too_many_attempts` and the password is not even looked at. Counters live
   for one window (LOGIN_FAILURE_WINDOW_SECONDS) from their first attempt.
2. A wrong password keeps its slots. The failure that fills a counter turns it into a lock for
   LOGIN_LOCKOUT_SECONDS (an account lock is written to the audit log as `staff.lockout`).
3. A right password gives the address slot back and clears the account's counter: only
   failures count, and a good login starts the account afresh.

Because the slot is taken before the check, N wrong passwords sent at the same moment never get
more than the limit through to the password check. An owner or manager can lift an account's
lock early (`POST /api/v1/staff/{id}/unlock`, audited as `staff.unlock`).

With REDIS_URL set, the counters are shared by every worker and host through Redis (keys under
LOGIN_THROTTLE_PREFIX, each step one Lua script); otherwise they live in this process, on the
app (`app.extensions`), which suits the single worker of the embedded default.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, current_app
from flask_babel import ngettext

from app.errors import APIError

log = logging.getLogger(__name__)

EXTENSION = "tableloop_login_throttle"

ACCOUNT, ADDRESS = "account", "address"


class TooManyAttempts(APIError):
    code = 429
    error_code = "too_many_attempts"

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, math.ceil(retry_after_s / 60))
        super().__init__(ngettext("Too many failed login attempts. Please try again in %(num)s minute.",
                                  "Too many failed login attempts. Please try again in %(num)s minutes.", minutes),
                         details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s

    def get_headers(self, environ=None, scope=None):
        return [*super().get_headers(environ, scope), ("Retry-After", str(self.retry_after_s))]


@dataclass(frozen=True)
class Limits:
    account_failures: int
    address_failures: int
    window_s: int
    lockout_s: int

    @classmethod
    def from_config(cls, config) -> Limits:
        names = ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "LOGIN_MAX_FAILURES_PER_ADDRESS", "LOGIN_FAILURE_WINDOW_SECONDS",
                 "LOGIN_LOCKOUT_SECONDS")
        values = [int(config[name]) for name in names]
        wrong = [name for name, value in zip(names, values, strict=True) if value < 1]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} must be at least 1")
        return cls(*values)


@dataclass(frozen=True)
class Refusal:
    scope: str  # ACCOUNT or ADDRESS
    retry_after_s: int


# --- the stores ------------------------------------------------------------------------------
# A store knows two kinds of key per subject (an account or an address): a counter of attempts
# in the current window and a lock. Three atomic steps: acquire, fail, succeed.


class MemoryStore:
    """Counters in this process, behind one lock."""

    SWEEP_ABOVE = 10_000
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._counts: dict[tuple[str, str], tuple[int, float]] = {}  # key -> (count, expires at)
        self._locks: dict[tuple[str, str], float] = {}  # key -> locked until

    def _live_count(self, key: tuple[str, str], now: float) -> tuple[int, float]:
        count, expires = self._counts.get(key, (0, 0.0))
        if expires <= now:
            self._counts.pop(key, None)
            return 0, 0.0
        return count, expires

    def _lock_left(self, key: tuple[str, str], now: float) -> float:
        until = self._locks.get(key, 0.0)
        if until <= now:
            self._locks.pop(key, None)
            return 0.0
        return until - now

    def _sweep(self, now: float) -> None:
        """Forget ended counters and locks once there are many (names sprayed by a guesser)."""
        if len(self._counts) + len(self._locks) > self.SWEEP_ABOVE:
            self._counts = {key: value for key, value in self._counts.items() if value[1] > now}
            self._locks = {key: until for key, until in self._locks.items() if until > now}

    def acquire(self, subjects: list[tuple[str, str, int]], limits: Limits) -> Refusal | None:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            for scope, subject, maximum in subjects:
                key = (scope, subject)
                left = self._lock_left(key, now)
                if left > 0:
                    return Refusal(scope, math.ceil(left))
                if self._live_count(key, now)[0] >= maximum:
                    return Refusal(scope, limits.lockout_s)
            for scope, subject, _maximum in subjects:
                key = (scope, subject)
                count, expires = self._live_count(key, now)
                self._counts[key] = (count + 1, expires or now + limits.window_s)
            return None

    def fail(self, subjects: list[tuple[str, str, int]], limits: Limits) -> list[str]:
        locked = []
        with self._lock:
            now = self._clock()
            for scope, subject, maximum in subjects:
                key = (scope, subject)
                if self._live_count(key, now)[0] >= maximum:
                    self._counts.pop(key, None)
                    self._locks[key] = now + limits.lockout_s
                    locked.append(scope)
        return locked

    def release(self, subjects: list[tuple[str, str, int]], clear: tuple[str, ...] = ()) -> None:
        """Give back the slots of an attempt that did not fail; clear the counters of `clear`."""
        with self._lock:
            now = self._clock()
            for scope, subject, _maximum in subjects:
                key = (scope, subject)
                count, expires = self._live_count(key, now)
                if count > 1 and scope not in clear:
                    self._counts[key] = (count - 1, expires)
                else:
                    self._counts.pop(key, None)

    def lock_left(self, scope: str, subject: str) -> int:
        with self._lock:
            return math.ceil(self._lock_left((scope, subject), self._clock()))

    def unlock(self, scope: str, subject: str) -> bool:
        with self._lock:
            was_locked = self._lock_left((scope, subject), self._clock()) > 0
            self._locks.pop((scope, subject), None)
            self._counts.pop((scope, subject), None)
            return was_locked

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._locks.clear()


# KEYS: for each subject its counter and its lock; ARGV: window ms, lockout ms, then each maximum.
_ACQUIRE = """
local n = #KEYS / 2
for i = 1, n do
  local left = redis.call('PTTL', KEYS[2 * i])
  if left > 0 then return {i, left} end
  if tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0') >= tonumber(ARGV[2 + i]) then
    return {i, tonumber(ARGV[2])}
  end
end
for i = 1, n do
  if redis.call('INCR', KEYS[2 * i - 1]) == 1 then redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[1]) end
end
return {0, 0}
"""
_FAIL = """
local n = #KEYS / 2
local locked = {}
for i = 1, n do
  if tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0') >= tonumber(ARGV[1 + i]) then
    redis.call('DEL', KEYS[2 * i - 1])
    redis.call('SET', KEYS[2 * i], '1', 'PX', ARGV[1])
    table.insert(locked, i)
  end
end
return locked
"""
# KEYS: counters; ARGV: for each, 1 to clear it, 0 to give one slot back.
_RELEASE = """
for i = 1, #KEYS do
  if ARGV[i] == '1' then
    redis.call('DEL', KEYS[i])
  elseif redis.call('EXISTS', KEYS[i]) == 1 and redis.call('DECR', KEYS[i]) <= 0 then
    redis.call('DEL', KEYS[i])
  end
end
return 0
"""


class RedisStore:
    """Counters in Redis, shared by every worker; every step is one script, so atomic."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.errors = (redis.exceptions.RedisError,)
        self.prefix = prefix
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._fail = self.redis.register_script(_FAIL)
        self._release = self.redis.register_script(_RELEASE)

    def _keys(self, scope: str, subject: str) -> list[str]:
        return [f"{self.prefix}:count:{scope}:{subject}", f"{self.prefix}:lock:{scope}:{subject}"]

    def acquire(self, subjects: list[tuple[str, str, int]], limits: Limits) -> Refusal | None:
        keys = [key for scope, subject, _ in subjects for key in self._keys(scope, subject)]
        args = [limits.window_s * 1000, limits.lockout_s * 1000, *(maximum for _, _, maximum in subjects)]
        index, left_ms = self._acquire(keys=keys, args=args)
        if not index:
            return None
        return Refusal(subjects[int(index) - 1][0], max(1, math.ceil(int(left_ms) / 1000)))

    def fail(self, subjects: list[tuple[str, str, int]], limits: Limits) -> list[str]:
        keys = [key for scope, subject, _ in subjects for key in self._keys(scope, subject)]
        locked = self._fail(keys=keys, args=[limits.lockout_s * 1000, *(maximum for _, _, maximum in subjects)])
        return [subjects[int(index) - 1][0] for index in locked]

    def release(self, subjects: list[tuple[str, str, int]], clear: tuple[str, ...] = ()) -> None:
        self._release(keys=[self._keys(scope, subject)[0] for scope, subject, _ in subjects],
                      args=["1" if scope in clear else "0" for scope, _, _ in subjects])

    def lock_left(self, scope: str, subject: str) -> int:
        left = self.redis.pttl(self._keys(scope, subject)[1])
        return max(0, math.ceil(left / 1000))

    def unlock(self, scope: str, subject: str) -> bool:
        count_key, lock_key = self._keys(scope, subject)
        removed_lock = self.redis.delete(lock_key)
        self.redis.delete(count_key)
        return bool(removed_lock)

    def reset(self) -> None:
        """Forget every counter and lock under this prefix (tests, and an operator's last resort)."""
        keys = list(self.redis.scan_iter(match=f"{self.prefix}:*", count=500))
        for start in range(0, len(keys), 500):
            self.redis.delete(*keys[start:start + 500])


# --- the throttle ----------------------------------------------------------------------------

def _account(username: str) -> str:
    # Keys are bounded and free of separators whatever a client sends.
    return username.strip().lower()[:60].replace(":", "_")


class LoginThrottle:
    def __init__(self, store: MemoryStore | RedisStore, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        # Should Redis be unreachable, count in this process meanwhile: logins keep working,
        # and guessing is still limited (per worker).
        self.fallback = MemoryStore()

    def _call(self, method: str, *args):
        try:
            return getattr(self.store, method)(*args)
        except self.store.errors as error:
            log.warning("login throttle store unreachable, counting in this process: %s", error)
            return getattr(self.fallback, method)(*args)

    def _subjects(self, username: str, address: str) -> list[tuple[str, str, int]]:
        return [(ACCOUNT, _account(username), self.limits.account_failures),
                (ADDRESS, address or "unknown", self.limits.address_failures)]

    @contextmanager
    def attempt(self, username: str, address: str | None, *, failure: type[BaseException],
                on_lockout: Callable[[str, str], None] | None = None) -> Iterator[None]:
        """Wrap one password check: raises TooManyAttempts before it while locked. The block
        raising `failure` (wrong credentials) counts as a failed attempt; returning is a
        success, which clears the account's counter; any other error gives the slots back."""
        subjects = self._subjects(username, address or "")
        refusal = self._call("acquire", subjects, self.limits)
        if refusal is not None:
            raise TooManyAttempts(refusal.retry_after_s)
        try:
            yield
        except failure:
            for scope in self._call("fail", subjects, self.limits):
                subject = next(subject for kind, subject, _ in subjects if kind == scope)
                log.warning("login locked for %s s: %s %s", self.limits.lockout_s, scope, subject)
                if on_lockout is not None:
                    on_lockout(scope, subject)
            raise
        except BaseException:
            self._call("release", subjects)
            raise
        self._call("release", subjects, (ACCOUNT,))

    def account_lock_left(self, username: str) -> int:
        return max(self._call("lock_left", ACCOUNT, _account(username)),
                   self.fallback.lock_left(ACCOUNT, _account(username)))

    def unlock_account(self, username: str) -> bool:
        """Lift an account's lock and clear its counter; True when it was locked."""
        in_fallback = self.fallback.unlock(ACCOUNT, _account(username))
        return self._call("unlock", ACCOUNT, _account(username)) or in_fallback

    def reset(self) -> None:
        self.fallback.reset()
        self.store.reset()


def init_app(app: Flask) -> None:
    limits = Limits.from_config(app.config)
    url = app.config.get("REDIS_URL")
    store: MemoryStore | RedisStore = (RedisStore(url, app.config["LOGIN_THROTTLE_PREFIX"]) if url
                                       else MemoryStore())
    app.extensions[EXTENSION] = LoginThrottle(store, limits)


def throttle() -> LoginThrottle:
    return current_app.extensions[EXTENSION]
