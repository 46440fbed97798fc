"""A workspace's mapping between sheet columns and card fields, and statuses and lists.

The mapping itself is ``server.models.mapping.Mapping`` (the typed form of ``Workspace.mapping``);
this module adds what the engine does with cell values: their text, and due dates both ways.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..models.mapping import Direction, FieldMap, Mapping, MappingError, normalise_status


def cell_text(value: Any) -> str:
    """The text a cell shows, for comparisons (numbers and booleans as the sheet renders them)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- lists of names


def names(value: Any) -> list[str]:
    """The names a cell lists, comma-separated (labels, members), in order, each once (ignoring
    case and extra spaces)."""
    out: dict[str, str] = {}
    for part in str(value or "").split(","):
        name = " ".join(part.split())
        if name and name.casefold() not in out:
            out[name.casefold()] = name
    return list(out.values())


def render_names(listed: list[str]) -> str:
    """Names as a cell lists them."""
    return ", ".join(listed)


def names_key(value: Any) -> frozenset[str]:
    """What a cell of names says, for comparisons: its names, ignoring case and order."""
    return frozenset(n.casefold() for n in names(value))


# --------------------------------------------------------------------------- due dates


def due_to_trello(value: Any) -> str | None:
    """A sheet date (``2026-12-01`` or an ISO datetime) as Trello's due; empty → None."""
    text = cell_text(value).strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            parsed = datetime.strptime(text, "%Y-%m-%d").replace(hour=12, tzinfo=timezone.utc)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def due_from_trello(value: Any) -> str:
    """Trello's due as the sheet shows it: the date part (``2026-12-01``), or empty."""
    return str(value)[:10] if value else ""


# --------------------------------------------------------------------------- "done" (``dueComplete``)

_DONE_WORDS = frozenset({"true", "yes", "y", "done", "x", "1", "✓", "✔", "☑", "✅"})
_NOT_DONE_WORDS = frozenset({"", "false", "no", "n", "0", "☐", "not done"})


def done_to_trello(value: Any) -> bool | None:
    """A checkbox-like cell as Trello's ``dueComplete``: TRUE (as Sheets stores a checkbox), yes,
    done, ✓… are done; FALSE, no, empty are not; anything else is None (not understood)."""
    text = cell_text(value).strip().casefold()
    if text in _DONE_WORDS:
        return True
    if text in _NOT_DONE_WORDS:
        return False
    return None


def done_from_trello(value: Any) -> str:
    """Trello's ``dueComplete`` as the sheet stores a checkbox: TRUE or FALSE."""
    return "TRUE" if value is True or cell_text(value).strip().casefold() == "true" else "FALSE"


__all__ = ["Direction", "FieldMap", "Mapping", "MappingError", "cell_text", "done_from_trello", "done_to_trello",
           "due_from_trello", "due_to_trello", "normalise_status"]
