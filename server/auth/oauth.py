"""OAuth clients (Authlib) and the account bookkeeping the Google and Trello flows share.

Each app gets its own Authlib registry (kept in ``app.extensions``): Authlib caches a client and
its server metadata per registry, and a module-wide one would bind every app to the first app's
settings (tests and the demo build several apps against different emulator ports). ``oauth`` is
a proxy to the current app's registry, so ``oauth.google`` works as in Authlib's examples.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import structlog
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from ..config import settings_of
from ..models import GOOGLE, ProviderAccount, User, Workspace
from ..models.enums import AccountStatus, Command
from ..models.workspace import ACTIVE, NEEDS_REAUTH

log = structlog.get_logger(__name__)

GOOGLE_SCOPES = "openid email profile https://www.googleapis.com/auth/spreadsheets"  # GOOGLE_SCOPE_MODE's default
_EXTENSION = "authlib.integrations.flask_client"  # where Authlib's ``OAuth.init_app`` keeps the registry


def init_oauth(app: Flask) -> OAuth:
    """Create the app's Authlib registry and register Google (OpenID Connect discovery).

    The flow's state data (PKCE verifier, OpenID nonce) waits in the database, not in the readable
    session cookie (``flow_store.AuthlibStateCache``).
    """
    from .flow_store import AuthlibStateCache
    from .google_scopes import google_scopes

    settings = settings_of(app)
    registry = OAuth(app, cache=AuthlibStateCache())
    registry.register(
        "google",
        client_id=settings.google_client_id or None,
        client_secret=settings.google_client_secret or None,
        server_metadata_url=settings.google_server_metadata_url,
        client_kwargs={"scope": google_scopes(app.config), "code_challenge_method": "S256",
                       "default_timeout": settings.outbound_timeout_s(15.0)},
    )
    return registry


def _registry() -> OAuth:
    return current_app.extensions[_EXTENSION]


oauth: LocalProxy[OAuth] = LocalProxy(_registry)


def google_client() -> Any:
    """The current app's Authlib Google client."""
    return _registry().create_client("google")


# --------------------------------------------------------------------------- URLs


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL on ``PUBLIC_BASE_URL`` (what the providers have registered as callbacks)."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(endpoint, **values)


def safe_next(target: str | None, default: str = "/app") -> str:
    """``target`` if it is a same-origin relative path (``/app/...``), else ``default``.

    Refuses absolute URLs, scheme-relative ``//host``, backslash tricks and control characters.
    """
    if not target or not isinstance(target, str):
        return default
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


# --------------------------------------------------------------------------- accounts


def find_or_create_user(session: Session, email: str, name: str = "") -> User:
    """The user with this email (case-insensitive), created if new."""
    email = email.strip()
    user = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
    if user is None:
        user = User(email=email.lower(), name=(name or email.split("@")[0].title())[:200])
        session.add(user)
        session.flush()
    elif name and not user.name:
        user.name = name[:200]
    return user


def upsert_account(session: Session, user: User, provider: str, provider_user_id: str,
                   **fields: Any) -> tuple[ProviderAccount, bool]:
    """Create or update the user's account at ``provider``; returns (account, was it needing re-auth)."""
    account = session.scalar(select(ProviderAccount).where(
        ProviderAccount.user_id == user.id, ProviderAccount.provider == provider,
        ProviderAccount.provider_user_id == provider_user_id))
    was_broken = account is not None and account.status != AccountStatus.OK
    if account is None:
        account = ProviderAccount(user_id=user.id, provider=provider, provider_user_id=provider_user_id)
        session.add(account)
    for name, value in fields.items():
        setattr(account, name, value)
    account.status = AccountStatus.OK
    account.status_detail = ""
    session.flush()
    return account, was_broken


def reactivate_workspaces(session: Session, account: ProviderAccount) -> list[Workspace]:
    """Workspaces using ``account`` that wait for re-authorisation go back to active.

    A workspace whose *other* account still needs re-authorisation stays as it is.
    """
    column = Workspace.google_account_id if account.provider == GOOGLE else Workspace.trello_account_id
    reactivated = []
    for workspace in session.scalars(select(Workspace).where(column == account.id,
                                                             Workspace.state == NEEDS_REAUTH)).all():
        other_id = workspace.trello_account_id if account.provider == GOOGLE else workspace.google_account_id
        other = session.get(ProviderAccount, other_id) if other_id else None
        if other is not None and other.status != AccountStatus.OK:
            continue
        workspace.state = ACTIVE
        workspace.state_detail = ""
        reactivated.append(workspace)
    return reactivated


def after_reactivation(session: Session, workspaces: list[Workspace]) -> None:
    """Queue a full sync for each reactivated workspace, commit, drop cached clients, wake the worker."""
    if not workspaces:
        return
    from ..engine import commit_and_wake, forget_clients
    from ..models.sync import Lane
    from ..sync.queue import enqueue_command

    for workspace in workspaces:
        enqueue_command(session, workspace.id, Command.RECONCILE, {"reauthorised": True})
    commit_and_wake(current_app, session, Lane.JOB)
    for workspace in workspaces:
        forget_clients(current_app, workspace.id)
        log.info("workspace_reactivated", workspace_id=workspace.id)


__all__ = ["GOOGLE_SCOPES", "init_oauth", "oauth", "google_client", "external_url", "safe_next",
           "find_or_create_user", "upsert_account", "reactivate_workspaces", "after_reactivation"]
