"""Trello custom fields ⇄ sheet columns (``FieldKind.CUSTOM_FIELD``), for all five field types.

A mapped column names one of the board's custom fields by id (``Mapping.custom_fields``). Cells
hold what the sheet shows:

- text: the text;
- number: a number (``3``, ``2.5``); Trello keeps the text sent, the sheet gets it back without
  a trailing ``.0``;
- date: the due date's formats (``2026-12-01``, an ISO datetime); the sheet gets the date part;
- checkbox: TRUE/FALSE as a Sheets checkbox stores them (yes/no, ✓… read as for "done"); an
  unchecked or never-set box reads FALSE;
- list: an option's text, matched ignoring case; an option the field lacks is not invented.

An empty cell clears the card's field. A value the field cannot take is not sent: the card keeps
its value and the lead's history says why in plain words. The board's definitions are read once
per workspace and kept for ``DEFINITIONS_TTL_S`` (a field or option not found sends one more read,
at most every ``DEFINITIONS_RETRY_S``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..trello.cardfields import custom_field_item, custom_field_value
from ..trello.client import TrelloClient
from .mapping import Mapping, cell_text, done_from_trello, done_to_trello, due_from_trello, due_to_trello

DEFINITIONS_TTL_S = 300.0
DEFINITIONS_RETRY_S = 10.0

Definitions = dict[str, dict[str, Any]]  # custom field id -> the board's definition


@dataclass
class _Board:
    at: float
    by_id: Definitions = field(default_factory=dict)


_cache: dict[tuple[str, str], _Board] = {}
_lock = threading.Lock()


def definitions(trello: TrelloClient, workspace_id: str, board_id: str, *, missing: bool = False) -> Definitions:
    """``{field id: definition}`` of the board, cached per workspace; ``missing``: something was
    not found, so read again if the last read is older than ``DEFINITIONS_RETRY_S``."""
    now = time.monotonic()
    with _lock:
        entry = _cache.get((workspace_id, board_id))
    if entry is not None and now - entry.at < (DEFINITIONS_RETRY_S if missing else DEFINITIONS_TTL_S):
        return entry.by_id
    by_id = {str(f["id"]): f for f in trello.board_custom_fields(board_id) or [] if isinstance(f, dict)}
    with _lock:
        _cache[(workspace_id, board_id)] = _Board(now, by_id)
    return by_id


def forget(workspace_id: str) -> None:
    """Drop a workspace's cached definitions (tests; a board changed)."""
    with _lock:
        for cached in [k for k in _cache if k[0] == workspace_id]:
            del _cache[cached]


def definition(trello: TrelloClient, workspace_id: str, board_id: str, field_id: str) -> dict[str, Any] | None:
    found = definitions(trello, workspace_id, board_id).get(field_id)
    return found if found is not None else definitions(trello, workspace_id, board_id, missing=True).get(field_id)


# --------------------------------------------------------------------------- values


class NotTaken(ValueError):
    """A cell value the custom field cannot take; the message says why in plain words."""


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def to_item(definition_: dict[str, Any], value: Any) -> dict[str, Any]:
    """The batch endpoint's item setting the field to a cell's value (empty: cleared); raises
    ``NotTaken`` for a value the field cannot take."""
    text = cell_text(value).strip()
    kind = definition_.get("type")
    name = definition_.get("name") or "the custom field"
    if not text:
        return custom_field_item(definition_, "")
    if kind == "number":
        if _number(text) is None:
            raise NotTaken(f"“{text}” is not a number, so the card's “{name}” was left as it was")
        return custom_field_item(definition_, text)
    if kind == "date":
        when = due_to_trello(text)
        if when is None:
            raise NotTaken(f"“{text}” is not a date (write it like 2026-12-01), so the card's “{name}” was left "
                           "as it was")
        return custom_field_item(definition_, when)
    if kind == "checkbox":
        checked = done_to_trello(text)
        if checked is None:
            raise NotTaken(f"“{text}” is neither checked nor unchecked (write TRUE or FALSE), so the card's "
                           f"“{name}” was left as it was")
        return custom_field_item(definition_, checked)
    if kind == "list":
        options = [str((o.get("value") or {}).get("text") or "") for o in definition_.get("options") or []]
        if not any(o.casefold() == text.casefold() for o in options):
            choices = ", ".join(f"“{o}”" for o in options) or "none"
            raise NotTaken(f"“{text}” is not an option of the card's “{name}” (its options: {choices}); it was not "
                           "added to the field, which was left as it was")
        return custom_field_item(definition_, next(o for o in options if o.casefold() == text.casefold()))
    return custom_field_item(definition_, text)


