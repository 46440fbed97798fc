"""spreadsheets.batchUpdate request kinds, their replies and what later reads show; developer
metadata search/get. Real HTTP; every answer is checked against the discovery document."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.sheets import SheetsEmulator
from tests.emulators.sheets_http import Api

EMULATOR_SEED = 5  # the shared ``emu`` fixture (tests/emulators/conftest.py)


@pytest.fixture
def sid(emu: SheetsEmulator) -> str:
    return emu.create_spreadsheet("Book", {"Leads": [
        ["Name", "Score", "Team"], ["Cy", 7, "b"], ["ada", 10, "a"], ["", "", ""], ["Bob", "n/a", "a"],
        ["Di", 2, "c"]]})


def grid(a: int, b: int, c: int, d: int, sheet: int = 0) -> dict[str, int]:
    """GridRange for rows a..b-1, columns c..d-1 (0-based, end exclusive)."""
    return {"sheetId": sheet, "startRowIndex": a, "endRowIndex": b, "startColumnIndex": c,
            "endColumnIndex": d}


def rows(api: Api, sid: str, rng: str = "Leads!A1:C8", **params: Any) -> list[list[Any]]:
    return list(api.values(sid, rng, **params).get("values", []))


def test_sort_range_orders_numbers_text_then_blanks(api: Api, sid: str) -> None:
    # the blank row sorts last, and a read trims it
    res = api.batch(sid, {"sortRange": {"range": grid(1, 6, 0, 3), "sortSpecs": [
        {"dimensionIndex": 1, "sortOrder": "ASCENDING"}]}})
    assert res == {"spreadsheetId": sid, "replies": [{}]}
    assert [r[0] if r else "" for r in rows(api, sid)[1:6]] == ["Di", "Cy", "ada", "Bob"]
    api.batch(sid, {"sortRange": {"range": grid(1, 6, 0, 3), "sortSpecs": [
        {"dimensionIndex": 2, "sortOrder": "DESCENDING"}, {"dimensionIndex": 0}]}})
    assert [r[0] if r else "" for r in rows(api, sid)[1:6]] == ["Di", "Cy", "ada", "Bob"]
    bad = api.batch(sid, {"sortRange": {"range": grid(1, 6, 0, 3), "sortSpecs": [
        {"dimensionIndex": 9}]}}, status=400)
    assert bad["error"]["message"].startswith("Invalid requests[0].sortRange")


def test_copy_paste_shifts_relative_references_and_tiles(api: Api, sid: str) -> None:
    api.update(sid, "Leads!D2", [["=B2*2", "=$B$2+B3"]])
    res = api.batch(sid, {"copyPaste": {"source": grid(1, 2, 3, 5), "destination": grid(2, 4, 3, 5)}})
    assert res["replies"] == [{}]
    assert rows(api, sid, "Leads!D2:E4", valueRenderOption="FORMULA") == [
        ["=B2*2", "=$B$2+B3"], ["=B3*2", "=$B$2+B4"], ["=B4*2", "=$B$2+B5"]]
    assert rows(api, sid, "Leads!D2:D4") == [["14"], ["20"], ["0"]]
    api.batch(sid, {"copyPaste": {"source": grid(1, 3, 3, 4), "destination": grid(0, 1, 6, 7),
                                  "pasteType": "PASTE_VALUES", "pasteOrientation": "TRANSPOSE"}})
    assert rows(api, sid, "Leads!G1:H1", valueRenderOption="FORMULA") == [[14, 20]]
    api.batch(sid, {"copyPaste": {"source": grid(0, 1, 0, 1), "destination": grid(0, 1, 0, 1),
                                  "pasteType": "PASTE_FORMAT"}})
    assert rows(api, sid, "Leads!A1") == [["Name"]]


def test_cut_paste_moves_values_and_clears_the_source(api: Api, sid: str) -> None:
    api.batch(sid, {"cutPaste": {"source": grid(1, 3, 0, 2),
                                 "destination": {"sheetId": 0, "rowIndex": 10, "columnIndex": 4}}})
    assert rows(api, sid, "Leads!A2:B3") == []
    assert rows(api, sid, "Leads!E11:F12") == [["Cy", "7"], ["ada", "10"]]
    err = api.batch(sid, {"cutPaste": {"source": grid(0, 1, 0, 1),
                                       "destination": {"sheetId": 0, "rowIndex": 5000}}}, status=400)
    assert "exceeds grid limits" in err["error"]["message"]


def test_merges_keep_the_top_left_value_and_show_in_metadata(api: Api, sid: str) -> None:
    api.batch(sid, {"mergeCells": {"range": grid(1, 3, 0, 2), "mergeType": "MERGE_ALL"}},
              {"mergeCells": {"range": grid(6, 8, 0, 3), "mergeType": "MERGE_ROWS"}})
    assert rows(api, sid, "Leads!A2:B3") == [["Cy"]]
    merges = api.get(sid)["sheets"][0]["merges"]
    assert merges == [grid(1, 3, 0, 2), grid(6, 7, 0, 3), grid(7, 8, 0, 3)]
    err = api.batch(sid, {"mergeCells": {"range": grid(2, 4, 0, 2)}}, status=400)["error"]
    assert "merged range" in err["message"]
    api.batch(sid, {"unmergeCells": {"range": grid(0, 10, 0, 3)}})
    assert "merges" not in api.get(sid)["sheets"][0]


def test_basic_filter_sorts_below_its_header_and_clears(api: Api, sid: str) -> None:
    spec = {"range": grid(0, 6, 0, 3), "sortSpecs": [{"dimensionIndex": 0, "sortOrder": "ASCENDING"}]}
    api.batch(sid, {"setBasicFilter": {"filter": spec}})
    assert [r[0] if r else "" for r in rows(api, sid)[:6]] == ["Name", "ada", "Bob", "Cy", "Di"]
    assert api.get(sid)["sheets"][0]["basicFilter"] == spec
    api.batch(sid, {"clearBasicFilter": {"sheetId": 0}})
    assert "basicFilter" not in api.get(sid)["sheets"][0]


def test_dimension_groups_nest_and_reply_with_all_groups(api: Api, sid: str) -> None:
    rng = {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 5}
    first = api.batch(sid, {"addDimensionGroup": {"range": rng}})
    assert first["replies"] == [{"addDimensionGroup": {"dimensionGroups": [{"range": rng, "depth": 1}]}}]
    inner = {**rng, "startIndex": 2, "endIndex": 4}
    second = api.batch(sid, {"addDimensionGroup": {"range": inner}})
    assert second["replies"][0]["addDimensionGroup"]["dimensionGroups"] == [
        {"range": rng, "depth": 1}, {"range": inner, "depth": 2}]
    api.batch(sid, {"updateDimensionGroup": {"dimensionGroup": {"range": inner, "depth": 2,
                                                                "collapsed": True},
                                             "fields": "collapsed"}})
    assert api.get(sid)["sheets"][0]["rowGroups"][1] == {"range": inner, "depth": 2, "collapsed": True}
    gone = api.batch(sid, {"deleteDimensionGroup": {"range": rng}})
    assert gone["replies"] == [{"deleteDimensionGroup": {"dimensionGroups": [{"range": inner, "depth": 1}]}}]
    api.batch(sid, {"deleteDimensionGroup": {"range": inner}})
    err = api.batch(sid, {"deleteDimensionGroup": {"range": inner}}, status=400)["error"]
    assert "No group" in err["message"] and "rowGroups" not in api.get(sid)["sheets"][0]


def test_protected_and_named_ranges_follow_inserted_rows(api: Api, sid: str) -> None:
    res = api.batch(sid,
                    {"addProtectedRange": {"protectedRange": {"range": grid(0, 1, 0, 3),
                                                              "description": "Header",
                                                              "warningOnly": True}}},
                    {"addNamedRange": {"namedRange": {"name": "Scores", "range": grid(1, 6, 1, 2)}}},
                    {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0,
                                                   "endIndex": 2}}})
    protected = res["replies"][0]["addProtectedRange"]["protectedRange"]
    assert protected["description"] == "Header" and protected["warningOnly"] is True
    named = res["replies"][1]["addNamedRange"]["namedRange"]
    assert named["name"] == "Scores" and named["range"] == grid(1, 6, 1, 2)
    meta = api.get(sid)
    assert meta["namedRanges"] == [{**named, "range": grid(3, 8, 1, 2)}]
    assert meta["sheets"][0]["protectedRanges"][0]["range"] == grid(2, 3, 0, 3)
    dup = api.batch(sid, {"addNamedRange": {"namedRange": {"name": "scores", "range": grid(0, 1, 0, 1)}}},
                    status=400)
    assert "already exists" in dup["error"]["message"]
    api.batch(sid, {"deleteNamedRange": {"namedRangeId": named["namedRangeId"]}},
              {"deleteProtectedRange": {"protectedRangeId": protected["protectedRangeId"]}})
    meta = api.get(sid)
    assert "namedRanges" not in meta and "protectedRanges" not in meta["sheets"][0]


def test_developer_metadata_create_search_get_delete(api: Api, sid: str) -> None:
    res = api.batch(sid,
                    {"createDeveloperMetadata": {"developerMetadata": {
                        "metadataKey": "leadsync", "metadataValue": "v1", "visibility": "DOCUMENT",
                        "location": {"spreadsheet": True}}}},
                    {"createDeveloperMetadata": {"developerMetadata": {
                        "metadataKey": "leadsync", "metadataValue": "row", "visibility": "DOCUMENT",
                        "location": {"dimensionRange": {"sheetId": 0, "dimension": "ROWS",
                                                        "startIndex": 2, "endIndex": 3}}}}},
                    {"createDeveloperMetadata": {"developerMetadata": {
                        "metadataKey": "tab", "visibility": "PROJECT", "location": {"sheetId": 0}}}})
    made = [r["createDeveloperMetadata"]["developerMetadata"] for r in res["replies"]]
    assert made[0]["location"] == {"locationType": "SPREADSHEET", "spreadsheet": True}
    assert made[1]["location"]["locationType"] == "ROW"
    meta = api.get(sid)
    assert meta["developerMetadata"] == [made[0]] and meta["sheets"][0]["developerMetadata"] == [made[2]]
    lookup = {"dataFilters": [{"developerMetadataLookup": {"metadataKey": "leadsync"}}]}
    found = api.call("POST", f"/{sid}/developerMetadata:search", body=lookup)
    assert [m["developerMetadata"] for m in found["matchedDeveloperMetadata"]] == made[:2]
    by_row = {"dataFilters": [{"developerMetadataLookup": {
        "locationMatchingStrategy": "INTERSECTING_LOCATION",
        "metadataLocation": {"dimensionRange": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0,
                                                "endIndex": 5}}}}]}
    assert len(api.call("POST", f"/{sid}/developerMetadata:search", body=by_row)
               ["matchedDeveloperMetadata"]) == 1
    assert api.call("GET", f"/{sid}/developerMetadata/{made[2]['metadataId']}") == made[2]
    deleted = api.batch(sid, {"deleteDeveloperMetadata": {"dataFilter": lookup["dataFilters"][0]}})
    assert deleted["replies"][0]["deleteDeveloperMetadata"]["deletedDeveloperMetadata"] == made[:2]
    assert api.call("POST", f"/{sid}/developerMetadata:search", body=lookup) == {}
    api.call("GET", f"/{sid}/developerMetadata/{made[0]['metadataId']}", status=404)


def test_failed_batch_changes_nothing_and_properties_update(api: Api, sid: str) -> None:
    before = api.get(sid)
    err = api.batch(sid, {"mergeCells": {"range": grid(0, 2, 0, 2)}},
                    {"addNamedRange": {"namedRange": {"name": "Top", "range": grid(0, 1, 0, 1)}}},
                    {"deleteSheet": {"sheetId": 99}}, status=400)["error"]
    assert err["message"] == "Invalid requests[2].deleteSheet: No grid with id: 99"
    assert api.get(sid) == before and rows(api, sid, "Leads!A2") == [["Cy"]]
    res = api.call("POST", f"/{sid}:batchUpdate", body={
        "requests": [{"updateSpreadsheetProperties": {
            "properties": {"title": "Renamed", "timeZone": "America/New_York"},
            "fields": "title,timeZone"}}],
        "includeSpreadsheetInResponse": True})
    assert res["updatedSpreadsheet"]["properties"]["title"] == "Renamed"
    assert api.get(sid, fields="properties.timeZone") == {"properties": {"timeZone": "America/New_York"}}
    assert api.batch(sid, status=400)["error"]["message"] == "Must specify at least one request."


def test_unknown_and_unmodelled_request_kinds(api: Api, sid: str) -> None:
    from emulators.sheets_batch import API_REQUEST_KINDS
    from tests.emulators.sheets_schema import document

    assert set(document()["schemas"]["Request"]["properties"]) == API_REQUEST_KINDS
    err = api.batch(sid, {"frobnicate": {}}, status=400)["error"]
    assert err["message"] == ("Invalid JSON payload received. Unknown name \"frobnicate\" at "
                              "'requests[0]': Cannot find field.")
    assert err["details"][0]["fieldViolations"][0]["field"] == "requests[0]"
    err = api.batch(sid, {"addChart": {}}, status=400)["error"]
    assert "does not support the request 'addChart'" in err["message"]


@pytest.mark.parametrize("request_", [
    {"addSheet": {"properties": "x"}}, {"appendDimension": {"sheetId": 0, "length": "x",
                                                           "dimension": "ROWS"}},
    {"addNamedRange": {"namedRange": ["x"]}}, {"createDeveloperMetadata": {"developerMetadata": 5}},
    {"cutPaste": {"source": {"sheetId": 0, "endRowIndex": 1, "endColumnIndex": 1},
                  "destination": {"sheetId": 0, "rowIndex": "x"}}},
])
def test_wrongly_shaped_requests_are_400_and_change_nothing(api: Api, sid: str,
                                                            request_: dict[str, Any]) -> None:
    before = api.get(sid)
    err = api.batch(sid, {"addSheet": {}}, request_, status=400)["error"]
    kind = next(iter(request_))
    assert err["message"].startswith(f"Invalid value at 'requests[1].{kind}'")
    assert err["details"][0]["fieldViolations"][0]["field"] == f"requests[1].{kind}"
    assert api.get(sid) == before
