"""What a lead's values make of its Trello card, and the card operations the sync shares.

Used by the event processor, reconciliation and the preview alike (none imports another).
Every write to a card goes through ``write_card``/``create_card`` here, which keep the link's
*ledger*: what we sent, and when, so that our own writes are recognised when Trello's webhook
echoes them even where an action's provenance does not tell (see ``observe.py``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..models import Link, Workspace
from ..models.card_extra import CardExtra
from ..models.sync import CARD_REMOVED, UNLINKED
from ..trello.client import TrelloClient
from ..trello.errors import TrelloNotFound
from . import description, labels
from .mapping import (
    Mapping,
    cell_text,
    done_from_trello,
    done_to_trello,
    due_from_trello,
    due_to_trello,
    normalise_status,
)

LEDGER_SIZE = 12  # recent writes kept per link
LEDGER_HORIZON_MS = 15 * 60 * 1000  # an echo later than this after its call is no longer matched


def removed_from_board(link: Link) -> bool:
    """The lead's card was archived, deleted or moved away (not its row): a card coming back is its."""
    return link.status == CARD_REMOVED or (link.status == UNLINKED and CardExtra.of(link).removed is not None)


def card_fields(mapping: Mapping, lead_id: str, shadow: dict[str, Any], preamble: str) -> dict[str, Any]:
    """The Trello fields a lead's values give its card."""
    fields: dict[str, Any] = {
        "name": cell_text(shadow.get(mapping.title_column, "")),
        "desc": description.render({c: cell_text(shadow.get(c, "")) for c in mapping.description_columns},
                                   mapping.description_columns, lead_id, preamble),
        "idList": mapping.list_for_row(shadow),  # on the board the routing column names
    }
    for key, column in (("due", mapping.due_column), ("start", mapping.start_column)):
        if column:
            date = shadow.get(column)
            if cell_text(date).strip() and due_to_trello(date) is None:
                continue  # not a date ("tomorrow"): the card's date is left as it is, never cleared
            fields[key] = due_to_trello(date)
    if mapping.due_done_column:
        done = done_to_trello(shadow.get(mapping.due_done_column))
        if done is not None:  # not understood ("maybe"): the card's "done" is left as it is
            fields["dueComplete"] = done
    return fields


def checklist_progress(card: dict[str, Any]) -> str:
    """A card's checklist progress as the checklist column shows it ("3/5"; empty without check items)."""
    raw = card.get("badges")
    badges: dict[str, Any] = raw if isinstance(raw, dict) else {}
    total = int(badges.get("checkItems") or 0)
    return f"{int(badges.get('checkItemsChecked') or 0)}/{total}" if total else ""


COMMENT_CELL_MAX_CHARS = 49_000  # a Sheets cell holds 50,000 characters


def comment_text(action: dict[str, Any] | None) -> str:
    """The text of a commentCard action as the comment column shows it."""
    text = str(((action or {}).get("data") or {}).get("text") or "").strip()
    return text if len(text) <= COMMENT_CELL_MAX_CHARS else text[:COMMENT_CELL_MAX_CHARS - 1] + "…"


def trello_values(mapping: Mapping, card: dict[str, Any]) -> dict[str, str]:
    """The sheet values of a card's own fields (due, start, "done", URL, labels and checklist
    progress, the last where the card was read with its ``badges``) that the mapping has columns for."""
    values: dict[str, str] = {}
    if mapping.due_column:
        values[mapping.due_column] = due_from_trello(card.get("due"))
    if mapping.start_column:
        values[mapping.start_column] = due_from_trello(card.get("start"))
    if mapping.due_done_column:
        values[mapping.due_done_column] = done_from_trello(card.get("dueComplete"))
    if mapping.card_url_column:
        values[mapping.card_url_column] = cell_text(card.get("shortUrl"))
    if mapping.labels_column:
        values[mapping.labels_column] = labels.of_card(card)
    if mapping.checklist_column and isinstance(card.get("badges"), dict):
        values[mapping.checklist_column] = checklist_progress(card)
    if mapping.route_column:  # the board the card is on (several boards per sheet)
        values[mapping.route_column] = mapping.route_for_list(card.get("idList")) or ""
    return values


def field_keys(mapping: Mapping) -> dict[str, str]:
    """``{column: Trello card key}`` of the columns a card PUT writes (the description's columns
    all share ``desc``; the card URL, checklist and comment columns are never written to the card;
    ``idLabels`` and ``idMembers`` are not in ``card_fields``: they need the board's labels and
    members, ``labels.resolve`` and ``members.Resolver``)."""
    keys = {mapping.title_column: "name", mapping.status_column: "idList"}
    if mapping.route_column:  # the routing column picks the board of the card's list
        keys[mapping.route_column] = "idList"
    keys.update({column: "desc" for column in mapping.description_columns})
    for column, key in ((mapping.due_column, "due"), (mapping.start_column, "start"),
                        (mapping.due_done_column, "dueComplete"), (mapping.labels_column, "idLabels"),
                        (mapping.members_column, "idMembers")):
        if column:
            keys[column] = key
    return keys


