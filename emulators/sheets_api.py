"""The Sheets API v4 endpoints gspread 6 calls, over the emulator's state.

Every public method of ``SheetsApi`` is called with the emulator's lock held and returns the
JSON body to answer with, or raises ``ApiError``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping
from typing import Any

from .sheets_a1 import A1Error, Bounds, format_range, index_to_col, quote_sheet, resolve
from .sheets_append import find_table
from .sheets_batch import batch_update
from .sheets_batch_meta import matching_metadata
from .sheets_create import build_spreadsheet
from .sheets_errors import field_violation, invalid_enum, wrong_shape
from .sheets_fields import parse_mask
from .sheets_grid import Batch
from .sheets_meta import sheet_resource, spreadsheet_resource
from .sheets_model import SKIP, ApiError, Sheet, Spreadsheet, input_value
from .sheets_render import DateRender, Renderer, ValueRender
from .sheets_shift import shift_dimension

READ_OPS = ("spreadsheets.get", "values.get", "values.batchGet", "developerMetadata.search",
            "developerMetadata.get")
WRITE_OPS = ("values.update", "values.batchUpdate", "values.append", "values.clear",
             "values.batchClear", "spreadsheets.batchUpdate", "spreadsheets.create")
_ENUM_TYPES = {"major_dimension": "Dimension", "value_render_option": "ValueRenderOption",
               "date_time_render_option": "DateTimeRenderOption",
               "insert_data_option": "InsertDataOption",
               "response_value_render_option": "ValueRenderOption",
               "response_date_time_render_option": "DateTimeRenderOption"}

_Box = tuple[int, int, int, int]


def _bad_range(text: Any) -> ApiError:
    return ApiError(400, f"Unable to parse range: {text}")


def _enum(value: Any, allowed: tuple[str, ...], field: str, default: str,
          unspecified: str | None = None) -> str:
    if value is None or value == "" or value == unspecified:
        return default
    text = str(value)
    if text not in allowed:
        raise invalid_enum(field, text, _ENUM_TYPES.get(field.rpartition(".")[2], "Enum"))
    return text


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes") if value is not None else False


def _value_input(value: Any) -> bool:
    """True for USER_ENTERED, False for RAW; a missing option is an error, as on Google."""
    if value is None or value == "" or value == "INPUT_VALUE_OPTION_UNSPECIFIED":
        raise ApiError(400, "'valueInputOption' is required but not specified")
    if value not in ("RAW", "USER_ENTERED"):
        raise invalid_enum("value_input_option", str(value), "ValueInputOption")
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
               include: Renderer | None = None) -> dict[str, Any]:
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
        if include is not None:
            out["updatedData"] = self._value_range(sheet, (r1, c1, r1 + max(height, 1) - 1,
                                                           c1 + max(width, 1) - 1),
                                                   "ROWS", include.for_sheet(sheet))
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
    def _renderer(ss: Spreadsheet, args: Mapping[str, Any], prefix: str = "") -> Renderer:
        """The renderer for ``valueRenderOption``/``dateTimeRenderOption`` (or their
        ``response…`` forms, with ``prefix="response"``)."""
        value_key = f"{prefix}ValueRenderOption" if prefix else "valueRenderOption"
        date_key = f"{prefix}DateTimeRenderOption" if prefix else "dateTimeRenderOption"
        snake = f"{prefix}_" if prefix else ""
        render = _enum(args.get(value_key), tuple(ValueRender), f"{snake}value_render_option",
                       "FORMATTED_VALUE")
        dates = _enum(args.get(date_key), tuple(DateRender), f"{snake}date_time_render_option",
                      "SERIAL_NUMBER")
        return Renderer(ss, render, dates)

    def _include(self, ss: Spreadsheet, args: Mapping[str, Any]) -> Renderer | None:
        if not _flag(args.get("includeValuesInResponse")):
            return None
        return self._renderer(ss, args, "response")

    def _read_options(self, ss: Spreadsheet, args: Mapping[str, Any]) -> tuple[str, Renderer]:
        major = _enum(args.get("majorDimension"), ("ROWS", "COLUMNS"), "major_dimension", "ROWS",
                      "DIMENSION_UNSPECIFIED")
        return major, self._renderer(ss, args)

    # ------------------------------------------------------------------ spreadsheets

    def spreadsheets_get(self, ss: Spreadsheet, args: Any) -> dict[str, Any]:
        include = _flag(args.get("includeGridData"))
        if args.get("fields"):  # asking for sheets.data in the mask includes it, as on Google
            include = include or "data" in parse_mask(args["fields"]).get("sheets", {})
        wanted: dict[int, list[_Box]] | None = None
        ranges = args.getlist("ranges") if hasattr(args, "getlist") else []
        if ranges:
            wanted = {}
            for text in ranges:
                sheet, bounds = self._locate(ss, text)
                wanted.setdefault(sheet.sheet_id, []).append(self._clip(sheet, bounds, text))
        renderer = Renderer(ss)
        sheets = []
        for sheet in ss.sheets:
            if wanted is not None and sheet.sheet_id not in wanted:
                continue
            entry = sheet_resource(ss, sheet)
            if include:
                boxes = (wanted or {}).get(sheet.sheet_id) or [(1, 1, sheet.row_count, sheet.col_count)]
                entry["data"] = [self._grid_data(renderer, sheet, box) for box in boxes]
            sheets.append(entry)
        return spreadsheet_resource(ss, sheets)

    @staticmethod
    def _grid_data(renderer: Renderer, sheet: Sheet, box: _Box) -> dict[str, Any]:
        r1, c1, r2, c2 = box
        row_data = []
        for r in range(r1, min(r2, len(sheet.rows)) + 1):
            values = [renderer.cell_data(sheet, v) for v in sheet.rows[r - 1][c1 - 1:c2]]
            row_data.append({"values": values} if values else {})
        out: dict[str, Any] = {"rowData": row_data}
        if r1 > 1:
            out["startRow"] = r1 - 1
        if c1 > 1:
            out["startColumn"] = c1 - 1
        return out

    # ------------------------------------------------------------------ values: reads

    def values_get(self, ss: Spreadsheet, text: str, args: Mapping[str, Any]) -> dict[str, Any]:
        major, renderer = self._read_options(ss, args)
        sheet, bounds = self._locate(ss, text)
        return self._value_range(sheet, self._clip(sheet, bounds, text), major,
                                 renderer.for_sheet(sheet))

    def values_batch_get(self, ss: Spreadsheet, args: Any) -> dict[str, Any]:
        major, renderer = self._read_options(ss, args)
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        ranges = args.getlist("ranges")
        if ranges:
            result = []
            for text in ranges:
                sheet, bounds = self._locate(ss, text)
                result.append(self._value_range(sheet, self._clip(sheet, bounds, text), major,
                                                renderer.for_sheet(sheet)))
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
        result = self._write(sheet, bounds, text, cells, self._include(ss, args))
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
            text = str(item.get("range") or "")
            sheet, bounds = self._locate(ss, text)
            planned.append((sheet, bounds, text, self._matrix(item.get("values"), major, user_entered)))
        for _sheet, bounds, text, cells in planned:  # all or nothing: check before writing
            self._check_shape(bounds, text, cells)
        include = self._include(ss, body)
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
        table = find_table(sheet, bounds)
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        if table.found is not None:
            out["tableRange"] = format_range(sheet.title, *table.found)
        dest_row, dest_col = table.dest_row, table.dest_col
        if insert == "INSERT_ROWS" and cells:
            sheet.insert_rows(dest_row - 1, len(cells))
            shift_dimension(ss, sheet, "ROWS", dest_row - 1, len(cells))
        width = max((len(r) for r in cells), default=0)
        target = Bounds(dest_row, dest_col, dest_row + max(len(cells), 1) - 1,
                        dest_col + max(width, 1) - 1)
        updates = self._write(sheet, target, text, cells, self._include(ss, args))
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
        result = batch_update(Batch(ss, self.rng), body)
        if _flag(body.get("includeSpreadsheetInResponse")):
            sheets = [sheet_resource(ss, s) for s in ss.sheets]
            result["updatedSpreadsheet"] = spreadsheet_resource(ss, sheets)
        return result

    # ------------------------------------------------------------------ spreadsheets.create

    def create(self, body: Mapping[str, Any]) -> Spreadsheet:
        """A new spreadsheet from a ``Spreadsheet`` body (its id is always generated)."""
        try:
            return build_spreadsheet(body, self.rng)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            raise wrong_shape("spreadsheet", exc) from None

    # ------------------------------------------------------------------ developer metadata

    def metadata_search(self, ss: Spreadsheet, body: Mapping[str, Any]) -> dict[str, Any]:
        filters = body.get("dataFilters")
        if not isinstance(filters, list) or not filters:
            raise field_violation("data_filters", "Must specify at least one data filter.")
        found: list[dict[str, Any]] = []
        for i, data_filter in enumerate(filters):
            try:
                matched = matching_metadata(ss, data_filter, f"Invalid dataFilters[{i}]")
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                raise wrong_shape(f"dataFilters[{i}]", exc) from None
            found.extend(m for m in matched if m not in found)
        if not found:
            return {}
        return {"matchedDeveloperMetadata": [
            {"developerMetadata": copy.deepcopy(m), "dataFilters": [copy.deepcopy(f) for f in filters
                                                                    if _matches_any(ss, f, m)]}
            for m in found]}

    @staticmethod
    def metadata_get(ss: Spreadsheet, metadata_id: str) -> dict[str, Any]:
        for meta in ss.developer_metadata:
            if str(meta["metadataId"]) == metadata_id:
                return copy.deepcopy(meta)
        raise ApiError(404, f"No developer metadata with ID: {metadata_id}")


def _matches_any(ss: Spreadsheet, data_filter: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
    return meta in matching_metadata(ss, data_filter, "dataFilters")
