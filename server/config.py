"""Configuration from the environment (12-factor), with safe local defaults.

:class:`Settings` is the whole configuration as one typed, frozen object: every variable of the
README's *Configuration* table is a field, with its type, its default and how its text is read,
written down once here. :meth:`Settings.from_env` reads the environment (once, when an app is
made); :func:`load_config` lays the result out as the Flask config (a key per variable, typed
values), with the app's ``overrides`` on top and everything validated. Code that needs a value
takes it from the typed view of an app's config, :meth:`Settings.from_config` (``settings_of(app)``,
``current_settings()``), never with a ``config.get(NAME, default)`` of its own; the sync engine
takes the same object (``server.sync.settings.EngineSettings`` is this class).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"
TRELLO_TOKEN_EXPIRATIONS = ("1hour", "1day", "30days", "never")


class ConfigError(SystemExit):
    """A configuration problem that stops the process with one readable line.

    It subclasses ``SystemExit`` so that ``flask``, ``gunicorn`` and the worker print the
    message and exit 1 instead of a traceback; tests can still catch it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")
        self.message = message


# --------------------------------------------------------------------------- reading one value
# Each reader takes the variable's name (for the error) and a value: the environment's text, or a
# typed value an app's config or a test's overrides hold.

Reader = Callable[[str, Any], Any]


def _text(name: str, value: Any) -> str:
    return str(value)


def _url(name: str, value: Any) -> str:
    return str(value).rstrip("/")


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc


