"""Rendering cells for API reads: formulas evaluated, dates per ``dateTimeRenderOption``.

``Renderer`` is built per request (it caches formula results for that request) and gives, per
sheet, the function ``Sheet.read`` applies to each non-text cell.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from .sheets_a1 import find_sheet
from .sheets_dates import DateTime, number_format
from .sheets_formula import CellError, evaluate
from .sheets_model import Formula, Sheet, Spreadsheet, format_number


class ValueRender(StrEnum):
    FORMATTED_VALUE = "FORMATTED_VALUE"
    UNFORMATTED_VALUE = "UNFORMATTED_VALUE"
    FORMULA = "FORMULA"


class DateRender(StrEnum):
    SERIAL_NUMBER = "SERIAL_NUMBER"
    FORMATTED_STRING = "FORMATTED_STRING"


class _Cells:
    """Evaluated cell values of one spreadsheet, seen from formulas on ``home``."""

    def __init__(self, ss: Spreadsheet) -> None:
        self.ss = ss
        self.cache: dict[tuple[int, int, int], Any] = {}
        self.active: set[tuple[int, int, int]] = set()
        self.home: Sheet = ss.sheets[0]

    def _sheet(self, name: str | None) -> Sheet | None:
        if name is None:
            return self.home
        title = find_sheet(self.ss.titles(), name)
        return self.ss.sheet(title) if title else None

    def value(self, name: str | None, row: int, col: int) -> Any:
        sheet = self._sheet(name)
        if sheet is None:
            return CellError("#REF!", f"Unresolved sheet name '{name}'.")
        raw = sheet.get(row, col)
        if raw.__class__ is not Formula:
            return raw
        key = (sheet.sheet_id, row, col)
        if key in self.cache:
            return self.cache[key]
        if key in self.active:
            return CellError("#REF!", "Circular dependency detected. To resolve with iterative "
                                      "calculation, see File > Settings.")
        self.active.add(key)
        outer, self.home = self.home, sheet
        try:
            result = evaluate(raw.text, self)
        finally:
            self.home = outer
            self.active.discard(key)
        self.cache[key] = result
        return result

    def box(self, name: str | None, r1: int, c1: int, r2: int | None, c2: int | None) -> list[Any]:
        sheet = self._sheet(name)
        if sheet is None:
            return [CellError("#REF!", f"Unresolved sheet name '{name}'.")]
        last_row = min(r2 or sheet.row_count, max(len(sheet.rows), 0))
        last_col = c2 or sheet.col_count
        return [self.value(name, r, c) for r in range(r1, last_row + 1)
                for c in range(c1, min(last_col, len(sheet.rows[r - 1])) + 1)]

    def formula(self, sheet: Sheet, formula: Formula) -> Any:
        outer, self.home = self.home, sheet
        try:
            return evaluate(formula.text, self)
        finally:
            self.home = outer


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, CellError):
        return value.code
    if isinstance(value, DateTime):
        return value.text()
    return format_number(value)


class Renderer:
    """Per-request rendering with one formula cache across the sheets it reads."""

    def __init__(self, ss: Spreadsheet, value_render: str = "FORMATTED_VALUE",
                 date_render: str = "SERIAL_NUMBER") -> None:
        self.cells = _Cells(ss)
        self.value_render = ValueRender(value_render)
        self.date_render = DateRender(date_render)

    def evaluated(self, sheet: Sheet, value: Any) -> Any:
        """The cell's value with a formula replaced by its result."""
        if value.__class__ is Formula:
            return self.cells.formula(sheet, value)
        return value

    def for_sheet(self, sheet: Sheet) -> Callable[[Any], Any]:
        """The function turning one stored cell into its JSON value."""
        unformatted_date = (self.date_render is DateRender.SERIAL_NUMBER)

        def plain(value: Any) -> Any:
            if value is None:
                return ""
            if isinstance(value, CellError):
                return value.code
            if isinstance(value, DateTime):
                return value.number() if unformatted_date else value.text()
            return value

        def formatted(value: Any) -> Any:
            return _text(self.evaluated(sheet, value))

        def unformatted(value: Any) -> Any:
            return plain(self.evaluated(sheet, value))

        def formula(value: Any) -> Any:
            return value.text if value.__class__ is Formula else plain(value)

        return {ValueRender.FORMATTED_VALUE: formatted, ValueRender.UNFORMATTED_VALUE: unformatted,
                ValueRender.FORMULA: formula}[self.value_render]

    def cell_data(self, sheet: Sheet, value: Any) -> dict[str, Any]:
        """A ``CellData`` resource (``includeGridData``)."""
        if value is None:
            return {}
        result = self.evaluated(sheet, value)
        out: dict[str, Any] = {"userEnteredValue": _extended(value),
                               "effectiveValue": _extended(result),
                               "formattedValue": _text(result)}
        if isinstance(value, DateTime):
            out["userEnteredFormat"] = {"numberFormat": number_format(value.pattern)}
            out["effectiveFormat"] = {"numberFormat": number_format(value.pattern)}
        return out


def _extended(value: Any) -> dict[str, Any]:
    """An ``ExtendedValue`` resource."""
    if isinstance(value, Formula):
        return {"formulaValue": value.text}
    if isinstance(value, CellError):
        return {"errorValue": {"type": value.type, "message": value.message}}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, DateTime):
        return {"numberValue": value.number()}
    if isinstance(value, (int, float)):
        return {"numberValue": value}
    return {"stringValue": str(value)}
