"""The Sheets emulator answers like Google: metadata resources, field masks, spreadsheets.create,
render options (formulas, dates), values.append table rules and error bodies. Real HTTP; every
answer is checked against the discovery document (``sheets_schema``)."""

from __future__ import annotations

import pytest
import requests

from emulators.sheets import SheetsEmulator
from tests.emulators.sheets_http import Api
from tests.emulators.sheets_schema import (
    check_response,
    revision,
    validate,
    validate_error,
)

EMULATOR_SEED = 3  # the shared ``emu`` fixture (tests/emulators/conftest.py)


@pytest.fixture
def sid(emu: SheetsEmulator) -> str:
    return emu.create_spreadsheet("Book", {"Data": [], "Other": [[10, 20]]})


# ------------------------------------------------------------------ the validator itself


def test_validator_flags_wrong_types_unknown_fields_enums_and_missing_keys() -> None:
    assert revision().isdigit()
    good = {"range": "A!A1", "majorDimension": "ROWS", "values": [["x", 1, True]]}
    assert validate(good, "ValueRange") == []
    assert validate({**good, "majorDimension": "DIAGONAL"}, "ValueRange") == [
        "$.majorDimension: 'DIAGONAL' is not one of ['DIMENSION_UNSPECIFIED', 'ROWS', 'COLUMNS']"]
    assert validate({**good, "rows": 3}, "ValueRange") == ["$.rows: not a property of ValueRange"]
    assert validate({"range": "A!A1"}, "ValueRange") == ["$: ValueRange lacks required majorDimension"]
    assert validate({"range": "A!A1"}, "ValueRange", masked=True) == []
    bad_sheet = {"properties": {"sheetId": "0", "title": "A", "index": 0, "sheetType": "GRID",
                                "gridProperties": {"rowCount": 1, "columnCount": 1}}}
    assert validate(bad_sheet, "Sheet") == ["$.properties.sheetId: expected integer, got str '0'"]
    assert validate_error({"error": {"code": 400, "message": "m", "status": "NOT_FOUND"}}, 400) == [
        "error.status 'NOT_FOUND' should be INVALID_ARGUMENT"]
    assert check_response("GET", "/v4/nothing", 200, {}) == [
        "GET /v4/nothing: not a method of the discovery document"]


# ------------------------------------------------------------------ metadata and field masks


def test_metadata_has_the_documented_spreadsheet_resource(api: Api, sid: str) -> None:
    meta = api.get(sid)
    props = meta["properties"]
    assert props["title"] == "Book" and props["locale"] == "en_US"
    assert props["autoRecalc"] == "ON_CHANGE" and props["timeZone"] == "Etc/GMT"
    assert props["defaultFormat"]["textFormat"]["fontFamily"] == "arial,sans,sans-serif"
    assert props["defaultFormat"]["padding"] == {"top": 2, "right": 3, "bottom": 2, "left": 3}
    kinds = [c["colorType"] for c in props["spreadsheetTheme"]["themeColors"]]
    assert kinds == ["TEXT", "BACKGROUND", "ACCENT1", "ACCENT2", "ACCENT3", "ACCENT4", "ACCENT5",
                     "ACCENT6", "LINK"]
    assert meta["spreadsheetUrl"] == f"https://docs.google.com/spreadsheets/d/{sid}/edit"
    assert meta["sheets"][0]["properties"]["sheetId"] == 0
    assert meta["sheets"][0]["properties"]["gridProperties"] == {"rowCount": 1000, "columnCount": 26}


def test_fields_mask_selects_nested_fields_on_every_read(api: Api, sid: str) -> None:
    masked = api.get(sid, fields="sheets(properties(title,sheetId))")
    assert masked == {"sheets": [{"properties": {"title": "Data", "sheetId": 0}},
                                 {"properties": {"title": "Other",
                                                 "sheetId": masked["sheets"][1]["properties"]["sheetId"]}}]}
    assert api.get(sid, fields="spreadsheetId,properties.title") == {
        "spreadsheetId": sid, "properties": {"title": "Book"}}
    with_data = api.get(sid, fields="sheets.data.rowData.values.formattedValue", ranges="Other!A1:B1")
    assert with_data == {"sheets": [{"data": [{"rowData": [{"values": [
        {"formattedValue": "10"}, {"formattedValue": "20"}]}]}]}]}
    assert api.values(sid, "Other!A1:B1", fields="values") == {"values": [["10", "20"]]}
    for bad in ("sheets(properties", "sheets)", "a,,b", "nope"):
        err = api.get(sid, status=400, fields=bad)["error"]
        assert err["message"].startswith("Invalid field selection")
        assert err["details"][0]["fieldViolations"][0]["field"] == "fields"


