"""The Sheets API v4 endpoints gspread 6 calls, over the emulator's state.

Every public method of ``SheetsApi`` is called with the emulator's lock held and returns the
JSON body to answer with, or raises ``ApiError``.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Mapping

from .sheets_a1 import A1Error, Bounds, format_range, index_to_col, quote_sheet, resolve
from .sheets_model import (RENDERERS, SKIP, ApiError, Formula, Sheet, Spreadsheet, formatted,
                           input_value)

READ_OPS = ("spreadsheets.get", "values.get", "values.batchGet")
WRITE_OPS = ("values.update", "values.batchUpdate", "values.append", "values.clear",
             "values.batchClear", "spreadsheets.batchUpdate")

_Box = tuple[int, int, int, int]


def _bad_range(text: Any) -> ApiError:
    return ApiError(400, f"Unable to parse range: {text}")


def _enum(value: Any, allowed: tuple[str, ...], field: str, default: str,
          unspecified: str | None = None) -> str:
    if value is None or value == "" or value == unspecified:
        return default
    text = str(value)
    if text not in allowed:
        raise ApiError(400, f"Invalid value at '{field}', \"{text}\"")
    return text


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes") if value is not None else False


def _value_input(value: Any) -> bool:
    """True for USER_ENTERED, False for RAW; a missing option is an error, as on Google."""
    if value is None or value == "" or value == "INPUT_VALUE_OPTION_UNSPECIFIED":
        raise ApiError(400, "'valueInputOption' is required but not specified")
    if value not in ("RAW", "USER_ENTERED"):
        raise ApiError(400, f"Invalid value at 'value_input_option', \"{value}\"")
    return value == "USER_ENTERED"


def _drop_zeros(d: dict[str, Any]) -> dict[str, Any]:
    """proto3 JSON leaves out zero numbers."""
    return {k: v for k, v in d.items() if not (isinstance(v, int) and not isinstance(v, bool) and v == 0)}


class SheetsApi:
    """Handlers for ``/v4/spreadsheets/...``; ``rng`` makes sheet ids repeatable."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _locate(ss: Spreadsheet, text: Any) -> tuple[Sheet, Bounds]:
        if not isinstance(text, str) or not text.strip():
            raise _bad_range(text if text is not None else "")
        try:
            title, bounds = resolve(text, ss.titles())
        except A1Error:
            raise _bad_range(text) from None
        sheet = ss.sheet(title)
        assert sheet is not None
        return sheet, bounds

    @staticmethod
    def _clip(sheet: Sheet, bounds: Bounds, text: str) -> _Box:
        """The box a read or clear covers; ranges past the grid are errors, as on Google."""
        r2 = sheet.row_count if bounds.end_row is None else bounds.end_row
        c2 = sheet.col_count if bounds.end_col is None else bounds.end_col
        if (r2 > sheet.row_count or c2 > sheet.col_count or bounds.start_row > sheet.row_count
                or bounds.start_col > sheet.col_count):
            raise ApiError(400, f"Range ({quote_sheet(sheet.title)}!{text.rpartition('!')[2]}) "
                                f"exceeds grid limits. Max rows: {sheet.row_count}, max columns: "
                                f"{sheet.col_count}")
        return bounds.start_row, bounds.start_col, r2, c2

    @staticmethod
    def _matrix(values: Any, major: str, user_entered: bool) -> list[list[Any]]:
        """Convert written values to stored cells, row-major, validating everything first."""
        if values is None:
            return []
        if not isinstance(values, list) or any(not isinstance(r, list) for r in values):
            raise ApiError(400, "Invalid value at 'data.values' (type.googleapis.com/"
                                "google.protobuf.ListValue)")
        rows = [[input_value(v, user_entered, f"values[{i}][{j}]") for j, v in enumerate(r)]
                for i, r in enumerate(values)]
        if major == "COLUMNS":
            height = max((len(c) for c in rows), default=0)
            rows = [[c[i] if i < len(c) else SKIP for c in rows] for i in range(height)]
        return rows

    @staticmethod
    def _check_shape(bounds: Bounds, text: str, cells: list[list[Any]]) -> None:
        """Values must fit a range that has an end (a single cell only marks the start)."""
        if bounds.is_single_cell:
            return
        r1, c1 = bounds.start_row, bounds.start_col
        height = len(cells)
        width = max((len(r) for r in cells), default=0)
        if bounds.end_row is not None and height and r1 + height - 1 > bounds.end_row:
            raise ApiError(400, f"Requested writing within range [{text}], but tried "
                                f"writing to row [{r1 + height - 1}]")
        if bounds.end_col is not None and width and c1 + width - 1 > bounds.end_col:
            raise ApiError(400, f"Requested writing within range [{text}], but tried "
                                f"writing to column [{index_to_col(c1 + width - 1)}]")

    def _write(self, sheet: Sheet, bounds: Bounds, text: str, cells: list[list[Any]],
               include: bool = False) -> dict[str, Any]:
        """Write a converted matrix at the range's top-left; returns an UpdateValuesResponse."""
        self._check_shape(bounds, text, cells)
        r1, c1 = bounds.start_row, bounds.start_col
        height = len(cells)
        width = max((len(r) for r in cells), default=0)
        updated_rows = updated_cells = 0
        for i, row in enumerate(cells):
            hit = False
            for j, value in enumerate(row):
                if value is SKIP:
                    continue
                sheet.set(r1 + i, c1 + j, value)
                updated_cells += 1
                hit = True
            updated_rows += hit
        if height and width:
            sheet.ensure_size(r1 + height - 1, c1 + width - 1)
            rng = format_range(sheet.title, r1, c1, r1 + height - 1, c1 + width - 1)
        else:
            rng = format_range(sheet.title, r1, c1, r1, c1)
        out = _drop_zeros({"updatedRange": rng, "updatedRows": updated_rows,
                           "updatedColumns": width if updated_cells else 0,
                           "updatedCells": updated_cells})
        if include:
            out["updatedData"] = self._value_range(sheet, (r1, c1, r1 + max(height, 1) - 1,
                                                           c1 + max(width, 1) - 1),
                                                   "ROWS", formatted)
        return out

    @staticmethod
    def _value_range(sheet: Sheet, box: _Box, major: str, render: Callable[[Any], Any]) -> dict[str, Any]:
        r1, c1, r2, c2 = box
        values = sheet.read(r1, c1, r2, c2, render, columns=(major == "COLUMNS"))
        out: dict[str, Any] = {"range": format_range(sheet.title, r1, c1, r2, c2),
                               "majorDimension": major}
        if values:
            out["values"] = values
        return out

    @staticmethod
    def _read_options(args: Mapping[str, Any]) -> tuple[str, Callable[[Any], Any]]:
        major = _enum(args.get("majorDimension"), ("ROWS", "COLUMNS"), "major_dimension", "ROWS",
                      "DIMENSION_UNSPECIFIED")
        render = _enum(args.get("valueRenderOption"), tuple(RENDERERS), "value_render_option",
                       "FORMATTED_VALUE")
        _enum(args.get("dateTimeRenderOption"), ("SERIAL_NUMBER", "FORMATTED_STRING"),
              "date_time_render_option", "SERIAL_NUMBER")
        return major, RENDERERS[render]

    # ------------------------------------------------------------------ spreadsheets

    def spreadsheets_get(self, ss: Spreadsheet, args: Any) -> dict[str, Any]:
        include = _flag(args.get("includeGridData"))
        wanted: dict[int, list[_Box]] | None = None
        ranges = args.getlist("ranges") if hasattr(args, "getlist") else []
        if ranges:
            wanted = {}
            for text in ranges:
                sheet, bounds = self._locate(ss, text)
                wanted.setdefault(sheet.sheet_id, []).append(self._clip(sheet, bounds, text))
        sheets = []
        for sheet in ss.sheets:
            if wanted is not None and sheet.sheet_id not in wanted:
                continue
            entry: dict[str, Any] = {"properties": sheet.properties()}
            if sheet.protected_ranges:
                entry["protectedRanges"] = [dict(p) for p in sheet.protected_ranges]
            if include:
                boxes = (wanted or {}).get(sheet.sheet_id) or [(1, 1, sheet.row_count, sheet.col_count)]
                entry["data"] = [self._grid_data(sheet, box) for box in boxes]
            sheets.append(entry)
        return {"spreadsheetId": ss.id,
                "properties": {"title": ss.title, "locale": ss.locale, "autoRecalc": "ON_CHANGE",
                               "timeZone": ss.time_zone},
                "sheets": sheets, "spreadsheetUrl": ss.url()}

    @staticmethod
    def _grid_data(sheet: Sheet, box: _Box) -> dict[str, Any]:
        r1, c1, r2, c2 = box
        row_data = []
        for r in range(r1, min(r2, len(sheet.rows)) + 1):
            cells = sheet.rows[r - 1][c1 - 1:c2]
            values = []
            for v in cells:
                if v is None:
                    values.append({})
                    continue
                if isinstance(v, Formula):
                    entered = {"formulaValue": v.text}
                    effective = {"stringValue": formatted(v)}
                elif isinstance(v, bool):
                    entered = effective = {"boolValue": v}
                elif isinstance(v, (int, float)):
                    entered = effective = {"numberValue": v}
                else:
                    entered = effective = {"stringValue": v}
                values.append({"userEnteredValue": entered, "effectiveValue": effective,
                               "formattedValue": formatted(v)})
            row_data.append({"values": values} if values else {})
        out: dict[str, Any] = {"rowData": row_data}
        if r1 > 1:
            out["startRow"] = r1 - 1
        if c1 > 1:
            out["startColumn"] = c1 - 1
        return out

    # ------------------------------------------------------------------ values: reads

    def values_get(self, ss: Spreadsheet, text: str, args: Mapping[str, Any]) -> dict[str, Any]:
        major, render = self._read_options(args)
        sheet, bounds = self._locate(ss, text)
        return self._value_range(sheet, self._clip(sheet, bounds, text), major, render)

    def values_batch_get(self, ss: Spreadsheet, args: Any) -> dict[str, Any]:
        major, render = self._read_options(args)
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        ranges = args.getlist("ranges")
        if ranges:
            result = []
            for text in ranges:
                sheet, bounds = self._locate(ss, text)
                result.append(self._value_range(sheet, self._clip(sheet, bounds, text), major, render))
            out["valueRanges"] = result
        return out

    # ------------------------------------------------------------------ values: writes

    def values_update(self, ss: Spreadsheet, text: str, args: Mapping[str, Any],
                      body: Mapping[str, Any]) -> dict[str, Any]:
        user_entered = _value_input(args.get("valueInputOption"))
        major = _enum(body.get("majorDimension"), ("ROWS", "COLUMNS"), "major_dimension", "ROWS",
                      "DIMENSION_UNSPECIFIED")
        sheet, bounds = self._locate(ss, text)
        cells = self._matrix(body.get("values"), major, user_entered)
        result = self._write(sheet, bounds, text, cells, _flag(args.get("includeValuesInResponse")))
        return {"spreadsheetId": ss.id, **result}

    def values_batch_update(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        user_entered = _value_input(body.get("valueInputOption"))
        data = body.get("data") or []
        if not isinstance(data, list):
            raise ApiError(400, "Invalid value at 'data'")
        planned = []
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ApiError(400, f"Invalid value at 'data[{i}]'")
            major = _enum(item.get("majorDimension"), ("ROWS", "COLUMNS"),
                          f"data[{i}].major_dimension", "ROWS", "DIMENSION_UNSPECIFIED")
            text = item.get("range")
            sheet, bounds = self._locate(ss, text)
            planned.append((sheet, bounds, text, self._matrix(item.get("values"), major, user_entered)))
        for _sheet, bounds, text, cells in planned:  # all or nothing: check before writing
            self._check_shape(bounds, text, cells)
        include = _flag(body.get("includeValuesInResponse"))
        responses = [{"spreadsheetId": ss.id, **self._write(sheet, bounds, text, cells, include)}
                     for sheet, bounds, text, cells in planned]
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        totals = _drop_zeros({
            "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
            "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
            "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
            "totalUpdatedSheets": len({id(s) for s, *_ in planned}),
        })
        out.update(totals)
        if responses:
            out["responses"] = responses
        return out

    def values_append(self, ss: Spreadsheet, text: str, args: Mapping[str, Any],
                      body: Mapping[str, Any]) -> dict[str, Any]:
        user_entered = _value_input(args.get("valueInputOption"))
        insert = _enum(args.get("insertDataOption"), ("OVERWRITE", "INSERT_ROWS"),
                       "insert_data_option", "OVERWRITE")
        major = _enum(body.get("majorDimension"), ("ROWS", "COLUMNS"), "major_dimension", "ROWS",
                      "DIMENSION_UNSPECIFIED")
        sheet, bounds = self._locate(ss, text)
        cells = self._matrix(body.get("values"), major, user_entered)
        c_lo = bounds.start_col
        c_hi = sheet.col_count if bounds.end_col is None or bounds.is_single_cell else bounds.end_col

        def blank(r: int) -> bool:
            if r > len(sheet.rows):
                return True
            return all(v is None for v in sheet.rows[r - 1][c_lo - 1:c_hi])

        # The "table": the block of non-blank rows starting at the range's first row.
        r0 = bounds.start_row
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        if blank(r0):
            dest_row, dest_col = r0, c_lo
        else:
            end = r0
            while not blank(end + 1):
                end += 1
            first_col, last_col = c_hi, c_lo
            for r in range(r0, end + 1):
                seg = sheet.rows[r - 1][c_lo - 1:c_hi]
                idx = [j for j, v in enumerate(seg) if v is not None]
                if idx:
                    first_col = min(first_col, c_lo + idx[0])
                    last_col = max(last_col, c_lo + idx[-1])
            out["tableRange"] = format_range(sheet.title, r0, first_col, end, last_col)
            dest_row, dest_col = end + 1, first_col
        if insert == "INSERT_ROWS" and cells:
            sheet.insert_rows(dest_row - 1, len(cells))
        width = max((len(r) for r in cells), default=0)
        target = Bounds(dest_row, dest_col, dest_row + max(len(cells), 1) - 1,
                        dest_col + max(width, 1) - 1)
        updates = self._write(sheet, target, text, cells, _flag(args.get("includeValuesInResponse")))
        out["updates"] = {"spreadsheetId": ss.id, **updates}
        return out

    def values_clear(self, ss: Spreadsheet, text: str) -> dict[str, Any]:
        sheet, bounds = self._locate(ss, text)
        box = self._clip(sheet, bounds, text)
        self._clear_box(sheet, box)
        return {"spreadsheetId": ss.id, "clearedRange": format_range(sheet.title, *box)}

    def values_batch_clear(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        ranges = body.get("ranges") or []
        boxes = []
        for text in ranges:
            sheet, bounds = self._locate(ss, text)
            boxes.append((sheet, self._clip(sheet, bounds, text)))
        for sheet, box in boxes:
            self._clear_box(sheet, box)
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        if boxes:
            out["clearedRanges"] = [format_range(s.title, *b) for s, b in boxes]
        return out

    @staticmethod
    def _clear_box(sheet: Sheet, box: _Box) -> None:
        r1, c1, r2, c2 = box
        for cells in sheet.rows[r1 - 1:r2]:
            if c1 == 1 and c2 >= len(cells):
                cells.clear()
                continue
            for j in range(c1 - 1, min(c2, len(cells))):
                cells[j] = None

    # ------------------------------------------------------------------ spreadsheets.batchUpdate

    def batch_update(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        requests = body.get("requests") or []
        if not isinstance(requests, list):
            raise ApiError(400, "Invalid value at 'requests'")
        snapshot = ([s for s in ss.sheets], {id(s): s.snapshot() for s in ss.sheets})
        replies = []
        try:
            for i, req in enumerate(requests):
                if not isinstance(req, dict) or len(req) != 1:
                    raise ApiError(400, f"Invalid requests[{i}]: exactly one kind of request "
                                        "must be set")
                kind, params = next(iter(req.items()))
                handler = getattr(self, f"_req_{kind}", None)
                if handler is None:
                    raise ApiError(400, f"Invalid requests[{i}]: the Sheets emulator does not "
                                        f"support the request '{kind}'")
                replies.append(handler(ss, params or {}, f"Invalid requests[{i}].{kind}"))
        except ApiError:
            ss.sheets = snapshot[0]
            for s in ss.sheets:
                s.restore(snapshot[1][id(s)])
            ss.reindex()
            raise
        return {"spreadsheetId": ss.id, "replies": replies}

    @staticmethod
    def _grid(ss: Spreadsheet, sheet_id: Any, where: str) -> Sheet:
        sheet = ss.sheet_by_id(sheet_id if sheet_id is not None else 0)
        if sheet is None:
            raise ApiError(400, f"{where}: No grid with id: {sheet_id}")
        return sheet

    def _dimension_range(self, ss: Spreadsheet, rng: Mapping[str, Any], where: str
                         ) -> tuple[Sheet, str, int, int]:
        sheet = self._grid(ss, rng.get("sheetId"), where)
        dim = rng.get("dimension")
        if dim not in ("ROWS", "COLUMNS"):
            raise ApiError(400, f"{where}: dimension must be ROWS or COLUMNS")
        start = int(rng.get("startIndex") or 0)
        count = sheet.row_count if dim == "ROWS" else sheet.col_count
        end = int(rng["endIndex"]) if rng.get("endIndex") is not None else count
        if start < 0 or end < start:
            raise ApiError(400, f"{where}: Invalid dimension range [{start}, {end})")
        return sheet, dim, start, end

    def _req_deleteDimension(self, ss: Spreadsheet, p: Mapping[str, Any], where: str) -> dict:
        sheet, dim, start, end = self._dimension_range(ss, p.get("range") or {}, where)
        count = sheet.row_count if dim == "ROWS" else sheet.col_count
        if end > count:
            raise ApiError(400, f"{where}: Cannot delete a {dim.lower()[:-1]} that doesn't exist. "
                                f"Tried to delete index: {end - 1} but there are only {count}.")
        if dim == "ROWS":
            if end - start >= sheet.row_count - sheet.frozen_rows:
                raise ApiError(400, f"{where}: Sorry, it is not possible to delete all non-frozen rows.")
            sheet.delete_rows(start, end)
        else:
            if end - start >= sheet.col_count - sheet.frozen_cols:
                raise ApiError(400, f"{where}: Sorry, it is not possible to delete all non-frozen columns.")
            sheet.delete_cols(start, end)
        return {}

    def _req_insertDimension(self, ss: Spreadsheet, p: Mapping[str, Any], where: str) -> dict:
        sheet, dim, start, end = self._dimension_range(ss, p.get("range") or {}, where)
        count = sheet.row_count if dim == "ROWS" else sheet.col_count
        if start > count:
            raise ApiError(400, f"{where}: range.startIndex ({start}) must be at most {count}")
        if p.get("inheritFromBefore") and start == 0:
            raise ApiError(400, f"{where}: Cannot inherit from before for startIndex 0")
        if dim == "ROWS":
            sheet.insert_rows(start, end - start)
        else:
            sheet.insert_cols(start, end - start)
        return {}

    def _req_appendDimension(self, ss: Spreadsheet, p: Mapping[str, Any], where: str) -> dict:
        sheet = self._grid(ss, p.get("sheetId"), where)
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

    def _check_title(self, ss: Spreadsheet, title: Any, where: str, sheet: Sheet | None = None) -> str:
        if not isinstance(title, str) or not title.strip():
            raise ApiError(400, f"{where}: Sheet name must not be empty")
        other = ss.sheet(title)
        if other is not None and other is not sheet:
            raise ApiError(400, f"{where}: A sheet with the name \"{title}\" already exists. "
                                "Please enter another name.")
        return title

    def _req_updateSheetProperties(self, ss: Spreadsheet, p: Mapping[str, Any], where: str) -> dict:
        props = p.get("properties") or {}
        sheet = self._grid(ss, props.get("sheetId"), where)
        fields = [f.strip().replace("/", ".") for f in str(p.get("fields") or "").split(",") if f.strip()]
        if not fields:
            raise ApiError(400, f"{where}: At least one field must be updated. "
                                "Set 'fields' to '*' to update all.")
        if "*" in fields:
            fields = ["title", "index", "hidden", "gridProperties"]
        grid = props.get("gridProperties") or {}
        for field in fields:
            if field == "title":
                sheet.title = self._check_title(ss, props.get("title"), where, sheet)
            elif field == "index":
                ss.sheets.remove(sheet)
                ss.sheets.insert(int(props.get("index") or 0), sheet)
                ss.reindex()
            elif field == "hidden":
                sheet.hidden = bool(props.get("hidden"))
            elif field.startswith("gridProperties"):
                keys = [field.split(".", 1)[1]] if "." in field else list(grid)
                for key in keys:
                    value = int(grid.get(key) or 0)
                    if key == "rowCount":
                        if value < 1:
                            raise ApiError(400, f"{where}: rowCount must be at least 1")
                        sheet.row_count = value
                    elif key == "columnCount":
                        if value < 1:
                            raise ApiError(400, f"{where}: columnCount must be at least 1")
                        sheet.col_count = value
                    elif key == "frozenRowCount":
                        sheet.frozen_rows = value
                    elif key == "frozenColumnCount":
                        sheet.frozen_cols = value
                sheet.truncate()
        return {}

    def _req_addSheet(self, ss: Spreadsheet, p: Mapping[str, Any], where: str) -> dict:
        props = p.get("properties") or {}
        title = props.get("title")
        if title is None:
            n = len(ss.sheets) + 1
            while ss.sheet(f"Sheet{n}") is not None:
                n += 1
            title = f"Sheet{n}"
        self._check_title(ss, title, where)
        if props.get("sheetId") is not None and ss.sheet_by_id(props["sheetId"]) is not None:
            raise ApiError(400, f"{where}: A sheet with id {props['sheetId']} already exists.")
        grid = props.get("gridProperties") or {}
        sheet = ss.add_sheet(title, self.rng, int(grid.get("rowCount") or 1000),
                             int(grid.get("columnCount") or 26), props.get("index"),
                             props.get("sheetId") if props.get("sheetId") is not None
                             else self.rng.randrange(1, 2**31 - 1))
        sheet.frozen_rows = int(grid.get("frozenRowCount") or 0)
        sheet.frozen_cols = int(grid.get("frozenColumnCount") or 0)
        return {"addSheet": {"properties": sheet.properties()}}

    def _req_deleteSheet(self, ss: Spreadsheet, p: Mapping[str, Any], where: str) -> dict:
        sheet = self._grid(ss, p.get("sheetId"), where)
        if len(ss.sheets) == 1:
            raise ApiError(400, f"{where}: You can't remove all the sheets in a document.")
        ss.sheets.remove(sheet)
        ss.reindex()
        return {}

    def _req_addProtectedRange(self, ss: Spreadsheet, p: Mapping[str, Any], where: str) -> dict:
        pr = dict(p.get("protectedRange") or {})
        rng = pr.get("range") or {}
        sheet = self._grid(ss, rng.get("sheetId"), where)
        pr["protectedRangeId"] = ss.next_protected_id()
        sheet.protected_ranges.append(pr)
        return {"addProtectedRange": {"protectedRange": pr}}

    def _req_deleteProtectedRange(self, ss: Spreadsheet, p: Mapping[str, Any], where: str) -> dict:
        pid = p.get("protectedRangeId")
        for sheet in ss.sheets:
            for pr in sheet.protected_ranges:
                if str(pr.get("protectedRangeId")) == str(pid):
                    sheet.protected_ranges.remove(pr)
                    return {}
        raise ApiError(400, f"{where}: No protected range with id: {pid}")
