"""``GridRange`` / ``DimensionRange`` helpers shared by the batchUpdate request handlers."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .sheets_errors import ApiError
from .sheets_model import Sheet, Spreadsheet


@dataclass
class Batch:
    """What a request handler works on: the spreadsheet and the id generator."""

    ss: Spreadsheet
    rng: random.Random


@dataclass(frozen=True)
class Box:
    """A resolved GridRange: 1-based inclusive rows/columns on ``sheet``."""

    sheet: Sheet
    r1: int
    c1: int
    r2: int
    c2: int

    @property
    def height(self) -> int:
        return self.r2 - self.r1 + 1

    @property
    def width(self) -> int:
        return self.c2 - self.c1 + 1

    def grid_range(self) -> dict[str, Any]:
        """Back to a GridRange (0-based, end exclusive), as Google echoes it."""
        return {"sheetId": self.sheet.sheet_id, "startRowIndex": self.r1 - 1,
                "endRowIndex": self.r2, "startColumnIndex": self.c1 - 1, "endColumnIndex": self.c2}


def grid(ss: Spreadsheet, sheet_id: Any, where: str) -> Sheet:
    sheet = ss.sheet_by_id(sheet_id if sheet_id is not None else 0)
    if sheet is None:
        raise ApiError(400, f"{where}: No grid with id: {sheet_id}")
    return sheet


def _index(value: Any, where: str, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid value at '{where}.{name}' (TYPE_INT32), \"{value}\"") from None
    if number < 0:
        raise ApiError(400, f"{where}: {name} must be >= 0")
    return number


def box(ss: Spreadsheet, gr: Any, where: str) -> Box:
    """Resolve a GridRange; missing bounds reach the grid's edge, bounds past it are errors."""
    if not isinstance(gr, Mapping):
        raise ApiError(400, f"{where}: range must be set")
    sheet = grid(ss, gr.get("sheetId"), where)
    r0 = _index(gr.get("startRowIndex"), where, "startRowIndex") or 0
    c0 = _index(gr.get("startColumnIndex"), where, "startColumnIndex") or 0
    r_end = _index(gr.get("endRowIndex"), where, "endRowIndex")
    c_end = _index(gr.get("endColumnIndex"), where, "endColumnIndex")
    r_end = sheet.row_count if r_end is None else r_end
    c_end = sheet.col_count if c_end is None else c_end
    if r_end > sheet.row_count or c_end > sheet.col_count:
        raise ApiError(400, f"{where}: Range ({sheet.title}!R{r0 + 1}C{c0 + 1}:R{r_end}C{c_end}) "
                            f"exceeds grid limits. Max rows: {sheet.row_count}, max columns: "
                            f"{sheet.col_count}")
    if r_end <= r0 or c_end <= c0:
        raise ApiError(400, f"{where}: The range is empty (start must be before end).")
    return Box(sheet, r0 + 1, c0 + 1, r_end, c_end)


def dimension_range(ss: Spreadsheet, rng: Any, where: str) -> tuple[Sheet, str, int, int]:
    """(sheet, ROWS|COLUMNS, start, end) of a DimensionRange (0-based, end exclusive)."""
    if not isinstance(rng, Mapping):
        raise ApiError(400, f"{where}: range must be set")
    sheet = grid(ss, rng.get("sheetId"), where)
    dim = rng.get("dimension")
    if dim not in ("ROWS", "COLUMNS"):
        raise ApiError(400, f"{where}: dimension must be ROWS or COLUMNS")
    start = _index(rng.get("startIndex"), where, "startIndex") or 0
    count = sheet.row_count if dim == "ROWS" else sheet.col_count
    end = _index(rng.get("endIndex"), where, "endIndex")
    end = count if end is None else end
    if end < start:
        raise ApiError(400, f"{where}: Invalid dimension range [{start}, {end})")
    return sheet, dim, start, end


def read_box(b: Box) -> list[list[Any]]:
    """Stored cells of the box, as a full rectangle (None for empty)."""
    return [[b.sheet.get(r, c) for c in range(b.c1, b.c2 + 1)] for r in range(b.r1, b.r2 + 1)]


def clear_box(b: Box) -> None:
    for r in range(b.r1, min(b.r2, len(b.sheet.rows)) + 1):
        cells = b.sheet.rows[r - 1]
        for j in range(b.c1 - 1, min(b.c2, len(cells))):
            cells[j] = None


def overlaps(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two GridRanges with all bounds set share a cell."""
    return (a.get("sheetId", 0) == b.get("sheetId", 0)
            and a["startRowIndex"] < b["endRowIndex"] and b["startRowIndex"] < a["endRowIndex"]
            and a["startColumnIndex"] < b["endColumnIndex"]
            and b["startColumnIndex"] < a["endColumnIndex"])


def full(gr: Mapping[str, Any]) -> dict[str, Any]:
    """A GridRange with every bound filled in (zero starts included) for comparisons."""
    return {"sheetId": gr.get("sheetId", 0), "startRowIndex": gr.get("startRowIndex", 0),
            "endRowIndex": gr["endRowIndex"], "startColumnIndex": gr.get("startColumnIndex", 0),
            "endColumnIndex": gr["endColumnIndex"]}
