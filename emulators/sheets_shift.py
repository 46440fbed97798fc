"""Moving stored ranges when rows or columns are inserted or deleted (as Sheets does).

Merges, the basic filter, protected and named ranges, dimension groups and dimension-located
developer metadata follow the cells they cover; a range whose cells are all deleted goes away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .sheets_model import Sheet, Spreadsheet

_KEYS = {"ROWS": ("startRowIndex", "endRowIndex"), "COLUMNS": ("startColumnIndex", "endColumnIndex")}


def _mapper(start: int, delta: int) -> Callable[[int], int]:
    if delta >= 0:
        return lambda i: i + delta if i >= start else i
    gone = -delta
    return lambda i: i if i < start else (start if i < start + gone else i - gone)


def _shift_range(gr: dict[str, Any], keys: tuple[str, str], move: Callable[[int], int],
                 start: int, delta: int) -> bool:
    """Shift one range in place; False when it no longer covers any cell."""
    lo_key, hi_key = keys
    lo = gr.get(lo_key, 0)
    hi = gr.get(hi_key)
    if delta > 0 and lo < start < (hi if hi is not None else start):
        new_lo, new_hi = lo, (hi + delta if hi is not None else None)  # insert inside: it grows
    else:
        new_lo, new_hi = move(lo), (move(hi) if hi is not None else None)
    if new_hi is not None and new_hi <= new_lo:
        return False
    if lo_key in gr or new_lo:
        gr[lo_key] = new_lo
    if new_hi is not None:
        gr[hi_key] = new_hi
    return True


def shift_dimension(ss: Spreadsheet, sheet: Sheet, dim: str, start: int, delta: int) -> None:
    """Rows/columns from ``start`` moved by ``delta`` (negative: ``-delta`` of them deleted)."""
    keys = _KEYS[dim]
    move = _mapper(start, delta)

    def on_sheet(gr: dict[str, Any]) -> bool:
        return gr.get("sheetId", 0) == sheet.sheet_id

    sheet.merges = [m for m in sheet.merges if _shift_range(m, keys, move, start, delta)]
    if sheet.basic_filter is not None and not _shift_range(sheet.basic_filter["range"], keys, move,
                                                           start, delta):
        sheet.basic_filter = None
    sheet.protected_ranges = [p for p in sheet.protected_ranges
                              if "range" not in p or _shift_range(p["range"], keys, move, start, delta)]
    ss.named_ranges = [n for n in ss.named_ranges
                       if not on_sheet(n["range"]) or _shift_range(n["range"], keys, move, start, delta)]
    depths = sheet.group_depth[dim]
    moved: dict[int, int] = {}
    for i, depth in depths.items():
        if delta < 0 and start <= i < start - delta:
            continue
        moved[move(i)] = depth
    sheet.group_depth[dim] = moved
    sheet.collapsed = {c for c in sheet.collapsed if c[0] != dim}
    kept = []
    for meta in ss.developer_metadata:
        rng = meta["location"].get("dimensionRange")
        if (rng and rng.get("sheetId", 0) == sheet.sheet_id and rng.get("dimension") == dim
                and not _shift_range(rng, ("startIndex", "endIndex"), move, start, delta)):
            continue
        kept.append(meta)
    ss.developer_metadata = kept
