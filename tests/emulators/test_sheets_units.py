"""Pure pieces of the Sheets emulator: FieldMask parsing, formula evaluation, dates, ref shifting."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.sheets_dates import DateTime, format_serial, parse_date
from emulators.sheets_errors import ApiError
from emulators.sheets_fields import apply_mask, parse_mask
from emulators.sheets_formula import CellError, evaluate, shift_refs
from emulators.sheets_model import Formula


class Grid:
    """A tiny ``Cells`` over a dict {(sheet, row, col): value}."""

    def __init__(self, cells: dict[tuple[str | None, int, int], Any]) -> None:
        self.cells = cells

    def value(self, sheet: str | None, row: int, col: int) -> Any:
        return self.cells.get((sheet, row, col))

    def box(self, sheet: str | None, r1: int, c1: int, r2: int | None, c2: int | None) -> list[Any]:
        return [v for (s, r, c), v in self.cells.items()
                if s == sheet and r1 <= r <= (r2 or 10**6) and c1 <= c <= (c2 or 10**6)]


def test_field_masks_parse_nested_selections() -> None:
    assert parse_mask("sheets(properties(title,sheetId)),spreadsheetId") == {
        "sheets": {"properties": {"title": {}, "sheetId": {}}}, "spreadsheetId": {}}
    assert parse_mask("a.b.c,a.d") == {"a": {"b": {"c": {}}, "d": {}}}
    body = {"a": [{"b": 1, "c": 2}, {"b": 3}], "d": 4}
    assert apply_mask(body, parse_mask("a.b")) == {"a": [{"b": 1}, {"b": 3}]}
    assert apply_mask(body, parse_mask("*")) == body
    for bad in ("", "a(", "a)", "a(b))", "a..b", "a,(b)"):
        with pytest.raises(ApiError):
            parse_mask(bad)


@pytest.mark.parametrize(("formula", "expected"), [
    ("=1+2*3", 7), ("=(1+2)*3", 9), ("=2^3^1", 8), ("=-2+5", 3), ("=10/4", 2.5),
    ('="a"&"b"&1', "ab1"), ("=1<2", True), ('="x"="X"', True), ("=A1*2", 6),
    ("=SUM(A1:A3)", 10), ("=SUM(A1:A3,1)", 11), ("=AVERAGE(A1:A3)", 5), ("=MIN(A1:A3)", 3),
    ("=MAX(A1:A3)", 7), ("=COUNT(A1:B3)", 2), ("=COUNTA(A1:B3)", 3),
    ('=IF(A1>2,"yes","no")', "yes"), ("=IF(FALSE,1)", False), ("=Other!A1+1", 101),
    ("=CONCATENATE(B1,A1)", "t3"), ("=A9+1", 1),
])
def test_formulas(formula: str, expected: Any) -> None:
    grid = Grid({(None, 1, 1): 3, (None, 3, 1): 7, (None, 1, 2): "t", ("Other", 1, 1): 100})
    assert evaluate(formula, grid) == expected


@pytest.mark.parametrize(("formula", "code"), [
    ("=1/0", "#DIV/0!"), ("=VLOOKUP(1,A1:B2,2)", "#NAME?"), ("=foo+1", "#NAME?"),
    ("=B1+1", "#VALUE!"), ("=1+", "#ERROR!"), ("=(1", "#ERROR!"), ("=AVERAGE(C1:C3)", "#DIV/0!"),
    ("=IF(1)", "#N/A"),
])
def test_formula_errors(formula: str, code: str) -> None:
    result = evaluate(formula, Grid({(None, 1, 2): "t"}))
    assert isinstance(result, CellError) and result.code == code


def test_shift_refs_moves_relative_parts_only() -> None:
    assert shift_refs("=A1+$B$2+C$3+$D4+SUM(E1:F2)", 2, 1) == "=B3+$B$2+D$3+$D6+SUM(F3:G4)"
    assert shift_refs('="A1"&Other!B2', 1, 0) == '="A1"&Other!B3'
    assert shift_refs("=A1", -1, 0) == "=#REF!"


def test_dates_parse_and_render() -> None:
    assert parse_date("2024-01-15") == DateTime(45306, "yyyy-mm-dd")
    assert parse_date("1/2/2024").text() == "1/2/2024"  # type: ignore[union-attr]
    assert parse_date("12:30 AM") == DateTime(30 / 1440, "h:mm:ss am/pm")
    assert parse_date("2/30/2024") is None and parse_date("25:00") is None and parse_date("x") is None
    assert format_serial(45306.5, "yyyy-mm-dd H:mm:ss") == "2024-01-15 12:00:00"


def test_the_emulators_own_views_compute_formulas() -> None:
    from emulators.sheets import SheetsEmulator

    emu = SheetsEmulator(read_limit=None, write_limit=None, seed=1)
    sid = emu.create_spreadsheet("B", {"T": [["n", "twice"], [2, Formula("=A2*2")]]})
    assert emu.values(sid, "T") == [["n", "twice"], ["2", "4"]]
    assert emu.rows_as_dicts(sid, "T") == [{"n": "2", "twice": "4", "_row": 2}]
    assert emu.state(sid)["spreadsheets"][0]["sheets"][0]["values"][1] == ["2", "4"]
