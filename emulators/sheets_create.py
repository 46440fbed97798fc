"""``spreadsheets.create``: a new spreadsheet from a ``Spreadsheet`` request body.

Honoured: ``properties`` (title, locale, timeZone, autoRecalc), ``sheets[].properties``
(title, sheetId, index, hidden, gridProperties), ``sheets[].data`` (``userEnteredValue`` of each
cell), ``sheets[].merges`` and ``namedRanges``. The id is always generated, as on Google.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from .sheets_batch import add_sheet
from .sheets_batch_cells import merge_cells
from .sheets_batch_meta import add_named_range, update_spreadsheet_properties
from .sheets_errors import ApiError
from .sheets_grid import Batch
from .sheets_model import Formula, Sheet, Spreadsheet, input_value, new_spreadsheet_id


def _cell(value: Any, where: str) -> Any:
    """A stored cell from an ``ExtendedValue``."""
    if not isinstance(value, Mapping) or not value:
        return None
    kind, raw = next(iter(value.items()))
    convert = {"stringValue": lambda v: input_value(str(v), False), "numberValue": float,
               "boolValue": bool, "formulaValue": lambda v: Formula(str(v))}.get(kind)
    if convert is None:
        raise ApiError(400, f"{where}: unsupported userEnteredValue '{kind}'")
    result = convert(raw)
    if isinstance(result, float) and result.is_integer() and kind == "numberValue":
        return int(result)
    return result


def _fill(sheet: Sheet, data: Any, where: str) -> None:
    for k, grid in enumerate(data or []):
        r0, c0 = int(grid.get("startRow") or 0), int(grid.get("startColumn") or 0)
        for i, row in enumerate(grid.get("rowData") or []):
            for j, cell in enumerate((row or {}).get("values") or []):
                value = _cell((cell or {}).get("userEnteredValue"), f"{where}.data[{k}]")
                if value is not None:
                    sheet.set(r0 + i + 1, c0 + j + 1, value)


def build_spreadsheet(body: Mapping[str, Any], rng: random.Random) -> Spreadsheet:
    props = body.get("properties") or {}
    if not isinstance(props, Mapping):
        raise ApiError(400, "Invalid value at 'spreadsheet.properties'")
    ss = Spreadsheet(new_spreadsheet_id(rng), str(props.get("title") or "Untitled spreadsheet"))
    batch = Batch(ss, rng)
    fields = ",".join(k for k in ("locale", "timeZone", "autoRecalc") if props.get(k))
    if fields:
        update_spreadsheet_properties(batch, {"properties": props, "fields": fields},
                                      "Invalid spreadsheet.properties")
    sheets = body.get("sheets") or [{}]
    if not isinstance(sheets, list):
        raise ApiError(400, "Invalid value at 'spreadsheet.sheets'")
    for i, spec in enumerate(sheets):
        where = f"Invalid spreadsheet.sheets[{i}]"
        sheet_props = dict((spec or {}).get("properties") or {})
        if i == 0 and "sheetId" not in sheet_props:
            sheet_props["sheetId"] = 0
        sheet_props.setdefault("title", "Sheet1" if i == 0 else None)
        if sheet_props["title"] is None:
            del sheet_props["title"]
        reply = add_sheet(batch, {"properties": sheet_props}, where)
        sheet = ss.sheet_by_id(reply["addSheet"]["properties"]["sheetId"])
        assert sheet is not None
        _fill(sheet, (spec or {}).get("data"), where)
        for merge in (spec or {}).get("merges") or []:
            merge_cells(batch, {"range": {**merge, "sheetId": sheet.sheet_id}}, where)
    for i, named in enumerate(body.get("namedRanges") or []):
        add_named_range(batch, {"namedRange": named}, f"Invalid spreadsheet.namedRanges[{i}]")
    return ss
