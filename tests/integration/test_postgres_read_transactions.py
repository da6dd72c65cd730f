"""A transaction that only read ends in COMMIT on PostgreSQL, so that psycopg keeps the
connection's prepared statements (it forgets them all on ROLLBACK); anything that wrote or failed
is still rolled back (app/postgres.py)."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from app.menu.models import Category
from app.tenants.models import Store

_READ = sa.select(Store.id).where(Store.id == sa.bindparam("store_id"))
_PREPARED = sa.text("SELECT statement FROM pg_prepared_statements")


def _prepared(conn: sa.Connection) -> list[str]:
    return list(conn.execute(_PREPARED).scalars())


@pytest.mark.postgres_only
def test_reads_rolled_back_leave_the_connection_its_prepared_statements(db):
    with db.engine.connect() as conn:
        for attempt in range(8):  # psycopg prepares a statement at its sixth run
            conn.execute(_READ, {"store_id": attempt})
            conn.rollback()
        assert [s for s in _prepared(conn) if s.startswith("SELECT store.id")], _prepared(conn)


@pytest.mark.postgres_only
def test_a_transaction_that_wrote_forgets_them_as_psycopg_does(db, make):
    tenant = make.tenant()
    db.session.commit()
    with db.engine.connect() as conn:
        for attempt in range(8):
            conn.execute(_READ, {"store_id": attempt})
            conn.rollback()
        conn.execute(sa.update(Store).where(Store.id == tenant.store.id).values(name="改名"))
        conn.rollback()
        assert _prepared(conn) == []


def test_a_write_is_rolled_back(db, make):
    tenant = make.tenant()
    db.session.commit()
    with db.engine.connect() as conn:
        conn.execute(sa.select(Store.id)).all()
        conn.execute(sa.update(Store).where(Store.id == tenant.store.id).values(name="改名"))
        conn.rollback()
    db.session.expire_all()
    assert db.session.get(Store, tenant.store.id).name == tenant.store.name


def test_an_orm_write_is_rolled_back(db, make):
    tenant = make.tenant()
    db.session.commit()
    db.session.add(Category(merchant_id=tenant.merchant.id, name="不要的分类"))
    db.session.flush()
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Category)
                             .where(Category.name == "不要的分类")) == 0


def test_a_failed_read_is_rolled_back_and_the_connection_goes_on(db):
    with db.engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("SELECT id FROM no_such_table")).all()
        conn.rollback()
        assert conn.execute(sa.select(sa.literal(2))).scalar() == 2
        conn.rollback()


@pytest.mark.postgres_only
def test_a_read_that_locked_rows_releases_them(db, make):
    tenant = make.tenant()
    db.session.commit()
    locked = sa.select(Store.id).where(Store.id == tenant.store.id).with_for_update(nowait=True)
    with db.engine.connect() as first, db.engine.connect() as second:
        first.execute(locked).one()
        with pytest.raises(sa.exc.OperationalError) as busy:
            second.execute(locked).one()
        assert isinstance(busy.value.orig, psycopg.errors.LockNotAvailable)
        second.rollback()
        first.rollback()
        assert second.execute(locked).one()
        second.rollback()


@pytest.mark.postgres_only
def test_a_process_keeps_one_connection_per_thread(app, db):
    assert db.engine.pool.size() == app.config["DATABASE_POOL_SIZE"] == 16
