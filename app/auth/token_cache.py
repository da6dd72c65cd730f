"""The staff member behind an API token, kept by each worker for a short time — only with Redis.

Every API request looks its bearer token up with its staff member: a statement, its round trip
and two ORM instances, a good part of a small request. A worker keeps what it read, keyed by the
token's hash, and uses it again only while all of these hold:

- the auth generation in Redis is still the one read just before the token was: every commit
  that changes a staff account or a token — a logout, a revocation, a role, store or password
  change, a deactivation — increments it after the commit, so every worker on every host sees
  the change on its next request (the generation is read before the database, and bumped only
  after the commit, so a worker can never keep an answer older than its generation);
- it is younger than API_TOKEN_CACHE_SECONDS (a bound should a change reach the database
  without the app, or Redis lose a bump);
- the token has not expired.

Only valid tokens of active staff are kept. Without REDIS_URL nothing is kept: the embedded
default's web and stream processes could not tell each other of a change. When Redis does not
answer, the database is asked. The member is handed to the request's session with
`merge(load=False)`, so `g.staff` is the same persistent `Staff` as a read would give.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session, make_transient_to_detached, object_session
from sqlalchemy.orm.attributes import set_committed_value

from app.auth.models import ApiToken, Staff

log = logging.getLogger(__name__)

EXTENSION = "tableloop_token_cache"
_CHANGED = "tableloop_auth_changed"
MAX_ENTRIES = 10_000
REDIS_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Kept:
    staff: Staff  # detached, never changed: each request merges a copy into its own session
    expires_at: datetime
    generation: bytes
    kept_at: float


class TokenCache:
    def __init__(self, redis_url: str, key: str, max_age: float, *, clock=time.monotonic) -> None:
        import redis

        self.redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.errors = (redis.exceptions.RedisError, OSError)
        self.key, self.max_age, self.clock = key, max_age, clock
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()
        self._quiet_until = 0.0

    def generation(self) -> bytes | None:
        """The current generation, or None when Redis does not answer (then nothing is kept, and
        Redis is not asked again for a few seconds: requests must not wait on its timeouts)."""
        if self._quiet_until and self.clock() < self._quiet_until:
            return None
        try:
            return self.redis.get(self.key) or b"0"
        except self.errors:
            self._quiet_until = self.clock() + REDIS_RETRY_SECONDS
            return None

    def get(self, token_hash: str, generation: bytes, now: datetime) -> Staff | None:
        kept = self._kept.get(token_hash)
        if (kept is None or kept.generation != generation or kept.expires_at <= now
                or self.clock() - kept.kept_at >= self.max_age):
            return None
        return kept.staff

    def keep(self, token_hash: str, generation: bytes, staff: Staff, expires_at: datetime) -> None:
        kept = _Kept(_detached_copy(staff), expires_at, generation, self.clock())
        with self._lock:
            if len(self._kept) >= MAX_ENTRIES:
                self._kept.clear()
            self._kept[token_hash] = kept

    def bump(self) -> None:
        """After a commit that changed staff or tokens: forget here, and tell every worker."""
        with self._lock:
            self._kept.clear()
        try:
            self.redis.incr(self.key)
        except self.errors:
            log.warning("auth generation not bumped (Redis): other workers keep tokens for up to %ss",
                        self.max_age)


def _detached_copy(staff: Staff) -> Staff:
    copy = Staff.__mapper__.class_manager.new_instance()
    for attr in Staff.__mapper__.column_attrs:
        set_committed_value(copy, attr.key, getattr(staff, attr.key))
    make_transient_to_detached(copy)
    return copy


def init_app(app: Flask) -> None:
    url, max_age = app.config.get("REDIS_URL"), app.config["API_TOKEN_CACHE_SECONDS"]
    app.extensions[EXTENSION] = (TokenCache(url, app.config["API_TOKEN_CACHE_KEY"], max_age)
                                 if url and max_age > 0 else None)
    if not sa.event.contains(Session, "after_commit", _after_commit):
        for model in (Staff, ApiToken):
            sa.event.listen(model, "after_update", _row_changed)
            sa.event.listen(model, "after_delete", _row_changed)
        sa.event.listen(Session, "after_commit", _after_commit)
        sa.event.listen(Session, "after_transaction_end", _after_transaction_end)


def token_cache() -> TokenCache | None:
    return current_app.extensions.get(EXTENSION)


def changed(session: Session) -> None:
    """Say that this transaction changes staff or tokens by a statement of its own (the ORM's
    updates and deletes are seen without it)."""
    session.info[_CHANGED] = True


def _row_changed(_mapper, _connection, target) -> None:
    session = object_session(target)
    if session is not None:
        changed(session)


def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        cache = token_cache() if has_app_context() else None
        if cache is not None:
            cache.bump()


def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CHANGED, None)
