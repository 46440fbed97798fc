"""A workspace's Trello board webhook: register on connect, check and repair, delete on disconnect."""

from __future__ import annotations

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
        hook = next((h for h in trello.token_webhooks()
                     if h.get("callbackURL") == url and h.get("idModel") == workspace.trello_board_id), None)
        if hook is None:
            raise
    workspace.trello_webhook_id = hook["id"]
    workspace.trello_webhook_callback = url
    log.info("trello_webhook_registered", workspace_id=workspace.id, webhook_id=hook["id"])
    return hook["id"]


def ensure_board_webhook(workspace: Workspace, trello: TrelloClient, public_base_url: str) -> bool:
    """Re-register the webhook if Trello dropped it; returns True when it had to."""
    if workspace.trello_webhook_id:
        try:
            hook = trello.get_webhook(workspace.trello_webhook_id)
            if hook.get("active", True) and hook.get("idModel") == workspace.trello_board_id:
                return False
        except TrelloNotFound:
            pass
    register_board_webhook(workspace, trello, public_base_url)
    return True


def delete_board_webhook(workspace: Workspace, trello: TrelloClient) -> None:
    if workspace.trello_webhook_id:
        try:
            trello.delete_webhook(workspace.trello_webhook_id)
        except TrelloNotFound:
            pass
    workspace.trello_webhook_id = None
    workspace.trello_webhook_callback = None
