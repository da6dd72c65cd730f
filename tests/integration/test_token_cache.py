"""With Redis, each worker keeps a valid token's staff member and answers the next request without
reading the token again — until anything about staff or tokens changes, which every worker hears
of at once; and never longer than API_TOKEN_CACHE_SECONDS (app/auth/token_cache.py). Two apps on
the same database and Redis stand for two gunicorn workers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.auth.token_cache import EXTENSION, TokenCache

REDIS_URL = "redis://127.0.0.1:6379/0"


class Worker:
    """One app with its own engine and token cache; counts the token reads it makes."""

    def __init__(self, app, key: str, redis_url: str = REDIS_URL) -> None:
        from app import create_app
        from app.extensions import db

        self.app = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
                               "SECRET_KEY": "testing-secret", "REDIS_URL": redis_url,
                               "API_TOKEN_CACHE_KEY": key, "API_TOKEN_CACHE_SECONDS": 30})
        self.client = self.app.test_client()
        self.token_reads = 0
        with self.app.app_context():
            self.engine = db.engine
        sa.event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("SELECT api_token."):
            self.token_reads += 1

    @property
    def cache(self) -> TokenCache:
        return self.app.extensions[EXTENSION]

    def call(self, method: str, path: str, token: str, json=None):
        return self.client.open(f"/api/v1{path}", method=method, json=json,
                                headers={"Authorization": f"Bearer {token}"})

    def token(self, username: str, password: str) -> str:
        response = self.client.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]


@pytest.fixture
def workers(app, db):
    key = f"tableloop:test-auth:{uuid.uuid4().hex}"
    pair = [Worker(app, key), Worker(app, key)]
    yield pair
    for worker in pair:
        worker.cache.redis.delete(key)
        worker.engine.dispose()


def _signed_in(make, db, worker: Worker, role: str | None = None):
    """A tenant committed, and a token from `worker` for its owner, or for new staff of `role`:
    (tenant, staff, owner's token, staff's token)."""
    tenant = make.tenant()
    staff = make.staff(tenant, role) if role else tenant.owner
    db.session.commit()
    owner = worker.token(tenant.owner.username, make.PASSWORD)
    token = worker.token(staff.username, make.PASSWORD) if role else owner
    return tenant, staff, owner, token


def test_a_worker_answers_a_kept_token_without_reading_it_again(make, db, workers):
    first, _ = workers
    tenant, _, _, token = _signed_in(make, db, first)
    answers = [first.call("GET", "/auth/me", token) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert {a.get_json()["username"] for a in answers} == {tenant.owner.username}
    assert first.token_reads == 1


def test_a_logout_in_one_worker_is_refused_at_once_by_the_other(make, db, workers):
    first, second = workers
    _, _, _, token = _signed_in(make, db, first)
    assert second.call("GET", "/auth/me", token).status_code == 200
    assert second.call("GET", "/auth/me", token).status_code == 200
    assert second.token_reads == 1  # kept
    assert first.call("DELETE", "/auth/token", token).status_code == 204
    response = second.call("GET", "/auth/me", token)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "token_invalid"


def test_a_deactivation_in_one_worker_is_refused_at_once_by_the_other(make, db, workers):
    first, second = workers
    _, cashier, owner, token = _signed_in(make, db, first, "cashier")
    assert second.call("GET", "/auth/me", token).status_code == 200
    assert first.call("DELETE", f"/staff/{cashier.id}", owner).status_code == 204
    assert second.call("GET", "/auth/me", token).status_code == 401


def test_a_change_of_name_reaches_the_other_worker_at_once(make, db, workers):
    first, second = workers
    _, cashier, owner, token = _signed_in(make, db, first, "cashier")
    assert second.call("GET", "/auth/me", token).get_json()["display_name"] != "新名字"
    assert first.call("PATCH", f"/staff/{cashier.id}", owner, json={"display_name": "新名字"}).status_code == 200
    assert second.call("GET", "/auth/me", token).get_json()["display_name"] == "新名字"
    assert second.token_reads == 2


def test_a_kept_token_ends_with_its_expiry_and_its_age(make, db, workers):
    from app.auth.service import hash_token, staff_for_token
    from app.db import utcnow

    first, _ = workers
    tenant, _, _, token = _signed_in(make, db, first)
    assert first.call("GET", "/auth/me", token).status_code == 200
    now = [1000.0]
    first.cache.clock = lambda: now[0]
    first.cache._kept.clear()
    assert first.call("GET", "/auth/me", token).status_code == 200  # kept at 1000
    reads = first.token_reads
    with first.app.app_context():
        generation = first.cache.generation()
        assert first.cache.get(hash_token(token), generation, utcnow()) is not None
        assert first.cache.get(hash_token(token), generation, utcnow() + timedelta(days=30)) is None  # expired
        now[0] += 30
        assert first.cache.get(hash_token(token), generation, utcnow()) is None  # too old
        assert staff_for_token(token).username == tenant.owner.username  # read again
    assert first.token_reads == reads + 1


def test_when_redis_does_not_answer_every_token_is_read(make, db, app):
    tenant = make.tenant()
    db.session.commit()
    worker = Worker(app, f"tableloop:test-auth:{uuid.uuid4().hex}", redis_url="redis://127.0.0.1:1/0")
    try:
        token = worker.token(tenant.owner.username, make.PASSWORD)
        assert [worker.call("GET", "/auth/me", token).status_code for _ in range(2)] == [200, 200]
        assert worker.token_reads == 2
        # Redis back: not asked again until a few seconds have passed (no request waits on it).
        import redis

        now = [worker.cache._quiet_until - 1]
        worker.cache.clock = lambda: now[0]
        worker.cache.redis = redis.Redis.from_url(REDIS_URL)
        assert worker.cache.generation() is None
        now[0] += 1
        assert worker.cache.generation() is not None
    finally:
        worker.engine.dispose()


def test_without_redis_nothing_is_kept(app):
    if app.config.get("REDIS_URL"):
        pytest.skip("the suite runs with REDIS_URL set")
    assert app.extensions[EXTENSION] is None
