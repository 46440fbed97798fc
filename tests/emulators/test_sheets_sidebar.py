"""The sidebar bridge: Code.js's sidebar functions run by the Sheets emulator against the real add-on API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from emulators.common import serve_in_thread
from emulators.sheets import SheetsEmulator
from emulators.sheets_sidebar import SidebarBridge
from server.extensions import db
from server.models import Event
from tests.addon.test_api import make_workspace
from tests.conftest import make_app

ROWS = [["Name", "Status", "Lead ID"], ["Ann Lee", "New", "L-0123456789ab"], ["", "", ""], ["Bo", "Won", ""]]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('sidebar') / 'app.db'}")
    web = serve_in_thread(app)
    app.config["PUBLIC_BASE_URL"] = web.base_url
    sheets = SheetsEmulator()
    bridge = SidebarBridge(sheets)
    sheets.wsgi_app = bridge.wrap(sheets.wsgi_app)
    sheets.start()
    spreadsheet_id = sheets.create_spreadsheet("Pipeline", {"Leads": ROWS})
    yield app, web.base_url, sheets, bridge, spreadsheet_id
    sheets.stop()
    web.stop()
    with app.app_context():
        db.engine.dispose()


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_connect_with_the_dashboards_code_then_the_sidebar_functions(world):
    app, server_url, sheets, bridge, sid = world
    where = (sid, "Leads")
    assert bridge.run("getSelectedLead", sid, "Leads", 2, []) == {"connected": False, "errors": []}
    workspace = make_workspace(app, spreadsheet_id=sid)

    wrong = bridge.connect_with_code(sid, "Leads", server_url, "AAAA-BBBB-CCCC")
    assert wrong["ok"] is False and wrong["message"].startswith("Could not connect: ")
    done = bridge.connect_with_code(sid, "Leads", server_url, workspace["code"])
    assert done == {"ok": True, "message": "Connected to the workspace \u201cPipeline\u201d. "
                                           "The tab \u201cLeads\u201d now syncs with Trello."}
    assert sheets.state(sid)["spreadsheets"][0]["sheets"][0]["addon"]["webhook_url"] == \
        f"{server_url}/webhooks/sheets/{workspace['id']}"
    assert sheets.values(sid, "Leads")[3][2].startswith("L-")  # the add-on gave Bo's row an id

    assert bridge.run("getSelectedLead", sid, "Leads", 1, [])["header"] is True
    assert bridge.run("getSelectedLead", sid, "Leads", 3, [])["blank"] is True
    selected = bridge.run("getSelectedLead", sid, "Leads", 2, [])
    assert selected["workspaceName"] == "Pipeline" and selected["leadId"] == "L-0123456789ab"
    assert selected["values"] == {"Name": "Ann Lee", "Status": "New"}

    card = bridge.get_card_for_lead(where, 2, "L-0123456789ab")  # a signed GET the server accepts
    assert card["ok"] is True and card["linked"] is False
    assert bridge.create_card_now(where, 2, "L-0123456789ab") == {
        "ok": True, "message": "The card is being created; it shows here in a few seconds."}
    assert bridge.sync_now(where, None)["ok"] is True
    with app.app_context():
        kinds = sorted(e.kind for e in db.session.query(Event).filter_by(workspace_id=workspace["id"]))
    assert "create_card" in kinds and "reconcile" in kinds


def test_a_refused_call_is_remembered_for_the_sidebar_and_cleared(world):
    _, server_url, _, bridge, sid = world
    bridge.connect(sid, "Leads", server_url=server_url, workspace_id="ws_unknown", workspace_name="Gone",
                   secret="x" * 32)
    answer = bridge.sync_now((sid, "Leads"), None)
    assert answer["ok"] is False and "(HTTP 4" in answer["error"]
    errors = bridge.run("getSelectedLead", sid, "Leads", 2, [])["errors"]
    assert [e["message"] for e in errors] == ["Sync now failed: " + answer["error"]]
    bridge.run("clearErrors", sid, "Leads", None, [])
    assert bridge.run("getSelectedLead", sid, "Leads", 2, [])["errors"] == []


def test_served_routes_answer_plainly(world):
    _, _, sheets, _, sid = world
    base = sheets.base_url + "/_emulator/sidebar"
    with urllib.request.urlopen(f"{base}/{sid}/Leads", timeout=5) as page:
        html = page.read().decode()
    assert "google.script.run" in html and "Not connected" in html
    assert _post(f"{base}/run/deleteEverything", {"spreadsheet_id": sid, "sheet": "Leads"}) == \
        (404, {"error": "Script function not found: deleteEverything"})
    assert _post(f"{base}/run/getSelectedLead", {"spreadsheet_id": sid, "sheet": "Leads", "args": [{"a": 1}]})[0] == 400
    assert _post(f"{base}/run/getCardForLead", {"spreadsheet_id": sid, "sheet": "Leads", "args": [1, 2, 3]})[0] == 400
    status, body = _post(f"{base}/run/getSelectedLead", {"spreadsheet_id": "nope", "sheet": "Leads", "row": 2})
    assert status == 200 and body == {"connected": False, "errors": []}


def test_one_click_connect_waits_for_the_popup_then_connects(world):
    """beginConnect / finishConnect as Code.js runs them; the popup's approval done as its view does."""
    app, server_url, sheets, bridge, _ = world
    sid = sheets.create_spreadsheet("Second", {"Leads": ROWS})
    where = (sid, "Leads")
    bridge.default_server_url = ""
    assert bridge.begin_connect(where, None)["ok"] is False  # no built-in server address, none connected
    assert bridge.finish_connect(where, None) == {"state": "none"}
    bridge.default_server_url = server_url
    started = bridge.begin_connect(where, None)
    assert started["ok"] is True and started["url"].startswith(f"{server_url}/app/addon/connect?nonce=")
    assert bridge.finish_connect(where, None) == {"state": "waiting"}

    from server.addon import one_click
    from server.models import Workspace

    workspace = make_workspace(app, name="Second", spreadsheet_id=sid)
    nonce = started["url"].split("nonce=")[1].split("&")[0]
    with app.app_context():
        one_click.approve(db.session, db.session.get(Workspace, workspace["id"]),
                          one_click.parse_request(nonce, sid, "Leads"))
        db.session.commit()
    assert bridge.finish_connect(where, None) == {
        "state": "connected",
        "message": "Connected to the workspace \u201cSecond\u201d. The tab \u201cLeads\u201d now syncs with Trello."}
    assert bridge.finish_connect(where, None) == {"state": "none"}  # used up
    assert bridge.run("getSelectedLead", sid, "Leads", 2, [])["workspaceName"] == "Second"
