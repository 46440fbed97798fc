"""Build (and keep, per process) the Trello and Sheets clients a workspace needs.

Clients are cached per workspace so their HTTP sessions keep connections alive between events.
Every client goes through the shared rate limiter when one is given.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Protocol

import requests
from sqlalchemy.orm import Session, sessionmaker

from ..models import ProviderAccount, Workspace
from ..sheets.client import SheetTab, Throttle
from ..trello.client import TrelloClient
from .settings import EngineSettings


class MissingAccount(Exception):
    """The workspace has no usable account for a provider; the user must connect one."""


class Providers(Protocol):
    def trello(self, session: Session, workspace: Workspace) -> TrelloClient: ...

    def sheet(self, session: Session, workspace: Workspace) -> SheetTab: ...


class AccountProviders:
    """Clients built from the workspace owner's connected accounts."""

    def __init__(self, settings: EngineSettings, limiter: Any = None,
                 session_factory: sessionmaker[Session] | None = None, *, non_blocking: bool = False) -> None:
        """``non_blocking`` (the worker's event loop): a rate-limit slot further than
        ``settings.inline_wait_s`` raises ``SlotLater`` and a 429 is never waited out inline, so
        the caller defers that work and goes on with other work."""
        self.settings = settings
        self.limiter = limiter
        self.max_wait = settings.inline_wait_s if non_blocking else None
        self.session_factory = session_factory  # stores refreshed Google tokens; None: not stored
        self._trello: dict[tuple[str, str], TrelloClient] = {}
        self._sheets: dict[tuple[str, str], SheetTab] = {}
        self._lock = threading.Lock()

    def trello(self, session: Session, workspace: Workspace) -> TrelloClient:
        account = session.get(ProviderAccount, workspace.trello_account_id) if workspace.trello_account_id else None
        if account is None or not account.access_token:
            raise MissingAccount("no Trello account is connected to this workspace")
        token = account.access_token
        key = (workspace.id, _fingerprint(token))
        with self._lock:
            client = self._trello.get(key)
            if client is None:
                client = TrelloClient(self.settings.trello_api_key, token, base_url=self.settings.trello_api_base_url,
                                      timeout=self.settings.http_timeout_s, session=requests.Session(),
                                      throttle=self._trello_throttle(token),
                                      max_inline_wait_s=0.0 if self.max_wait is not None else None)
                self._trello[key] = client
        return client

    def sheet(self, session: Session, workspace: Workspace) -> SheetTab:
        account = session.get(ProviderAccount, workspace.google_account_id) if workspace.google_account_id else None
        if account is None and not self.settings.google_service_account_json:
            raise MissingAccount("no Google account is connected to this workspace")
        identity = f"account-{account.id}" if account else "service-account"
        # A refreshable account keeps its cached tab across refreshes (the credentials hold the new token).
        fingerprint = _fingerprint(account.refresh_token or account.access_token or "") if account else "sa"
        key = (workspace.id, f"{identity}:{fingerprint}:{workspace.spreadsheet_id}:{workspace.sheet_name}")
        with self._lock:
            tab = self._sheets.get(key)
            if tab is None:
                from ..sheets.http import BaseUrlHTTPClient

                credentials = self._google_credentials(account)
                http = BaseUrlHTTPClient(credentials, base_url=self.settings.sheets_api_base_url,
                                         timeout=self.settings.http_timeout_s)
                tab = SheetTab(http, workspace.spreadsheet_id, workspace.sheet_name,
                               read_throttle=self._sheets_throttle(identity, "read"),
                               write_throttle=self._sheets_throttle(identity, "write"))
                self._sheets[key] = tab
        return tab

    def forget(self, workspace_id: str) -> None:
        """Drop cached clients (after re-authorisation or a settings change)."""
        with self._lock:
            for cache in (self._trello, self._sheets):
                for key in [k for k in cache if k[0] == workspace_id]:
                    del cache[key]

    # ------------------------------------------------------------------ helpers

    def _google_credentials(self, account: ProviderAccount | None) -> Any:
        if account is None:
            from google.oauth2 import service_account

            info = json.loads(self.settings.google_service_account_json)
            from_info: Any = service_account.Credentials.from_service_account_info  # google-auth is untyped
            return from_info(info, scopes=["https://www.googleapis.com/auth/spreadsheets"])
        from ..sheets.credentials import account_credentials, token_saver

        return account_credentials(account, self.settings, token_saver(self.session_factory, account.id))

    def _trello_throttle(self, token: str) -> Throttle | None:
        if self.limiter is None:
            return None
        from .ratelimit import trello_throttle

        return trello_throttle(self.limiter, self.settings.trello_api_key, token,
                               token_limit=self.settings.trello_token_limit, key_limit=self.settings.trello_key_limit,
                               max_wait=self.max_wait)

    def _sheets_throttle(self, identity: str, kind: str) -> Throttle | None:
        if self.limiter is None:
            return None
        from .ratelimit import sheets_throttle

        limit = self.settings.sheets_read_limit if kind == "read" else self.settings.sheets_write_limit
        return sheets_throttle(self.limiter, identity, kind, limit=limit, max_wait=self.max_wait)


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]
