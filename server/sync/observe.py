"""Turn stored events into what the merge works with: people's changes and our writes landing.

A Trello action is ours when its provenance says so: made with our app's key (``appCreator``,
``TRELLO_APP_ID``) by the member whose token the workspace uses. Only where provenance is not
available (no app id configured) is an action matched by value against the link's ledger: an
unused entry of one of our writes to the card with the same values, whose call was made shortly
before (its echo comes within ``ECHO_WINDOW_MS``, a late landing included); the entry is then
used up. Ours is never a person's change: it only tells what Trello held from its date on. A person's action
changes exactly the fields Trello lists in ``data.old`` (for a description, the lines whose
values differ between the old and the new text).

A sheet row event changes the columns the add-on says were edited (``changed``; every synced
column when it sends a whole row), where the value differs from the shadow: the sheet has no
echo, since our API writes fire no Apps Script trigger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..models import Link, Workspace
from ..models.card_extra import CardExtra
from . import customfields, description
from .cards import status_for_list
from .inbox import parse_trello_date
from .mapping import Mapping, cell_text, done_from_trello, due_from_trello, due_to_trello
from .merge import Change, Landing, Side

TRELLO_FIELDS = ("name", "desc", "idList", "due", "start", "dueComplete", "closed")


def action_time_ms(action: dict[str, Any]) -> float:
    try:
        return parse_trello_date(action["date"]).timestamp() * 1000.0
    except (KeyError, TypeError, ValueError):
        return time.time() * 1000.0


def provenance_is_ours(action: dict[str, Any], app_id: str, member_id: str | None) -> bool:
    """Made with our app's key by the workspace's member (both must be known)."""
    creator = action.get("appCreator")
    return bool(app_id and member_id and isinstance(creator, dict) and creator.get("id") == app_id
                and action.get("idMemberCreator") == member_id)


def _new_value(action: dict[str, Any], key: str) -> Any:
    data = action.get("data") or {}
    if key == "idList":
        return (data.get("listAfter") or {}).get("id") or (data.get("card") or {}).get("idList")
    return (data.get("card") or {}).get(key)


ECHO_WINDOW_MS = 120_000.0  # an echo (or a timed-out call's late landing) comes this soon after its call
CLOCK_SKEW_MS = 5_000.0


def ledger_match(link: Link | None, action: dict[str, Any]) -> bool:
    """Whether the action repeats an unused ledgered write of ours to its card (our echo); if so,
    that entry is used up (the caller commits the link)."""
    if link is None:
        return False
    if action.get("type") in LABEL_ACTIONS:
        return _ledger_label(link, action)
    if action.get("type") in MEMBER_ACTIONS:
        return _ledger_member(link, action)
    if action.get("type") == "updateCustomFieldItem":
        return _ledger_custom_field(link, action)
    data = action.get("data") or {}
    changed = [k for k in (data.get("old") or {}) if k in TRELLO_FIELDS]
    if not changed:
        return False
    at = action_time_ms(action)
    extra = CardExtra.of(link)
    entries = list(extra.ledger)
    for index, entry in enumerate(entries):
        body = entry.get("body") or {}
        in_window = entry.get("at", 0) - CLOCK_SKEW_MS <= at <= entry.get("end", 0) + ECHO_WINDOW_MS
        if entry.get("echoed") or not in_window:
            continue
        if all(k in body and _same_trello(k, body[k], _new_value(action, k)) for k in changed):
            entries[index] = {**entry, "echoed": True}
            link.card_extra = replace(extra, ledger=tuple(entries)).to_json()
            return True
    return False


LABEL_ACTIONS = {"addLabelToCard": True, "removeLabelFromCard": False}  # kind -> the label is on the card after


def _ledger_label(link: Link, action: dict[str, Any]) -> bool:
    """A label added or removed by one of our writes setting ``idLabels`` (one PUT makes several
    such actions, so the entry is not used up)."""
    label_id = (((action.get("data") or {}).get("label")) or {}).get("id")
    at = action_time_ms(action)
    for entry in CardExtra.of(link).ledger:
        body = entry.get("body") or {}
        in_window = entry.get("at", 0) - CLOCK_SKEW_MS <= at <= entry.get("end", 0) + ECHO_WINDOW_MS
        if "idLabels" not in body or not in_window:
            continue
        if (label_id in (body.get("idLabels") or [])) is LABEL_ACTIONS[str(action.get("type"))]:
            return True
    return False


MEMBER_ACTIONS = {"addMemberToCard": True, "removeMemberFromCard": False}  # kind -> on the card after
# a card's checklists changed: its progress ("3/5") is read again (the actions do not carry it)
CHECKLIST_ACTIONS = frozenset({"updateCheckItemStateOnCard", "addChecklistToCard", "removeChecklistFromCard",
                               "createCheckItem", "deleteCheckItem"})


def _ledger_member(link: Link, action: dict[str, Any]) -> bool:
    """A member added or removed by one of our writes setting ``idMembers`` (one PUT makes several
    such actions, so the entry is not used up)."""
    data = action.get("data") or {}
    member_id = data.get("idMember") or (data.get("member") or {}).get("id")
    at = action_time_ms(action)
    for entry in CardExtra.of(link).ledger:
        body = entry.get("body") or {}
        in_window = entry.get("at", 0) - CLOCK_SKEW_MS <= at <= entry.get("end", 0) + ECHO_WINDOW_MS
        if "idMembers" not in body or not in_window:
            continue
        if (member_id in (body.get("idMembers") or [])) is MEMBER_ACTIONS[str(action.get("type"))]:
            return True
    return False


def _ledger_custom_field(link: Link, action: dict[str, Any]) -> bool:
    """A custom field item set by one of our batch writes (one call makes an action per field, so
    the entry is not used up): the same field given the same value within the echo window."""
    data = action.get("data") or {}
    field_id = str((data.get("customField") or {}).get("id") or "")
    value = customfields.item_key(data.get("customFieldItem"))
    at = action_time_ms(action)
    for entry in CardExtra.of(link).ledger:
        sent = ((entry.get("body") or {}).get("customFields") or {}).get(field_id)
        in_window = entry.get("at", 0) - CLOCK_SKEW_MS <= at <= entry.get("end", 0) + ECHO_WINDOW_MS
        if sent is not None and in_window and customfields.item_key(sent) == value:
            return True
    return False


def _same_trello(key: str, ours: Any, theirs: Any) -> bool:
    if key in ("due", "start"):
        return due_to_trello(due_from_trello(ours)) == due_to_trello(due_from_trello(theirs))
    if key == "dueComplete":
        return done_from_trello(ours) == done_from_trello(theirs)
    if key == "desc":
        return bool((ours or "") == (theirs or ""))
    return bool(ours == theirs)


@dataclass
class TrelloObservation:
    """What one ``updateCard`` tells about a linked lead."""

    changes: list[Change] = field(default_factory=list)
    landings: list[Landing] = field(default_factory=list)
    closed: bool | None = None  # archived (True) or sent back to the board (False)
    preamble: str | None = None  # a person's own text of the description, as now


def observe_update(action: dict[str, Any], link: Link, mapping: Mapping, *, ours: bool,
                   sheet_values: list[str] | None = None, event_id: int | None = None) -> TrelloObservation:
    """The fields an ``updateCard`` changed, as changes (a person's) or landings (ours).

    ``sheet_values``: the status values the sheet holds or was just given; a move into a list
    they map to keeps them (several statuses share a list).
    """
    data = action.get("data") or {}
    old = data.get("old") or {}
    card = data.get("card") or {}
    at = action_time_ms(action)
    shadow = link.shadow or {}
    found: list[tuple[str, str]] = []
    result = TrelloObservation()
    if "idList" in old or data.get("listAfter"):
        list_id = _new_value(action, "idList")
        status = status_for_list(mapping, list_id, *(sheet_values or []), cell_text(shadow.get(mapping.status_column)))
        if status is None:
            if ours:
                status = cell_text(shadow.get(mapping.status_column))  # ours: it was a listed status
            else:
                from .outcomes import SyncError

                name = (data.get("listAfter") or {}).get("name") or list_id
                raise SyncError(f"Trello list {name!r} has no status in this workspace's mapping; "
                                "the row was not changed")
        found.append((mapping.status_column, status))
    if "name" in old and "name" in card:
        found.append((mapping.title_column, cell_text(card.get("name"))))
    if "desc" in old and "desc" in card:
        new = description.parse(card.get("desc") or "", mapping.description_columns)
        before = description.parse(old.get("desc") or "", mapping.description_columns)
        result.preamble = new.preamble
        for column in mapping.description_columns:
            if column not in new.fields:
                continue  # a line taken out of the card is not a change (and not a clear)
            if ours or before.fields.get(column) != new.fields[column]:
                found.append((column, new.fields[column]))
    if "due" in old and mapping.due_column:
        found.append((mapping.due_column, due_from_trello(card.get("due"))))
    if "start" in old and mapping.start_column:
        found.append((mapping.start_column, due_from_trello(card.get("start"))))
    if "dueComplete" in old and mapping.due_done_column:
        found.append((mapping.due_done_column, done_from_trello(card.get("dueComplete"))))
    if "closed" in old:
        result.closed = bool(card.get("closed"))
    for name, value in found:
        if ours:
            result.landings.append(Landing(name, value, at, Side.TRELLO))
        else:
            result.changes.append(Change(name, value, at, Side.TRELLO, event_id))
    return result


def sheet_changes(data: dict[str, Any], link: Link, mapping: Mapping, event_id: int | None = None) -> list[Change]:
    """The changes one sheet row event makes to a linked lead (see the module docstring).

    A single-cell edit says what the cell held before (``old``): typed again, the same value is
    no change; otherwise the change carries what it replaced (the merge's compare-and-set).
    """
    values = {str(k).strip(): cell_text(v) for k, v in (data.get("values") or {}).items()}
    old = {str(k).strip(): cell_text(v) for k, v in (data.get("old") or {}).items() if v is not None}
    changed = data.get("changed")
    at = float(data["edited_at"])
    shadow = link.shadow or {}
    out = []
    for column in mapping.synced_columns:
        if column not in values or (changed is not None and column not in changed):
            continue
        if column in old and old[column] == values[column]:
            continue  # the same value typed again
        if values[column] != cell_text(shadow.get(column, "")):
            out.append(Change(column, values[column], at, Side.SHEETS, event_id, replaced=old.get(column)))
    return out


def workspace_member(workspace: Workspace, session: Any) -> str | None:
    """The Trello member whose token the workspace's calls use."""
    from ..models import ProviderAccount

    if not workspace.trello_account_id:
        return None
    account = session.get(ProviderAccount, workspace.trello_account_id)
    return account.provider_user_id if account is not None else None
