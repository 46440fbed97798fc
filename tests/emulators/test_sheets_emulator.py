"""The Sheets API emulator, driven over real HTTP by gspread 6, and its simulated add-on."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import gspread
import pytest
import requests
from google.oauth2.credentials import Credentials
from gspread.exceptions import APIError
from werkzeug.wrappers import Request, Response

from emulators.common import serve_in_thread
from emulators.sheets import DEMO_SPREADSHEET_ID, SheetsEmulator, seed_demo
from emulators.sheets_a1 import (
    A1Error,
    Bounds,
    col_to_index,
    format_range,
    index_to_col,
    parse_a1,
    parse_cells,
    quote_sheet,
    resolve,
)
from server.sheets.http import BaseUrlHTTPClient, ForeignGoogleCallError, open_client
from tests.emulators.sheets_schema import ValidatingApp

HEADERS = ["Name", "Email", "Status", "Notes", "Lead ID"]
SECRET = "addon-secret"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def emu() -> Iterator[SheetsEmulator]:
    emulator = SheetsEmulator(read_limit=None, write_limit=None, seed=7)
    # every API answer in these tests is checked against the discovery document
    checker = ValidatingApp(emulator._dispatch)
    emulator.wsgi_app = emulator.faults.wrap(checker)
    emulator.start()
    yield emulator
    emulator.stop()
    assert checker.problems == []


@pytest.fixture
def sid(emu: SheetsEmulator) -> str:
    return emu.create_spreadsheet("Leads book", {
        "Leads": [HEADERS,
                  ["Ada", "ada@example.com", "New", "", ""],
                  ["Bob", "bob@example.com", "Won", "big", ""]],
        "Other sheet": [["x"]],
    })


def client_for(emu: SheetsEmulator, token: str = "tok", timeout: float = 10.0) -> gspread.Client:
    return open_client(Credentials(token=token), emu.api_base_url, timeout=timeout)


@pytest.fixture
def ws(emu: SheetsEmulator, sid: str) -> gspread.Worksheet:
    return client_for(emu).open_by_key(sid).worksheet("Leads")


class Receiver:
    """A tiny webhook receiver recording every request; answers with queued statuses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: deque[int] = deque()
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        req = Request(environ)
        with self.lock:
            self.requests.append({"headers": dict(req.headers), "body": req.get_data()})
            status = self.statuses.popleft() if self.statuses else 200
        return Response("ok", status=status)(environ, start_response)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    server = serve_in_thread(rec)
    yield rec, server.base_url + "/webhooks/sheets/ws1"
    server.stop()


@pytest.fixture
def addon(emu: SheetsEmulator, sid: str, receiver: tuple[Receiver, str]) -> Receiver:
    rec, url = receiver
    emu.install_addon(sid, "Leads", webhook_url=url, secret=SECRET)
    return rec


# --------------------------------------------------------------------------- A1 notation


@pytest.mark.parametrize("text,sheet,bounds", [
    ("Leads!A1:B2", "Leads", Bounds(1, 1, 2, 2)),
    ("'My Sheet'!A:C", "My Sheet", Bounds(1, 1, None, 3)),
    ("Leads!A2:Z", "Leads", Bounds(2, 1, None, 26)),
    ("Leads!2:5", "Leads", Bounds(2, 1, 5, None)),
    ("Leads!B3", "Leads", Bounds(3, 2, 3, 2)),
    ("'It''s'!A1", "It's", Bounds(1, 1, 1, 1)),
    ("'My Sheet'", "My Sheet", Bounds()),
    ("Leads!$A$1:$b$2", "Leads", Bounds(1, 1, 2, 2)),
    ("Leads!B2:A1", "Leads", Bounds(1, 1, 2, 2)),
    ("'a!b'!AA10:AB", "a!b", Bounds(10, 27, None, 28)),
])
def test_a1_parse(text: str, sheet: str, bounds: Bounds) -> None:
    parsed = parse_a1(text)
    assert parsed.sheet == sheet
    assert parsed.bounds == bounds


