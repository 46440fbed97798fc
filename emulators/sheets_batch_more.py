"""batchUpdate requests that reshape a sheet or copy it: duplicateSheet, insertRange, deleteRange,
moveDimension, findReplace."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from .sheets_errors import ApiError
from .sheets_grid import Batch, box, dimension_range, grid
from .sheets_model import Formula, Sheet


def duplicate_sheet(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = grid(b.ss, p.get("sourceSheetId"), where)
    name = p.get("newSheetName") or f"Copy of {source.title}"
    if b.ss.sheet(name) is not None:
        raise ApiError(400, f"{where}: A sheet with the name \"{name}\" already exists. "
                            "Please enter another name.")
    new_id = p.get("newSheetId")
    if new_id is not None and b.ss.sheet_by_id(new_id) is not None:
        raise ApiError(400, f"{where}: A sheet with id {new_id} already exists.")
    index = p.get("insertSheetIndex", source.index + 1)
    sheet = b.ss.add_sheet(str(name), b.rng, source.row_count, source.col_count, int(index),
                           int(new_id) if new_id is not None else b.rng.randrange(1, 2**31 - 1))
    sheet.rows = [r[:] for r in source.rows]
    sheet.frozen_rows, sheet.frozen_cols, sheet.hidden = (source.frozen_rows, source.frozen_cols,
                                                          source.hidden)
    sheet.group_depth = copy.deepcopy(source.group_depth)
    sheet.merges = [{**m, "sheetId": sheet.sheet_id} for m in source.merges]
    if source.basic_filter is not None:
        sheet.basic_filter = copy.deepcopy(source.basic_filter)
        sheet.basic_filter["range"]["sheetId"] = sheet.sheet_id
    for pr in source.protected_ranges:
        if "range" in pr:
            clone = copy.deepcopy(pr)
            clone["range"]["sheetId"] = sheet.sheet_id
            clone["protectedRangeId"] = b.ss.next_protected_id()
            sheet.protected_ranges.append(clone)
    return {"duplicateSheet": {"properties": sheet.properties()}}


def _shift(p: Mapping[str, Any], where: str) -> str:
    dim = p.get("shiftDimension")
    if dim not in ("ROWS", "COLUMNS"):
        raise ApiError(400, f"{where}: shiftDimension must be ROWS or COLUMNS")
    return str(dim)


def _column(sheet: Sheet, col: int) -> list[Any]:
    return [sheet.get(r, col) for r in range(1, len(sheet.rows) + 1)]


def _set_column(sheet: Sheet, col: int, values: list[Any], start: int) -> None:
    for r in range(start, max(len(values), len(sheet.rows)) + 1):
        sheet.set(r, col, values[r - 1] if r <= len(values) else None)


def insert_range(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    target = box(b.ss, p.get("range"), where)
    sheet = target.sheet
    if _shift(p, where) == "ROWS":
        sheet.row_count += target.height
        for col in range(target.c1, target.c2 + 1):
            values = _column(sheet, col)
            values[target.r1 - 1:target.r1 - 1] = [None] * target.height
            _set_column(sheet, col, values, target.r1)
    else:
        sheet.col_count += target.width
        for r in range(target.r1, min(target.r2, len(sheet.rows)) + 1):
            cells = sheet.rows[r - 1]
            if target.c1 <= len(cells):
                cells[target.c1 - 1:target.c1 - 1] = [None] * target.width
    return {}


def delete_range(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    target = box(b.ss, p.get("range"), where)
    sheet = target.sheet
    if _shift(p, where) == "ROWS":
        for col in range(target.c1, target.c2 + 1):
            values = _column(sheet, col)
            del values[target.r1 - 1:target.r2]
            _set_column(sheet, col, values, target.r1)
    else:
        for r in range(target.r1, min(target.r2, len(sheet.rows)) + 1):
            del sheet.rows[r - 1][target.c1 - 1:target.c2]
    return {}


def move_dimension(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    sheet, dim, start, end = dimension_range(b.ss, p.get("source"), where)
    count = sheet.row_count if dim == "ROWS" else sheet.col_count
    dest = p.get("destinationIndex")
    if not isinstance(dest, int) or not 0 <= dest <= count or end > count:
        raise ApiError(400, f"{where}: destinationIndex must be between 0 and {count}")
    if start <= dest <= end:
        return {}  # moving a block onto itself changes nothing
    at = dest - (end - start) if dest > end else dest

    def move(items: list[Any], filler: Callable[[], Any]) -> None:
        needed = max(end, dest)
        items.extend(filler() for _ in range(needed - len(items)))
        block = items[start:end]
        del items[start:end]
        items[at:at] = block

    if dim == "ROWS":
        move(sheet.rows, list)
    else:
        for cells in sheet.rows:
            move(cells, lambda: None)
    return {}


def _finder(p: Mapping[str, Any], where: str) -> Callable[[str], tuple[str, int]]:
    find = p.get("find")
    if not isinstance(find, str) or find == "":
        raise ApiError(400, f"{where}: find must not be empty")
    replacement = str(p.get("replacement") or "")
    flags = 0 if p.get("matchCase") else re.IGNORECASE
    try:
        pattern = re.compile(find if p.get("searchByRegex") else re.escape(find), flags)
    except re.error:
        raise ApiError(400, f"{where}: Invalid regular expression: {find}") from None
    whole = bool(p.get("matchEntireCell"))
    # Sheets writes regex groups as $1; Python's template wants \g<1>, and a literal \ doubled
    escaped = replacement.replace("\\", "\\\\")
    template = re.sub(r"\$(\d+)", r"\\g<\1>", escaped) if p.get("searchByRegex") else escaped

    def replace(text: str) -> tuple[str, int]:
        if whole:
            match = pattern.fullmatch(text)
            return (match.expand(template), 1) if match else (text, 0)
        return pattern.subn(template, text)

    return replace


def find_replace(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    replace = _finder(p, where)
    if p.get("allSheets"):
        targets = [(s, 1, 1, s.row_count, s.col_count) for s in b.ss.sheets]
    elif "range" in p:
        t = box(b.ss, p["range"], where)
        targets = [(t.sheet, t.r1, t.c1, t.r2, t.c2)]
    else:
        s = grid(b.ss, p.get("sheetId"), where)
        targets = [(s, 1, 1, s.row_count, s.col_count)]
    counts = {"valuesChanged": 0, "formulasChanged": 0, "rowsChanged": 0, "sheetsChanged": 0,
              "occurrencesChanged": 0}
    for sheet, r1, c1, r2, c2 in targets:
        rows_hit = 0
        for r in range(r1, min(r2, len(sheet.rows)) + 1):
            hit = False
            cells = sheet.rows[r - 1]
            for j in range(c1 - 1, min(c2, len(cells))):
                value = cells[j]
                is_formula = isinstance(value, Formula)
                if not isinstance(value, str) and not (is_formula and p.get("includeFormulas")):
                    continue
                new, n = replace(value.text if is_formula else value)
                if n:
                    cells[j] = Formula(new) if is_formula else (new or None)
                    counts["formulasChanged" if is_formula else "valuesChanged"] += 1
                    counts["occurrencesChanged"] += n
                    hit = True
            rows_hit += hit
        counts["rowsChanged"] += rows_hit
        counts["sheetsChanged"] += bool(rows_hit)
    return {"findReplace": {k: v for k, v in counts.items() if v}}


MORE_REQUESTS: dict[str, Callable[[Batch, Mapping[str, Any], str], dict[str, Any]]] = {
    "duplicateSheet": duplicate_sheet, "insertRange": insert_range, "deleteRange": delete_range,
    "moveDimension": move_dimension, "findReplace": find_replace,
}
