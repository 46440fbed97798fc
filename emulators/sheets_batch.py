"""``spreadsheets.batchUpdate``: the dispatcher and the sheet/dimension requests.

Each handler takes the ``Batch``, the request's parameters and the error prefix Google uses
(``Invalid requests[i].kind``) and returns the request's entry of ``replies`` (``{}`` when the
request kind has no response). A failing request undoes the whole batch, as on Google.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .sheets_batch_cells import CELL_REQUESTS
from .sheets_batch_meta import META_REQUESTS
from .sheets_batch_more import MORE_REQUESTS
from .sheets_errors import ApiError, invalid_json, wrong_shape
from .sheets_grid import Batch, dimension_range, grid
from .sheets_model import Sheet, Spreadsheet
from .sheets_shift import shift_dimension

Handler = Callable[[Batch, Mapping[str, Any], str], dict[str, Any]]

# Every request kind of the API's ``Request`` message (discovery revision 20261019): a name
# outside this set is an unknown JSON field to Google, a name inside it but not in ``REQUESTS``
# is one the emulator does not model.
_KINDS = """
addBanding addChart addCommentReply addConditionalFormatRule addDataSource addDimensionGroup
addFilterView addNamedRange addProtectedRange addSheet addSlicer addTable appendCells
appendDimension autoFill autoResizeDimensions cancelDataSourceRefresh clearBasicFilter copyPaste
createDeveloperMetadata cutPaste deleteBanding deleteComment deleteCommentReply
deleteConditionalFormatRule deleteDataSource deleteDeveloperMetadata deleteDimension
deleteDimensionGroup deleteDuplicates deleteEmbeddedObject deleteFilterView deleteNamedRange
deleteProtectedRange deleteRange deleteSheet deleteTable duplicateFilterView duplicateSheet
findReplace insertComment insertDimension insertRange mergeCells moveDimension pasteData
randomizeRange refreshDataSource repeatCell setBasicFilter setDataValidation sortRange
textToColumns trimWhitespace unmergeCells updateBanding updateBorders updateCells
updateChartSpec updateCommentPost updateConditionalFormatRule updateDataSource
updateDeveloperMetadata updateDimensionGroup updateDimensionProperties
updateEmbeddedObjectBorder updateEmbeddedObjectPosition updateFilterView updateNamedRange
updateProtectedRange updateSheetProperties updateSlicerSpec updateSpreadsheetProperties
updateTable"""
API_REQUEST_KINDS = frozenset(_KINDS.split())


def delete_dimension(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    sheet, dim, start, end = dimension_range(b.ss, p.get("range"), where)
    count = sheet.row_count if dim == "ROWS" else sheet.col_count
    if end > count:
        raise ApiError(400, f"{where}: Cannot delete a {dim.lower()[:-1]} that doesn't exist. "
                            f"Tried to delete index: {end - 1} but there are only {count}.")
    frozen = sheet.frozen_rows if dim == "ROWS" else sheet.frozen_cols
    if end - start >= count - frozen:
        raise ApiError(400, f"{where}: Sorry, it is not possible to delete all non-frozen "
                            f"{dim.lower()}.")
    if dim == "ROWS":
        sheet.delete_rows(start, end)
    else:
        sheet.delete_cols(start, end)
    shift_dimension(b.ss, sheet, dim, start, -(end - start))
    return {}


def insert_dimension(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    sheet, dim, start, end = dimension_range(b.ss, p.get("range"), where)
    count = sheet.row_count if dim == "ROWS" else sheet.col_count
    if start > count:
        raise ApiError(400, f"{where}: range.startIndex ({start}) must be at most {count}")
    if p.get("inheritFromBefore") and start == 0:
        raise ApiError(400, f"{where}: Cannot inherit from before for startIndex 0")
    if dim == "ROWS":
        sheet.insert_rows(start, end - start)
    else:
        sheet.insert_cols(start, end - start)
    shift_dimension(b.ss, sheet, dim, start, end - start)
    return {}


def append_dimension(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    sheet = grid(b.ss, p.get("sheetId"), where)
    length = int(p.get("length") or 0)
    if length <= 0:
        raise ApiError(400, f"{where}: length must be greater than 0")
    if p.get("dimension") == "COLUMNS":
        sheet.col_count += length
    elif p.get("dimension") == "ROWS":
        sheet.row_count += length
    else:
        raise ApiError(400, f"{where}: dimension must be ROWS or COLUMNS")
    return {}


def check_title(ss: Spreadsheet, title: Any, where: str, sheet: Sheet | None = None) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ApiError(400, f"{where}: Sheet name must not be empty")
    other = ss.sheet(title)
    if other is not None and other is not sheet:
        raise ApiError(400, f"{where}: A sheet with the name \"{title}\" already exists. "
                            "Please enter another name.")
    return title


def _grid_property(sheet: Sheet, key: str, value: int, where: str) -> None:
    minimum = {"rowCount": 1, "columnCount": 1}.get(key, 0)
    if value < minimum:
        raise ApiError(400, f"{where}: {key} must be at least {minimum}")
    attr = {"rowCount": "row_count", "columnCount": "col_count", "frozenRowCount": "frozen_rows",
            "frozenColumnCount": "frozen_cols"}.get(key)
    if attr:
        setattr(sheet, attr, value)


def update_sheet_properties(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    props = p.get("properties") or {}
    sheet = grid(b.ss, props.get("sheetId"), where)
    fields = [f.strip().replace("/", ".") for f in str(p.get("fields") or "").split(",") if f.strip()]
    if not fields:
        raise ApiError(400, f"{where}: At least one field must be updated. "
                            "Set 'fields' to '*' to update all.")
    if "*" in fields:
        fields = ["title", "index", "hidden", "gridProperties"]
    grid_props = props.get("gridProperties") or {}
    for field in fields:
        if field == "title":
            sheet.title = check_title(b.ss, props.get("title"), where, sheet)
        elif field == "index":
            b.ss.sheets.remove(sheet)
            b.ss.sheets.insert(int(props.get("index") or 0), sheet)
            b.ss.reindex()
        elif field == "hidden":
            sheet.hidden = bool(props.get("hidden"))
        elif field.startswith("gridProperties"):
            keys = [field.split(".", 1)[1]] if "." in field else list(grid_props)
            for key in keys:
                _grid_property(sheet, key, int(grid_props.get(key) or 0), where)
            sheet.truncate()
        else:
            raise ApiError(400, f"{where}: Invalid field mask: {field}")
    return {}


def add_sheet(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    props = p.get("properties") or {}
    title = props.get("title")
    if title is None:
        n = len(b.ss.sheets) + 1
        while b.ss.sheet(f"Sheet{n}") is not None:
            n += 1
        title = f"Sheet{n}"
    check_title(b.ss, title, where)
    if props.get("sheetId") is not None and b.ss.sheet_by_id(props["sheetId"]) is not None:
        raise ApiError(400, f"{where}: A sheet with id {props['sheetId']} already exists.")
    grid_props = props.get("gridProperties") or {}
    sheet = b.ss.add_sheet(title, b.rng, int(grid_props.get("rowCount") or 1000),
                           int(grid_props.get("columnCount") or 26), props.get("index"),
                           props.get("sheetId") if props.get("sheetId") is not None
                           else b.rng.randrange(1, 2**31 - 1))
    sheet.frozen_rows = int(grid_props.get("frozenRowCount") or 0)
    sheet.frozen_cols = int(grid_props.get("frozenColumnCount") or 0)
    sheet.hidden = bool(props.get("hidden"))
    return {"addSheet": {"properties": sheet.properties()}}


def delete_sheet(b: Batch, p: Mapping[str, Any], where: str) -> dict[str, Any]:
    sheet = grid(b.ss, p.get("sheetId"), where)
    if len(b.ss.sheets) == 1:
        raise ApiError(400, f"{where}: You can't remove all the sheets in a document.")
    b.ss.sheets.remove(sheet)
    b.ss.reindex()
    b.ss.named_ranges = [n for n in b.ss.named_ranges
                         if n["range"].get("sheetId", 0) != sheet.sheet_id]
    b.ss.developer_metadata = [m for m in b.ss.developer_metadata
                               if m["location"].get("sheetId") != sheet.sheet_id
                               and (m["location"].get("dimensionRange") or {}).get("sheetId")
                               != sheet.sheet_id]
    return {}


REQUESTS: dict[str, Handler] = {
    "deleteDimension": delete_dimension, "insertDimension": insert_dimension,
    "appendDimension": append_dimension, "updateSheetProperties": update_sheet_properties,
    "addSheet": add_sheet, "deleteSheet": delete_sheet, **CELL_REQUESTS, **META_REQUESTS,
    **MORE_REQUESTS,
}


def batch_update(b: Batch, body: Mapping[str, Any]) -> dict[str, Any]:
    """Apply every request or none; ``replies`` has one entry per request."""
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, "Must specify at least one request.")
    snapshot = b.ss.snapshot()
    replies = []
    try:
        for i, req in enumerate(requests):
            if not isinstance(req, dict) or len(req) != 1:
                raise ApiError(400, f"Invalid requests[{i}]: exactly one kind of request must be set")
            kind, params = next(iter(req.items()))
            handler = REQUESTS.get(kind)
            if kind not in API_REQUEST_KINDS:
                raise invalid_json(f"Unknown name \"{kind}\" at 'requests[{i}]': Cannot find field.",
                                   f"requests[{i}]")
            if handler is None:
                raise ApiError(400, f"Invalid requests[{i}]: the Sheets emulator does not "
                                    f"support the request '{kind}'")
            if not isinstance(params, dict):
                raise ApiError(400, f"Invalid requests[{i}].{kind}: must be an object")
            try:
                replies.append(handler(b, params, f"Invalid requests[{i}].{kind}"))
            except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
                raise wrong_shape(f"requests[{i}].{kind}", exc) from None
    except ApiError:
        b.ss.restore(snapshot)
        raise
    return {"spreadsheetId": b.ss.id, "replies": replies}
