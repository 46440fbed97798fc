"""Sheets ⇄ Trello lead sync: the Flask application factory."""

from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask

from . import crypto
from .config import ConfigError, Settings, load_config
from .extensions import csrf, db, migrate


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: configuration from the environment, then ``overrides``."""
    from dotenv import load_dotenv

    load_dotenv(override=False)
    environment = Settings.from_env()  # the one read of the environment
    app = Flask(__name__, instance_path=environment.instance_path or None)
    app.config.update(load_config(app.instance_path, overrides, environment=environment))

    from .logs import configure_logging

    configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    crypto.configure(app.config["TOKEN_ENCRYPTION_KEY"], app.config["SECRET_KEY"])

    from .database import check_database, install_engine_hooks

    db.init_app(app)
    migrate.init_app(
        app, db, directory=os.path.join(os.path.dirname(__file__), os.pardir, "migrations"),
        render_as_batch=True, compare_type=True,
    )
    csrf.init_app(app)
    with app.app_context():
        install_engine_hooks(db.engine)
        if app.config.get("CHECK_DATABASE_ON_START", True):
            check_database(db.engine)
        # gunicorn preloads the app and then forks: no pooled connection may be shared by two
        # processes, so the check's connection is closed here (a forked child opens its own).
        db.engine.dispose()

    from .addon import bp as addon_bp
    from .auth.google import bp as auth_bp
    from .auth.oauth import init_oauth
    from .auth.session import init_sessions
    from .auth.trello import bp as trello_connect_bp
    from .dashboard import bp as dashboard_bp
    from .errors import register_error_handlers
    from .health import bp as health_bp
    from .ids import install_id_guards
    from .powerup import bp as powerup_bp
    from .security import init_security
    from .webhooks import bp as webhooks_bp

    register_error_handlers(app)
    install_id_guards(app)   # before any rule is added: rules bind their converters then
    init_sessions(app)
    init_oauth(app)
    for blueprint in (health_bp, webhooks_bp, powerup_bp, addon_bp, auth_bp, trello_connect_bp, dashboard_bp):
        app.register_blueprint(blueprint)
    init_security(app)

    from .metrics.views import bp as metrics_bp

    app.register_blueprint(metrics_bp)

    from .alerts.channels import init_mail
    from .alerts.views import bp as alerts_bp

    init_mail(app)  # alert emails (Flask-Mailman), sent by the worker's alert rounds
    app.register_blueprint(alerts_bp)

    from .cli import register_cli

    register_cli(app)
    return app


__all__ = ["create_app", "ConfigError"]