def card_update(mapping: Mapping, link: Link, old_shadow: dict[str, Any], new_shadow: dict[str, Any]) -> dict[str, Any]:
    """Only the card fields whose value changes: one PUT carries them all."""
    preamble = CardExtra.of(link).preamble
    old = card_fields(mapping, link.lead_id, old_shadow, preamble)
    new = card_fields(mapping, link.lead_id, new_shadow, preamble)
    return {name: value for name, value in new.items() if old.get(name) != value}


def find_card_by_marker(trello: TrelloClient, board_id: str, lead_id: str) -> dict[str, Any] | None:
    """Scan the board for a card carrying the lead's marker (search is not real time)."""
    for page in trello.iter_board_cards(board_id, fields="id,name,desc,idList,idBoard,closed,dateLastActivity",
                                        filter="all"):
        for card in page:
            if description.find_lead_id(card.get("desc") or "") == lead_id:
                return card
    return None


def wants_card_back(workspace: Workspace, mapping: Mapping, status: str) -> bool:
    """Whether a status brings a removed card back: listed, and not the "removed" status itself."""
    return (bool(normalise_status(status)) and mapping.list_for_status(status) is not None
            and normalise_status(status) != normalise_status(workspace.card_removed_status))


def status_for_list(mapping: Mapping, list_id: str | None, *preferred: str) -> str | None:
    """The status a card in ``list_id`` shows: the first of ``preferred`` that maps to that list
    (several statuses may share a list: a card moved into "Closed" keeps "Lost"), else the list's
    own status; None when the list has no status."""
    route = {mapping.route_column: mapping.route_for_list(list_id)} if mapping.route_column else {}
    for status in preferred:  # on the board of ``list_id`` (several boards per sheet)
        if status and mapping.list_for_row({mapping.status_column: status, **route}) == list_id:
            return status
    return mapping.status_for_list(list_id) if list_id else None


# --------------------------------------------------------------------------- writes and the ledger


def now_ms() -> float:
    return time.time() * 1000.0


def trello_time_ms(card: dict[str, Any] | None, default: float) -> float:
    """When Trello says the card last changed (its ``dateLastActivity``), in ms; else ``default``."""
    from .inbox import parse_trello_date

    value = (card or {}).get("dateLastActivity")
    if isinstance(value, str):
        try:
            return parse_trello_date(value).timestamp() * 1000.0
        except ValueError:
            pass
    return default


def note_write(link: Link, body: dict[str, Any], started: float, ended: float) -> None:
    """Add one of our writes to the link's ledger (kept in ``card_extra``)."""
    extra = CardExtra.of(link)
    entries = [e for e in extra.ledger if e["at"] > ended - LEDGER_HORIZON_MS]
    entries.append({"at": started, "end": ended, "body": body})
    link.card_extra = replace(extra, ledger=tuple(entries[-LEDGER_SIZE:])).to_json()


def write_card(trello: TrelloClient, link: Link, **fields: Any) -> dict[str, Any]:
    """PUT fields on the link's card and note the write in its ledger; returns the card."""
    started = now_ms()
    card = trello.update_card(link.card_id, **fields)  # type: ignore[arg-type]
    note_write(link, dict(fields), started, now_ms())
    if isinstance(card, dict) and isinstance(card.get("labels"), list):  # the colour-only labels, as now
        link.card_extra = replace(CardExtra.of(link), colour_labels=labels.colour_only(card)).to_json()
    return card if isinstance(card, dict) else {}


def create_card(trello: TrelloClient, link: Link, fields: dict[str, Any]) -> dict[str, Any]:
    """POST the link's card (``fields`` from ``card_fields``) and note it in the ledger."""
    started = now_ms()
    card = trello.create_card(id_list=fields["idList"], name=fields["name"], desc=fields["desc"], due=fields.get("due"),
                              start=fields.get("start"), due_complete=bool(fields.get("dueComplete")),
                              id_labels=fields.get("idLabels"), id_members=fields.get("idMembers"))
    note_write(link, {"create": True, **{k: v for k, v in fields.items() if v is not None}}, started, now_ms())
    return card


def revive_card(trello: TrelloClient, mapping: Mapping, link: Link, shadow: dict[str, Any],
                preamble: str, id_labels: list[str] | None = None,
                id_members: list[str] | None = None, board_id: str | None = None) -> dict[str, Any]:
    """Unarchive the lead's card with its current fields, or make a new one if it was deleted or
    moved away (``id_labels``, ``id_members``: its labels and members, where the mapping has
    such columns; ``board_id``: the board its list is on, where rows are routed to several boards)."""
    fields = card_fields(mapping, link.lead_id, shadow, preamble)
    if id_labels is not None:
        fields["idLabels"] = id_labels
    if id_members is not None:
        fields["idMembers"] = id_members
    if board_id:
        fields["idBoard"] = board_id
    # archived, or moved out of the card filter (``filters.OUTSIDE``): the same card comes back
    if (CardExtra.of(link).removed or "").startswith(("archived", "outside the filter")) and link.card_id:
        try:
            return write_card(trello, link, closed=False, **fields)
        except TrelloNotFound:
            pass
    return create_card(trello, link, fields)
