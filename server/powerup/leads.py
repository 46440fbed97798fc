"""What the Power-Up shows about a card and a board: plain functions over the models (no Flask)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Event, Link, Workspace, WorkspaceBoard
from ..models.enums import Command, LinkSyncState
from ..models.sync import PENDING, PROCESSING, UNLINKED
from ..models.workspace import ACTIVE
from ..sync.mapping import Mapping, cell_text, normalise_status
from ..sync.queue import enqueue_command

SHEETS_BASE = "https://docs.google.com/spreadsheets/d/"
WON_WORDS = {"won", "win", "signed", "customer", "closed-won"}
LOST_WORDS = {"lost", "dead", "rejected", "disqualified", "churned", "archived", "closed-lost"}
# Left-to-right lists of a pipeline, for statuses that are neither won nor lost.
LIST_PALETTE = ("sky", "blue", "purple", "yellow", "orange", "pink", "lime")


def workspace_summary(workspace: Workspace) -> dict[str, str]:
    return {"id": workspace.id, "name": workspace.name}


def sheet_url(spreadsheet_id: str, row: int | None, gid: int | None = None) -> str:
    """A link that opens the workspace's tab (``gid``) at the lead's row; the first tab when the gid is unknown."""
    url = f"{SHEETS_BASE}{quote(spreadsheet_id, safe='')}/edit#gid={gid if gid is not None else 0}"
    return f"{url}&range=A{row}" if row else url


def badge_color(mapping: Mapping, status: str) -> str:
    """A Trello badge colour for a status: won green, lost red, else by the status's list position."""
    words = set(normalise_status(status).replace("_", " ").split())
    if words & WON_WORDS:
        return "green"
    if words & LOST_WORDS:
        return "red"
    statuses: list[str] = []
    for value in mapping.list_to_status.values():
        key = normalise_status(value)
        if key and key not in statuses:
            statuses.append(key)
    key = normalise_status(status)
    if key in statuses:
        return LIST_PALETTE[statuses.index(key) % len(LIST_PALETTE)]
    return "blue"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def sync_summary(link: Link) -> dict[str, Any]:
    """``synced`` | ``pending`` | ``error``, when, and the error in the words it was stored with."""
    if link.sync_state == LinkSyncState.ERROR:
        state = LinkSyncState.ERROR
    elif link.sync_state == LinkSyncState.SYNCED and not link.pending_op:
        state = LinkSyncState.SYNCED
    else:
        state = LinkSyncState.PENDING
    return {"state": state, "last_synced_at": _iso(link.last_synced_at),
            "error": (link.last_error or "") if state == LinkSyncState.ERROR else ""}


def lead_fields(workspace: Workspace, mapping: Mapping, link: Link) -> tuple[dict[str, str], str]:
    """The lead's fields (synced columns first, in mapping order) and its status, from the shadow."""
    shadow = link.shadow or {}
    order = [c for c in mapping.synced_columns if c in shadow] + [c for c in shadow if c not in mapping.synced_columns]
    hidden = {mapping.status_column, workspace.lead_id_column}
    fields = {column: cell_text(shadow[column]) for column in order if column not in hidden}
    return fields, cell_text(shadow.get(mapping.status_column, ""))


def find_link(session: Session, workspace: Workspace, card_id: str) -> Link | None:
    return session.execute(
        select(Link).where(Link.workspace_id == workspace.id, Link.card_id == card_id)
    ).scalar_one_or_none()


def card_on_another_board(session: Session, board_id: str, card_id: str) -> bool:
    """Whether we know ``card_id`` as the card of a workspace on a different board."""
    statement = (
        select(Link.id).join(Workspace, Workspace.id == Link.workspace_id)
        .where(Link.card_id == card_id, Workspace.trello_board_id != board_id,
               Workspace.id.not_in(select(WorkspaceBoard.workspace_id).where(WorkspaceBoard.board_id == board_id)))
        .limit(1)
    )
    return session.execute(statement).first() is not None


def create_lead_queued(session: Session, workspace: Workspace, card_id: str) -> bool:
    """Whether a ``create_lead`` for this card waits in the inbox."""
    statement = select(Event.id).where(
        Event.workspace_id == workspace.id, Event.kind == Command.CREATE_LEAD,
        Event.order_key == f"card:{card_id}", Event.state.in_((PENDING, PROCESSING)),
    ).limit(1)
    return session.execute(statement).first() is not None


def card_view(session: Session, workspace: Workspace, card_id: str) -> dict[str, Any]:
    """The card-back section's data for one card of the workspace's board."""
    link = find_link(session, workspace, card_id)
    if link is None or link.status == UNLINKED:
        unlinked = link is not None
        return {
            "linked": False, "workspace": workspace_summary(workspace),
            "can_create": not unlinked and workspace.state == ACTIVE,
            "create_queued": create_lead_queued(session, workspace, card_id),
            "reason": "unlinked" if unlinked else "",
        }
    mapping = Mapping.of_or_default(workspace)
    fields, status = lead_fields(workspace, mapping, link)
    link_url = sheet_url(workspace.spreadsheet_id, link.row_number, workspace.sheet_gid)
    return {
        "linked": True,
        "workspace": workspace_summary(workspace),
        "lead": {"lead_id": link.lead_id, "fields": fields, "columns": list(fields), "status": status,
                 "row": link.row_number, "sheet_url": link_url},
        "sync": sync_summary(link),
        # list_id: the list the lead's status goes to; a card elsewhere has just moved and its
        # badge asks again soon (powerup_static/js/client.js)
        "badge": {"text": status, "color": badge_color(mapping, status) if status else "light-gray",
                  "list_id": mapping.list_for_row(link.shadow or {}) if status else None},
    }


def queue_create_lead(session: Session, workspace: Workspace, card_id: str) -> bool:
    """Queue a ``create_lead`` unless one already waits; returns whether a new one was queued."""
    if create_lead_queued(session, workspace, card_id):
        return False
    enqueue_command(session, workspace.id, "create_lead", {"card_id": card_id})
    return True


def board_view(workspace: Workspace | None, dashboard_url: str) -> dict[str, Any]:
    return {"linked": workspace is not None,
            "workspace": workspace_summary(workspace) if workspace else None,
            "dashboard_url": dashboard_url}


__all__ = ["card_view", "board_view", "badge_color", "sheet_url", "sync_summary", "queue_create_lead",
           "card_on_another_board", "find_link", "workspace_summary"]