def to_cell(definition_: dict[str, Any], item: dict[str, Any] | None) -> str:
    """A card's custom field item as the sheet shows it."""
    kind = definition_.get("type")
    try:
        value = custom_field_value(definition_, item)
    except (TypeError, ValueError):
        value = None
    if kind == "checkbox":
        return done_from_trello(bool(value))
    if value is None:
        return ""
    if kind == "number":
        raw = str(((item or {}).get("value") or {}).get("number") or "").strip()
        number = _number(raw)
        return cell_text(number) if number is not None else raw
    if kind == "date":
        return due_from_trello(value)
    return cell_text(value)


def key(definition_: dict[str, Any] | None, value: Any) -> Any:
    """What a cell says for the field, for comparisons on Trello's side (``3`` is ``3.0``, yes is TRUE)."""
    text = cell_text(value).strip()
    kind = (definition_ or {}).get("type")
    if kind == "number":
        number = _number(text)
        return number if number is not None else text
    if kind == "date":
        return due_to_trello(text) or text
    if kind == "checkbox":
        done = done_to_trello(text)
        return done if done is not None else text
    if kind == "list":
        return text.casefold()
    return text


def item_key(item: dict[str, Any] | None) -> Any:
    """An item as sent or as an action reports it, for matching our own writes' echoes."""
    if not item:
        return ""
    if item.get("idValue"):
        return item["idValue"]
    value = item.get("value")
    if not isinstance(value, dict) or not value:
        return ""
    kind, raw = next(iter(value.items()))
    if kind == "date":
        return due_to_trello(raw) or raw
    if kind == "number":
        number = _number(str(raw))
        return number if number is not None else raw
    return str(raw).lower() if kind == "checked" else raw


def card_values(trello: TrelloClient, workspace_id: str, board_id: str, mapping: Mapping,
                card: dict[str, Any]) -> dict[str, str]:
    """The mapped custom fields of a card read with ``customFieldItems=true``, as the sheet shows
    them (a field the board no longer has is left out)."""
    if not mapping.custom_fields or "customFieldItems" not in card:
        return {}
    by_id = definitions(trello, workspace_id, board_id)
    items = {str(i.get("idCustomField")): i for i in card.get("customFieldItems") or [] if isinstance(i, dict)}
    return {column: to_cell(by_id[field_id], items.get(field_id))
            for column, field_id in mapping.custom_fields.items() if field_id in by_id}


def unavailable_words(column: str, lead_id: str, title: str) -> str:
    return (f"{column} of lead {lead_id} (“{title}”) was not written to the card: Custom Fields are not available "
            "on this Trello board (they need a paid Trello plan or the Custom Fields Power-Up); the lead's other "
            "fields are synced")


def missing_words(column: str, lead_id: str, title: str) -> str:
    return (f"{column} of lead {lead_id} (“{title}”) was not written to the card: the Trello custom field it is "
            "mapped to is no longer on the board (choose its field again in Edit mapping)")


__all__ = ["NotTaken", "card_values", "definition", "definitions", "forget", "item_key", "key", "missing_words",
           "to_cell", "to_item", "unavailable_words"]
