"""batchUpdate requests that move or group cells: sort, copy/cut-paste, merges, basic filter,
dimension groups."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .sheets_errors import ApiError
from .sheets_formula import CellError, shift_refs
from .sheets_grid import (
    Batch,
    Box,
    box,
    clear_box,
    dimension_range,
    full,
    grid,
    overlaps,
    read_box,
)
from .sheets_meta import dimension_groups
from .sheets_model import Formula, Sheet
from .sheets_render import Renderer

MAX_GROUP_DEPTH = 8


def _write_box(sheet: Sheet, r1: int, c1: int, matrix: list[list[Any]]) -> None:
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            sheet.set(r1 + i, c1 + j, value)


def _sort_key(value: Any, descending: bool) -> tuple[int, int, Any]:
    """Blanks last either way; numbers, then text, then booleans (as Sheets orders them)."""
    if value is None or value == "":
        return (1, 0, 0)
    key: Any
    if isinstance(value, bool):
        rank, key = 2, value
    elif isinstance(value, str):
        rank, key = 1, value.casefold()
    elif isinstance(value, CellError):
        rank, key = 3, value.code
    else:
        rank, key = 0, float(getattr(value, "serial", value))
    if descending:
        return (0, -rank, _Reverse(key))
    return (0, rank, key)


class _Reverse:
    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Reverse) -> bool:
        return bool(other.key < self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and other.key == self.key


def _sort_rows(b: Batch, target: Box, specs: Any, where: str) -> None:
    if not isinstance(specs, list):
        raise ApiError(400, f"{where}: sortSpecs must be a list")
    renderer = Renderer(b.ss)
    rows = read_box(target)
    for spec in reversed(specs):  # stable sorts, last key first
        col = spec.get("dimensionIndex", 0)
        if not target.c1 - 1 <= col < target.c2:
            raise ApiError(400, f"{where}: sortSpecs dimensionIndex {col} is outside the range")
        order = spec.get("sortOrder", "ASCENDING")
        if order not in ("ASCENDING", "DESCENDING"):
            raise ApiError(400, f"{where}: Invalid sortOrder \"{order}\"")
        j = col - (target.c1 - 1)
        rows.sort(key=lambda row: _sort_key(renderer.evaluated(target.sheet, row[j]),
                                            order == "DESCENDING"))
    _write_box(target.sheet, target.r1, target.c1, rows)


def sort_range(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    _sort_rows(b, box(b.ss, p.get("range"), where), p.get("sortSpecs") or [], where)
    return {}


_VALUE_PASTES = {"PASTE_NORMAL", "PASTE_NO_BORDERS", "PASTE_FORMULA", "PASTE_VALUES"}
_ALL_PASTES = _VALUE_PASTES | {"PASTE_FORMAT", "PASTE_DATA_VALIDATION", "PASTE_CONDITIONAL_FORMATTING"}


def _paste_type(p: Mapping[str, Any], where: str) -> str:
    kind = p.get("pasteType") or "PASTE_NORMAL"
    if kind not in _ALL_PASTES:
        raise ApiError(400, f"{where}: Invalid pasteType \"{kind}\"")
    return str(kind)


def _fits(sheet: Sheet, r1: int, c1: int, height: int, width: int, where: str) -> None:
    if r1 + height - 1 > sheet.row_count or c1 + width - 1 > sheet.col_count:
        raise ApiError(400, f"{where}: The destination range exceeds grid limits. Max rows: "
                            f"{sheet.row_count}, max columns: {sheet.col_count}")


def copy_paste(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = box(b.ss, p.get("source"), where)
    dest = box(b.ss, p.get("destination"), where)
    kind = _paste_type(p, where)
    if kind not in _VALUE_PASTES:
        return {}  # formats, validation and conditional formats are not modelled
    renderer = Renderer(b.ss)
    matrix = read_box(source)
    if kind == "PASTE_VALUES":
        matrix = [[_value_of(renderer.evaluated(source.sheet, v)) for v in row] for row in matrix]
    transpose = p.get("pasteOrientation") == "TRANSPOSE"
    if transpose:
        matrix = [list(col) for col in zip(*matrix, strict=True)]
    height, width = len(matrix), len(matrix[0])
    reps_down = dest.height // height if dest.height % height == 0 else 1
    reps_across = dest.width // width if dest.width % width == 0 else 1
    _fits(dest.sheet, dest.r1, dest.c1, height * reps_down, width * reps_across, where)
    for down in range(reps_down):
        for across in range(reps_across):
            r1, c1 = dest.r1 + down * height, dest.c1 + across * width
            tile = [[_moved(v, r1 - source.r1 + (i - j if transpose else 0),
                            c1 - source.c1 + (j - i if transpose else 0))
                     for j, v in enumerate(row)] for i, row in enumerate(matrix)]
            _write_box(dest.sheet, r1, c1, tile)
    return {}


def _value_of(value: Any) -> Any:
    return value.code if isinstance(value, CellError) else value


def _moved(value: Any, d_rows: int, d_cols: int) -> Any:
    if isinstance(value, Formula):
        return Formula(shift_refs(value.text, d_rows, d_cols))
    return value


def cut_paste(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = box(b.ss, p.get("source"), where)
    coord = p.get("destination")
    if not isinstance(coord, Mapping):
        raise ApiError(400, f"{where}: destination must be set")
    sheet = grid(b.ss, coord.get("sheetId"), where)
    r1, c1 = int(coord.get("rowIndex") or 0) + 1, int(coord.get("columnIndex") or 0) + 1
    kind = _paste_type(p, where)
    _fits(sheet, r1, c1, source.height, source.width, where)
    matrix = read_box(source)
    if kind not in _VALUE_PASTES:
        return {}
    clear_box(source)
    _write_box(sheet, r1, c1, matrix)
    return {}


def merge_cells(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    target = box(b.ss, p.get("range"), where)
    kind = p.get("mergeType") or "MERGE_ALL"
    if kind not in ("MERGE_ALL", "MERGE_COLUMNS", "MERGE_ROWS"):
        raise ApiError(400, f"{where}: Invalid mergeType \"{kind}\"")
    sheet = target.sheet
    if sheet.frozen_rows and target.r1 <= sheet.frozen_rows < target.r2 and kind != "MERGE_ROWS":
        raise ApiError(400, f"{where}: You can't merge frozen and non-frozen rows.")
    if sheet.frozen_cols and target.c1 <= sheet.frozen_cols < target.c2 and kind != "MERGE_COLUMNS":
        raise ApiError(400, f"{where}: You can't merge frozen and non-frozen columns.")
    pieces: list[Box] = {
        "MERGE_ALL": lambda: [target],
        "MERGE_ROWS": lambda: [Box(sheet, r, target.c1, r, target.c2) for r in range(target.r1, target.r2 + 1)],
        "MERGE_COLUMNS": lambda: [Box(sheet, target.r1, c, target.r2, c) for c in range(target.c1, target.c2 + 1)],
    }[kind]()
    new = [piece for piece in pieces if piece.height * piece.width > 1]
    for piece in new:
        gr = piece.grid_range()
        for merge in sheet.merges:
            if overlaps(full(merge), gr) and not _inside(full(merge), gr):
                raise ApiError(400, f"{where}: You must select all cells in a merged range to "
                                    "merge or unmerge them.")
    for piece in new:
        gr = piece.grid_range()
        sheet.merges = [m for m in sheet.merges if not _inside(full(m), gr)]
        top_left = sheet.get(piece.r1, piece.c1)
        clear_box(piece)
        sheet.set(piece.r1, piece.c1, top_left)
        sheet.merges.append(gr)
    return {}


def _inside(inner: Mapping[str, Any], outer: Mapping[str, Any]) -> bool:
    return (outer["startRowIndex"] <= inner["startRowIndex"] and inner["endRowIndex"] <= outer["endRowIndex"]
            and outer["startColumnIndex"] <= inner["startColumnIndex"]
            and inner["endColumnIndex"] <= outer["endColumnIndex"])


def unmerge_cells(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    target = box(b.ss, p.get("range"), where)
    gr = target.grid_range()
    for merge in target.sheet.merges:
        if overlaps(full(merge), gr) and not _inside(full(merge), gr):
            raise ApiError(400, f"{where}: You must select all cells in a merged range to merge "
                                "or unmerge them.")
    target.sheet.merges = [m for m in target.sheet.merges if not overlaps(full(m), gr)]
    return {}


def set_basic_filter(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    spec = p.get("filter")
    if not isinstance(spec, Mapping):
        raise ApiError(400, f"{where}: filter must be set")
    target = box(b.ss, spec.get("range"), where)
    stored: dict[str, Any] = {k: v for k, v in spec.items() if k in ("sortSpecs", "filterSpecs", "criteria")}
    stored["range"] = target.grid_range()
    if spec.get("sortSpecs") and target.height > 1:
        _sort_rows(b, Box(target.sheet, target.r1 + 1, target.c1, target.r2, target.c2),
                   spec["sortSpecs"], where)
    target.sheet.basic_filter = {"range": stored.pop("range"), **stored}
    return {}


def clear_basic_filter(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    grid(b.ss, p.get("sheetId"), where).basic_filter = None
    return {}


def add_dimension_group(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    sheet, dim, start, end = dimension_range(b.ss, p.get("range"), where)
    depths = sheet.group_depth[dim]
    if any(depths.get(i, 0) >= MAX_GROUP_DEPTH for i in range(start, end)):
        raise ApiError(400, f"{where}: Group depth cannot exceed {MAX_GROUP_DEPTH}.")
    for i in range(start, end):
        depths[i] = depths.get(i, 0) + 1
    return {"addDimensionGroup": {"dimensionGroups": dimension_groups(sheet, dim)}}


def delete_dimension_group(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    sheet, dim, start, end = dimension_range(b.ss, p.get("range"), where)
    depths = sheet.group_depth[dim]
    if not any(depths.get(i, 0) for i in range(start, end)):
        raise ApiError(400, f"{where}: No group exists in the range [{start}, {end}).")
    for i in range(start, end):
        if depths.get(i, 0) > 1:
            depths[i] -= 1
        else:
            depths.pop(i, None)
    groups = dimension_groups(sheet, dim)
    return {"deleteDimensionGroup": {"dimensionGroups": groups}} if groups else {"deleteDimensionGroup": {}}


def update_dimension_group(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    group = p.get("dimensionGroup") or {}
    sheet, dim, start, end = dimension_range(b.ss, group.get("range"), where)
    key = (dim, start, end, int(group.get("depth") or 0))
    known = {(dim, g["range"]["startIndex"], g["range"]["endIndex"], g["depth"])
             for g in dimension_groups(sheet, dim)}
    if key not in known:
        raise ApiError(400, f"{where}: No group exists at the given range and depth.")
    if "collapsed" in str(p.get("fields") or "") or p.get("fields") == "*":
        sheet.collapsed.discard(key)
        if group.get("collapsed"):
            sheet.collapsed.add(key)
    return {}


CELL_REQUESTS: dict[str, Callable[[Batch, Mapping[str, Any], str], dict[str, Any]]] = {
    "sortRange": sort_range, "copyPaste": copy_paste, "cutPaste": cut_paste,
    "mergeCells": merge_cells, "unmergeCells": unmerge_cells, "setBasicFilter": set_basic_filter,
    "clearBasicFilter": clear_basic_filter, "addDimensionGroup": add_dimension_group,
    "deleteDimensionGroup": delete_dimension_group, "updateDimensionGroup": update_dimension_group,
}
