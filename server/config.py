"""Configuration from the environment (12-factor), with safe local defaults."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"


class ConfigError(SystemExit):
    """A configuration problem that stops the process with one readable line.

    It subclasses ``SystemExit`` so that ``flask``, ``gunicorn`` and the worker print the
    message and exit 1 instead of a traceback; tests can still catch it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")
        self.message = message


# Worker and limiter tuning (see server/sync/settings.py); read from the environment when set.
ENGINE_KNOBS = (
    "WORKER_LEASE_S", "WORKER_MAX_ATTEMPTS", "WORKER_BACKOFF_BASE_S", "WORKER_BACKOFF_MAX_S",
    "WORKER_IDLE_POLL_S", "SHEET_WRITE_WINDOW_S", "TRELLO_TOKEN_LIMIT", "TRELLO_KEY_LIMIT", "SHEETS_READ_LIMIT",
    "SHEETS_WRITE_LIMIT", "RECONCILE_INTERVAL_S", "WEBHOOK_CHECK_INTERVAL_S", "EVENT_RETENTION_DAYS",
    "GOOGLE_TOKEN_URI", "TRELLO_APP_ID", "SHEET_WRITE_PROBE_S", "WORKER_CLAIM_GROUPS", "WORKER_BULK_PER_WORKSPACE",
    "RATE_LIMIT_INLINE_WAIT_S", "LIVE_MAX_ROWS", "MAX_QUEUED_BULK", "FUTURE_SKEW_S",
    "WORKER_CONCURRENCY",
)


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def normalise_database_url(url: str) -> str:
    """Accept Heroku-style ``postgres://`` and plain ``postgresql://``; use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL ({exc})") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"DATABASE_URL uses {parsed.get_backend_name()!r}; only sqlite and postgresql are supported"
        )
    return url


def load_config(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config dict from the environment, then ``overrides``."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    app_env = _env("APP_ENV", "development")
    config: dict[str, Any] = {
        "APP_ENV": app_env,
        "SECRET_KEY": _env("SECRET_KEY", DEFAULT_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL", f"sqlite:///{Path(instance_path) / 'app.db'}"),
        "PUBLIC_BASE_URL": (_env("PUBLIC_BASE_URL", "http://127.0.0.1:5000") or "").rstrip("/"),
        "TRELLO_API_KEY": _env("TRELLO_API_KEY", ""),
        "TRELLO_API_SECRET": _env("TRELLO_API_SECRET", ""),
        "TRELLO_API_BASE_URL": (_env("TRELLO_API_BASE_URL", "https://api.trello.com/1") or "").rstrip("/"),
        "TRELLO_OAUTH_BASE_URL": (_env("TRELLO_OAUTH_BASE_URL", "https://trello.com/1") or "").rstrip("/"),
        "TRELLO_POWERUP_ID": _env("TRELLO_POWERUP_ID", ""),
        "POWERUP_APP_NAME": _env("POWERUP_APP_NAME", "Leads Sync"),
        "POWERUP_FRAME_ANCESTORS": _env("POWERUP_FRAME_ANCESTORS", "https://trello.com"),
        "POWERUP_ALLOWED_ORIGINS": _env("POWERUP_ALLOWED_ORIGINS", "https://trello.com"),
        "TRELLO_JWT_KEYS_URL": _env(
            "TRELLO_JWT_KEYS_URL", "https://api.trello.com/1/resource/jwt-public-keys"
        ),
        # Trello's Power-Up client library, loaded by every Power-Up page (the demo points it at its emulator).
        "TRELLO_POWERUP_LIBRARY_URL": _env("TRELLO_POWERUP_LIBRARY_URL", "https://trello.com/power-ups/power-up.min.js"),
        # Origins the local demo's /demo page may frame (set by `python -m demo` only).
        "DEMO_FRAME_ORIGINS": _env("DEMO_FRAME_ORIGINS", ""),
        "GOOGLE_CLIENT_ID": _env("GOOGLE_CLIENT_ID", ""),
        "GOOGLE_CLIENT_SECRET": _env("GOOGLE_CLIENT_SECRET", ""),
        "GOOGLE_SERVER_METADATA_URL": _env(
            "GOOGLE_SERVER_METADATA_URL", "https://accounts.google.com/.well-known/openid-configuration"
        ),
        "GOOGLE_SHEETS_API_BASE_URL": (
            _env("GOOGLE_SHEETS_API_BASE_URL", "https://sheets.googleapis.com/v4") or ""
        ).rstrip("/"),
        "GOOGLE_SERVICE_ACCOUNT_JSON": _env("GOOGLE_SERVICE_ACCOUNT_JSON", ""),
        "TOKEN_ENCRYPTION_KEY": _env("TOKEN_ENCRYPTION_KEY", ""),
        "HTTP_TIMEOUT_S": _env_float("HTTP_TIMEOUT_S", 20.0),
        "MAX_CONTENT_LENGTH": int(_env_float("MAX_CONTENT_LENGTH", 2 * 1024 * 1024)),
        "LOG_FORMAT": _env("LOG_FORMAT", "json" if app_env == "production" else "console"),
        "LOG_LEVEL": _env("LOG_LEVEL", "INFO"),
        "RUN_WORKER_IN_PROCESS": _env("RUN_WORKER_IN_PROCESS", "0") == "1",
        "RATE_LIMITS_ENABLED": _env("RATE_LIMITS_ENABLED", "1") == "1",
        "DEV_LOGIN_ENABLED": _env("DEV_LOGIN_ENABLED", "0") == "1",
        # A session unused for SESSION_IDLE_DAYS ends; none lasts longer than SESSION_MAX_DAYS.
        "SESSION_IDLE_DAYS": _env_float("SESSION_IDLE_DAYS", 7.0),
        "SESSION_MAX_DAYS": _env_float("SESSION_MAX_DAYS", 30.0),
        # How long a rotated add-on secret is still accepted (in-flight deliveries).
        "ADDON_SECRET_GRACE_MINUTES": _env_float("ADDON_SECRET_GRACE_MINUTES", 10.0),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # "Create a synced sheet" (server/addon/template_copy.py): the template spreadsheet whose bound
        # script is the built add-on, copied with Drive's files.copy; unset hides the feature.
        "GOOGLE_TEMPLATE_SPREADSHEET_ID": _env("GOOGLE_TEMPLATE_SPREADSHEET_ID", ""),
        "GOOGLE_DRIVE_API_BASE_URL": (
            _env("GOOGLE_DRIVE_API_BASE_URL", "https://www.googleapis.com/drive/v3") or ""
        ).rstrip("/"),
        # Google scopes: "spreadsheets" (sensitive) or "drive.file" + Google Picker (server/auth/google_scopes.py).
        "GOOGLE_SCOPE_MODE": _env("GOOGLE_SCOPE_MODE", "spreadsheets"),
        "GOOGLE_PICKER_API_KEY": _env("GOOGLE_PICKER_API_KEY", ""),
        "GOOGLE_CLOUD_PROJECT_NUMBER": _env("GOOGLE_CLOUD_PROJECT_NUMBER", ""),
    }
    config.update(_alert_settings())
    for name in ENGINE_KNOBS:
        if _env(name) is not None:
            config[name] = _env(name)
    config.update(_metrics_settings())
    if overrides:
        config.update(overrides)
    config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
    _check_sessions(config)
    _check_google_scope_mode(config)
    _check_production(config)
    _check_metrics(config)
    production = config["APP_ENV"] == "production"
    config.setdefault("SESSION_COOKIE_SECURE", production)
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    return config


TRELLO_TOKEN_EXPIRATIONS = ("1hour", "1day", "30days", "never")


def _alert_settings() -> dict[str, Any]:
    """Connection health, grant expiry and alerts (``server/alerts/``); see docs/ARCHITECTURE.md."""
    expiration = _env("TRELLO_TOKEN_EXPIRATION", "never")
    if expiration not in TRELLO_TOKEN_EXPIRATIONS:
        raise ConfigError(f"TRELLO_TOKEN_EXPIRATION must be one of {', '.join(TRELLO_TOKEN_EXPIRATIONS)}, "
                          f"got {expiration!r}")
    return {
        # A Google OAuth client in "Testing" publishing status: its refresh tokens die after 7 days.
        "GOOGLE_OAUTH_TESTING_MODE": _env("GOOGLE_OAUTH_TESTING_MODE", "0") == "1",
        # Asked for on Trello's authorize page (``expiration``); recorded on the account.
        "TRELLO_TOKEN_EXPIRATION": expiration,
        # Warn on the dashboard, and alert, this many days before a grant expires.
        "GRANT_WARN_DAYS": _env_float("GRANT_WARN_DAYS", 2.0),
        # How often the worker looks for incidents and sends alerts (0 switches alerts off).
        "ALERT_CHECK_INTERVAL_S": _env_float("ALERT_CHECK_INTERVAL_S", 60.0),
        # Addresses that hear about every workspace's incidents, comma-separated.
        "ALERT_EMAIL_TO": _env("ALERT_EMAIL_TO", ""),
        # SMTP for alert emails (Flask-Mailman's settings); no MAIL_SERVER: no email is sent.
        "MAIL_SERVER": _env("MAIL_SERVER", ""),
        "MAIL_BACKEND": "smtp",  # also under TESTING (Flask-Mailman would keep messages in memory)
        "MAIL_PORT": int(_env_float("MAIL_PORT", 587)),
        "MAIL_USERNAME": _env("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": _env("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _env("MAIL_USE_TLS", "1") == "1",
        "MAIL_USE_SSL": _env("MAIL_USE_SSL", "0") == "1",
        "MAIL_TIMEOUT": _env_float("MAIL_TIMEOUT", 15.0),
        "MAIL_DEFAULT_SENDER": _env("MAIL_DEFAULT_SENDER", "Leads Sync <alerts@localhost>"),
    }


def _check_sessions(config: dict[str, Any]) -> None:
    """Validate the session and secret-rotation knobs; the cookie lives as long as the longest session."""
    for name in ("SESSION_IDLE_DAYS", "SESSION_MAX_DAYS", "ADDON_SECRET_GRACE_MINUTES"):
        try:
            config[name] = float(config[name])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be a number, got {config[name]!r}") from exc
    if config["SESSION_IDLE_DAYS"] <= 0:
        raise ConfigError("SESSION_IDLE_DAYS must be more than 0")
    if config["SESSION_MAX_DAYS"] < config["SESSION_IDLE_DAYS"]:
        raise ConfigError(f"SESSION_MAX_DAYS ({config['SESSION_MAX_DAYS']:g}) must be at least "
                          f"SESSION_IDLE_DAYS ({config['SESSION_IDLE_DAYS']:g})")
    if not 0 <= config["ADDON_SECRET_GRACE_MINUTES"] <= 24 * 60:
        raise ConfigError("ADDON_SECRET_GRACE_MINUTES must be between 0 and 1440")
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=config["SESSION_MAX_DAYS"])


def _check_google_scope_mode(config: dict[str, Any]) -> None:
    """``GOOGLE_SCOPE_MODE`` is one of the modes; ``drive.file`` needs the Picker's API key and project number."""
    from .auth.google_scopes import GoogleScopeMode

    mode = str(config.get("GOOGLE_SCOPE_MODE") or GoogleScopeMode.SPREADSHEETS).strip()
    if mode not in {m.value for m in GoogleScopeMode}:
        raise ConfigError(f"GOOGLE_SCOPE_MODE must be 'spreadsheets' or 'drive.file', got {mode!r}")
    config["GOOGLE_SCOPE_MODE"] = mode
    if mode != GoogleScopeMode.DRIVE_FILE:
        return
    if not str(config.get("GOOGLE_PICKER_API_KEY") or "").strip():
        raise ConfigError("GOOGLE_SCOPE_MODE=drive.file needs GOOGLE_PICKER_API_KEY (an API key of the Google "
                          "Cloud project, for Google Picker)")
    number = str(config.get("GOOGLE_CLOUD_PROJECT_NUMBER") or "").strip()
    if not number.isdigit():
        raise ConfigError("GOOGLE_SCOPE_MODE=drive.file needs GOOGLE_CLOUD_PROJECT_NUMBER, the Google Cloud "
                          f"project's number (digits only, on the console's dashboard), got {number!r}")
    config["GOOGLE_CLOUD_PROJECT_NUMBER"] = number


