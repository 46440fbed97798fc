"""Point gspread at another Sheets API base URL (the emulator in tests and the local demo).

gspread 6 has no base-URL setting: its endpoints are constants in ``gspread.urls``. This HTTP
client rewrites ``https://sheets.googleapis.com/v4...`` to ``base_url...`` on every request and
applies a default timeout. While it points somewhere other than Google it refuses any other
Google URL (Drive, OAuth), so a test can never reach the real service by accident.
"""

from __future__ import annotations

import functools
from typing import Any, MutableMapping, Optional

import gspread
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from gspread.http_client import HTTPClient
from gspread.utils import convert_credentials
from requests import Response, Session

from .. import metrics

GOOGLE_SHEETS_BASE_URL = "https://sheets.googleapis.com/v4"
_GOOGLE_HOSTS = ("googleapis.com", "google.com")


class ForeignGoogleCallError(RuntimeError):
    """A call to a Google URL other than the Sheets API while pointed at an emulator."""


def _can_refresh(credentials: Credentials) -> bool:
    """False for bare-token OAuth credentials (nothing to refresh them with)."""
    if credentials.__class__.__module__ == "google.oauth2.credentials":
        return bool(getattr(credentials, "refresh_token", None)
                    and getattr(credentials, "token_uri", None))
    return True


def authorized_session(credentials: Credentials) -> Session:
    """An ``AuthorizedSession``; one that cannot refresh lets a 401 surface as ``APIError``."""
    if _can_refresh(credentials):
        return AuthorizedSession(credentials)
    return AuthorizedSession(credentials, refresh_status_codes=())


class BaseUrlHTTPClient(HTTPClient):
    """gspread's ``HTTPClient`` with the Sheets API base URL and a default timeout replaced."""

    def __init__(self, auth: Optional[Credentials], session: Optional[Session] = None, *,
                 base_url: str, timeout: float = 30.0) -> None:
        if session is None:
            if auth is None:
                raise ValueError("pass credentials or a session")
            auth = convert_credentials(auth)
            session = authorized_session(auth)
        super().__init__(auth, session)  # type: ignore[arg-type]
        if auth is not None:
            self.auth = auth
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        metrics.count_responses(self.session, "sheets")

    @property
    def is_google(self) -> bool:
        return self.base_url == GOOGLE_SHEETS_BASE_URL

    def rewrite(self, endpoint: str) -> str:
        """The URL actually called for ``endpoint``."""
        if endpoint.startswith(GOOGLE_SHEETS_BASE_URL):
            return self.base_url + endpoint[len(GOOGLE_SHEETS_BASE_URL):]
        if not self.is_google:
            host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":")[0]
            if any(host == h or host.endswith("." + h) for h in _GOOGLE_HOSTS):
                raise ForeignGoogleCallError(
                    f"refusing to call {endpoint}: this client points at {self.base_url}")
        return endpoint

    def request(self, method: str, endpoint: str, params: Any = None, data: Optional[bytes] = None,
                json: Any = None, files: Any = None,
                headers: Optional[MutableMapping[str, str]] = None) -> Response:
        return super().request(method, self.rewrite(endpoint), params=params, data=data, json=json,
                               files=files, headers=headers)


def open_client(credentials: Credentials, base_url: str = GOOGLE_SHEETS_BASE_URL,
                timeout: float = 30.0) -> gspread.Client:
    """A ``gspread.Client`` whose Sheets calls go to ``base_url`` (e.g. ``http://127.0.0.1:8102/v4``)."""
    factory = functools.partial(BaseUrlHTTPClient, base_url=base_url, timeout=timeout)
    return gspread.Client(auth=credentials, http_client=factory)  # type: ignore[arg-type]
