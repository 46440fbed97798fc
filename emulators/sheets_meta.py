"""The ``Spreadsheet`` resource as ``spreadsheets.get`` / ``spreadsheets.create`` return it.

Defaults (``defaultFormat``, ``spreadsheetTheme``) are what Google returns for a new
spreadsheet in the en_US locale.
"""

from __future__ import annotations

import copy
from typing import Any

from .sheets_model import Sheet, Spreadsheet

WHITE = {"red": 1, "green": 1, "blue": 1}

DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": WHITE,
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {"foregroundColor": {}, "fontFamily": "arial,sans,sans-serif", "fontSize": 10,
                   "bold": False, "italic": False, "strikethrough": False, "underline": False,
                   "foregroundColorStyle": {"rgbColor": {}}},
    "backgroundColorStyle": {"rgbColor": WHITE},
}

_THEME_COLORS = [
    ("TEXT", {}), ("BACKGROUND", WHITE),
    ("ACCENT1", {"red": 0.25882354, "green": 0.52156866, "blue": 0.95686275}),
    ("ACCENT2", {"red": 0.91764706, "green": 0.2627451, "blue": 0.20784314}),
    ("ACCENT3", {"red": 0.9843137, "green": 0.7372549, "blue": 0.015686275}),
    ("ACCENT4", {"red": 0.20392157, "green": 0.65882355, "blue": 0.3254902}),
    ("ACCENT5", {"red": 1, "green": 0.42745098, "blue": 0.003921569}),
    ("ACCENT6", {"red": 0.27450982, "green": 0.7411765, "blue": 0.7764706}),
    ("LINK", {"red": 0.06666667, "green": 0.33333334, "blue": 0.8}),
]
DEFAULT_THEME: dict[str, Any] = {
    "primaryFontFamily": "Arial",
    "themeColors": [{"colorType": kind, "color": {"rgbColor": rgb}} for kind, rgb in _THEME_COLORS],
}

# Top-level fields of each answer, for rejecting an unknown ``fields`` selection.
SPREADSHEET_FIELDS = {"spreadsheetId", "properties", "sheets", "namedRanges", "spreadsheetUrl",
                      "developerMetadata", "dataSources", "dataSourceSchedules"}


def spreadsheet_properties(ss: Spreadsheet) -> dict[str, Any]:
    return {"title": ss.title, "locale": ss.locale, "autoRecalc": ss.auto_recalc,
            "timeZone": ss.time_zone, "defaultFormat": copy.deepcopy(DEFAULT_FORMAT),
            "spreadsheetTheme": copy.deepcopy(DEFAULT_THEME)}


def dimension_groups(sheet: Sheet, dimension: str) -> list[dict[str, Any]]:
    """``DimensionGroup``s from per-index depths: maximal runs at each depth, as Google builds them."""
    depths = sheet.group_depth[dimension]
    groups: list[dict[str, Any]] = []
    top = max(depths.values(), default=0)
    for depth in range(1, top + 1):
        run_start: int | None = None
        for i in range(max(depths, default=-1) + 2):
            inside = depths.get(i, 0) >= depth
            if inside and run_start is None:
                run_start = i
            elif not inside and run_start is not None:
                group = {"range": {"sheetId": sheet.sheet_id, "dimension": dimension,
                                   "startIndex": run_start, "endIndex": i}, "depth": depth}
                if (dimension, run_start, i, depth) in sheet.collapsed:
                    group["collapsed"] = True
                groups.append(group)
                run_start = None
    groups.sort(key=lambda g: (g["range"]["startIndex"], g["depth"]))
    return groups


def metadata_on_sheet(ss: Spreadsheet, sheet: Sheet) -> list[dict[str, Any]]:
    return [copy.deepcopy(m) for m in ss.developer_metadata
            if m["location"].get("sheetId") == sheet.sheet_id]


def sheet_resource(ss: Spreadsheet, sheet: Sheet) -> dict[str, Any]:
    """A ``Sheet`` resource without ``data`` (the caller adds grid data when asked)."""
    entry: dict[str, Any] = {"properties": sheet.properties()}
    if sheet.merges:
        entry["merges"] = copy.deepcopy(sheet.merges)
    if sheet.basic_filter is not None:
        entry["basicFilter"] = copy.deepcopy(sheet.basic_filter)
    if sheet.protected_ranges:
        entry["protectedRanges"] = copy.deepcopy(sheet.protected_ranges)
    for key, dimension in (("rowGroups", "ROWS"), ("columnGroups", "COLUMNS")):
        groups = dimension_groups(sheet, dimension)
        if groups:
            entry[key] = groups
    metadata = metadata_on_sheet(ss, sheet)
    if metadata:
        entry["developerMetadata"] = metadata
    return entry


def spreadsheet_resource(ss: Spreadsheet, sheets: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"spreadsheetId": ss.id, "properties": spreadsheet_properties(ss),
                           "sheets": sheets}
    if ss.named_ranges:
        out["namedRanges"] = copy.deepcopy(ss.named_ranges)
    own = [copy.deepcopy(m) for m in ss.developer_metadata if m["location"].get("spreadsheet")]
    if own:
        out["developerMetadata"] = own
    out["spreadsheetUrl"] = ss.url()
    return out
