"""A changed mapping's effect on a running workspace, and the parked events it clears.

An event the sync cannot apply because the mapping lacks a status or a list is parked (by the
processor, through ``queue.park``) with its reason in ``Event.last_error``, in the words of the
``SyncError`` raised: ``Status 'Demo booked' has no Trello list in this workspace's mapping…`` or
``Trello list 'Demo' has no status in this workspace's mapping…``. This module reads those
reasons back (``mapping_gap``), offers the missing statuses and lists on the workspace page,
says what a new mapping would change (``effect_of``) and, once it is saved, queues again the
events it clears (``requeue_cleared``, through ``queue.requeue`` as Retry does).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Event, Link, Workspace
from ..models.sync import LINKED, PARKED
from . import queue
from .mapping import Mapping, cell_text, normalise_status

SAMPLE_NAMES = 10  # names listed per kind of change
PARKED_SCAN = 1000  # parked events read per look

_STATUS_GAP = re.compile(r"^Status (?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") has no Trello list "
                         r"in this workspace's mapping")
_LIST_GAP = re.compile(r"^Trello list (?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") has no status "
                       r"in this workspace's mapping")
_CARD_LIST_GAP = "the card's Trello list has no status in this workspace's mapping"


class GapKind(StrEnum):
    STATUS = "status"  # a sheet status with no list
    LIST = "list"  # a Trello list with no status


@dataclass(frozen=True)
class Gap:
    """What a parked event lacks in the mapping. ``value``: the status, or the list's name (or id)."""

    kind: GapKind
    value: str
    list_id: str | None = None


def _literal(text: str) -> str:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")
    return cell_text(value)


def _list_id_of(event: Event) -> str | None:
    """The list a Trello event's card moved to or sits in, from its payload."""
    try:
        payload = json.loads(event.payload or "{}")
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    action: dict[str, Any] = payload["action"] if isinstance(payload.get("action"), dict) else payload
    data: dict[str, Any] = action["data"] if isinstance(action.get("data"), dict) else {}
    after = data.get("listAfter") or data.get("list") or {}
    card = data.get("card") or {}
    found = (after.get("id") if isinstance(after, dict) else None) or (
        card.get("idList") if isinstance(card, dict) else None)
    return str(found) if found else None


def mapping_gap(event: Event) -> Gap | None:
    """Why a parked event waits for the mapping, or None when it is parked for another reason."""
    reason = event.last_error or ""
    found = _STATUS_GAP.match(reason)
    if found:
        return Gap(GapKind.STATUS, _literal(found.group("value")))
    found = _LIST_GAP.match(reason)
    if found:
        return Gap(GapKind.LIST, _literal(found.group("value")), _list_id_of(event))
    if reason.startswith(_CARD_LIST_GAP):
        return Gap(GapKind.LIST, "", _list_id_of(event))
    return None


def parked_gaps(session: Session, workspace: Workspace) -> list[tuple[Event, Gap]]:
    """The workspace's parked events that wait for the mapping, oldest first."""
    events = session.scalars(select(Event).where(Event.workspace_id == workspace.id, Event.state == PARKED)
                             .order_by(Event.id).limit(PARKED_SCAN)).all()
    return [(event, gap) for event in events if (gap := mapping_gap(event)) is not None]


@dataclass
class Offer:
    """A status or list the sync met that the mapping lacks, and how many events wait for it."""

    kind: GapKind
    value: str
    list_id: str | None
    events: int


def offers(session: Session, workspace: Workspace) -> list[Offer]:
    """The unmapped statuses and lists parked events met, each once, for the workspace page."""
    mapping = Mapping.of_or_default(workspace)
    names = mapping.list_names
    found: dict[tuple[str, str], Offer] = {}
    for _event, gap in parked_gaps(session, workspace):
        if gap.kind is GapKind.STATUS and mapping.list_for_status(gap.value) is not None:
            continue  # mapped since: its events only wait for a Retry
        if gap.kind is GapKind.LIST and gap.list_id and mapping.status_for_list(gap.list_id):
            continue
        value = gap.value or names.get(gap.list_id or "", "") or "a list"
        key = (gap.kind.value, normalise_status(value) if gap.kind is GapKind.STATUS else (gap.list_id or value))
        if key in found:
            found[key].events += 1
        else:
            found[key] = Offer(gap.kind, value, gap.list_id, 1)
    return list(found.values())


