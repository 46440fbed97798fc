"""History entries, conflicts and parked events as people read them (no Flask).

Each entry names its lead by title (the mapping's title column in the lead's link, or the value
the entry itself recorded), with links to its row and card where they are known, and plain-words
labels from ``history_labels``. The links of a page's entries are read in one query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..models import Event, History, Link, Workspace
from ..models.enums import EventSource, LinkSyncState
from ..models.mapping import Mapping
from ..models.sync import CARD_REMOVED, LINKED, ROW_REMOVED, UNLINKED
from ..sync import filters
from . import history_labels as labels

LINK_STATUS_LABELS: dict[str, str] = {
    LINKED: "Linked: row and card kept in sync",
    UNLINKED: "Unlinked: no longer synced",
    ROW_REMOVED: "Row deleted from the sheet; card archived",
    CARD_REMOVED: "Card archived or deleted in Trello",
}
SYNC_STATE_LABELS: dict[str, str] = {LinkSyncState.SYNCED: "Up to date", LinkSyncState.PENDING: "Waiting to sync",
                     LinkSyncState.ERROR: "Last sync failed"}


@dataclass(frozen=True)
class LeadRef:
    """A lead as a person finds it: its title and where its row and card are."""

    lead_id: str | None
    title: str
    row: int | None = None
    row_url: str | None = None
    card_url: str | None = None

    @property
    def named(self) -> bool:
        return bool(self.title)


@dataclass(frozen=True)
class EntryView:
    id: int
    created_at: datetime
    side: str
    side_label: str
    action: str
    label: str
    outcome: str
    outcome_label: str
    lead: LeadRef | None
    lines: list[str] = field(default_factory=list)
    message: str = ""
    event_ref: str = ""


@dataclass(frozen=True)
class ParkedView:
    id: int
    received_at: datetime
    source: str
    label: str
    attempts: int
    error: str
    lead: LeadRef | None
    event_ref: str
    state: str = ""
    state_label: str = ""


@dataclass(frozen=True)
class LeadPageView:
    """The lead page's head: its link now, and its fields in the mapping's column order."""

    lead: LeadRef
    status_label: str
    sync_label: str
    last_error: str
    last_synced_at: datetime | None
    fields: list[tuple[str, str]]


# --------------------------------------------------------------------------- links of leads


def title_column(workspace: Workspace) -> str:
    return Mapping.of_or_default(workspace).title_column


def links_of(session: Session, workspace: Workspace, lead_ids: Iterable[str],
             card_ids: Iterable[str]) -> tuple[dict[str, Link], dict[str, Link]]:
    """The workspace's links of these leads and cards, by lead id and by card id (one query)."""
    leads, cards = sorted(set(filter(None, lead_ids))), sorted(set(filter(None, card_ids)))
    if not leads and not cards:
        return {}, {}
    statement = select(Link).where(Link.workspace_id == workspace.id,
                                   or_(Link.lead_id.in_(leads), Link.card_id.in_(cards)))
    found = list(session.execute(statement).scalars())
    return {link.lead_id: link for link in found}, {link.card_id: link for link in found if link.card_id}


def lead_ref(workspace: Workspace, lead_id: str | None, link: Link | None, fallback_title: str = "",
             row: int | None = None, card_id: str | None = None) -> LeadRef | None:
    """The lead's reference; None when the entry is about no lead (a full sync, a reconnect)."""
    if link is not None:
        lead_id = link.lead_id
        title = str((link.shadow or {}).get(title_column(workspace)) or "").strip() or fallback_title
        show_row = link.status in (LINKED, CARD_REMOVED)
        show_card = link.status in (LINKED, ROW_REMOVED)
        return LeadRef(lead_id=lead_id, title=title,
                       row=link.row_number if show_row else None,
                       row_url=labels.row_url(workspace.spreadsheet_id, workspace.sheet_gid,
                                              link.row_number) if show_row else None,
                       card_url=labels.card_url(link.card_id) if show_card else None)
    if not lead_id and not card_id and not fallback_title:
        return None
    return LeadRef(lead_id=lead_id or None, title=fallback_title, row=row,
                   row_url=labels.row_url(workspace.spreadsheet_id, workspace.sheet_gid, row),
                   card_url=labels.card_url(card_id))


def _recorded_title(workspace: Workspace, changes: Any) -> str:
    """The title an entry recorded itself (a created card's or added row's values)."""
    value = (changes or {}).get(title_column(workspace)) if isinstance(changes, dict) else None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        value = value[1] or value[0]
    return str(value or "").strip()


# --------------------------------------------------------------------------- history entries


def _events_of(session: Session, workspace: Workspace, ids: Iterable[int]) -> dict[int, Event]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    statement = select(Event).where(Event.workspace_id == workspace.id, Event.id.in_(wanted))
    return {event.id: event for event in session.execute(statement).scalars()}


def _entry_lead(workspace: Workspace, entry: History, link: Link | None, event: Event | None) -> LeadRef | None:
    """The entry's lead; an entry about a lead that never got a link (its first change failed) is
    named from the change it failed on."""
    lead = lead_ref(workspace, entry.lead_id, link, _recorded_title(workspace, entry.changes), card_id=entry.card_id)
    if (lead is None or not lead.title) and link is None and event is not None:
        title, row, card_id = _event_hints(workspace, event)
        kind, keyed = _keyed(event.order_key)
        if title or row or card_id:
            return LeadRef(lead_id=entry.lead_id or (keyed if kind == "lead" else None), title=title, row=row,
                           row_url=labels.row_url(workspace.spreadsheet_id, workspace.sheet_gid, row),
                           card_url=labels.card_url(card_id or entry.card_id))
    return lead


