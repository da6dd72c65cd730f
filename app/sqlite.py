"""SQLite as the embedded default: WAL, foreign keys, and writers that queue instead of failing.

pysqlite begins a transaction only at the first write, so a read-then-write transaction can fail
with "database is locked" when another writer got in first. SQLAlchemy's documented recipe:
switch the driver's own BEGIN off and emit BEGIN ourselves. A transaction opened through
`app.db.begin_write()` (every API call that changes data) emits `BEGIN IMMEDIATE`: it takes the
write lock at its start and waits its turn for up to the busy timeout. Reads use a deferred
BEGIN, so under WAL they never wait for a writer and never hold one up.
"""

from __future__ import annotations

import sqlalchemy as sa

BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "tableloop_write"


def configure_sqlite(engine: sa.Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection):
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