# --------------------------------------------------------------------------- a new mapping's effect


@dataclass
class Effect:
    """What saving a new mapping changes, for the page that asks to confirm it."""

    links: int = 0  # linked leads looked at
    cards_move: list[str] = field(default_factory=list)  # leads whose card goes to another list
    left_unmapped: list[str] = field(default_factory=list)  # leads whose status would have no list
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    status_column_changed: bool = False
    cards_rewritten: int = 0  # cards whose description, dates, "done" or labels the next full sync rewrites
    cleared: list[tuple[int, str]] = field(default_factory=list)  # (event id, what it waited for)
    still_parked: list[tuple[int, str]] = field(default_factory=list)
    cards_move_count: int = 0
    left_unmapped_count: int = 0

    @property
    def wants_full_sync(self) -> bool:
        return bool(self.cards_move_count or self.cards_rewritten or self.status_column_changed)


def _lead_name(link: Link, mapping: Mapping) -> str:
    title = cell_text((link.shadow or {}).get(mapping.title_column, "")).strip()
    return f"{title} ({link.lead_id})" if title else link.lead_id


def clears(gap: Gap, new: Mapping, list_ids_by_name: dict[str, str]) -> bool:
    """Whether ``new`` gives the parked event what it waited for."""
    if gap.kind is GapKind.STATUS:
        return new.list_for_status(gap.value) is not None
    list_id = gap.list_id or list_ids_by_name.get(normalise_status(gap.value))
    if list_id:
        return bool(new.status_for_list(list_id))
    return not gap.value  # the list is unknown: every list of the board now has a status


def gap_words(gap: Gap) -> str:
    if gap.kind is GapKind.STATUS:
        return f"status “{gap.value}”"
    return f"list “{gap.value}”" if gap.value else "a card's list"


def effect_of(session: Session, workspace: Workspace, new: Mapping) -> Effect:
    """Compare the workspace's mapping with ``new`` over its links and parked events."""
    old = Mapping.of_or_default(workspace)
    out = Effect(status_column_changed=old.status_column != new.status_column)
    out.columns_added = [c for c in new.synced_columns if c not in old.synced_columns]
    out.columns_removed = [c for c in old.synced_columns if c not in new.synced_columns]
    rewrites = (old.description_columns != new.description_columns or old.due_column != new.due_column
                or old.title_column != new.title_column or old.start_column != new.start_column
                or old.due_done_column != new.due_done_column or old.labels_column != new.labels_column
                or old.members_column != new.members_column or old.member_emails != new.member_emails
                or old.custom_fields != new.custom_fields)
    links = session.scalars(select(Link).where(Link.workspace_id == workspace.id, Link.card_id.is_not(None),
                                               Link.status == LINKED)).all()
    for link in links:
        out.links += 1
        status = (link.shadow or {}).get(old.status_column, "")
        if rewrites:
            out.cards_rewritten += 1
        if out.status_column_changed:
            continue  # the new column's values are read at the next full sync
        before, after = old.list_for_status(status), new.list_for_status(status)
        if after is None and before is not None:
            out.left_unmapped_count += 1
            if len(out.left_unmapped) < SAMPLE_NAMES:
                out.left_unmapped.append(_lead_name(link, old))
        elif after != before and after is not None:
            out.cards_move_count += 1
            if len(out.cards_move) < SAMPLE_NAMES:
                out.cards_move.append(_lead_name(link, old))
    by_name = {normalise_status(name): list_id for list_id, name in new.list_names.items()}
    for event, gap in parked_gaps(session, workspace):
        (out.cleared if clears(gap, new, by_name) else out.still_parked).append((event.id, gap_words(gap)))
    return out


def requeue_cleared(session: Session, workspace: Workspace, new: Mapping) -> int:
    """Queue again the parked events ``new`` clears (as Retry does); the caller commits."""
    by_name = {normalise_status(name): list_id for list_id, name in new.list_names.items()}
    count = 0
    for event, gap in parked_gaps(session, workspace):
        if clears(gap, new, by_name):
            queue.requeue(event)
            count += 1
    return count


__all__ = [
    "Effect",
    "Gap",
    "GapKind",
    "Offer",
    "clears",
    "effect_of",
    "gap_words",
    "mapping_gap",
    "offers",
    "parked_gaps",
    "requeue_cleared",
]
