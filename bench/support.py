"""What the agent benchmarks share: a free port, and the app on a database emptied and built by
the migrations."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_app(url: str):
    """The app on `url`, its schema from the migrations (on PostgreSQL the public schema is
    emptied first). Call within nothing: it opens and leaves its own app context."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from config.settings import DevelopmentConfig, _sqlalchemy_url

    if url.startswith("postgresql"):
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()

    class Config(DevelopmentConfig):
        SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(url)

    app = create_app(Config)
    with app.app_context():
        upgrade()
    return app
