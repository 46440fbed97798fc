"""A workspace's Trello board webhook: register on connect, check and repair, delete on disconnect."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from ..models import Workspace
from .client import TrelloClient
from .errors import TrelloBadRequest, TrelloNotFound

log = structlog.get_logger(__name__)


def callback_url(public_base_url: str, workspace_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/webhooks/trello/{workspace_id}"


def register_board_webhook(workspace: Workspace, trello: TrelloClient, public_base_url: str) -> str:
    """Register (or adopt an existing) webhook on the workspace's board; stores id and callback."""
    url = callback_url(public_base_url, workspace.id)
    try:
        hook = trello.create_webhook(callback_url=url, id_model=workspace.trello_board_id,
                                     description=f"Leads Sync workspace {workspace.id}")
    except TrelloBadRequest as exc:
        if "already exists" not in str(exc):
            raise
        existing = next((h for h in trello.token_webhooks()
                         if h.get("callbackURL") == url and h.get("idModel") == workspace.trello_board_id), None)
        if existing is None:
            raise
        hook = existing
    workspace.trello_webhook_id = hook["id"]
    workspace.trello_webhook_callback = url
    log.info("trello_webhook_registered", workspace_id=workspace.id, webhook_id=hook["id"])
    return hook["id"]


@dataclass(frozen=True)
class WebhookCheck:
    """What a look at the workspace's webhook found (``GET /1/webhooks/{id}``) and did about it."""

    found: bool  # Trello knows the webhook
    active: bool  # Trello still delivers to it (it deactivates one after repeated failures)
    consecutive_failures: int
    reregistered: bool  # it was missing, inactive or on another board, so it was registered again

    @property
    def detail(self) -> str:
        if not self.found:
            state = "Trello no longer had the webhook"
        elif not self.active:
            state = f"Trello had deactivated the webhook after {self.consecutive_failures} failed deliveries"
        else:
            state = ("active" if not self.consecutive_failures
                     else f"active, {self.consecutive_failures} recent deliveries failed")
        return f"{state}; it was registered again" if self.reregistered else state


def check_board_webhook(workspace: Workspace, trello: TrelloClient, public_base_url: str) -> WebhookCheck:
    """Look at the workspace's webhook; register it again if Trello dropped or deactivated it."""
    hook: dict | None = None
    if workspace.trello_webhook_id:
        try:
            hook = trello.get_webhook(workspace.trello_webhook_id)
        except TrelloNotFound:
            hook = None
    found = hook is not None
    active = bool(hook and hook.get("active", True) and hook.get("idModel") == workspace.trello_board_id)
    failures = int((hook or {}).get("consecutiveFailures") or 0)
    if active:
        return WebhookCheck(found, True, failures, reregistered=False)
    if hook is not None and hook.get("idModel") == workspace.trello_board_id:
        # A deactivated webhook is deleted first: registering the same callback again is refused
        # with "already exists", and adopting it would keep it inactive.
        try:
            trello.delete_webhook(hook["id"])
        except TrelloNotFound:
            pass
    register_board_webhook(workspace, trello, public_base_url)
    return WebhookCheck(found, bool(hook and hook.get("active", True)), failures, reregistered=True)


def ensure_board_webhook(workspace: Workspace, trello: TrelloClient, public_base_url: str) -> bool:
    """Re-register the webhook if Trello dropped or deactivated it; returns True when it had to."""
    return check_board_webhook(workspace, trello, public_base_url).reregistered


def delete_board_webhook(workspace: Workspace, trello: TrelloClient) -> None:
    if workspace.trello_webhook_id:
        try:
            trello.delete_webhook(workspace.trello_webhook_id)
        except TrelloNotFound:
            pass
    workspace.trello_webhook_id = None
    workspace.trello_webhook_callback = None