def test_spreadsheets_create_returns_the_new_spreadsheet(api: Api, emu: SheetsEmulator) -> None:
    created = api.call("POST", "", body={
        "properties": {"title": "Fresh", "timeZone": "Europe/Paris", "locale": "fr_FR"},
        "sheets": [{"properties": {"title": "Leads", "gridProperties": {"rowCount": 50, "columnCount": 5}},
                    "data": [{"rowData": [{"values": [{"userEnteredValue": {"stringValue": "Name"}},
                                                      {"userEnteredValue": {"numberValue": 3}}]},
                                          {"values": [{"userEnteredValue": {"formulaValue": "=B1*2"}}]}]}]},
                   {"properties": {"title": "Notes"}}],
        "namedRanges": [{"name": "Header", "range": {"sheetId": 0, "startRowIndex": 0, "endRowIndex": 1}}]})
    sid = created["spreadsheetId"]
    assert len(sid) == 44 and created["properties"]["timeZone"] == "Europe/Paris"
    assert [s["properties"]["title"] for s in created["sheets"]] == ["Leads", "Notes"]
    assert created["sheets"][0]["properties"]["sheetId"] == 0
    assert created["sheets"][0]["properties"]["gridProperties"] == {"rowCount": 50, "columnCount": 5}
    assert created["namedRanges"][0]["name"] == "Header"
    assert api.values(sid, "Leads!A1:B2")["values"] == [["Name", "3"], ["6"]]
    assert emu.values(sid, "Leads")[0] == ["Name", "3"]
    default = api.call("POST", "", body={}, params={"fields": "spreadsheetId,sheets.properties.title"})
    assert default["sheets"] == [{"properties": {"title": "Sheet1"}}]
    assert api.get(default["spreadsheetId"])["properties"]["title"] == "Untitled spreadsheet"


# ------------------------------------------------------------------ render options


def test_formulas_are_evaluated_per_value_render_option(api: Api, sid: str) -> None:
    api.update(sid, "Data!A1", [
        [2, 3, "=A1+B1*2", "=SUM(A1:B2)", "=AVERAGE(A1:B1)", "=MIN(A1:B2)", "=MAX(A1:A2)",
         "=COUNT(A1:C2)"],
        [5, "x", '=CONCATENATE("n=",A1)', '=A1&"-"&B2', '=IF(A1>1,"big","small")', "=Other!A1/2",
         "=1/0", "=LEN(B2)"],
        ["=A3", "=(A1+1)^2", "=-A1%", "=A1=2", "=COUNTA(A1:B2)", "=SUM(A1, 4, TRUE)", "=1+", "=D4"],
        ["", "", "", "=E4+1", "=D4"],
    ])
    formatted = api.values(sid, "Data!A1:H4")["values"]
    assert api.values(sid, "Data!D4:E4")["values"] == [["#REF!", "#REF!"]]  # a loop
    assert formatted[0] == ["2", "3", "8", "10", "2.5", "2", "5", "4"]
    assert formatted[1] == ["5", "x", "n=2", "2-x", "big", "5", "#DIV/0!", "#NAME?"]
    assert formatted[2] == ["#REF!", "9", "-0.02", "TRUE", "4", "7", "#ERROR!", "#REF!"]
    unformatted = api.values(sid, "Data!A1:H2", valueRenderOption="UNFORMATTED_VALUE")["values"]
    assert unformatted[0] == [2, 3, 8, 10, 2.5, 2, 5, 4]
    assert unformatted[1][2:7] == ["n=2", "2-x", "big", 5, "#DIV/0!"]
    assert api.values(sid, "Data!C1:D1", valueRenderOption="FORMULA")["values"] == [
        ["=A1+B1*2", "=SUM(A1:B2)"]]
    cells = api.get(sid, includeGridData="true", ranges="Data!G2")["sheets"][0]["data"][0]
    cell = cells["rowData"][0]["values"][0]
    assert cell["userEnteredValue"] == {"formulaValue": "=1/0"}
    assert cell["effectiveValue"]["errorValue"]["type"] == "DIVIDE_BY_ZERO"
    assert cell["formattedValue"] == "#DIV/0!"


