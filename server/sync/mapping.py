"""A workspace's mapping between sheet columns and card fields, and statuses and lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def normalise_status(value: Any) -> str:
    """Statuses match ignoring case and surrounding spaces ("  WON " is "won")."""
    return " ".join(str(value or "").split()).casefold()


def cell_text(value: Any) -> str:
    """The text a cell shows, for comparisons (numbers and booleans as the sheet renders them)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Mapping:
    """Column ⇄ field and status ⇄ list mapping of one workspace.

    ``status_to_list`` may map many statuses to one list (Qualified and Lost → Done);
    ``list_to_status`` gives each list the status written back when a card lands in it.
    """

    title_column: str = "Name"
    status_column: str = "Status"
    description_columns: tuple[str, ...] = ()
    due_column: str | None = None
    lead_id_column: str = "Lead ID"
    status_to_list: dict[str, str] = field(default_factory=dict)
    list_to_status: dict[str, str] = field(default_factory=dict)
    default_status: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any], lead_id_column: str = "Lead ID") -> "Mapping":
        status_to_list = {normalise_status(k): v for k, v in (data.get("status_to_list") or {}).items()}
        return cls(
            title_column=data.get("title_column") or "Name",
            status_column=data.get("status_column") or "Status",
            description_columns=tuple(data.get("description_columns") or ()),
            due_column=data.get("due_column") or None,
            lead_id_column=lead_id_column,
            status_to_list=status_to_list,
            list_to_status=dict(data.get("list_to_status") or {}),
            default_status=data.get("default_status") or next(iter(data.get("status_to_list") or {}), ""),
        )

    @property
    def synced_columns(self) -> list[str]:
        """Every column the sync keeps a shadow of, in a stable order."""
        columns = [self.title_column, self.status_column, *self.description_columns]
        if self.due_column:
            columns.append(self.due_column)
        seen: list[str] = []
        for column in columns:
            if column not in seen:
                seen.append(column)
        return seen

    def list_for_status(self, status: Any) -> str | None:
        """The list a status maps to; an empty status goes to the default status's list."""
        key = normalise_status(status) or normalise_status(self.default_status)
        return self.status_to_list.get(key)

    def status_for_list(self, list_id: str) -> str | None:
        return self.list_to_status.get(list_id)

    def status_matches_list(self, status: Any, list_id: str) -> bool:
        return self.list_for_status(status) == list_id


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