@pytest.mark.parametrize("text", ["", "Leads!", "'Leads", "'Leads'A1", "Leads!A1:B2:C3", "Leads!A0",
                                  "Leads!A:5", "Leads!2:B", "Leads!1A", "Leads!AAAA1", "!A1"])
def test_a1_parse_errors(text: str) -> None:
    with pytest.raises(A1Error):
        parse_a1(text)


def test_a1_resolve_and_format() -> None:
    titles = ["Leads", "My Sheet", "ABC1"]
    assert resolve("A1:B2", titles) == ("Leads", Bounds(1, 1, 2, 2))
    assert resolve("Leads", titles) == ("Leads", Bounds())
    assert resolve("leads!A1", titles) == ("Leads", Bounds(1, 1, 1, 1))
    assert resolve("ABC1", titles) == ("ABC1", Bounds())  # a sheet named like a cell wins
    assert resolve("'My Sheet'!C:C", titles) == ("My Sheet", Bounds(1, 3, None, 3))
    with pytest.raises(A1Error):
        resolve("Nope!A1", titles)
    with pytest.raises(A1Error):
        resolve("Nope", titles)
    assert parse_cells("C7") == Bounds(7, 3, 7, 3)
    assert [index_to_col(i) for i in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]
    assert col_to_index("AAA") == 703
    assert quote_sheet("Leads") == "Leads"
    assert quote_sheet("My Sheet") == "'My Sheet'"
    assert quote_sheet("A1") == "'A1'"
    assert quote_sheet("It's") == "'It''s'"
    assert format_range("My Sheet", 1, 1, 20, 8) == "'My Sheet'!A1:H20"
    assert format_range("Leads", 3, 2, 3, 2) == "Leads!B3"


# --------------------------------------------------------------------------- gspread over HTTP


def test_open_and_read(emu: SheetsEmulator, sid: str) -> None:
    sh = client_for(emu).open_by_key(sid)
    assert sh.title == "Leads book"
    assert len(sid) == 44
    assert [w.title for w in sh.worksheets()] == ["Leads", "Other sheet"]
    ws = sh.worksheet("Leads")
    assert ws.row_count == 1000 and ws.col_count == 26
    assert ws.get_all_values()[2] == ["Bob", "bob@example.com", "Won", "big", ""]
    records = ws.get_all_records()
    assert records[0] == {"Name": "Ada", "Email": "ada@example.com", "Status": "New", "Notes": "",
                          "Lead ID": ""}
    assert sh.worksheet("Other sheet").acell("A1").value == "x"


def test_metadata_gives_each_tab_its_sheet_id(emu: SheetsEmulator, sid: str) -> None:
    """Like ``GET /v4/spreadsheets/{id}``: ``sheets[].properties.sheetId`` (the ``gid`` of a tab's URL)."""
    from server.sheets.client import SheetTab

    http = client_for(emu).http_client
    meta = http.fetch_sheet_metadata(sid, {"includeGridData": "false", "fields": "properties.title,sheets.properties"})
    ids = {s["properties"]["title"]: s["properties"]["sheetId"] for s in meta["sheets"]}
    assert ids == {"Leads": 0, "Other sheet": emu.sheet_id(sid, "Other sheet")}
    assert isinstance(ids["Other sheet"], int) and ids["Other sheet"] > 0
    tab = SheetTab(http, sid, "Other sheet")
    assert tab.sheet_id is None
    assert tab.grid_size() == (1000, 26) and tab.sheet_id == ids["Other sheet"]  # noted by the same read


def test_values_get_shape(emu: SheetsEmulator, sid: str, ws: gspread.Worksheet) -> None:
    http = ws.client
    data = http.values_get(sid, "Leads")
    assert data["range"] == "Leads!A1:Z1000" and data["majorDimension"] == "ROWS"
    assert data["values"][1] == ["Ada", "ada@example.com", "New"]  # trailing empties trimmed
    assert http.values_get(sid, "'Other sheet'!A1:B2")["range"] == "'Other sheet'!A1:B2"
    assert "values" not in http.values_get(sid, "Leads!A50:C60")
    cols = http.values_get(sid, "Leads!A1:B3", params={"majorDimension": "COLUMNS"})
    assert cols["values"] == [["Name", "Ada", "Bob"], ["Email", "ada@example.com", "bob@example.com"]]
    assert http.values_get(sid, "A1")["range"] == "Leads!A1"  # no sheet: the first one
    assert http.values_get(sid, "Leads!2:2")["values"] == [["Ada", "ada@example.com", "New"]]