def test_typed_dates_render_as_serial_numbers_or_formatted_strings(api: Api, sid: str) -> None:
    api.update(sid, "Data!A1", [["2024-01-15", "1/15/2024 13:45", "9:30 PM", "2/30/2024", "=A1+1",
                                 "13:05"]])
    api.update(sid, "Data!A2", [["2024-01-15"]], option="RAW")
    assert api.values(sid, "Data!A1:F2")["values"] == [
        ["2024-01-15", "1/15/2024 13:45:00", "9:30:00 PM", "2/30/2024", "45307", "1:05:00 PM"],
        ["2024-01-15"]]
    serial = api.values(sid, "Data!A1:C2", valueRenderOption="UNFORMATTED_VALUE")["values"]
    assert serial[0][0] == 45306 and serial[0][1] == pytest.approx(45306 + 13.75 / 24)
    assert serial[0][2] == pytest.approx(21.5 / 24) and serial[1] == ["2024-01-15"]
    as_text = api.values(sid, "Data!A1:B1", valueRenderOption="UNFORMATTED_VALUE",
                         dateTimeRenderOption="FORMATTED_STRING")["values"]
    assert as_text == [["2024-01-15", "1/15/2024 13:45:00"]]
    grid = api.get(sid, includeGridData="true", ranges="Data!A1")["sheets"][0]["data"][0]
    cell = grid["rowData"][0]["values"][0]
    assert cell["effectiveValue"] == {"numberValue": 45306}
    assert cell["userEnteredFormat"]["numberFormat"] == {"type": "DATE", "pattern": "yyyy-mm-dd"}
    err = api.values(sid, "Data!A1", status=400, dateTimeRenderOption="EPOCH")["error"]
    assert err["details"][0]["fieldViolations"][0]["field"] == "date_time_render_option"


# ------------------------------------------------------------------ values.append


def test_append_finds_the_table_inside_the_range(api: Api, sid: str) -> None:
    api.update(sid, "Data!B3", [["Name", "Email"], ["Ada", "ada@x"]])  # two blank rows above
    res = api.append(sid, "Data!A1:Z", [["Bob", "bob@x"]], includeValuesInResponse="true")
    assert res["tableRange"] == "Data!B3:C4"
    assert res["updates"]["updatedRange"] == "Data!B5:C5"  # next row, the table's first column
    assert res["updates"]["updatedData"] == {"range": "Data!B5:C5", "majorDimension": "ROWS",
                                             "values": [["Bob", "bob@x"]]}
    empty = api.append(sid, "Other!A5:B", [["x"]])
    assert "tableRange" not in empty and empty["updates"]["updatedRange"] == "Other!A5"


def test_append_overwrite_fills_a_gap_insert_rows_pushes_data_down(api: Api, sid: str) -> None:
    api.update(sid, "Data!A1", [["h1", "h2"], ["a", "1"], [], ["later", "9"]])
    res = api.append(sid, "Data!A1:B", [["b", "2"]], insertDataOption="OVERWRITE")
    assert res["tableRange"] == "Data!A1:B2" and res["updates"]["updatedRange"] == "Data!A3:B3"
    res = api.append(sid, "Data!A:B", [["c", "3"]], insertDataOption="INSERT_ROWS",
                     includeValuesInResponse="true", responseValueRenderOption="UNFORMATTED_VALUE")
    assert res["tableRange"] == "Data!A1:B4" and res["updates"]["updatedRange"] == "Data!A5:B5"
    assert res["updates"]["updatedData"]["values"] == [["c", 3]]
    assert api.values(sid, "Data!A1:B6")["values"] == [
        ["h1", "h2"], ["a", "1"], ["b", "2"], ["later", "9"], ["c", "3"]]
    assert api.get(sid)["sheets"][0]["properties"]["gridProperties"]["rowCount"] == 1001
    err = api.append(sid, "Data!A1", [["x"]], status=400, insertDataOption="SIDEWAYS")["error"]
    assert err["details"][0]["fieldViolations"][0]["field"] == "insert_data_option"


