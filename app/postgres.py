"""PostgreSQL through psycopg: a pool of one connection per thread, and a transaction that
changed nothing ends in COMMIT, so the connections keep their prepared statements.

psycopg prepares a statement on the server once a connection has run it five times, and from
then on PostgreSQL neither parses nor plans it again — for the order, member and token reads of
a settlement, planning alone costs more than running them. But psycopg forgets every prepared
statement of a connection on `ROLLBACK` (a rollback might have undone the tables they were
prepared against). Most requests of a till read and do not write — the bill preview, the menu,
the store's event feed — and SQLAlchemy ends a transaction that was not committed with a
rollback, so the pooled connections lost their prepared statements about every other request
and PostgreSQL planned nearly every statement it ran.

For a transaction that wrote nothing, COMMIT and ROLLBACK leave the database in the same state
and release the same locks. So when a transaction that ran only `SELECT`s and met no error is
rolled back, it is committed instead, just before SQLAlchemy's rollback — which then finds the
connection idle and does nothing. A transaction that ran any other statement (an INSERT, an
UPDATE, a `WITH` that might write, a savepoint, a driver-level command) or failed a statement
is rolled back as before.

The pool keeps DATABASE_POOL_SIZE connections (one per gunicorn thread): SQLAlchemy's default of
five closes every further connection as it comes back, and a new one starts with PostgreSQL's
caches and its prepared statements cold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

# Set on the connection's info when its transaction may have changed something or has failed:
# only a ROLLBACK may end it then.
_ROLL_BACK = "tableloop_must_roll_back"


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's options: on PostgreSQL, a pool of DATABASE_POOL_SIZE connections."""
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    if str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        options.setdefault("pool_size", config["DATABASE_POOL_SIZE"])
    return options


def configure_postgres(engine: sa.Engine) -> None:
    if engine.dialect.driver != "psycopg":
        return
    import psycopg
    from psycopg.pq import TransactionStatus

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.info[_ROLL_BACK] = False

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _on_statement(connection, cursor, statement: str, parameters, context, executemany) -> None:
        if not statement.startswith("SELECT"):
            connection.info[_ROLL_BACK] = True

    @sa.event.listens_for(engine, "handle_error")
    def _on_error(context: sa.engine.ExceptionContext) -> None:
        if context.connection is not None and not context.connection.invalidated:
            context.connection.info[_ROLL_BACK] = True

    @sa.event.listens_for(engine, "rollback")
    def _on_rollback(connection: sa.Connection) -> None:
        if connection.invalidated or connection.info.get(_ROLL_BACK, True):
            return
        driver = connection.connection.driver_connection
        if driver.info.transaction_status is not TransactionStatus.INTRANS:
            return  # idle (nothing ran) or failed: the rollback does what it must
        with contextlib.suppress(psycopg.Error):  # the rollback that follows deals with the connection
            driver.commit()
