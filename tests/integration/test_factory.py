import pytest

from app import create_app
from config.settings import ProductionConfig, TestingConfig


def test_factory_builds_a_configured_app(app):
    assert app.config["TESTING"] is True
    assert "api-docs.openapi_json" in app.view_functions
    assert app.url_map.converters["id"].__name__ == "IdConverter"


def test_factory_takes_overrides_on_top_of_the_environment_class(monkeypatch, tmp_path):
    monkeypatch.setenv("TABLELOOP_ENV", "testing")
    built = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}", "PUBLIC_BASE_URL": "http://x"})
    assert built.config["TESTING"] is True
    assert built.config["PUBLIC_BASE_URL"] == "http://x"


FERNET_KEY = "Rm9yIHRlc3RzIG9ubHkgLSBub3QgYSByZWFsIGtleSE="  # 32 bytes, url-safe base64


@pytest.mark.parametrize("secret", [None, "", "short", "dev-only-not-secret"])
def test_production_refuses_to_start_without_a_real_secret(secret, tmp_path):
    class Config(ProductionConfig):
        SECRET_KEY = secret
        SECRETS_ENCRYPTION_KEYS = FERNET_KEY
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'p.sqlite3'}"

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Config)


def test_production_starts_with_a_real_secret(tmp_path):
    class Config(ProductionConfig):
        SECRET_KEY = "x" * 48
        SECRETS_ENCRYPTION_KEYS = FERNET_KEY
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'p.sqlite3'}"

    assert create_app(Config).config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("keys", [None, "", " , ", "not-a-fernet-key", f"{FERNET_KEY},short"])
def test_production_refuses_to_start_without_a_usable_encryption_key(keys, tmp_path):
    """Merchants' WeChat secrets are encrypted with it; production never derives one."""
    class Config(ProductionConfig):
        SECRET_KEY = "x" * 48
        SECRETS_ENCRYPTION_KEYS = keys
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'p.sqlite3'}"

    with pytest.raises(RuntimeError, match="SECRETS_ENCRYPTION_KEYS"):
        create_app(Config)


def test_development_derives_an_encryption_key_from_its_secret(tmp_path):
    """`make run` needs no step by hand: without SECRETS_ENCRYPTION_KEYS the key comes from SECRET_KEY."""
    from app.secretbox import EXTENSION

    built = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'd.sqlite3'}",
                        "SECRET_KEY": "some-dev-secret", "SECRETS_ENCRYPTION_KEYS": None})
    box = built.extensions[EXTENSION]
    token = box.encrypt("s3cret")
    assert token != "s3cret" and box.decrypt(token) == "s3cret"


def test_sqlite_connections_use_wal_and_foreign_keys(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_testing_config_reads_test_database_url():
    assert TestingConfig.SQLALCHEMY_DATABASE_URI


def test_every_api_blueprint_builds_its_argument_schemas_once(app):
    """flask-smorest's own Blueprint hands webargs the schema class, which builds a schema (a deep
    copy of its fields) on every request; app.api.Blueprint builds it once per route."""
    import flask_smorest

    from app.api import Blueprint

    smorest = [bp for bp in app.blueprints.values() if isinstance(bp, flask_smorest.Blueprint)]
    assert len(smorest) >= 15
    assert [bp.name for bp in smorest if not isinstance(bp, Blueprint)] == []
