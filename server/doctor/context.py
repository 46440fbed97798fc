"""The settings a doctor run checks, read once from the app's typed configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import Engine, create_engine

from ..config import settings_of

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

    settings = settings_of(app)
    with app.test_request_context():
        google_path = url_for("auth.google_callback")
        trello_path = url_for("trello_connect.callback")
    return DoctorContext(
        public_base_url=settings.public_base_url, database_url=settings.database_url,
        migrations_dir=os.path.join(os.path.dirname(app.root_path), "migrations"),
        production=settings.production,
        trello_api_key=settings.trello_api_key, trello_api_secret=settings.trello_api_secret,
        trello_api_base_url=settings.trello_api_base_url, trello_oauth_base_url=settings.trello_oauth_base_url,
        google_client_id=settings.google_client_id, google_client_secret=settings.google_client_secret,
        google_metadata_url=settings.google_server_metadata_url, google_scopes=google_scopes(app.config),
        token_key_configured=bool(settings.token_encryption_key),
        google_callback_path=google_path, trello_callback_path=trello_path, timeout_s=timeout_s,
    )
