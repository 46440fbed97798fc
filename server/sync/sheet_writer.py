"""Batched writes to one sheet tab: locate rows by lead id, patch cells, append rows.

A flush costs one read, one ``values.batchUpdate`` for every patched cell and one
``values.append`` for every new row, however many events produced them. Rows are found by their
lead id, never trusted from a cached number, so a sort or an inserted row between events cannot
send a value to the wrong lead: the read fetches the header row and, for each patched lead, the
Lead ID cell where it was last seen; only when one of them moved (or rows are appended) is the
whole Lead ID column read, so the usual cost does not grow with the size of the sheet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..sheets.client import SheetTab, column_letter


class SheetLayoutError(Exception):
    """The sheet no longer has a column the workspace needs (e.g. "Lead ID" was deleted)."""


@dataclass
class RowPatch:
    lead_id: str
    cells: dict[str, Any]
    row: int | None = None  # only for writing a new lead id into a row that has none
    hint: int | None = None  # where the lead was last seen; checked before it is trusted


@dataclass
class RowAppend:
    lead_id: str
    values: dict[str, Any]


@dataclass
class FlushResult:
    rows: dict[str, int] = field(default_factory=dict)  # lead id → sheet row
    missing: set[str] = field(default_factory=set)  # patched leads whose row is gone
    unknown_columns: dict[str, list[str]] = field(default_factory=dict)  # lead id → columns not in the header
    appended: int = 0
    cells: int = 0


class HeaderCache:
    """Each workspace's header row, kept between flushes and re-checked by every flush."""

    def __init__(self) -> None:
        self._headers: dict[str, list[str]] = {}

    def get(self, workspace_id: str) -> list[str] | None:
        return self._headers.get(workspace_id)

    def put(self, workspace_id: str, header: list[str]) -> None:
        self._headers[workspace_id] = header

    def forget(self, workspace_id: str) -> None:
        self._headers.pop(workspace_id, None)


def locate_rows(tab: SheetTab, workspace_id: str, headers: HeaderCache, lead_id_column: str,
                header_row: int = 1) -> tuple[list[str], dict[str, int]]:
    """(header, {lead id: row}) from one batched read (two when the Lead ID column moved)."""
    header = headers.get(workspace_id)
    if header is None:
        header = tab.header(header_row)
        headers.put(workspace_id, header)
    for _ in range(2):
        if lead_id_column not in header:
            raise SheetLayoutError(f"the sheet has no {lead_id_column!r} column in row {header_row}")
        letter = column_letter(header.index(lead_id_column) + 1)
        header_values, column_values = tab.batch_get([f"{header_row}:{header_row}",
                                                      f"{letter}{header_row + 1}:{letter}"])
        current = [str(h).strip() for h in (header_values[0] if header_values else [])]
        if current == header:
            rows: dict[str, int] = {}
            for offset, row in enumerate(column_values):
                lead = str(row[0]).strip() if row else ""
                if lead and lead not in rows:
                    rows[lead] = header_row + 1 + offset
            return header, rows
        header = current
        headers.put(workspace_id, header)
    raise SheetLayoutError("the sheet's header row keeps changing; try again")


MAX_HINTED_CELLS = 200


def _locate_by_hints(tab: SheetTab, workspace_id: str, headers: HeaderCache, lead_id_column: str,
                     patches: list[RowPatch], header_row: int) -> tuple[list[str], dict[str, int]] | None:
    """(header, rows) if every patched lead is still where it was last seen; else None."""
    header = headers.get(workspace_id)
    located = [p for p in patches if p.row is None]
    if header is None or lead_id_column not in header or not located or len(located) > MAX_HINTED_CELLS \
            or any(p.hint is None for p in located):
        return None
    letter = column_letter(header.index(lead_id_column) + 1)
    values = tab.batch_get([f"{header_row}:{header_row}"] + [f"{letter}{p.hint}" for p in located])
    current = [str(h).strip() for h in (values[0][0] if values and values[0] else [])]
    if current != header:
        headers.put(workspace_id, current)
        return None
    rows: dict[str, int] = {}
    for patch, cell in zip(located, values[1:], strict=False):
        if patch.hint is None or (str(cell[0][0]).strip() if cell and cell[0] else "") != patch.lead_id:
            return None  # sorted, inserted or deleted rows: read the whole column
        rows[patch.lead_id] = patch.hint
    return header, rows


def flush(tab: SheetTab, workspace_id: str, headers: HeaderCache, lead_id_column: str,
          patches: list[RowPatch], appends: list[RowAppend], header_row: int = 1) -> FlushResult:
    """Apply ``patches`` and ``appends`` with as few API calls as possible."""
    result = FlushResult()
    if not patches and not appends:
        return result
    located = None if appends else _locate_by_hints(tab, workspace_id, headers, lead_id_column, patches, header_row)
    header, rows = located or locate_rows(tab, workspace_id, headers, lead_id_column, header_row)
    cells: list[tuple[int, int, Any]] = []
    for patch in patches:
        row = patch.row or rows.get(patch.lead_id)
        if row is None:
            result.missing.add(patch.lead_id)
            continue
        unknown = [column for column in patch.cells if column not in header]
        if unknown:
            result.unknown_columns[patch.lead_id] = unknown
        for column, value in patch.cells.items():
            if column in header:
                cells.append((row, header.index(column) + 1, value))
        result.rows[patch.lead_id] = row
    new_rows: list[list[Any]] = []
    new_leads: list[str] = []
    for append in appends:
        if append.lead_id in rows:  # appended before a crash: the row is already there
            result.rows[append.lead_id] = rows[append.lead_id]
            continue
        values = {**append.values, lead_id_column: append.lead_id}
        new_rows.append([values.get(column, "") for column in header])
        new_leads.append(append.lead_id)
    if cells:
        result.cells = tab.write_cells(cells)
    if new_rows:
        first = tab.append_rows(new_rows, header_row)
        for offset, lead in enumerate(new_leads):
            result.rows[lead] = first + offset
        result.appended = len(new_rows)
    return result


def now_ms() -> float:
    return time.time() * 1000.0