# ------------------------------------------------------------------ errors


def test_errors_carry_googles_details(api: Api, emu: SheetsEmulator, sid: str) -> None:
    bare = requests.get(f"{emu.base_url}/v4/spreadsheets/{sid}", timeout=5)
    body = bare.json()
    assert bare.status_code == 401 and validate_error(body, 401) == []
    info = body["error"]["details"][0]
    assert info["reason"] == "CREDENTIALS_MISSING" and info["metadata"] == {
        "service": "sheets.googleapis.com",
        "method": "google.apps.sheets.v4.SpreadsheetsService.GetSpreadsheet"}
    err = api.values(sid, "Data!A1", status=400, valueRenderOption="PRETTY")["error"]
    assert err["status"] == "INVALID_ARGUMENT" and err["details"][0]["@type"].endswith("BadRequest")
    assert "ValueRenderOption" in err["message"]
    assert api.get("1" + "x" * 43, status=404)["error"] == {
        "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
    assert "details" not in api.values(sid, "Nope!A1", status=400)["error"]
    emu.set_limits(read_limit=(1, 60.0))
    api.values(sid, "Data!A1")
    quota = api.values(sid, "Data!A1", status=429)["error"]
    assert quota["status"] == "RESOURCE_EXHAUSTED"
    assert quota["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert quota["details"][0]["metadata"]["quota_limit_value"] == "1"
    assert quota["details"][1]["@type"] == "type.googleapis.com/google.rpc.Help"


def test_every_served_method_answers_to_its_schema(api: Api, sid: str) -> None:
    from tests.emulators.sheets_schema import method_for, methods

    calls = [
        ("GET", f"/{sid}", {"includeGridData": "true"}, None),
        ("POST", "", None, {"properties": {"title": "New"}}),
        ("POST", f"/{sid}:batchUpdate", None, {"requests": [{"addSheet": {}}]}),
        ("PUT", f"/{sid}/values/Data!A1", {"valueInputOption": "RAW"}, {"values": [["x", 1]]}),
        ("GET", f"/{sid}/values/Data!A1:B1", {"valueRenderOption": "UNFORMATTED_VALUE"}, None),
        ("GET", f"/{sid}/values:batchGet", [("ranges", "Data!A1"), ("ranges", "Other!A1:B1")], None),
        ("POST", f"/{sid}/values:batchUpdate", None,
         {"valueInputOption": "USER_ENTERED", "includeValuesInResponse": True,
          "data": [{"range": "Data!C1", "values": [["=1+1"]]}]}),
        ("POST", f"/{sid}/values/Data!A1:append", {"valueInputOption": "RAW"}, {"values": [["y"]]}),
        ("POST", f"/{sid}/values/Data!C1:clear", None, {}),
        ("POST", f"/{sid}/values:batchClear", None, {"ranges": ["Data!A2", "Other!A1"]}),
        ("POST", f"/{sid}/developerMetadata:search", None,
         {"dataFilters": [{"developerMetadataLookup": {"metadataKey": "k"}}]}),
    ]
    served = set()
    for method, path, params, body in calls:
        api.call(method, path, params, body)  # asserts the answer matches the schema
        found = method_for(method, "/v4/spreadsheets" + path.replace("!", "%21"))
        assert found is not None
        served.add(found.id)
    served.add("sheets.spreadsheets.developerMetadata.get")  # test_sheets_batch.py
    unserved = {m.id for m in methods()} - served
    assert unserved == {"sheets.spreadsheets.getByDataFilter", "sheets.spreadsheets.sheets.copyTo",
                        "sheets.spreadsheets.values.batchClearByDataFilter",
                        "sheets.spreadsheets.values.batchGetByDataFilter",
                        "sheets.spreadsheets.values.batchUpdateByDataFilter"}
    assert api.call("POST", f"/{sid}:getByDataFilter", body={}, status=404)["error"]["status"] == "NOT_FOUND"
