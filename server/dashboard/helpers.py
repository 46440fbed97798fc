"""Small pieces the dashboard views share: scoped look-ups that 404, provider clients, plain errors."""

from __future__ import annotations

from typing import Any

import structlog
from flask import abort, current_app

from ..auth.session import signed_in_user
from ..config import current_settings
from ..extensions import db, db_session
from ..models import ProviderAccount, User, Workspace
from ..models.enums import AccountStatus, WorkspaceState
from ..models.workspace import is_draft
from ..trello.client import TrelloClient
from ..trello.errors import TrelloError, trello_error_message
from . import queries

log = structlog.get_logger(__name__)

STATE_LABELS: dict[str, str] = {
    WorkspaceState.ACTIVE: "Syncing",
    WorkspaceState.PAUSED: "Paused",
    WorkspaceState.NEEDS_REAUTH: "Needs re-authorisation",
    WorkspaceState.DISCONNECTED: "Disconnected",
    WorkspaceState.DRAFT: "Draft",
}


def user() -> User:
    """The signed-in user (views are wrapped in ``login_required``)."""
    return signed_in_user()


def workspace_or_404(workspace_id: str) -> Workspace:
    """The workspace if the signed-in user may see it; 404 otherwise (never 403: no existence leak)."""
    workspace = queries.workspace_for_user(db_session(), user(), workspace_id)
    if workspace is None:
        abort(404)
    return workspace


def trello_client(account: ProviderAccount) -> TrelloClient:
    settings = current_settings()
    return TrelloClient(settings.trello_api_key, account.access_token or "", base_url=settings.trello_api_base_url,
                        timeout=settings.outbound_timeout_s(15.0))


def workspace_trello(workspace: Workspace) -> TrelloClient | None:
    """A client with the workspace's Trello account, or None when it has none."""
    account = db.session.get(ProviderAccount, workspace.trello_account_id) if workspace.trello_account_id else None
    if account is None or not account.access_token:
        return None
    return trello_client(account)


def mark_needs_reauth(account: ProviderAccount | None, exc: Exception) -> None:
    """Remember that a provider refused the account (the Connections page says so)."""
    if account is None:
        return
    account.status = AccountStatus.NEEDS_REAUTH
    account.status_detail = str(exc)[:500]


def wake_worker() -> None:
    """Commit queued events and nudge the workers (see ``server.engine.commit_and_wake``)."""
    from ..engine import commit_and_wake

    commit_and_wake(current_app, db_session())


def trello_board_url(board_id: str) -> str:
    return f"https://trello.com/b/{board_id}"


def describe_changes(changes: Any) -> list[str]:
    """``{"Status": ["New", "Won"]}`` → ``["Status: New → Won"]`` for the history table."""
    if not isinstance(changes, dict):
        return []
    lines = []
    for name, value in changes.items():
        if isinstance(value, (list, tuple)) and len(value) == 2:
            old, new = ("" if v is None else str(v) for v in value)
            old = old if len(old) <= 60 else old[:57] + "…"
            new = new if len(new) <= 60 else new[:57] + "…"
            lines.append(f"{name}: {old or '(empty)'} → {new or '(empty)'}")
        else:
            lines.append(f"{name}: {value}")
    return lines


__all__ = ["STATE_LABELS", "user", "workspace_or_404", "is_draft", "trello_client", "workspace_trello",
           "trello_error_message", "mark_needs_reauth", "wake_worker", "trello_board_url", "describe_changes",
           "TrelloError"]