def entry_views(session: Session, workspace: Workspace, entries: list[History]) -> list[EntryView]:
    by_lead, by_card = links_of(session, workspace, (e.lead_id or "" for e in entries),
                                (e.card_id or "" for e in entries))
    unlinked = [e for e in entries if e.event_id and not by_lead.get(e.lead_id or "")
                and not by_card.get(e.card_id or "")]
    events = _events_of(session, workspace, (e.event_id for e in unlinked if e.event_id))
    views = []
    for entry in entries:
        link = by_lead.get(entry.lead_id or "") or (by_card.get(entry.card_id or "") if not entry.lead_id else None)
        lead = _entry_lead(workspace, entry, link, events.get(entry.event_id or 0))
        views.append(EntryView(
            id=entry.id, created_at=entry.created_at, side=entry.side, side_label=labels.side_label(entry.side),
            action=entry.action, label=labels.action_label(entry.action, entry.side, entry.outcome, entry.message),
            outcome=entry.outcome, outcome_label=labels.outcome_label(entry.outcome, entry.action), lead=lead,
            lines=labels.change_lines(entry.action, entry.side, entry.changes),
            message=labels.shown_message(entry.action, entry.message),
            event_ref=labels.event_reference(entry.event_id)))
    return views


# --------------------------------------------------------------------------- parked events


def _payload(event: Event) -> dict[str, Any]:
    try:
        data = json.loads(event.payload or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event_hints(workspace: Workspace, event: Event) -> tuple[str, int | None, str | None]:
    """What the event's own payload says of its lead: (title, row, card id)."""
    data = _payload(event)
    if event.source == EventSource.SHEETS:
        row = data.get("row") if isinstance(data.get("row"), int) else None
        return str(_object(data.get("values")).get(title_column(workspace)) or "").strip(), row, None
    if event.source == EventSource.TRELLO:
        card = _object(_object(data.get("data")).get("card"))
        card_id = card.get("id") if isinstance(card.get("id"), str) else None
        return str(card.get("name") or "").strip(), None, card_id
    return "", None, None


def _keyed(order_key: str) -> tuple[str, str]:
    kind, _, value = (order_key or "").partition(":")
    return kind, value


def parked_views(session: Session, workspace: Workspace, events: list[Event]) -> list[ParkedView]:
    keys = [_keyed(e.order_key) for e in events]
    by_lead, by_card = links_of(session, workspace, (v for k, v in keys if k == "lead"),
                                (v for k, v in keys if k == "card"))
    views = []
    for event, (kind, value) in zip(events, keys, strict=True):
        title, row, card_id = _event_hints(workspace, event)
        link = by_lead.get(value) if kind == "lead" else by_card.get(value) if kind == "card" else None
        lead_id = value if kind == "lead" else None
        views.append(ParkedView(
            id=event.id, received_at=event.received_at, source=event.source,
            label=labels.event_label(event.source, event.kind), attempts=event.attempts,
            error=event.last_error or "", lead=lead_ref(workspace, lead_id, link, title, row, card_id),
            event_ref=labels.event_reference(event.id), state=event.state,
            state_label=labels.event_state_label(event.state)))
    return views


# --------------------------------------------------------------------------- one lead


def lead_page_view(workspace: Workspace, lead_id: str, link: Link | None, fallback_title: str = "",
                   waiting: list[Event] | None = None) -> LeadPageView:
    """``waiting``: the lead's queued or parked events (a lead without a link is named from them)."""
    row = None
    if link is None and waiting:
        hints = [_event_hints(workspace, e) for e in reversed(waiting)]
        fallback_title = fallback_title or next((title for title, _, _ in hints if title), "")
        row = next((r for _, r, _ in hints if r), None)
    lead = lead_ref(workspace, lead_id, link, fallback_title, row=row) or LeadRef(lead_id=lead_id,
                                                                                   title=fallback_title)
    if link is None:
        status = ("Not linked yet: its first change has not gone through" if waiting else
                  "No longer linked")
        return LeadPageView(lead=lead, status_label=status, sync_label="", last_error="",
                            last_synced_at=None, fields=[])
    mapping = Mapping.of_or_default(workspace)
    shadow = link.shadow or {}
    mark = filters.mark_of(link)  # out of the workspace's filter: say so, not "deleted"
    return LeadPageView(
        lead=lead, status_label=f"Outside the workspace's filter: {mark.why}" if mark is not None else
        LINK_STATUS_LABELS.get(link.status, link.status.replace("_", " ").capitalize()),
        sync_label=SYNC_STATE_LABELS.get(link.sync_state, link.sync_state), last_error=link.last_error or "",
        last_synced_at=link.last_synced_at,
        fields=[(column, str(shadow.get(column) or "")) for column in mapping.synced_columns])


def recorded_title(workspace: Workspace, entries: list[History]) -> str:
    """The newest title a lead's own entries recorded (for a lead whose link is gone)."""
    return next((t for t in (_recorded_title(workspace, e.changes) for e in reversed(entries)) if t), "")


__all__ = [
    "EntryView",
    "LeadPageView",
    "LeadRef",
    "ParkedView",
    "entry_views",
    "lead_page_view",
    "lead_ref",
    "links_of",
    "parked_views",
    "recorded_title",
    "title_column",
]
