"""batchUpdate requests that reshape or copy sheets: duplicateSheet, insertRange, deleteRange,
moveDimension, findReplace. Real HTTP; every answer is checked against the discovery document."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.sheets import SheetsEmulator
from tests.emulators.sheets_http import Api

EMULATOR_SEED = 9  # the shared ``emu`` fixture (tests/emulators/conftest.py)


@pytest.fixture
def sid(emu: SheetsEmulator) -> str:
    return emu.create_spreadsheet("Book", {"Leads": [["a1", "b1", "c1"], ["a2", "b2", "c2"],
                                                     ["a3", "b3", "c3"]]})


def grid(a: int, b: int, c: int, d: int) -> dict[str, int]:
    return {"sheetId": 0, "startRowIndex": a, "endRowIndex": b, "startColumnIndex": c,
            "endColumnIndex": d}


def rows(api: Api, sid: str, rng: str = "Leads!A1:D5") -> list[list[Any]]:
    return list(api.values(sid, rng).get("values", []))


def test_duplicate_sheet_copies_values_and_structure(api: Api, sid: str) -> None:
    api.batch(sid, {"mergeCells": {"range": grid(0, 1, 0, 2)}})
    res = api.batch(sid, {"duplicateSheet": {"sourceSheetId": 0}})
    props = res["replies"][0]["duplicateSheet"]["properties"]
    assert props["title"] == "Copy of Leads" and props["index"] == 1
    assert rows(api, sid, "'Copy of Leads'!A1:C3") == [["a1", "", "c1"], ["a2", "b2", "c2"],
                                                        ["a3", "b3", "c3"]]
    copy = api.get(sid)["sheets"][1]
    assert copy["merges"] == [{**grid(0, 1, 0, 2), "sheetId": props["sheetId"]}]
    err = api.batch(sid, {"duplicateSheet": {"sourceSheetId": 0, "newSheetName": "Leads"}}, status=400)
    assert "already exists" in err["error"]["message"]


def test_insert_and_delete_range_shift_cells(api: Api, sid: str) -> None:
    api.batch(sid, {"insertRange": {"range": grid(0, 1, 1, 2), "shiftDimension": "ROWS"}})
    assert rows(api, sid) == [["a1", "", "c1"], ["a2", "b1", "c2"], ["a3", "b2", "c3"], ["", "b3"]]
    assert api.get(sid)["sheets"][0]["properties"]["gridProperties"]["rowCount"] == 1001
    api.batch(sid, {"deleteRange": {"range": grid(0, 1, 1, 2), "shiftDimension": "ROWS"}})
    assert rows(api, sid) == [["a1", "b1", "c1"], ["a2", "b2", "c2"], ["a3", "b3", "c3"]]
    api.batch(sid, {"deleteRange": {"range": grid(1, 2, 0, 1), "shiftDimension": "COLUMNS"}})
    assert rows(api, sid)[1] == ["b2", "c2"]
    api.batch(sid, {"insertRange": {"range": grid(1, 2, 0, 1), "shiftDimension": "COLUMNS"}})
    assert rows(api, sid)[1] == ["", "b2", "c2"]
    err = api.batch(sid, {"insertRange": {"range": grid(0, 1, 0, 1)}}, status=400)["error"]
    assert "shiftDimension" in err["message"]


def test_move_dimension_moves_rows_and_columns(api: Api, sid: str) -> None:
    api.batch(sid, {"moveDimension": {"source": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0,
                                                 "endIndex": 1}, "destinationIndex": 3}})
    assert [r[0] for r in rows(api, sid)] == ["a2", "a3", "a1"]
    api.batch(sid, {"moveDimension": {"source": {"sheetId": 0, "dimension": "COLUMNS",
                                                 "startIndex": 2, "endIndex": 3},
                                      "destinationIndex": 0}})
    assert rows(api, sid)[0] == ["c2", "a2", "b2"]
    err = api.batch(sid, {"moveDimension": {"source": {"sheetId": 0, "dimension": "ROWS",
                                                       "startIndex": 0, "endIndex": 1},
                                            "destinationIndex": 5000}}, status=400)
    assert "destinationIndex" in err["error"]["message"]


def test_find_replace_counts_what_changed(api: Api, sid: str) -> None:
    api.update(sid, "Leads!D1", [['=CONCATENATE("b", 1)']])
    res = api.batch(sid, {"findReplace": {"find": "B", "replacement": "x", "allSheets": True}})
    assert res["replies"] == [{"findReplace": {"valuesChanged": 3, "rowsChanged": 3,
                                               "sheetsChanged": 1, "occurrencesChanged": 3}}]
    assert rows(api, sid, "Leads!B1:D1") == [["x1", "c1", "b1"]]
    res = api.batch(sid, {"findReplace": {"find": "^a(\\d)$", "replacement": "A$1", "searchByRegex": True,
                                          "matchCase": True, "range": grid(0, 2, 0, 1)}})
    assert res["replies"][0]["findReplace"]["valuesChanged"] == 2
    assert [r[0] for r in rows(api, sid)] == ["A1", "A2", "a3"]
    none = api.batch(sid, {"findReplace": {"find": "zzz", "replacement": "y", "sheetId": 0}})
    assert none["replies"] == [{"findReplace": {}}]
