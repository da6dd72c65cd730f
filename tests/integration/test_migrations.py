"""`flask db upgrade` on an empty database builds exactly the models (what `flask db check` checks)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext


def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": lambda name, type_, _: name != "scheduler_job"})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_every_business_table_carries_merchant_id(db):
    global_tables = {"merchant", "alembic_version"}
    missing = [t.name for t in db.metadata.sorted_tables
               if t.name not in global_tables and "merchant_id" not in t.columns]
    assert missing == []
