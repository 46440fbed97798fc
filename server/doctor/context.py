"""The settings a doctor run checks, read once from the app's typed configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import Engine, create_engine

DEFAULT_TIMEOUT_S = 10.0


@dataclass
class DoctorContext:
    """Everything the checks need, as plain data (tests build one directly)."""

    public_base_url: str
    database_url: str
    migrations_dir: str
    production: bool = False
    trello_api_key: str = ""
    trello_api_secret: str = ""
    trello_api_base_url: str = "https://api.trello.com/1"
    trello_oauth_base_url: str = "https://trello.com/1"
    google_client_id: str = ""
    google_client_secret: str = ""
    google_metadata_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    google_scopes: str = "openid email"
    token_key_configured: bool = False
    google_callback_path: str = "/auth/google/callback"
    trello_callback_path: str = "/auth/trello/callback"
    timeout_s: float = DEFAULT_TIMEOUT_S
    http: requests.Session = field(default_factory=requests.Session)
    _engine: Engine | None = field(default=None, init=False, repr=False)

    def engine(self) -> Engine:
        """An engine of its own whose connections give up after ``timeout_s``."""
        if self._engine is None:
            connect_args: dict[str, Any] = ({"timeout": self.timeout_s} if self.database_url.startswith("sqlite")
                                            else {"connect_timeout": max(1, int(self.timeout_s))})
            self._engine = create_engine(self.database_url, connect_args=connect_args)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self.http.close()

    @property
    def google_redirect_uri(self) -> str:
        return self.public_base_url.rstrip("/") + self.google_callback_path

    @property
    def trello_redirect_uri(self) -> str:
        return self.public_base_url.rstrip("/") + self.trello_callback_path


def context_from_app(app: Any, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> DoctorContext:
    """Read the settings from a configured Flask app (the paths from its URL map, as the app builds them)."""
    from flask import url_for

    from ..auth.google_scopes import google_scopes

    config = app.config
    with app.test_request_context():
        google_path = url_for("auth.google_callback")
        trello_path = url_for("trello_connect.callback")
    return DoctorContext(
        public_base_url=config["PUBLIC_BASE_URL"], database_url=config["SQLALCHEMY_DATABASE_URI"],
        migrations_dir=os.path.join(os.path.dirname(app.root_path), "migrations"),
        production=config.get("APP_ENV") == "production",
        trello_api_key=config.get("TRELLO_API_KEY") or "", trello_api_secret=config.get("TRELLO_API_SECRET") or "",
        trello_api_base_url=config["TRELLO_API_BASE_URL"], trello_oauth_base_url=config["TRELLO_OAUTH_BASE_URL"],
        google_client_id=config.get("GOOGLE_CLIENT_ID") or "",
        google_client_secret=config.get("GOOGLE_CLIENT_SECRET") or "",
        google_metadata_url=config["GOOGLE_SERVER_METADATA_URL"], google_scopes=google_scopes(config),
        token_key_configured=bool(config.get("TOKEN_ENCRYPTION_KEY")),
        google_callback_path=google_path, trello_callback_path=trello_path, timeout_s=timeout_s,
    )
