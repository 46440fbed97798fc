"""Google user credentials built from a stored account, whose refreshed tokens are handed back.

``google.oauth2.credentials.Credentials`` refreshes an expired access token by itself (through the
token URI given); this subclass then calls ``on_refresh(token, expiry)`` so that the caller can
persist the new token. A refresh that fails with ``RefreshError`` (a revoked grant answers
``invalid_grant``) surfaces from ``SheetTab`` as ``SheetsAuthError``.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any, Callable

import structlog
from google.auth.credentials import Credentials as BaseCredentials
from google.oauth2.credentials import Credentials

from ..models import ProviderAccount
from ..sync.settings import EngineSettings

log = structlog.get_logger(__name__)

OnRefresh = Callable[[str, "datetime | None"], None]


class RefreshingCredentials(Credentials):
    """OAuth user credentials that report each successful refresh to ``on_refresh``."""

    def __init__(self, *args: Any, on_refresh: OnRefresh | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_refresh = on_refresh

    def refresh(self, request: Any) -> None:
        super().refresh(request)
        if self._on_refresh is None or self.token is None:
            return
        expiry = self.expiry.replace(tzinfo=timezone.utc) if self.expiry else None
        try:
            self._on_refresh(self.token, expiry)
        except Exception as exc:  # noqa: BLE001 - the token works in memory; storing it is best effort
            log.warning("google_token_persist_failed", error=repr(exc))


def account_credentials(account: ProviderAccount, settings: EngineSettings,
                        on_refresh: OnRefresh) -> BaseCredentials:
    """Credentials for ``account``; refreshable (and reported) when it has a refresh token.

    The token URI is ``settings.google_token_uri`` (``GOOGLE_TOKEN_URI``: Google's, or an emulator's).
    Without a refresh token the credentials are plain bearer ones: a 401 surfaces as an auth error.
    """
    expiry = account.token_expires_at.astimezone(timezone.utc).replace(tzinfo=None) \
        if account.token_expires_at else None  # google-auth compares naive UTC datetimes
    if not account.refresh_token:
        return Credentials(token=account.access_token, expiry=expiry)
    return RefreshingCredentials(
        token=account.access_token, refresh_token=account.refresh_token, token_uri=settings.google_token_uri,
        client_id=settings.google_client_id or None, client_secret=settings.google_client_secret or None,
        expiry=expiry, on_refresh=on_refresh)


def store_refreshed_token(session_factory: Any, account_id: int, token: str, expiry: datetime | None) -> bool:
    """Store a refreshed access token on the account in a short session of its own; False if not stored.

    A token that expires no later than the one already stored is older (another process refreshed
    too): it is not written over the newer one.
    """
    with session_factory() as session:
        account = session.get(ProviderAccount, account_id)
        if account is None:
            return False
        if expiry is not None and account.token_expires_at is not None and account.token_expires_at >= expiry \
                and account.access_token != token:
            return False
        account.access_token = token
        account.token_expires_at = expiry
        session.commit()
        log.info("google_token_refreshed", account_id=account_id)
        return True


def token_saver(session_factory: Any, account_id: int) -> OnRefresh:
    """An ``on_refresh`` that stores the token with ``store_refreshed_token`` on a short-lived thread.

    The thread matters on SQLite: the refresh happens in the middle of the worker's own transaction,
    which may hold the database's write lock; writing from the same thread would wait for itself.
    ``session_factory=None`` stores nothing (the refreshed token lives in memory only).
    """

    def save(token: str, expiry: datetime | None) -> None:
        if session_factory is None:
            return

        def run() -> None:
            with _save_lock:
                try:
                    store_refreshed_token(session_factory, account_id, token, expiry)
                except Exception as exc:  # noqa: BLE001 - the next refresh stores a newer token anyway
                    log.warning("google_token_persist_failed", account_id=account_id, error=repr(exc))

        threading.Thread(target=run, name=f"google-token-save-{account_id}", daemon=True).start()

    return save


_save_lock = threading.Lock()

__all__ = ["RefreshingCredentials", "account_credentials", "store_refreshed_token", "token_saver"]
