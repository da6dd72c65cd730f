"""Login throttling on both ways in (API token, page form), with the in-process store and with
real Redis: wrong passwords lock an account or an address, a good login starts the account
afresh, lockouts and early unlocks are audited, and parallel guesses never get past the limit."""

from __future__ import annotations

import re
import threading
import uuid

import pytest

from app.auth.throttle import EXTENSION, Limits, LoginThrottle, MemoryStore, RedisStore

REDIS_URL = "redis://127.0.0.1:6379/0"
LIMITS = Limits(account_failures=5, address_failures=20, window_s=900, lockout_s=900)


@pytest.fixture(params=["memory", "redis"])
def backend(request, app, db):
    """The app's throttle on the store under test (the default limits); put back afterwards."""
    if request.param == "redis":
        store = RedisStore(REDIS_URL, f"tableloop:test-throttle:{uuid.uuid4().hex}")
    else:
        store = MemoryStore()
    previous = app.extensions[EXTENSION]
    app.extensions[EXTENSION] = LoginThrottle(store, LIMITS)
    yield store
    store.reset()
    app.extensions[EXTENSION] = previous


def _token(client, username, password, address="10.0.0.1"):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _audit(api, action):
    entries = api.get("/audit", query_string={"object_type": "staff", "limit": 100}).get_json()["entries"]
    return [entry for entry in entries if entry["action"] == action]


def test_five_wrong_passwords_lock_the_account_with_a_clear_429(make, backend):
    tenant = make.tenant()
    cashier = make.staff(tenant, "cashier")
    for _ in range(5):
        assert _token(make.client, cashier.username, "wrong-password").status_code == 401
    refused = _token(make.client, cashier.username, make.PASSWORD)  # even the right one, now
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "too_many_attempts"
    assert error["message"]
    assert 890 <= error["details"]["retry_after_s"] <= 900
    assert int(refused.headers["Retry-After"]) == error["details"]["retry_after_s"]
    # From another address too: the account itself is locked.
    assert _token(make.client, cashier.username, make.PASSWORD, address="10.9.9.9").status_code == 429
    # Another account from the same address is not affected.
    assert _token(make.client, tenant.owner.username, make.PASSWORD).status_code == 200

    lockouts = _audit(make.api(tenant.owner), "staff.lockout")
    assert len(lockouts) == 1
    assert lockouts[0]["object_id"] == cashier.id
    assert lockouts[0]["store_id"] == tenant.store.id
    assert lockouts[0]["ip"] == "10.0.0.1"
    assert lockouts[0]["details"] == {"scope": "account", "failures": 5, "locked_for_s": 900}


def test_a_good_login_clears_the_account_failures(make, backend):
    tenant = make.tenant()
    name = tenant.owner.username
    for _ in range(4):
        assert _token(make.client, name, "wrong-password").status_code == 401
    assert _token(make.client, name, make.PASSWORD).status_code == 200
    for _ in range(4):
        assert _token(make.client, name, "wrong-password").status_code == 401
    assert _token(make.client, name, make.PASSWORD).status_code == 200
    assert _token(make.client, name, "wrong-password").status_code == 401


def test_good_logins_never_count(make, backend):
    tenant = make.tenant()
    for _ in range(LIMITS.address_failures + 5):
        assert _token(make.client, tenant.owner.username, make.PASSWORD).status_code == 200


def test_unknown_usernames_are_throttled_alike(make, backend):
    for _ in range(5):
        response = _token(make.client, "nobody-here", "whatever1")
        assert response.get_json()["error"]["code"] == "invalid_credentials"
    assert _token(make.client, "nobody-here", "whatever1").status_code == 429
    assert _token(make.client, "NOBODY-here", "whatever1").status_code == 429  # case makes no new account


def test_twenty_failures_from_one_address_lock_the_address(make, backend):
    tenant = make.tenant()
    for n in range(20):
        assert _token(make.client, f"guess{n}", "wrong-password", address="10.0.0.7").status_code == 401
    refused = _token(make.client, tenant.owner.username, make.PASSWORD, address="10.0.0.7")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_attempts"
    # The account itself is fine from elsewhere.
    assert _token(make.client, tenant.owner.username, make.PASSWORD, address="10.0.0.8").status_code == 200


