"""A short-lived Google access token for the browser (Google Picker needs one), refreshed when due.

Only the access token ever leaves the server: the refresh token stays in the database (encrypted).
A stored token with at least ``MIN_VALID`` left is handed out as it is; otherwise google-auth
refreshes it at ``GOOGLE_TOKEN_URI`` and the new one is stored on the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from google.auth.transport.requests import Request as GoogleAuthRequest

from ..models import ProviderAccount
from ..sheets.client import call_sheets
from ..sheets.credentials import account_credentials
from ..sheets.errors import SheetsAuthError
from ..sync.settings import EngineSettings

MIN_VALID = timedelta(minutes=5)  # the Picker stays open a while; never hand out a token about to expire


@dataclass(frozen=True)
class BrowserToken:
    access_token: str
    expires_at: datetime

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {"access_token": self.access_token,
                "expires_in": max(0, int((self.expires_at - now).total_seconds()))}


class _TimedRequest(GoogleAuthRequest):
    """google-auth's transport with a bounded timeout (its default is two minutes)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(requests.Session())
        self.timeout_s = timeout_s

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: float | None = None, **kwargs: Any) -> Any:
        return super().__call__(url, method=method, body=body, headers=headers,
                                timeout=timeout or self.timeout_s, **kwargs)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def browser_token(account: ProviderAccount, settings: EngineSettings, now: datetime) -> BrowserToken:
    """A valid access token of ``account`` for at least ``MIN_VALID``; refreshes (and stores) it when due.

    Raises ``SheetsAuthError`` (401) when Google refuses the refresh or there is nothing to refresh
    with, ``SheetsUnavailable`` when Google's token endpoint cannot be reached.
    """
    expires_at = _aware(account.token_expires_at)
    if account.access_token and expires_at is not None and expires_at - now >= MIN_VALID:
        return BrowserToken(account.access_token, expires_at)
    if not account.refresh_token:
        raise SheetsAuthError("Google gave no refresh token for this account; connect Google again", 401)
    credentials = account_credentials(account, settings, on_refresh=lambda token, expiry: None)
    call_sheets(credentials.refresh, _TimedRequest(min(settings.http_timeout_s, 15.0)))
    expiry = _aware(credentials.expiry) or now + timedelta(hours=1)
    account.access_token = credentials.token
    account.token_expires_at = expiry
    return BrowserToken(str(credentials.token), expiry)


__all__ = ["MIN_VALID", "BrowserToken", "browser_token"]