def _whole(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(_number(name, value))


def _on_if_1(name: str, value: Any) -> bool:
    """``1`` is on, anything else off (a typed ``bool`` is taken as it is)."""
    return value if isinstance(value, bool) else str(value) == "1"


def _switch(name: str, value: Any) -> bool | None:
    """On unless ``0``, ``false``, ``no`` or ``off``; unset (None) leaves the choice to the app."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def _rate(name: str, value: Any) -> tuple[int, float]:
    """``(100, 10.0)``, or the environment's ``100/10``: requests per seconds."""
    parts = value.split("/") if isinstance(value, str) else value
    try:
        count, seconds = parts
        return int(count), float(seconds)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be requests/seconds, like 100/10, got {value!r}") from exc


def _origins(name: str, value: Any) -> tuple[str, ...]:
    """Origins separated by spaces or commas (or a list of them), without trailing slashes."""
    items = value if isinstance(value, (list, tuple)) else re.split(r"[\s,]+", str(value))
    return tuple(str(item).rstrip("/") for item in items if item)


def _stripped(name: str, value: Any) -> str:
    return str(value).strip()


def _optional_whole(name: str, value: Any) -> int | None:
    return None if value is None or value == "" else _whole(name, value)


def _setting(env: str, default: Any, read: Reader = _text, *, key: str | None = None) -> Any:
    """A field read from the variable ``env``, kept in the Flask config under ``key`` (``env``)."""
    return field(default=default, metadata={"env": env, "key": key or env, "read": read})


# --------------------------------------------------------------------------- the settings


@dataclass(frozen=True)
class Settings:
    """Every setting, typed; the defaults are the README's (safe for local use)."""

    # the app
    app_env: str = _setting("APP_ENV", "development")
    secret_key: str = _setting("SECRET_KEY", DEFAULT_SECRET_KEY)
    # empty: SQLite in the instance folder (see `load_config`)
    database_url: str = _setting("DATABASE_URL", "", key="SQLALCHEMY_DATABASE_URI")
    instance_path: str = _setting("INSTANCE_PATH", "")
    token_encryption_key: str = _setting("TOKEN_ENCRYPTION_KEY", "")
    public_base_url: str = _setting("PUBLIC_BASE_URL", "http://127.0.0.1:5000", _url)
    http_timeout_s: float = _setting("HTTP_TIMEOUT_S", 20.0, _number)  # every outbound call
    max_content_length: int = _setting("MAX_CONTENT_LENGTH", 2 * 1024 * 1024, _whole)
    log_format: str = _setting("LOG_FORMAT", "")  # empty: json in production, else console
    log_level: str = _setting("LOG_LEVEL", "INFO")
    run_worker_in_process: bool = _setting("RUN_WORKER_IN_PROCESS", False, _on_if_1)
    rate_limits_enabled: bool = _setting("RATE_LIMITS_ENABLED", True, _on_if_1)
    dev_login_enabled: bool = _setting("DEV_LOGIN_ENABLED", False, _on_if_1)
    force_https: bool | None = _setting("FORCE_HTTPS", None, _switch)  # None: on in production
    # Trello
    trello_api_key: str = _setting("TRELLO_API_KEY", "")
    trello_api_secret: str = _setting("TRELLO_API_SECRET", "")
    trello_powerup_id: str = _setting("TRELLO_POWERUP_ID", "")
    # The id Trello puts in ``appCreator`` of actions made with our API key (the Power-Up's
    # application): with it, our own writes' echoes are known by their provenance.
    trello_app_id: str = _setting("TRELLO_APP_ID", "")
    trello_api_base_url: str = _setting("TRELLO_API_BASE_URL", "https://api.trello.com/1", _url)
    trello_oauth_base_url: str = _setting("TRELLO_OAUTH_BASE_URL", "https://trello.com/1", _url)
    trello_jwt_keys_url: str = _setting("TRELLO_JWT_KEYS_URL", "https://api.trello.com/1/resource/jwt-public-keys")
    # Trello's Power-Up client library, loaded by every Power-Up page (the demo points it at its emulator).
    trello_powerup_library_url: str = _setting("TRELLO_POWERUP_LIBRARY_URL",
                                               "https://trello.com/power-ups/power-up.min.js")
    trello_token_expiration: str = _setting("TRELLO_TOKEN_EXPIRATION", "never")  # asked for on authorize
    # Origins the local demo's /demo page may frame (set by `python -m demo` only).
    demo_frame_origins: str = _setting("DEMO_FRAME_ORIGINS", "")
    powerup_app_name: str = _setting("POWERUP_APP_NAME", "Leads Sync")
    # who may frame the Power-Up's pages, and the CORS origins of its API
    powerup_frame_ancestors: tuple[str, ...] = _setting("POWERUP_FRAME_ANCESTORS", ("https://trello.com",), _origins)
    powerup_allowed_origins: tuple[str, ...] = _setting("POWERUP_ALLOWED_ORIGINS", ("https://trello.com",), _origins)
    # Google
    google_client_id: str = _setting("GOOGLE_CLIENT_ID", "")
    google_client_secret: str = _setting("GOOGLE_CLIENT_SECRET", "")
    google_server_metadata_url: str = _setting("GOOGLE_SERVER_METADATA_URL",
                                               "https://accounts.google.com/.well-known/openid-configuration")
    sheets_api_base_url: str = _setting("GOOGLE_SHEETS_API_BASE_URL", "https://sheets.googleapis.com/v4", _url)
    google_token_uri: str = _setting("GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com/token")
    google_service_account_json: str = _setting("GOOGLE_SERVICE_ACCOUNT_JSON", "")
    # "spreadsheets" (sensitive) or "drive.file" + Google Picker (server/auth/google_scopes.py).
    google_scope_mode: str = _setting("GOOGLE_SCOPE_MODE", "spreadsheets", _stripped)
    google_picker_api_key: str = _setting("GOOGLE_PICKER_API_KEY", "")
    google_cloud_project_number: str = _setting("GOOGLE_CLOUD_PROJECT_NUMBER", "", _stripped)
    # "Create a synced sheet" (server/addon/template_copy.py): the template spreadsheet whose bound
    # script is the built add-on, copied with Drive's files.copy; unset hides the feature.
    google_template_spreadsheet_id: str = _setting("GOOGLE_TEMPLATE_SPREADSHEET_ID", "")
    google_drive_api_base_url: str = _setting("GOOGLE_DRIVE_API_BASE_URL", "https://www.googleapis.com/drive/v3",
                                              _url)
    # A Google OAuth client in "Testing" publishing status: its refresh tokens die after 7 days.
    google_oauth_testing_mode: bool = _setting("GOOGLE_OAUTH_TESTING_MODE", False, _on_if_1)
    # sign-in sessions: one unused for the idle days ends; none lasts longer than the maximum
    session_idle_days: float = _setting("SESSION_IDLE_DAYS", 7.0, _number)
    session_max_days: float = _setting("SESSION_MAX_DAYS", 30.0, _number)
    # how long a rotated add-on secret is still accepted (in-flight deliveries)
    addon_secret_grace_minutes: float = _setting("ADDON_SECRET_GRACE_MINUTES", 10.0, _number)
    # the sync worker
    lease_s: float = _setting("WORKER_LEASE_S", 60.0, _number)
    max_attempts: int = _setting("WORKER_MAX_ATTEMPTS", 8, _whole)
    backoff_base_s: float = _setting("WORKER_BACKOFF_BASE_S", 1.0, _number)
    backoff_max_s: float = _setting("WORKER_BACKOFF_MAX_S", 300.0, _number)
    idle_poll_s: float = _setting("WORKER_IDLE_POLL_S", 0.05, _number)
    # A workspace's sheet writes wait for a quiet gap this long while a burst of Trello changes
    # keeps coming (so it becomes one Sheets write); a lone change waits only the probe.
    sheet_write_window_s: float = _setting("SHEET_WRITE_WINDOW_S", 0.3, _number)
    settle_probe_s: float = _setting("SHEET_WRITE_PROBE_S", 0.02, _number)
    # event loops per worker process (threads); unset: by database (see `concurrency`)
    worker_concurrency: int | None = _setting("WORKER_CONCURRENCY", None, _optional_whole)
    claim_groups: int = _setting("WORKER_CLAIM_GROUPS", 16, _whole)  # lead groups per claim
    bulk_per_workspace: int = _setting("WORKER_BULK_PER_WORKSPACE", 16, _whole)  # bulk leads of a workspace a claim
    inline_wait_s: float = _setting("RATE_LIMIT_INLINE_WAIT_S", 0.02, _number)  # a nearer slot is waited for
    live_max_rows: int = _setting("LIVE_MAX_ROWS", 20, _whole)  # a delivery with more rows is bulk work
    max_queued_bulk: int = _setting("MAX_QUEUED_BULK", 20000, _whole)  # per workspace; more is refused with 429
    future_skew_s: float = _setting("FUTURE_SKEW_S", 300.0, _number)  # a time further ahead is clamped
    # outbound limits (requests, seconds), shared by all processes
    trello_token_limit: tuple[int, float] = _setting("TRELLO_TOKEN_LIMIT", (100, 10.0), _rate)
    trello_key_limit: tuple[int, float] = _setting("TRELLO_KEY_LIMIT", (300, 10.0), _rate)
    sheets_read_limit: tuple[int, float] = _setting("SHEETS_READ_LIMIT", (60, 60.0), _rate)
    sheets_write_limit: tuple[int, float] = _setting("SHEETS_WRITE_LIMIT", (60, 60.0), _rate)
    reconcile_interval_s: float = _setting("RECONCILE_INTERVAL_S", 900.0, _number)
    webhook_check_interval_s: float = _setting("WEBHOOK_CHECK_INTERVAL_S", 3600.0, _number)
    event_retention_days: float = _setting("EVENT_RETENTION_DAYS", 14.0, _number)
    # connection health and alerts
    grant_warn_days: float = _setting("GRANT_WARN_DAYS", 2.0, _number)  # warn this long before a grant expires
    alert_check_interval_s: float = _setting("ALERT_CHECK_INTERVAL_S", 60.0, _number)  # 0: alerts off
    alert_email_to: str = _setting("ALERT_EMAIL_TO", "")  # told about every workspace's incidents
    # SMTP for alert emails (Flask-Mailman's settings); no MAIL_SERVER: no email is sent
    mail_server: str = _setting("MAIL_SERVER", "")
    mail_port: int = _setting("MAIL_PORT", 587, _whole)
    mail_username: str = _setting("MAIL_USERNAME", "")
    mail_password: str = _setting("MAIL_PASSWORD", "")
    mail_use_tls: bool = _setting("MAIL_USE_TLS", True, _on_if_1)
    mail_use_ssl: bool = _setting("MAIL_USE_SSL", False, _on_if_1)
    mail_timeout: float = _setting("MAIL_TIMEOUT", 15.0, _number)
    mail_default_sender: str = _setting("MAIL_DEFAULT_SENDER", "Leads Sync <alerts@localhost>")
    # metrics and readiness (server/metrics/, server/health.py; docs/METRICS.md)
    metrics_enabled: bool = _setting("METRICS_ENABLED", False, _on_if_1)
    metrics_token: str = _setting("METRICS_TOKEN", "")
    ready_worker_max_age_s: float = _setting("READY_WORKER_MAX_AGE_S", 60.0, _number)  # 0: no worker required
    ready_backlog_max_age_s: float = _setting("READY_BACKLOG_MAX_AGE_S", 300.0, _number)  # 0: not checked

    # ------------------------------------------------------------------ building

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (an empty variable is an unset one)."""
        environ = os.environ if environ is None else environ
        values = {}
        for spec in _SPECS:
            raw = environ.get(spec.env)
            if raw not in (None, ""):
                values[spec.name] = spec.read(spec.env, raw)
        settings = cls(**values)
        if not settings.log_format:
            settings = _replace(settings, log_format="json" if settings.app_env == "production" else "console")
        return settings

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The typed view of an app's config (or of any mapping holding some of its keys; the others
        take their defaults). Values may be typed or the environment's text; as in the environment,
        an empty value is an unset one."""
        values = {}
        for spec in _SPECS:
            value = config.get(spec.key)
            if value is None or value == "":
                continue
            values[spec.name] = spec.read(spec.key, value)
        settings = cls(**values)
        if not settings.log_format:
            settings = _replace(settings, log_format="json" if settings.app_env == "production" else "console")
        return settings

    def as_config(self) -> dict[str, Any]:
        """The settings as Flask config entries: one per variable, typed."""
        return {spec.key: getattr(self, spec.name) for spec in _SPECS}

    # ------------------------------------------------------------------ derived values

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def concurrency(self) -> int:
        """Event loops per worker process: ``WORKER_CONCURRENCY``, else two. While one loop waits on a
        provider's answer the other applies another lead (on SQLite too: a loop holds the write lock
        only while it commits, never across a call)."""
        if self.worker_concurrency is not None:
            return max(1, self.worker_concurrency)
        return 2

    def outbound_timeout_s(self, cap: float) -> float:
        """``HTTP_TIMEOUT_S``, at most ``cap`` (calls made while a person waits for the page)."""
        return min(self.http_timeout_s, cap)

    # ------------------------------------------------------------------ checks

    def check(self) -> None:
        """Raise `ConfigError` on the first setting that cannot work."""
        if self.trello_token_expiration not in TRELLO_TOKEN_EXPIRATIONS:
            raise ConfigError(f"TRELLO_TOKEN_EXPIRATION must be one of {', '.join(TRELLO_TOKEN_EXPIRATIONS)}, "
                              f"got {self.trello_token_expiration!r}")
        self._check_sessions()
        self._check_google_scope_mode()
        self._check_production()
        self._check_metrics()

    def _check_sessions(self) -> None:
        if self.session_idle_days <= 0:
            raise ConfigError("SESSION_IDLE_DAYS must be more than 0")
        if self.session_max_days < self.session_idle_days:
            raise ConfigError(f"SESSION_MAX_DAYS ({self.session_max_days:g}) must be at least "
                              f"SESSION_IDLE_DAYS ({self.session_idle_days:g})")
        if not 0 <= self.addon_secret_grace_minutes <= 24 * 60:
            raise ConfigError("ADDON_SECRET_GRACE_MINUTES must be between 0 and 1440")

    def _check_google_scope_mode(self) -> None:
        """``GOOGLE_SCOPE_MODE`` is one of the modes; ``drive.file`` needs the Picker's API key and project number."""
        from .auth.google_scopes import GoogleScopeMode

        mode = self.google_scope_mode
        if mode not in {m.value for m in GoogleScopeMode}:
            raise ConfigError(f"GOOGLE_SCOPE_MODE must be 'spreadsheets' or 'drive.file', got {mode!r}")
        if mode != GoogleScopeMode.DRIVE_FILE:
            return
        if not self.google_picker_api_key.strip():
            raise ConfigError("GOOGLE_SCOPE_MODE=drive.file needs GOOGLE_PICKER_API_KEY (an API key of the Google "
                              "Cloud project, for Google Picker)")
        if not self.google_cloud_project_number.isdigit():
            raise ConfigError("GOOGLE_SCOPE_MODE=drive.file needs GOOGLE_CLOUD_PROJECT_NUMBER, the Google Cloud "
                              f"project's number (digits only, on the console's dashboard), "
                              f"got {self.google_cloud_project_number!r}")

    def _check_production(self) -> None:
        if not self.production:
            return
        if self.secret_key in ("", DEFAULT_SECRET_KEY) or len(self.secret_key) < 16:
            raise ConfigError("SECRET_KEY is unset or the development default; set a long random value")
        if not self.token_encryption_key:
            raise ConfigError("TOKEN_ENCRYPTION_KEY is unset; generate one with `flask --app server keygen`")
        if self.dev_login_enabled:
            raise ConfigError("DEV_LOGIN_ENABLED must be off in production (it signs anyone in by email)")

    def _check_metrics(self) -> None:
        """The readiness thresholds are not negative; metrics switched on need their token."""
        for name, value in (("READY_WORKER_MAX_AGE_S", self.ready_worker_max_age_s),
                            ("READY_BACKLOG_MAX_AGE_S", self.ready_backlog_max_age_s)):
            if value < 0:
                raise ConfigError(f"{name} must be 0 (off) or more")
        if self.metrics_enabled and len(self.metrics_token) < 16:
            raise ConfigError("METRICS_ENABLED=1 needs METRICS_TOKEN, a random value of 16 characters or more")


@dataclass(frozen=True)
class _Spec:
    name: str  # the field
    env: str  # the environment variable
    key: str  # the Flask config key
    read: Reader


_SPECS = tuple(_Spec(f.name, f.metadata["env"], f.metadata["key"], f.metadata["read"]) for f in fields(Settings))


def _replace(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


# --------------------------------------------------------------------------- the Flask config


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


def load_config(instance_path: str, overrides: Mapping[str, Any] | None = None, *,
                environment: Settings | None = None) -> dict[str, Any]:
    """Build the Flask config dict from the environment (``environment``, else read now), then
    ``overrides``; every setting is typed and checked."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    environment = Settings.from_env() if environment is None else environment
    config: dict[str, Any] = {
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MAIL_BACKEND": "smtp",  # also under TESTING (Flask-Mailman would keep messages in memory)
        **environment.as_config(),
    }
    if not config["SQLALCHEMY_DATABASE_URI"]:
        config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(instance_path) / 'app.db'}"
    if overrides:
        config.update(overrides)
    settings = Settings.from_config(config)
    settings.check()
    config.update(settings.as_config())
    config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=settings.session_max_days)
    config.setdefault("SESSION_COOKIE_SECURE", settings.production)
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    return config


def settings_of(app: Flask) -> Settings:
    """The typed settings of ``app`` (its config as it is now: tests and the demo may change it)."""
    return Settings.from_config(app.config)


def current_settings() -> Settings:
    """The typed settings of the app handling the current request or command."""
    from flask import current_app

    return Settings.from_config(current_app.config)
