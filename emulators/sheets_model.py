"""State of the Sheets emulator: spreadsheets, sheets (grids of plain Python values), rendering.

A cell holds ``None`` (empty), ``str``, ``int``, ``float``, ``bool`` or a ``Formula``. Rows are
plain lists (shorter than the grid when their tail is empty), so a 50,000 × 8 sheet is cheap.
Nothing here locks: the emulator holds its lock around every use.
"""

from __future__ import annotations

import copy
import random
import re
import string
from collections.abc import Callable, Iterable
from typing import Any

from .sheets_dates import DateTime, parse_date
from .sheets_errors import ApiError, not_found

__all__ = ["ApiError", "DateTime", "not_found"]

FORMULA_STAND_IN = "#FORMULA"  # context-free helpers (Apps Script values) show this for formulas;
# API reads evaluate formulas (``sheets_render``).
SKIP = object()  # a JSON null in written values: leave the cell as it is (as the API does)

_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_ID_CHARS = string.ascii_letters + string.digits + "-_"


class Formula:
    """A formula cell (``text`` starts with ``=``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Formula) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"


# --------------------------------------------------------------------------- values in and out


def input_value(value: Any, user_entered: bool, where: str = "values") -> Any:
    """Convert one written JSON value to a stored cell (``SKIP`` for null).

    RAW keeps strings as typed; USER_ENTERED parses them like the Sheets UI: ``=…`` becomes a
    formula, numeric text a number, ``TRUE``/``FALSE`` a boolean, a leading ``'`` forces text.
    """
    if value is None:
        return SKIP
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        if value == "":
            return None
        if not user_entered:
            return value
        if value.startswith("'"):
            return value[1:] or None
        if value.startswith("=") and len(value) > 1:
            return Formula(value)
        text = value.strip()
        if _NUMBER.match(text):
            number = float(text)
            if number.is_integer() and "e" not in text.lower() and "." not in text:
                return int(text)
            return number
        if text.upper() in ("TRUE", "FALSE"):
            return text.upper() == "TRUE"
        return parse_date(text) or value
    kind = "list_value" if isinstance(value, list) else "struct_value"
    raise ApiError(400, f"Invalid {where}: {kind} {value!r}")


def format_number(value: float) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    return str(value)


def formatted(value: Any) -> str:
    """FORMATTED_VALUE rendering (what a person sees)."""
    if value is None:
        return ""
    cls = value.__class__
    if cls is str:
        return value
    if cls is bool:
        return "TRUE" if value else "FALSE"
    if cls is Formula:
        return FORMULA_STAND_IN
    if cls is DateTime:
        return value.text()
    return format_number(value)


def typed_value(value: Any) -> Any:
    """What Apps Script's ``Range.getValues()`` gives for a cell (``""`` for empty)."""
    if value is None:
        return ""
    if value.__class__ is Formula:
        return FORMULA_STAND_IN
    if value.__class__ is DateTime:
        return value.text()
    return value


def new_spreadsheet_id(rng: random.Random) -> str:
    """44 characters like Google's (``1`` then 43 of ``[A-Za-z0-9_-]``)."""
    return "1" + "".join(rng.choice(_ID_CHARS) for _ in range(43))


# --------------------------------------------------------------------------- grid


