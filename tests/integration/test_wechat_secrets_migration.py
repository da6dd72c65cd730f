"""Migration 75d822bc509b encrypts the WeChat secrets already stored in plain text, and its
downgrade decrypts them again; run on a database of its own (SQLite, or a scratch PostgreSQL
database when TEST_DATABASE_URL is PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

BEFORE = "158d7e5a5e5e"
ENCRYPTED = "75d822bc509b"
PLAIN = {"app_secret": "0123456789abcdef0123456789abcdef", "token": "demo-token",
         "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
         "api_key": "demoapikeydemoapikeydemoapikey12"}


@pytest.fixture
def scratch_url(tmp_path):
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'migration.sqlite3'}"
        return
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"tl_migration_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield str(sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_plain_secrets_are_encrypted_by_the_upgrade_and_decrypted_by_the_downgrade(scratch_url):
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from app.extensions import db
    from app.secretbox import EXTENSION
    from config.settings import TestingConfig

    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = scratch_url

    app = create_app(Config)
    box = app.extensions[EXTENSION]
    with app.app_context():
        try:
            upgrade(revision=BEFORE)
            with db.engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO merchant (id, name, created_at) VALUES (1, 'm', :now), "
                                     "(2, 'n', :now)"), {"now": datetime.now(UTC)})
                conn.execute(sa.text(
                    "INSERT INTO wechat_settings (merchant_id, appid, app_secret, token, encoding_aes_key, mch_id,"
                    " api_key, templates, created_at) VALUES (1, 'wx_one', :app_secret, :token, :encoding_aes_key,"
                    " '1900000109', :api_key, '{}', :now), (2, 'wx_two', 's', 't', NULL, '', '', '{}', :now)"),
                    {**PLAIN, "now": datetime.now(UTC)})

            upgrade(revision=ENCRYPTED)
            rows = _rows(db)
            for name, plain in PLAIN.items():
                assert rows[1][name] != plain and box.decrypt(rows[1][name]) == plain
            assert rows[2]["encoding_aes_key"] is None and rows[2]["api_key"] == ""
            assert box.decrypt(rows[2]["app_secret"]) == "s"
            # The model reads the plain values back.
            from app.wechat.models import WeChatSettings

            settings = db.session.scalar(sa.select(WeChatSettings).where(WeChatSettings.merchant_id == 1))
            assert {name: getattr(settings, name) for name in PLAIN} == PLAIN
            db.session.rollback()

            downgrade(revision=BEFORE)
            rows = _rows(db)
            assert {name: rows[1][name] for name in PLAIN} == PLAIN
            assert (rows[2]["app_secret"], rows[2]["token"], rows[2]["api_key"]) == ("s", "t", "")
        finally:
            db.session.remove()
            db.engine.dispose()


def _rows(db) -> dict[int, dict]:
    db.session.remove()
    with db.engine.connect() as conn:
        result = conn.execute(sa.text("SELECT * FROM wechat_settings ORDER BY merchant_id")).mappings().all()
    return {row["merchant_id"]: dict(row) for row in result}
