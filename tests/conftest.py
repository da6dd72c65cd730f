"""Shared fixtures: one app per test session on a real database, emptied after each test.

The schema is built by running the Alembic migrations, never by `create_all()`, so every test
run also proves the migrations. `TEST_DATABASE_URL` selects PostgreSQL; the default is a
SQLite file.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.globals import _cv_app
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from tests.factories import Factory

# The properties are about the rules, not about speed: on a machine busy with other work a slow
# example or a slow generator must not fail them.
settings.register_profile("tableloop", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tableloop")

# Fixtures of the server's WeChat side (simulator, live server, a merchant with the demo account).
pytest_plugins = ["tests.integration.wechat_support"]


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (its own `g` and DB session), as in production,
    even though the test itself holds an app context for its factories."""

    def open(self, *args, **kwargs):
        outer = _cv_app.get(None)
        self._end_outer_transaction(outer)
        token = _cv_app.set(None)  # type: ignore[arg-type]
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)
            # The test's next read must see what the request wrote (no stale snapshot).
            self._end_outer_transaction(outer)

    @staticmethod
    def _end_outer_transaction(outer) -> None:
        if outer is not None:
            from app.extensions import db

            db.session.commit()


def _database_url(tmp_root: Path) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    return url or f"sqlite:///{tmp_root / 'test.sqlite3'}"


def _empty_database(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture(scope="session")
def app():
    from flask_migrate import upgrade

    from app import create_app
    from config.settings import TestingConfig

    tmp_root = Path(tempfile.mkdtemp(prefix="tableloop-test-"))
    url = _database_url(tmp_root)
    _empty_database(url)

    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = url.replace("postgresql://", "postgresql+psycopg://", 1)

    app = create_app(Config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()


def _delete_all_rows(app) -> None:
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        tables = [t for t in reversed(db.metadata.sorted_tables)]
        for attempt in range(5):
            try:
                with db.engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        names = ", ".join(f'"{t.name}"' for t in tables)
                        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
                    else:
                        conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")  # self-references, cycles
                        for table in tables:
                            conn.execute(table.delete())
                return
            except sa.exc.OperationalError as error:
                # A thread or process a test started may still be reading while it winds down:
                # PostgreSQL then picks the TRUNCATE, which locks every table, as a deadlock's victim.
                if "deadlock detected" not in str(error.orig) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres_only") and not (os.environ.get("TEST_DATABASE_URL") or "").startswith(
            ("postgresql://", "postgres://", "postgresql+psycopg://")):
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL=postgresql://…)")


@pytest.fixture
def db(app):
    """An app context on an empty database; everything written is deleted afterwards, and the
    login throttle forgets every failure (tests log in a lot)."""
    from app.auth.throttle import throttle
    from app.extensions import db as _db

    with app.app_context():
        yield _db
        _db.session.remove()
        throttle().reset()
    _delete_all_rows(app)


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def make(db, client):
    """Factories for test data: `make.tenant()`, `make.staff(...)`, `make.api(staff)`."""
    return Factory(db, client)
