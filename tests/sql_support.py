"""The SQL a request runs, watched on the app's engine: a page or API call that only reads must
write nothing."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa


@contextlib.contextmanager
def sql_writes(app):
    """The INSERT, UPDATE and DELETE statements run meanwhile, on any connection of the app's engine."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if verb in {"INSERT", "UPDATE", "DELETE"} or (verb == "WITH" and "INSERT INTO" in statement.upper()):
            seen.append(" ".join(statement.split())[:120])

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
