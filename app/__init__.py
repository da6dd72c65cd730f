"""TableLoop server: `create_app()` builds the Flask application."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, send_from_directory
from werkzeug.exceptions import HTTPException

from config.settings import CONFIGS, INSTANCE_DIR, ROOT, ProductionConfig

log = logging.getLogger(__name__)


def create_app(config: type | Mapping[str, Any] | None = None) -> Flask:
    """Build the app from a config class, or from the environment's class plus overrides."""
    import os

    from app import secretbox, security

    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=False)
    if isinstance(config, type):
        config_class = config
        overrides: Mapping[str, Any] = {}
    else:
        config_class = CONFIGS[os.environ.get("TABLELOOP_ENV", "development")]
        overrides = config or {}
    app.config.from_object(config_class)
    app.config.update(overrides)
    if issubclass(config_class, ProductionConfig):
        ProductionConfig.check(app.config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config.get("PROXY_FIX_X_FOR"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX_X_FOR"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    secretbox.init_app(app)

    _init_extensions(app)
    _register_api(app)
    _register_pages(app)
    _register_errors(app)
    security.init_app(app)
    _register_cli(app)
    _register_subscribers(app)
    return app


def _init_extensions(app: Flask) -> None:
    from app import models  # noqa: F401 - every table in the metadata
    from app.auth.guard import IdConverter
    from app.extensions import babel, csrf, db, migrate
    from app.i18n import select_locale
    from app.postgres import configure_postgres, engine_options
    from app.sqlite import configure_sqlite

    app.url_map.converters["id"] = IdConverter
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine)
        configure_postgres(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    babel.init_app(app, locale_selector=select_locale)
    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    csrf.init_app(app)
    from app.events.doorbell import make_doorbell

    app.extensions["tableloop_doorbell"] = make_doorbell(app.config["REDIS_URL"], app.config["EVENT_DOORBELL_UDP"],
                                                         app.config["EVENT_DOORBELL_LISTEN"])
    from app.auth import throttle, token_cache

    throttle.init_app(app)
    token_cache.init_app(app)


def _register_api(app: Flask) -> None:
    import swagger_ui_bundle

    from app.analytics.routes import blp as analytics_blp
    from app.api import refuse_control_characters_in_urls
    from app.audit.routes import blp as audit_blp
    from app.auth.guard import guard_api_request
    from app.auth.routes import blp as auth_blp
    from app.campaigns.routes import blp as campaigns_blp
    from app.coupons.routes import blp as coupons_blp
    from app.crm.routes import blp as crm_blp
    from app.events.routes import blp as events_blp
    from app.extensions import api, csrf
    from app.inbox.routes import blp as inbox_blp
    from app.members.routes import blp as members_blp
    from app.menu.routes import blp as menu_blp
    from app.orders.routes import blp as orders_blp
    from app.payments.routes import blp as payments_blp
    from app.sync.routes import blp as sync_blp
    from app.tables.routes import blp as tables_blp
    from app.tenants.routes import blp as stores_blp
    from app.wechat.routes import blp as wechat_blp

    api.init_app(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearer": []}]
    for blueprint in (auth_blp, stores_blp, audit_blp, members_blp, menu_blp, tables_blp, orders_blp, events_blp,
                      coupons_blp, wechat_blp, payments_blp, sync_blp, analytics_blp, crm_blp, inbox_blp,
                      campaigns_blp):
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)  # the API authenticates by bearer token, never by cookie
    app.before_request(refuse_control_characters_in_urls)  # pages too; before anything reads them
    app.before_request(guard_api_request)

    assets = swagger_ui_bundle.swagger_ui_path

    @app.get("/healthz")
    def healthz():
        """Liveness for load balancers and benchmarks: no database, no auth."""
        return {"status": "ok"}

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_assets(filename: str):
        return send_from_directory(assets, filename, max_age=86400)

    @app.get("/favicon.ico")
    def favicon():
        """Browsers ask for this path whatever the page links, the API docs included."""
        return send_from_directory(app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                                   max_age=86400)


def _register_pages(app: Flask) -> None:
    from kitchen_display import bp as kitchen_bp

    app.register_blueprint(kitchen_bp)
    from app.analytics.pages import bp as analytics_pages_bp
    from app.auth.pages import bp as device_pages_bp
    from app.coupons.pages import bp as coupon_pages_bp
    from app.crm.pages import bp as crm_pages_bp
    from app.diner.pages import bp as diner_bp
    from app.extensions import csrf
    from app.fans.pages import bp as fans_pages_bp
    from app.inbox.pages import bp as inbox_pages_bp
    from app.members import card_pages  # noqa: F401 (the card pages' routes, on the member pages' blueprint)
    from app.members.pages import bp as member_pages_bp
    from app.pages.routes import bp as pages_bp
    from app.payments.pages import bp as payment_pages_bp
    from app.tables.pages import bp as tables_pages_bp
    from app.wechat.callback import bp as wechat_callback_bp
    from app.wechat.pages import bp as wechat_pages_bp
    from app.wechat.settings_pages import bp as wechat_settings_pages_bp

    app.register_blueprint(pages_bp)
    app.register_blueprint(member_pages_bp)
    app.register_blueprint(coupon_pages_bp)
    app.register_blueprint(crm_pages_bp)
    app.register_blueprint(inbox_pages_bp)
    app.register_blueprint(analytics_pages_bp)
    app.register_blueprint(tables_pages_bp)
    app.register_blueprint(payment_pages_bp)
    app.register_blueprint(wechat_pages_bp)
    app.register_blueprint(wechat_settings_pages_bp)
    app.register_blueprint(diner_bp)
    app.register_blueprint(fans_pages_bp)
    from app.tenants.pages import bp as store_pages_bp

    app.register_blueprint(store_pages_bp)
    app.register_blueprint(device_pages_bp)
    from app.analytics.dashboard_pages import bp as dashboard_pages_bp
    from app.audit.pages import bp as audit_pages_bp
    from app.auth.staff_pages import bp as staff_pages_bp
    from app.menu.pages import bp as menu_pages_bp
    from app.menu.pages import media_bp

    app.register_blueprint(dashboard_pages_bp)
    app.register_blueprint(menu_pages_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(staff_pages_bp)
    app.register_blueprint(audit_pages_bp)
    app.register_blueprint(wechat_callback_bp)
    from app.campaigns.pages import bp as campaign_pages_bp
    from app.campaigns.pages import open_bp as campaign_open_bp

    app.register_blueprint(campaign_pages_bp)
    app.register_blueprint(campaign_open_bp)
    csrf.exempt(wechat_callback_bp)  # WeChat signs its calls instead


def _register_errors(app: Flask) -> None:
    from app.errors import error_response, internal_error_response

    app.register_error_handler(HTTPException, error_response)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error", exc_info=error)
        return internal_error_response(error)


def _register_subscribers(app: Flask) -> None:
    """The one dispatch table of domain events to channels, filled here and nowhere else."""
    from app.events.subscriptions import register_all
    from app.orders import table_moves
    from app.payments.service import trade_pending
    from app.sync import watch

    register_all()
    if trade_pending not in table_moves.PAYING_ELSEWHERE:  # a table being paid by WeChat stays put
        table_moves.PAYING_ELSEWHERE.append(trade_pending)
    watch.install()  # the agents' local copies hear of menu, table, staff and card changes


def _register_cli(app: Flask) -> None:
    from app.cli import demo_cli, secrets_cli, tenants_cli
    from app.housekeeping import housekeeping_cli
    from app.outbox.cli import outbox_cli
    from app.scheduler import scheduler_cli

    app.cli.add_command(tenants_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(secrets_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(housekeeping_cli)