def test_a_forwarded_for_header_is_ignored_unless_a_proxy_is_trusted(app, make, db, backend):
    tenant = make.tenant()
    # Straight to the server: X-Forwarded-For is the client's say-so, not its address.
    for n in range(20):
        response = make.client.post("/api/v1/auth/token", json={"username": f"guess{n}", "password": "wrong-pass"},
                                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                                    environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert response.status_code == 401
    assert _token(make.client, tenant.owner.username, make.PASSWORD, address="10.0.0.9").status_code == 429

    # Behind one trusted proxy, the address it forwards is the client's.
    from app import create_app

    proxied = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "TESTING": True,
                          "REDIS_URL": None, "PROXY_FIX_X_FOR": 1})
    client = proxied.test_client()
    owner_id, owner_name = tenant.owner.id, tenant.owner.username
    db.session.commit()  # no snapshot of this test's session across the other app's writes
    for _ in range(5):
        response = client.post("/api/v1/auth/token", json={"username": owner_name, "password": "wrong-pass"},
                               headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
        assert response.status_code == 401
    lockout = _audit(make.api(make.staff(tenant, "manager")), "staff.lockout")[0]
    assert (lockout["object_id"], lockout["ip"]) == (owner_id, "203.0.113.9")
    with proxied.app_context():
        from app.extensions import db as proxied_db

        proxied_db.engine.dispose()


def test_an_owner_unlocks_an_account_early_and_it_is_audited(make, backend):
    tenant = make.tenant()
    cashier = make.staff(tenant, "cashier")
    for _ in range(6):
        _token(make.client, cashier.username, "wrong-password")
    assert _token(make.client, cashier.username, make.PASSWORD).status_code == 429

    owner = make.api(tenant.owner)
    response = owner.post(f"/staff/{cashier.id}/unlock")
    assert response.status_code == 200
    assert response.get_json() == {"staff_id": cashier.id, "was_locked": True}
    assert _token(make.client, cashier.username, make.PASSWORD).status_code == 200
    # The failures were cleared with the lock: a full five again before the next lock.
    for _ in range(5):
        assert _token(make.client, cashier.username, "wrong-password").status_code == 401
    assert _token(make.client, cashier.username, make.PASSWORD).status_code == 429

    unlocks = _audit(owner, "staff.unlock")
    assert [(entry["object_id"], entry["staff_id"], entry["details"]) for entry in unlocks] == [
        (cashier.id, tenant.owner.id, {"was_locked": True})]
    assert owner.post(f"/staff/{cashier.id}/unlock").get_json()["was_locked"] is True
    assert owner.post(f"/staff/{cashier.id}/unlock").get_json()["was_locked"] is False


def test_only_those_who_manage_an_account_may_unlock_it(make, backend):
    tenant, other = make.tenant(), make.tenant()
    manager = make.staff(tenant, "manager")
    cashier = make.staff(tenant, "cashier")
    assert make.api(cashier).post(f"/staff/{manager.id}/unlock").status_code == 403
    assert make.api(manager).post(f"/staff/{tenant.owner.id}/unlock").status_code == 403
    assert make.api(manager).post(f"/staff/{cashier.id}/unlock").status_code == 200
    assert make.api(other.owner).post(f"/staff/{cashier.id}/unlock").status_code == 404
    assert _audit(make.api(tenant.owner), "staff.unlock")[0]["staff_id"] == manager.id


def test_the_login_page_says_so_in_chinese_and_english_with_429(make, backend):
    tenant = make.tenant()
    client = make.client
    token = _csrf(client.get("/login").get_data(as_text=True))
    for _ in range(5):
        response = client.post("/login", data={"username": tenant.owner.username, "password": "nope-nope",
                                               "csrf_token": token})
        assert response.status_code == 400
    response = client.post("/login", data={"username": tenant.owner.username, "password": make.PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 900
    page = response.get_data(as_text=True)
    assert "登录失败次数过多" in page and "15" in page
    assert 'name="username"' in page  # the form is still there

    english = client.post("/login", data={"username": tenant.owner.username, "password": make.PASSWORD,
                                          "csrf_token": token}, headers={"Accept-Language": "en"})
    assert english.status_code == 429
    assert "Too many failed login attempts" in english.get_data(as_text=True)
    # The page and the API share the count.
    assert _token(client, tenant.owner.username, make.PASSWORD, address="127.0.0.1").status_code == 429


def test_parallel_wrong_passwords_never_get_past_the_limit(app, make, backend):
    tenant = make.tenant()
    cashier = make.staff(tenant, "cashier")
    username, count = cashier.username, 24
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def guess(n):
        client = app.test_client()
        barrier.wait()
        statuses.append(_token(client, username, f"wrong-{n}", address=f"10.1.0.{n}").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == count
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) == LIMITS.account_failures
    assert len(_audit(make.api(tenant.owner), "staff.lockout")) == 1
    assert _token(make.client, username, make.PASSWORD).status_code == 429


def test_parallel_guesses_from_one_address_never_get_past_its_limit(app, make, backend):
    make.tenant()
    count = 40
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def guess(n):
        client = app.test_client()
        barrier.wait()
        statuses.append(_token(client, f"someone{n}", "wrong-password", address="10.2.0.1").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [401] * LIMITS.address_failures + [429] * (count - LIMITS.address_failures)


def test_redis_keys_stay_under_their_prefix_and_expire(make):
    prefix = f"tableloop:test-throttle:{uuid.uuid4().hex}"
    store = RedisStore(REDIS_URL, prefix)
    throttle = LoginThrottle(store, Limits(account_failures=2, address_failures=20, window_s=60, lockout_s=120))
    try:
        for _ in range(2):
            with pytest.raises(ValueError), throttle.attempt("li", "10.3.0.1", failure=ValueError):
                raise ValueError
        keys = {key.decode() for key in store.redis.scan_iter(match=f"{prefix}:*")}
        assert keys == {f"{prefix}:lock:account:li", f"{prefix}:count:address:10.3.0.1"}
        assert all(0 < store.redis.ttl(key) <= 120 for key in keys)
        assert 0 < throttle.account_lock_left("LI") <= 120
    finally:
        store.reset()
    assert list(store.redis.scan_iter(match=f"{prefix}:*")) == []


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_an_error_that_is_not_a_wrong_password_gives_its_slot_back(kind):
    store = (RedisStore(REDIS_URL, f"tableloop:test-throttle:{uuid.uuid4().hex}") if kind == "redis"
             else MemoryStore())
    throttle = LoginThrottle(store, Limits(account_failures=1, address_failures=1, window_s=60, lockout_s=60))
    try:
        for _ in range(3):
            with pytest.raises(RuntimeError), throttle.attempt("wu", "10.4.0.1", failure=ValueError):
                raise RuntimeError("database went away")
        with throttle.attempt("wu", "10.4.0.1", failure=ValueError):
            pass
    finally:
        store.reset()


def test_with_redis_unreachable_logins_work_and_are_still_throttled(app, make):
    tenant = make.tenant()
    previous = app.extensions[EXTENSION]
    app.extensions[EXTENSION] = LoginThrottle(RedisStore("redis://127.0.0.1:1/0", "tableloop:nowhere"), LIMITS)
    try:
        assert _token(make.client, tenant.owner.username, make.PASSWORD).status_code == 200
        for _ in range(5):
            assert _token(make.client, tenant.owner.username, "wrong-password").status_code == 401
        refused = _token(make.client, tenant.owner.username, make.PASSWORD)
        assert refused.status_code == 429, refused.get_json()
        assert _audit(make.api(make.staff(tenant, "manager")), "staff.lockout")[0]["object_id"] == tenant.owner.id
    finally:
        app.extensions[EXTENSION] = previous


def test_memory_counters_end_with_their_window():
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    throttle = LoginThrottle(store, Limits(account_failures=2, address_failures=50, window_s=60, lockout_s=300))
    with pytest.raises(ValueError), throttle.attempt("zhao", "10.5.0.1", failure=ValueError):
        raise ValueError
    now[0] += 61  # the window of the first failure is over
    with pytest.raises(ValueError), throttle.attempt("zhao", "10.5.0.1", failure=ValueError):
        raise ValueError
    with pytest.raises(ValueError), throttle.attempt("zhao", "10.5.0.1", failure=ValueError):
        raise ValueError  # the second in this window: locked now
    assert throttle.account_lock_left("zhao") == 300
    now[0] += 301
    assert throttle.account_lock_left("zhao") == 0
    with throttle.attempt("zhao", "10.5.0.1", failure=ValueError):
        pass


@pytest.mark.parametrize("name", ["LOGIN_MAX_FAILURES_PER_ACCOUNT", "LOGIN_MAX_FAILURES_PER_ADDRESS",
                                  "LOGIN_FAILURE_WINDOW_SECONDS", "LOGIN_LOCKOUT_SECONDS"])
def test_a_limit_under_one_is_refused_at_start(app, name):
    with pytest.raises(ValueError, match=name):
        Limits.from_config({**app.config, name: 0})
