"""Engine settings, built from the app config by the caller (the engine never reads Flask)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class EngineSettings:
    trello_api_key: str = ""
    trello_api_secret: str = ""
    # The id Trello puts in ``appCreator`` of actions made with our API key (the Power-Up's
    # application): with it, our own writes' echoes are known by their provenance.
    trello_app_id: str = ""
    trello_api_base_url: str = "https://api.trello.com/1"
    sheets_api_base_url: str = "https://sheets.googleapis.com/v4"
    google_client_id: str = ""
    google_client_secret: str = ""
    google_token_uri: str = "https://oauth2.googleapis.com/token"
    google_service_account_json: str = ""
    http_timeout_s: float = 20.0
    public_base_url: str = "http://127.0.0.1:5000"
    # worker behaviour
    lease_s: float = 60.0
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    idle_poll_s: float = 0.05
    # A workspace's sheet writes wait for a quiet gap this long while a burst of Trello changes
    # keeps coming (so it becomes one Sheets write); a lone change waits only the probe.
    sheet_write_window_s: float = 0.3
    settle_probe_s: float = 0.02
    # scheduling
    # event loops per worker process (threads; their claims are serialised like other processes')
    concurrency: int = 1
    claim_groups: int = 16  # lead groups per claim
    bulk_per_workspace: int = 4  # bulk groups of one workspace per claim
    inline_wait_s: float = 0.02  # a rate-limit slot at most this far is waited for; further: defer
    live_max_rows: int = 20  # an add-on delivery with more rows is bulk work (a paste, a full send)
    max_queued_bulk: int = 20000  # per workspace; more is refused with 429
    future_skew_s: float = 300.0  # a provider time further ahead of ours than this is clamped
    # outbound limits (requests, seconds)
    trello_token_limit: tuple[int, float] = (100, 10.0)
    trello_key_limit: tuple[int, float] = (300, 10.0)
    sheets_read_limit: tuple[int, float] = (60, 60.0)
    sheets_write_limit: tuple[int, float] = (60, 60.0)
    reconcile_interval_s: float = 900.0
    webhook_check_interval_s: float = 3600.0
    event_retention_days: float = 14.0
    # sign-in sessions, for the hourly purge of expired security rows (server/maintenance.py)
    session_idle_days: float = 7.0
    session_max_days: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "EngineSettings":
        def pair(name: str, default: tuple[int, float]) -> tuple[int, float]:
            """``(100, 10.0)`` or the environment's ``"100/10"`` (requests per seconds)."""
            value = config.get(name)
            if not value:
                return default
            if isinstance(value, str):
                value = value.split("/")
            return int(value[0]), float(value[1])

        return cls(
            trello_api_key=config.get("TRELLO_API_KEY", ""),
            trello_api_secret=config.get("TRELLO_API_SECRET", ""),
            trello_app_id=config.get("TRELLO_APP_ID", "") or "",
            trello_api_base_url=config.get("TRELLO_API_BASE_URL", cls.trello_api_base_url),
            sheets_api_base_url=config.get("GOOGLE_SHEETS_API_BASE_URL", cls.sheets_api_base_url),
            google_client_id=config.get("GOOGLE_CLIENT_ID", ""),
            google_client_secret=config.get("GOOGLE_CLIENT_SECRET", ""),
            google_token_uri=config.get("GOOGLE_TOKEN_URI", cls.google_token_uri),
            google_service_account_json=config.get("GOOGLE_SERVICE_ACCOUNT_JSON", ""),
            http_timeout_s=float(config.get("HTTP_TIMEOUT_S", 20.0)),
            public_base_url=config.get("PUBLIC_BASE_URL", cls.public_base_url),
            lease_s=float(config.get("WORKER_LEASE_S", 60.0)),
            max_attempts=int(config.get("WORKER_MAX_ATTEMPTS", 8)),
            backoff_base_s=float(config.get("WORKER_BACKOFF_BASE_S", 1.0)),
            backoff_max_s=float(config.get("WORKER_BACKOFF_MAX_S", 300.0)),
            idle_poll_s=float(config.get("WORKER_IDLE_POLL_S", 0.05)),
            sheet_write_window_s=float(config.get("SHEET_WRITE_WINDOW_S", 0.3)),
            settle_probe_s=float(config.get("SHEET_WRITE_PROBE_S", 0.02)),
            concurrency=max(1, int(config.get("WORKER_CONCURRENCY") or _default_concurrency(config))),
            claim_groups=int(config.get("WORKER_CLAIM_GROUPS", 16)),
            bulk_per_workspace=int(config.get("WORKER_BULK_PER_WORKSPACE", 4)),
            inline_wait_s=float(config.get("RATE_LIMIT_INLINE_WAIT_S", 0.02)),
            live_max_rows=int(config.get("LIVE_MAX_ROWS", 20)),
            max_queued_bulk=int(config.get("MAX_QUEUED_BULK", 20000)),
            future_skew_s=float(config.get("FUTURE_SKEW_S", 300.0)),
            trello_token_limit=pair("TRELLO_TOKEN_LIMIT", cls.trello_token_limit),
            trello_key_limit=pair("TRELLO_KEY_LIMIT", cls.trello_key_limit),
            sheets_read_limit=pair("SHEETS_READ_LIMIT", cls.sheets_read_limit),
            sheets_write_limit=pair("SHEETS_WRITE_LIMIT", cls.sheets_write_limit),
            reconcile_interval_s=float(config.get("RECONCILE_INTERVAL_S", 900.0)),
            webhook_check_interval_s=float(config.get("WEBHOOK_CHECK_INTERVAL_S", 3600.0)),
            event_retention_days=float(config.get("EVENT_RETENTION_DAYS", 14.0)),
            session_idle_days=float(config.get("SESSION_IDLE_DAYS", 7.0)),
            session_max_days=float(config.get("SESSION_MAX_DAYS", 30.0)),
        )


def _default_concurrency(config: Mapping[str, Any]) -> int:
    """Two loops per worker on PostgreSQL, whose row locks let them overlap their provider calls;
    one on SQLite, where a second writer would only wait for the first."""
    url = str(config.get("SQLALCHEMY_DATABASE_URI", ""))
    return 2 if url.startswith("postgresql") else 1
