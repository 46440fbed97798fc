"""Making Trello custom fields for sheet columns: the wizard's columns step and the mapping editor.

Plain functions over plain values and a ``TrelloClient`` (no Flask): what a person asked for is a
``NewField`` (a column, a type, a list's options); ``problems`` checks it against the sheet's
columns and the board's fields, in words; ``make_all`` makes the fields on the board one call
each, named after their columns, and stops at the first Trello refusal, saying in plain words
what was made before it (the callers map only what every call made, so a refusal leaves
nothing half-made in a mapping).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..trello.cardfields import CustomFieldsUnavailable
from ..trello.client import TrelloClient
from ..trello.errors import TrelloError, trello_error_message
from .mapping_form import clean

CUSTOM_FIELDS_OFF = ("This Trello board has no Custom Fields (they need a paid Trello plan or the board's Custom "
                     "Fields Power-Up), so no column can be mapped to one.")
#: what the engine's history line says when Trello refuses a card's custom fields for want of Custom
#: Fields on the board (``customfields.unavailable_words``, reconciliation's words): the workspace
#: page looks for it
UNAVAILABLE_MARK = "Custom Fields are not available on this Trello board"
#: the types a person can choose, as the forms name them
FIELD_TYPES = {"text": "Text", "number": "Number", "date": "Date", "checkbox": "Checkbox",
               "list": "List of options"}
MAX_NAME = 100
MAX_OPTIONS = 50


@dataclass(frozen=True)
class NewField:
    """A custom field to make for ``column`` (named after it)."""

    column: str
    kind: str
    options: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.column[:MAX_NAME]

    def words(self) -> str:
        """“Stage” (list: Hot, Cold) — for the pages' sentences."""
        kind = FIELD_TYPES.get(self.kind, self.kind).lower()
        if self.kind == "list":
            return f"“{self.name}” (list: {', '.join(self.options)})"
        return f"“{self.name}” ({kind})"


def options_from_text(text: str) -> tuple[str, ...]:
    """A list field's options typed as “Hot, Warm, Cold”."""
    return options_from_values(text.split(","))


def options_from_values(values: Iterable[Any]) -> tuple[str, ...]:
    """Distinct non-empty options (first spelling kept, ignoring case), at most ``MAX_OPTIONS``."""
    seen: dict[str, str] = {}
    for value in values:
        text = clean(value, MAX_NAME)
        if text and text.casefold() not in seen:
            seen[text.casefold()] = text
            if len(seen) >= MAX_OPTIONS:
                break
    return tuple(seen.values())


def problems(new: NewField, columns: Sequence[str], existing_names: Iterable[str]) -> list[str]:
    """What stops ``new`` from being made, in words (empty: it can be)."""
    out: list[str] = []
    if new.column not in columns:
        out.append("Choose the column the new custom field is for.")
    elif any(name.casefold() == new.name.casefold() for name in existing_names):
        out.append(f"The board already has a custom field named “{clean(new.column)}”: map it to the column "
                   "instead of making another.")
    if new.kind not in FIELD_TYPES:
        out.append(f"Choose the type of the new custom field for “{clean(new.column)}”.")
    elif new.kind == "list" and not new.options:
        out.append(f"Give the new list field's options for “{clean(new.column)}”, separated by commas "
                   "(“Hot, Warm, Cold”), or choose another type.")
    return out


@dataclass
class Made:
    """What ``make_all`` made: ``fields`` as ``(the request, Trello's definition)``; ``error``: why it
    stopped, in words ("" when every field was made)."""

    fields: list[tuple[NewField, dict[str, Any]]] = field(default_factory=list)
    error: str = ""

    @property
    def ids(self) -> dict[str, str]:
        """``{column: the new field's id}``."""
        return {new.column: str(made["id"]) for new, made in self.fields}


def refusal_words(new: NewField, exc: TrelloError) -> str:
    if isinstance(exc, CustomFieldsUnavailable):
        return (f"Trello did not make the custom field {new.words()}: Custom Fields are not available on this "
                "board (they need a paid Trello plan or the board's Custom Fields Power-Up).")
    return f"Trello did not make the custom field {new.words()} ({trello_error_message(exc)})."


def make_all(client: TrelloClient, board_id: str, wanted: Sequence[NewField]) -> Made:
    """Make each field on the board (one call each, in order), stopping at the first refusal."""
    out = Made()
    for new in wanted:
        try:
            made = client.create_custom_field(board_id, new.name, new.kind, options=list(new.options[:MAX_OPTIONS]))
        except TrelloError as exc:
            out.error = refusal_words(new, exc)
            if out.fields:
                out.error += (" Made before that: " + ", ".join(n.words() for n, _ in out.fields)
                              + " (on the board, not mapped: map them, or delete them in Trello).")
            return out
        out.fields.append((new, made))
    return out


__all__ = ["CUSTOM_FIELDS_OFF", "FIELD_TYPES", "MAX_OPTIONS", "UNAVAILABLE_MARK", "Made", "NewField", "make_all",
           "options_from_text", "options_from_values", "problems", "refusal_words"]