class Sheet:
    """One tab: grid properties plus ``rows`` (list of lists, 0-based, possibly ragged)."""

    def __init__(self, sheet_id: int, title: str, index: int, row_count: int = 1000,
                 col_count: int = 26) -> None:
        self.sheet_id = sheet_id
        self.title = title
        self.index = index
        self.row_count = row_count
        self.col_count = col_count
        self.frozen_rows = 0
        self.frozen_cols = 0
        self.hidden = False
        self.rows: list[list[Any]] = []
        self.protected_ranges: list[dict[str, Any]] = []
        self.merges: list[dict[str, Any]] = []  # GridRanges
        self.basic_filter: dict[str, Any] | None = None
        self.group_depth: dict[str, dict[int, int]] = {"ROWS": {}, "COLUMNS": {}}
        self.collapsed: set[tuple[str, int, int, int]] = set()  # (dimension, start, end, depth)

    # --- cells (1-based)

    def get(self, row: int, col: int) -> Any:
        if row > len(self.rows):
            return None
        cells = self.rows[row - 1]
        return cells[col - 1] if col <= len(cells) else None

    def set(self, row: int, col: int, value: Any) -> None:
        if value is SKIP:
            return
        self.ensure_size(row, col)
        if row > len(self.rows):
            if value is None:
                return
            self.rows.extend([] for _ in range(row - len(self.rows)))
        cells = self.rows[row - 1]
        if col > len(cells):
            if value is None:
                return
            cells.extend([None] * (col - len(cells)))
        cells[col - 1] = value

    def ensure_size(self, rows: int, cols: int) -> None:
        """Grow the grid to at least ``rows`` × ``cols``."""
        self.row_count = max(self.row_count, rows)
        self.col_count = max(self.col_count, cols)

    def row_is_blank(self, row: int) -> bool:
        if row > len(self.rows):
            return True
        return all(v is None for v in self.rows[row - 1])

    def last_data_row(self) -> int:
        """The last row holding any value (0 when the sheet is empty)."""
        for i in range(len(self.rows) - 1, -1, -1):
            if any(v is not None for v in self.rows[i]):
                return i + 1
        return 0

    def last_data_col(self) -> int:
        best = 0
        for cells in self.rows:
            for i in range(len(cells) - 1, best - 1, -1):
                if cells[i] is not None:
                    best = i + 1
                    break
        return best

    # --- structure

    def insert_rows(self, start: int, count: int) -> None:
        """Insert ``count`` empty rows before 0-based index ``start``."""
        if start < len(self.rows):
            self.rows[start:start] = [[] for _ in range(count)]
        self.row_count += count

    def delete_rows(self, start: int, end: int) -> None:
        """Delete 0-based rows ``start`` ≤ i < ``end``."""
        del self.rows[start:end]
        self.row_count -= end - start

    def insert_cols(self, start: int, count: int) -> None:
        for cells in self.rows:
            if start < len(cells):
                cells[start:start] = [None] * count
        self.col_count += count

    def delete_cols(self, start: int, end: int) -> None:
        for cells in self.rows:
            del cells[start:end]
        self.col_count -= end - start

    def truncate(self) -> None:
        """Drop data outside the grid (after a resize)."""
        del self.rows[self.row_count:]
        for cells in self.rows:
            del cells[self.col_count:]

    # --- reading

    def read(self, r1: int, c1: int, r2: int, c2: int, render: Callable[[Any], Any],
             columns: bool = False) -> list[list[Any]]:
        """Rendered values of the box, with trailing empty cells and rows trimmed."""
        out: list[list[Any]] = []
        last = 0
        for cells in self.rows[r1 - 1:r2]:
            # every renderer gives text back unchanged: skip the call for it (50,000-row reads)
            vals = [v if v.__class__ is str else render(v) for v in cells[c1 - 1:c2]]
            while vals and vals[-1] == "" and not isinstance(vals[-1], bool):
                vals.pop()
            out.append(vals)
            if vals:
                last = len(out)
        del out[last:]
        if not columns or not out:
            return out
        width = max(len(r) for r in out)
        cols_out: list[list[Any]] = []
        for j in range(width):
            col = [r[j] if j < len(r) else "" for r in out]
            while col and col[-1] == "":
                col.pop()
            cols_out.append(col)
        while cols_out and not cols_out[-1]:
            cols_out.pop()
        return cols_out

    def properties(self) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.col_count}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_cols:
            grid["frozenColumnCount"] = self.frozen_cols
        props: dict[str, Any] = {"sheetId": self.sheet_id, "title": self.title, "index": self.index,
                                 "sheetType": "GRID", "gridProperties": grid}
        if self.hidden:
            props["hidden"] = True
        return props

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to undo a failed batchUpdate."""
        attrs = {k: v for k, v in vars(self).items() if k != "rows"}
        return {"attrs": copy.deepcopy(attrs), "rows": [r[:] for r in self.rows]}

    def restore(self, snap: dict[str, Any]) -> None:
        vars(self).update(snap["attrs"])
        self.rows = snap["rows"]


class Spreadsheet:
    """A spreadsheet: title, locale and its sheets in tab order."""

    def __init__(self, spreadsheet_id: str, title: str) -> None:
        self.id = spreadsheet_id
        self.title = title
        self.locale = "en_US"
        self.time_zone = "Etc/GMT"
        self.auto_recalc = "ON_CHANGE"
        self.sheets: list[Sheet] = []
        self.named_ranges: list[dict[str, Any]] = []
        self.developer_metadata: list[dict[str, Any]] = []
        self._next_protected_id = 1000
        self._next_metadata_id = 0

    def titles(self) -> list[str]:
        return [s.title for s in self.sheets]

    def sheet(self, title: str) -> Sheet | None:
        for s in self.sheets:
            if s.title == title:
                return s
        low = title.casefold()
        for s in self.sheets:
            if s.title.casefold() == low:
                return s
        return None

    def sheet_by_id(self, sheet_id: Any) -> Sheet | None:
        for s in self.sheets:
            if s.sheet_id == sheet_id or str(s.sheet_id) == str(sheet_id):
                return s
        return None

    def add_sheet(self, title: str, rng: random.Random, rows: int = 1000, cols: int = 26,
                  index: int | None = None, sheet_id: int | None = None) -> Sheet:
        if sheet_id is None:
            sheet_id = 0 if not self.sheets else rng.randrange(1, 2**31 - 1)
        sheet = Sheet(sheet_id, title, len(self.sheets), rows, cols)
        if index is None or index >= len(self.sheets):
            self.sheets.append(sheet)
        else:
            self.sheets.insert(max(0, index), sheet)
        self.reindex()
        return sheet

    def reindex(self) -> None:
        for i, s in enumerate(self.sheets):
            s.index = i

    def next_protected_id(self) -> int:
        self._next_protected_id += 1
        return self._next_protected_id

    def next_metadata_id(self, rng: random.Random) -> int:
        self._next_metadata_id = max(self._next_metadata_id + 1, rng.randrange(1, 2**31 - 1))
        return self._next_metadata_id

    def snapshot(self) -> dict[str, Any]:
        """Spreadsheet-level state plus every sheet, to undo a failed batchUpdate."""
        own = {k: v for k, v in vars(self).items() if k != "sheets"}
        return {"own": copy.deepcopy(own), "sheets": list(self.sheets),
                "each": {id(s): s.snapshot() for s in self.sheets}}

    def restore(self, snap: dict[str, Any]) -> None:
        vars(self).update(snap["own"])
        self.sheets = snap["sheets"]
        for sheet in self.sheets:
            sheet.restore(snap["each"][id(sheet)])
        self.reindex()

    def url(self) -> str:
        return f"https://docs.google.com/spreadsheets/d/{self.id}/edit"


def fill_rows(sheet: Sheet, rows: Iterable[Iterable[Any]]) -> None:
    """Load initial data (already typed Python values; strings stay as given)."""
    data: list[list[Any]] = []
    width = 0
    for row in rows:
        cells = [None if v is None or v == "" else v for v in row]
        while cells and cells[-1] is None:
            cells.pop()
        width = max(width, len(cells))
        data.append(cells)
    sheet.rows = data
    sheet.ensure_size(len(data), width)
