"""The webhooks of a workspace's further boards (several boards per sheet): one per board.

The primary board's webhook stays on the workspace (``webhooks.py``); each further board has a
``WorkspaceBoard`` row holding its webhook's id, the exact callback URL it was registered with
(``/webhooks/trello/<workspace>/boards/<board>``: what Trello signs, and what the intake checks
a delivery against) and what the worker's last look at it found. ``sync_rows`` keeps the rows in
step with the mapping's routed boards; ``register``, ``check`` and ``delete`` do for every row
what ``webhooks.py`` does for the primary board.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Workspace, WorkspaceBoard
from ..models.mapping import Mapping
from .client import TrelloClient
from .errors import TrelloBadRequest, TrelloNotFound
from .webhooks import WebhookCheck

log = structlog.get_logger(__name__)


def callback_url(public_base_url: str, workspace_id: str, board_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/webhooks/trello/{workspace_id}/boards/{board_id}"


def rows_of(session: Session, workspace_id: str) -> list[WorkspaceBoard]:
    return list(session.scalars(select(WorkspaceBoard).where(WorkspaceBoard.workspace_id == workspace_id)
                                .order_by(WorkspaceBoard.id)).all())


def sync_rows(session: Session, workspace: Workspace, mapping: Mapping) -> tuple[list[WorkspaceBoard],
                                                                                    list[WorkspaceBoard]]:
    """Add a row for each routed board the mapping names and take out those it no longer names
    (not the primary board's); returns (added, removed). The caller registers and deletes their
    webhooks."""
    wanted = [b.board_id for b in mapping.routing.boards] if mapping.routing else []
    wanted = [b for b in dict.fromkeys(wanted) if b != workspace.trello_board_id]
    rows = rows_of(session, workspace.id)
    have = {r.board_id for r in rows}
    added = [WorkspaceBoard(workspace_id=workspace.id, board_id=b) for b in wanted if b not in have]
    removed = [r for r in rows if r.board_id not in wanted]
    for row in added:
        session.add(row)
    for row in removed:
        session.delete(row)
    return added, removed


def register(row: WorkspaceBoard, trello: TrelloClient, public_base_url: str) -> str:
    """Register (or adopt an existing) webhook on the row's board; stores its id and callback."""
    url = callback_url(public_base_url, row.workspace_id, row.board_id)
    hook: dict[str, Any] | None
    try:
        hook = trello.create_webhook(callback_url=url, id_model=row.board_id,
                                     description=f"Leads Sync workspace {row.workspace_id} (routed board)")
    except TrelloBadRequest as exc:
        if "already exists" not in str(exc):
            raise
        hook = next((h for h in trello.token_webhooks()
                     if h.get("callbackURL") == url and h.get("idModel") == row.board_id), None)
        if hook is None:
            raise
    row.webhook_id = hook["id"]
    row.webhook_callback = url
    log.info("trello_webhook_registered", workspace_id=row.workspace_id, board_id=row.board_id,
             webhook_id=hook["id"])
    return str(hook["id"])


def check(row: WorkspaceBoard, trello: TrelloClient, public_base_url: str) -> WebhookCheck:
    """Look at the row's webhook; register it again if Trello dropped or deactivated it."""
    hook: dict | None = None
    if row.webhook_id:
        try:
            hook = trello.get_webhook(row.webhook_id)
        except TrelloNotFound:
            hook = None
    found = hook is not None
    active = bool(hook and hook.get("active", True) and hook.get("idModel") == row.board_id)
    failures = int((hook or {}).get("consecutiveFailures") or 0)
    if active:
        return WebhookCheck(found, True, failures, reregistered=False)
    if hook is not None and hook.get("idModel") == row.board_id:
        try:  # a deactivated webhook is deleted first: the same callback again is "already exists"
            trello.delete_webhook(hook["id"])
        except TrelloNotFound:
            pass
    register(row, trello, public_base_url)
    return WebhookCheck(found, bool(hook and hook.get("active", True)), failures, reregistered=True)


def record_check(row: WorkspaceBoard, result: WebhookCheck, now: datetime) -> None:
    row.webhook_checked_at = now
    row.webhook_active = True
    row.webhook_failures = result.consecutive_failures
    row.webhook_detail = result.detail
    if result.reregistered:
        row.webhook_reregistered_at = now


def delete(row: WorkspaceBoard, trello: TrelloClient) -> None:
    if row.webhook_id:
        try:
            trello.delete_webhook(row.webhook_id)
        except TrelloNotFound:
            pass
    row.webhook_id = None
    row.webhook_callback = None


def connect(session: Session, workspace: Workspace, mapping: Mapping, trello: TrelloClient,
            public_base_url: str) -> list[WorkspaceBoard]:
    """After a mapping is saved: rows in step with its boards, the new ones' webhooks registered,
    the dropped ones' deleted (and any left without one registered); returns the rows now."""
    _, removed = sync_rows(session, workspace, mapping)
    for row in removed:
        delete(row, trello)
    for row in rows_of(session, workspace.id):  # new boards, and any whose registration failed before
        if not row.webhook_id:
            register(row, trello, public_base_url)
    return rows_of(session, workspace.id)


def check_all(session: Session, workspace: Workspace, trello: TrelloClient, public_base_url: str,
              now: datetime) -> int:
    """The worker's look at every further board's webhook (after the primary's); returns how many
    were registered again. A refused token is raised (the caller marks the workspace); any other
    failure is recorded on that board's row, and the other boards are still checked."""
    from .errors import TrelloAuthError

    repaired = 0
    for row in rows_of(session, workspace.id):
        try:
            result = check(row, trello, public_base_url)
        except TrelloAuthError:
            raise
        except Exception as exc:  # noqa: BLE001 - one board must not stop the others
            row.webhook_checked_at = now
            row.webhook_active = False
            row.webhook_detail = f"the webhook could not be checked or registered again: {exc}"[:2000]
            log.warning("trello_webhook_check_failed", workspace_id=workspace.id, board_id=row.board_id,
                        error=str(exc))
            continue
        record_check(row, result, now)
        if result.reregistered:
            repaired += 1
            log.info("trello_webhook_reregistered", workspace_id=workspace.id, board_id=row.board_id,
                     detail=result.detail)
    return repaired
