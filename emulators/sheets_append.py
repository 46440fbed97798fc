"""``values.append``: finding the "table" the way Google documents it.

"The input range is used to search for existing data and find a 'table' within that range.
Values will be appended to the next row of the table, starting with the first column of the
table." The table is the first run of non-blank rows inside the range (blank rows above it are
skipped) and continues down past the range's end while rows hold data; its columns are those
holding data in that run. A single-cell range is searched on its own row only.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sheets_a1 import Bounds
from .sheets_model import Sheet


@dataclass(frozen=True)
class Table:
    """Where appended rows go, and the table found (``None`` when the range held no data)."""

    dest_row: int
    dest_col: int
    found: tuple[int, int, int, int] | None


def find_table(sheet: Sheet, bounds: Bounds) -> Table:
    c_lo = bounds.start_col
    c_hi = sheet.col_count if bounds.end_col is None or bounds.is_single_cell else bounds.end_col
    # one cell is searched on its own row only (gspread's insert_row appends at a fresh blank row)
    r_hi = bounds.start_row if bounds.is_single_cell else (
        sheet.row_count if bounds.end_row is None else bounds.end_row)
    r_hi = min(r_hi, len(sheet.rows))

    def used(r: int) -> list[int]:
        cells = sheet.rows[r - 1][c_lo - 1:c_hi]
        return [c_lo + j for j, v in enumerate(cells) if v is not None]

    top = next((r for r in range(bounds.start_row, r_hi + 1) if used(r)), None)
    if top is None:
        return Table(bounds.start_row, c_lo, None)
    first_col, last_col = c_hi, c_lo
    end = top
    while end <= len(sheet.rows):
        cols = used(end)
        if not cols:
            break
        first_col, last_col = min(first_col, cols[0]), max(last_col, cols[-1])
        end += 1
    return Table(end, first_col, (top, first_col, end - 1, last_col))