def test_update_raw_vs_user_entered(emu: SheetsEmulator, sid: str, ws: gspread.Worksheet) -> None:
    res = ws.update([["=SUM(A1)", "5", 7]], "A5")
    assert res["updatedRange"] == "Leads!A5:C5" and res["updatedCells"] == 3
    assert emu.cell(sid, "Leads", "A5") == {"value": "=SUM(A1)", "formula": None}
    assert emu.cell(sid, "Leads", "B5") == {"value": "5", "formula": None}
    ws.update([["=SUM(A1)", "5", "'=text", "true"]], "A6", raw=False)
    assert emu.cell(sid, "Leads", "A6") == {"value": "#FORMULA", "formula": "=SUM(A1)"}
    assert emu.cell(sid, "Leads", "B6") == {"value": 5, "formula": None}
    assert emu.cell(sid, "Leads", "C6")["value"] == "=text"
    assert emu.cell(sid, "Leads", "D6")["value"] is True
    assert ws.get("A5:D6") == [["=SUM(A1)", "5", "7"], ["0", "5", "=text", "TRUE"]]
    assert ws.get("A6:B6", value_render_option="FORMULA") == [["=SUM(A1)", 5]]
    assert ws.get("A5:C5", value_render_option="UNFORMATTED_VALUE") == [["=SUM(A1)", "5", 7]]
    # null skips a cell, "" clears it
    ws.client.values_update(sid, "Leads!A5", params={"valueInputOption": "RAW"},
                            body={"values": [[None, ""]]})
    assert emu.values(sid, "Leads")[4] == ["=SUM(A1)", "", "7"]


def test_update_grows_grid_and_checks_range(emu: SheetsEmulator, sid: str, ws: gspread.Worksheet) -> None:
    ws.update([["far"]], "AB1200")
    meta = ws.client.fetch_sheet_metadata(sid)
    grid = meta["sheets"][0]["properties"]["gridProperties"]
    assert grid == {"rowCount": 1200, "columnCount": 28}
    with pytest.raises(APIError) as err:
        ws.update([[1, 2, 3]], "A1:B1")
    assert err.value.code == 400
    assert "tried writing to column [C]" in err.value.error["message"]
    with pytest.raises(APIError) as err:
        ws.client.values_update(sid, "Leads!A1", params={}, body={"values": [[1]]})
    assert err.value.error["message"] == "'valueInputOption' is required but not specified"


def test_batch_update_append_insert_delete_clear(emu: SheetsEmulator, sid: str,
                                                  ws: gspread.Worksheet) -> None:
    emu.reset_stats()
    res = ws.batch_update([{"range": "C2", "values": [["Lost"]]},
                           {"range": "D3:D3", "values": [["huge"]]}])
    assert res["totalUpdatedCells"] == 2 and res["totalUpdatedSheets"] == 1
    assert len(res["responses"]) == 2
    assert emu.stats()["calls"]["values.batchUpdate"] == 1 and emu.stats()["writes"] == 1
    res = ws.append_row(["Cy", "cy@example.com", "New"])
    assert res["tableRange"] == "Leads!A1:E3"
    assert res["updates"]["updatedRange"] == "Leads!A4:C4"
    ws.append_rows([["Di"], ["Ed"]])
    assert [r["Name"] for r in emu.rows_as_dicts(sid, "Leads")] == ["Ada", "Bob", "Cy", "Di", "Ed"]
    ws.insert_row(["Zed", "z@example.com"], 2)
    rows = emu.rows_as_dicts(sid, "Leads")
    assert [(r["Name"], r["_row"]) for r in rows[:2]] == [("Zed", 2), ("Ada", 3)]
    grid = ws.client.fetch_sheet_metadata(sid)["sheets"][0]["properties"]["gridProperties"]
    assert grid["rowCount"] == 1001  # OVERWRITE appends inside the grid; insertDimension adds one
    ws.delete_rows(2)
    assert emu.values(sid, "Leads")[1][0] == "Ada"
    got = ws.batch_get(["A1:B2", "C:C"])
    assert got[0] == [["Name", "Email"], ["Ada", "ada@example.com"]]
    assert got[1][:3] == [["Status"], ["Lost"], ["Won"]]
    ws.batch_clear(["D3"])
    assert emu.cell(sid, "Leads", "D3")["value"] is None
    res = ws.clear()
    assert res["clearedRange"] == "Leads!A1:Z1000"
    assert emu.values(sid, "Leads") == []