def _check_production(config: Mapping[str, Any]) -> None:
    if config["APP_ENV"] != "production":
        return
    if config["SECRET_KEY"] in (None, "", DEFAULT_SECRET_KEY) or len(config["SECRET_KEY"]) < 16:
        raise ConfigError("SECRET_KEY is unset or the development default; set a long random value")
    if not config["TOKEN_ENCRYPTION_KEY"]:
        raise ConfigError("TOKEN_ENCRYPTION_KEY is unset; generate one with `flask --app server keygen`")
    if config.get("DEV_LOGIN_ENABLED"):
        raise ConfigError("DEV_LOGIN_ENABLED must be off in production (it signs anyone in by email)")


def _metrics_settings() -> dict[str, Any]:
    """Metrics and readiness (server/metrics/, server/health.py; docs/METRICS.md)."""
    return {
        # /metrics answers 404 unless METRICS_ENABLED=1, and then only to "Authorization: Bearer <METRICS_TOKEN>".
        "METRICS_ENABLED": _env("METRICS_ENABLED", "0") == "1",
        "METRICS_TOKEN": _env("METRICS_TOKEN", ""),
        # /ready fails when no sync worker was heard from for this long (0: no worker required) …
        "READY_WORKER_MAX_AGE_S": _env_float("READY_WORKER_MAX_AGE_S", 60.0),
        # … or when a live event has waited longer than this in an active workspace (0: not checked).
        "READY_BACKLOG_MAX_AGE_S": _env_float("READY_BACKLOG_MAX_AGE_S", 300.0),
    }


def _check_metrics(config: dict[str, Any]) -> None:
    """The readiness thresholds are numbers; metrics switched on need their token."""
    for name in ("READY_WORKER_MAX_AGE_S", "READY_BACKLOG_MAX_AGE_S"):
        try:
            config[name] = float(config[name])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be a number, got {config[name]!r}") from exc
        if config[name] < 0:
            raise ConfigError(f"{name} must be 0 (off) or more")
    if config["METRICS_ENABLED"] and len(config.get("METRICS_TOKEN") or "") < 16:
        raise ConfigError("METRICS_ENABLED=1 needs METRICS_TOKEN, a random value of 16 characters or more")