def test_spreadsheet_batch_update(emu: SheetsEmulator, sid: str) -> None:
    sh = client_for(emu).open_by_key(sid)
    new = sh.add_worksheet("Archive", rows=10, cols=3)
    assert new.row_count == 10 and new.col_count == 3
    new.update_title("Old leads")
    new.resize(rows=20)
    ws = sh.worksheet("Old leads")
    assert ws.row_count == 20
    ws.add_protected_range("A1:C1", description="header")
    props = sh.fetch_sheet_metadata({"fields": "sheets.properties,sheets.protectedRanges"})
    assert props["sheets"][2]["protectedRanges"][0]["description"] == "header"
    with pytest.raises(APIError) as err:
        sh.batch_update({"requests": [
            {"appendDimension": {"sheetId": ws.id, "dimension": "ROWS", "length": 5}},
            {"repeatCell": {}}]})
    assert err.value.code == 400 and "repeatCell" in err.value.error["message"]
    assert sh.worksheet("Old leads").row_count == 20  # the whole batch was rolled back
    with pytest.raises(APIError):
        sh.add_worksheet("Leads", rows=1, cols=1)


def test_errors(emu: SheetsEmulator, sid: str, ws: gspread.Worksheet) -> None:
    resp = requests.get(f"{emu.api_base_url}/spreadsheets/{sid}", timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"]["status"] == "UNAUTHENTICATED"
    with pytest.raises(gspread.SpreadsheetNotFound):
        client_for(emu).open_by_key("1" + "x" * 43)
    with pytest.raises(APIError) as err:
        ws.client.values_get("1" + "x" * 43, "A1")
    assert err.value.code == 404 and err.value.error == {
        "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
    for bad in ("Nope!A1", "Leads!A0:B", "Leads!!"):
        with pytest.raises(APIError) as err:
            ws.client.values_get(sid, bad)
        assert err.value.code == 400
        assert err.value.error["message"] == f"Unable to parse range: {bad}"
        assert err.value.error["status"] == "INVALID_ARGUMENT"
    with pytest.raises(APIError) as err:
        ws.get("A1:AB2")
    assert "exceeds grid limits" in err.value.error["message"]
    emu.revoke_token("tok")
    with pytest.raises(APIError) as err:
        ws.get_all_values()
    assert err.value.code == 401
    assert err.value.error["message"].startswith("Request had invalid authentication credentials.")


def test_client_refuses_other_google_hosts(emu: SheetsEmulator) -> None:
    gc = client_for(emu)
    with pytest.raises(ForeignGoogleCallError):
        gc.list_spreadsheet_files()
    http = BaseUrlHTTPClient(Credentials(token="t"), base_url=emu.api_base_url + "/", timeout=3)
    assert http.rewrite("https://sheets.googleapis.com/v4/spreadsheets/x") == \
        emu.api_base_url + "/spreadsheets/x"
    assert http.timeout == 3


def test_quota_429_and_recovery(emu: SheetsEmulator, sid: str, ws: gspread.Worksheet) -> None:
    emu.set_limits(read_limit=(3, 0.3))
    emu.reset_stats()
    for _ in range(3):
        ws.get("A1")
    with pytest.raises(APIError) as err:
        ws.get("A1")
    assert err.value.code == 429 and err.value.error["status"] == "RESOURCE_EXHAUSTED"
    assert "Read requests per minute per user" in err.value.error["message"]
    other = client_for(emu, token="someone-else").open_by_key(sid).worksheet("Leads")
    assert other.get("A1") == [["Name"]]  # quotas are per token
    ws.update([["ok"]], "H1")  # writes have their own quota
    stats = emu.stats()
    assert stats["rate_limited"] == 1 and stats["reads"] == 6 and stats["writes"] == 1
    assert wait_until(lambda: _succeeds(lambda: ws.get("A1")), timeout=3)
    emu.set_limits(write_limit=(1, 60))
    ws.update([["ok"]], "H1")
    with pytest.raises(APIError) as err:
        ws.update([["again"]], "H1")
    assert "Write requests per minute per user" in err.value.error["message"]
    requests.post(f"{emu.base_url}/_emulator/config", json={"write_limit": None}, timeout=5)
    ws.update([["again"]], "H1")


def _succeeds(call: Callable[[], Any]) -> bool:
    try:
        call()
        return True
    except APIError:
        return False


def test_fault_injection(emu: SheetsEmulator, sid: str) -> None:
    ctl = f"{emu.base_url}/_emulator/faults"
    ws = client_for(emu, timeout=0.4).open_by_key(sid).worksheet("Leads")
    body = {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}
    assert requests.post(ctl, json={"path": "/values/", "status": 500, "body": body, "times": 1},
                         timeout=5).status_code == 201
    with pytest.raises(APIError) as err:
        ws.get("A1")
    assert err.value.code == 500
    assert ws.get("A1") == [["Name"]]
    requests.post(ctl, json={"path": "/values/", "latency_ms": 150, "times": 1}, timeout=5)
    start = time.monotonic()
    ws.get("A1")
    assert time.monotonic() - start >= 0.15
    requests.post(ctl, json={"path": "/values/", "hang_s": 1.0, "times": 1}, timeout=5)
    with pytest.raises(requests.exceptions.Timeout):
        ws.get("A1")
    assert len(requests.get(ctl, timeout=5).json()) == 3
    requests.delete(ctl, timeout=5)
    assert ws.get("A1") == [["Name"]]


def test_large_sheet_single_read(emu: SheetsEmulator) -> None:
    header = ["Name", "Email", "Phone", "Company", "Status", "Notes", "Owner", "Lead ID"]
    rows = [header] + [[f"Lead {i}", f"l{i}@example.com", 5550000 + i, "Acme", "New", "note",
                        "sam", f"L-{i:012x}"] for i in range(50_000)]
    big = emu.create_spreadsheet("Big", {"Leads": rows})
    ws = client_for(emu).open_by_key(big).worksheet("Leads")
    emu.reset_stats()
    start = time.monotonic()
    values = ws.get_all_values()
    elapsed = time.monotonic() - start
    assert len(values) == 50_001 and values[50_000][2] == str(5550000 + 49_999)
    assert emu.stats()["calls"]["values.get"] == 1
    assert elapsed < 3.0, f"50,000-row read took {elapsed:.2f}s"


def test_control_api_and_ui(emu: SheetsEmulator) -> None:
    base = f"{emu.base_url}/_emulator"
    created = requests.post(f"{base}/spreadsheets", json={
        "title": "Via HTTP", "sheets": {"My Leads": [["Name", "Status"], ["Ann", "New"]]}}, timeout=5)
    assert created.status_code == 201
    new_id = created.json()["spreadsheet_id"]
    state = requests.get(f"{base}/state", timeout=5).json()
    sheet = state["spreadsheets"][0]["sheets"][0]
    assert sheet["title"] == "My Leads" and sheet["values"] == [["Name", "Status"], ["Ann", "New"]]
    assert requests.post(f"{base}/user/edit", json={"spreadsheet_id": new_id, "sheet": "My Leads",
                                                    "row": 2, "values": {"Status": "Won"}},
                         timeout=5).ok
    assert requests.post(f"{base}/user/edit", json={"spreadsheet_id": new_id, "sheet": "My Leads",
                                                    "row": 3, "values": {}, "columns": {"A": "Bo"}},
                         timeout=5).ok
    assert requests.post(f"{base}/user/append", json={"spreadsheet_id": new_id, "sheet": "My Leads",
                                                      "values": {"Name": "Cy"}}, timeout=5).json() == {"row": 4}
    assert requests.post(f"{base}/user/sort", json={"spreadsheet_id": new_id, "sheet": "My Leads",
                                                    "header": "Name", "reverse": True}, timeout=5).ok
    assert requests.post(f"{base}/user/delete", json={"spreadsheet_id": new_id, "sheet": "My Leads",
                                                      "row": 4}, timeout=5).ok
    assert emu.values(new_id, "My Leads") == [["Name", "Status"], ["Cy"], ["Bo"]]
    bad = requests.post(f"{base}/user/edit", json={"spreadsheet_id": new_id, "sheet": "My Leads",
                                                   "row": 2, "values": {"Nope": 1}}, timeout=5)
    assert bad.status_code == 400
    client_for(emu).open_by_key(new_id)
    assert requests.get(f"{base}/stats", timeout=5).json()["calls"]["spreadsheets.get"] == 1
    assert requests.delete(f"{base}/stats", timeout=5).json()["total"] == 0
    ui = requests.get(f"{base}/ui", timeout=5)
    assert "Via HTTP" in ui.text and "/_emulator/ui/spreadsheets/" in ui.text
    page = requests.get(f"{base}/ui/spreadsheets/{new_id}/My%20Leads", timeout=5)
    assert page.status_code == 200 and "<table" in page.text and "user/edit" in page.text
    assert "src=" not in page.text and 'href="http' not in page.text  # no external assets
    assert seed_demo(emu) == DEMO_SPREADSHEET_ID


# --------------------------------------------------------------------------- the simulated add-on


def _check_signature(request: dict[str, Any]) -> None:
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    ts = headers["X-Timestamp"]
    assert abs(int(ts) - time.time()) < 30
    expected = hmac.new(SECRET.encode(), f"{ts}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Signature"], expected)


def test_addon_edit_sends_signed_event_with_new_lead_id(emu: SheetsEmulator, sid: str,
                                                         addon: Receiver) -> None:
    emu.user_edit(sid, "Leads", 2, {"Status": "Contacted", "Notes": 42})
    assert emu.wait_for_events()
    assert len(addon.requests) == 1
    _check_signature(addon.requests[0])
    event = addon.events()[0]
    assert set(event) == {"event_id", "spreadsheet_id", "sheet", "sent_at", "rows", "removed"}
    assert len(event["event_id"]) == 32 and event["spreadsheet_id"] == sid and event["sheet"] == "Leads"
    assert abs(event["sent_at"] / 1000 - time.time()) < 30 and event["removed"] == []
    [row] = event["rows"]
    assert row["row"] == 2 and row["lead_id"].startswith("L-") and len(row["lead_id"]) == 14
    assert row["values"] == {"Name": "Ada", "Email": "ada@example.com", "Status": "Contacted",
                             "Notes": 42, "Lead ID": row["lead_id"]}
    assert set(row) == {"lead_id", "row", "values", "changed", "edited_at"}
    assert row["changed"] == ["Notes", "Status"]
    assert emu.cell(sid, "Leads", "E2")["value"] == row["lead_id"]  # written to the sheet
    emu.user_edit(sid, "Leads", 2, {"Notes": ""})
    assert emu.wait_for_events()
    second = addon.events()[1]["rows"][0]
    assert second["lead_id"] == row["lead_id"] and second["values"]["Notes"] == ""
    assert addon.events()[1]["event_id"] != event["event_id"]
    assert [s for s, _ in emu.addon_deliveries()] == [200, 200]


def test_addon_paste_delete_sort_and_append(emu: SheetsEmulator, sid: str, addon: Receiver) -> None:
    emu.user_paste(sid, "Leads", 4, [{"Name": f"P{i}", "Status": "New"} for i in range(5)] + [{}])
    assert emu.wait_for_events()
    [paste] = addon.events()
    assert [r["row"] for r in paste["rows"]] == [4, 5, 6, 7, 8]  # the blank 6th row is skipped
    assert len({r["lead_id"] for r in paste["rows"]}) == 5
    gone = paste["rows"][1]["lead_id"]
    emu.user_delete_row(sid, "Leads", 5)
    assert emu.wait_for_events()
    delete = addon.events()[1]
    assert delete["rows"] == [] and delete["removed"] == [{"lead_id": gone, "row": 5}]
    emu.user_sort(sid, "Leads", "Name", reverse=True)
    assert emu.wait_for_events()
    sort = addon.events()[2]
    assert [(r["row"], r["values"]["Name"]) for r in sort["rows"]] == [
        (2, "P4"), (3, "P3"), (4, "P2"), (5, "P0"), (6, "Bob"), (7, "Ada")]
    assert all(r["lead_id"] for r in sort["rows"])
    row = emu.user_append(sid, "Leads", {"Name": "Last"})
    assert row == 8
    assert emu.wait_for_events()
    assert addon.events()[3]["rows"][0]["row"] == 8
    emu.user_edit(sid, "Leads", 1, {"Notes": "Notes!"})  # the header row: nothing to send
    assert emu.wait_for_events() and len(addon.requests) == 4
    for request in addon.requests:
        _check_signature(request)


def test_addon_ignores_api_writes(emu: SheetsEmulator, sid: str, addon: Receiver,
                                  ws: gspread.Worksheet) -> None:
    ws.update([["Changed by API"]], "D2")
    ws.append_row(["Api row"])
    ws.delete_rows(2)
    assert emu.wait_for_events() and addon.requests == []
    assert emu.cell(sid, "Leads", "E3")["value"] is None  # no lead id written either
    emu.user_edit(sid, "Leads", 2, {"Status": "Won"})
    assert emu.wait_for_events() and len(addon.requests) == 1


def test_addon_drops_and_duplicates(emu: SheetsEmulator, sid: str, addon: Receiver) -> None:
    emu.drop_next_events(1)
    emu.user_edit(sid, "Leads", 2, {"Status": "A"})
    emu.user_edit(sid, "Leads", 2, {"Status": "B"})
    assert emu.wait_for_events()
    assert [e["rows"][0]["values"]["Status"] for e in addon.events()] == ["B"]
    emu.duplicate_events = True
    emu.user_edit(sid, "Leads", 3, {"Status": "C"})
    assert emu.wait_for_events()
    first, second = addon.events()[1:]
    assert first == second
    assert len(emu.addon_deliveries()) == 3


def test_addon_retries_then_gives_up(emu: SheetsEmulator, sid: str, addon: Receiver) -> None:
    addon.statuses.extend([500, 503])
    emu.user_edit(sid, "Leads", 2, {"Status": "Retry"})
    assert emu.wait_for_events()
    assert [s for s, _ in emu.addon_deliveries()] == [500, 503, 200]
    assert len({b for _, b in emu.addon_deliveries()}) == 1
    addon.statuses.extend([500, 500, 500])
    emu.user_edit(sid, "Leads", 2, {"Status": "Lost"})
    assert emu.wait_for_events()
    assert [s for s, _ in emu.addon_deliveries()][3:] == [500, 500, 500]
    addon.statuses.extend([400])
    emu.user_edit(sid, "Leads", 2, {"Status": "Bad"})  # 4xx is not retried
    assert emu.wait_for_events()
    assert [s for s, _ in emu.addon_deliveries()][6:] == [400]


def test_addon_connection_error_and_install_adds_id_column(emu: SheetsEmulator) -> None:
    new = emu.create_spreadsheet("No ids", {"Leads": [["Name"], ["Ann"], ["Bo"]]})
    emu.install_addon(new, "Leads", webhook_url="http://127.0.0.1:9/nothing", secret="s",
                      assign_ids=True)
    values = emu.values(new, "Leads")
    assert values[0] == ["Name", "Lead ID"] and values[1][1].startswith("L-")
    emu.user_edit(new, "Leads", 2, {"Name": "Anne"})
    assert emu.wait_for_events()
    assert [s for s, _ in emu.addon_deliveries()] == [None, None, None]
