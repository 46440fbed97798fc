"""End to end: the real apps_script/Code.js (run by Node against fakes of the Apps Script services,
with a UrlFetchApp that really sends) connects to the Flask app on loopback, and its signed
deliveries land in the events inbox. Once at the root of the server, once behind a "proxy" that
serves the app under a path prefix (moved into SCRIPT_NAME): the add-on API's signatures cover the
path, which must be the same on both sides."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

import server.addon as addon_api
from emulators.common import serve_in_thread
from server.addon.codes import issue_connect_code
from server.extensions import db
from server.models import Event, Link, User, Workspace

ADDON_DIR = Path(__file__).resolve().parents[2] / "apps_script"


def behind_prefix(app, prefix: str):
    """A WSGI stand-in for a reverse proxy publishing ``app`` under ``prefix`` (``SCRIPT_NAME``)."""
    if not prefix:
        return app

    def proxied(environ, start_response):  # type: ignore[no-untyped-def]
        path = environ.get("PATH_INFO", "")
        if not path.startswith(prefix + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not under the prefix"]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
        environ["PATH_INFO"] = path[len(prefix):]
        return app(environ, start_response)

    return proxied


@pytest.mark.parametrize("prefix", ["", "/tools/leads"], ids=["root", "path-prefix"])
def test_code_js_delivers_signed_events_to_the_server(app, monkeypatch, prefix):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the add-on's end-to-end test needs Node 20 (see README)")
    with app.app_context():
        user = User(email="ann@example.com", name="Ann")
        db.session.add(user)
        db.session.flush()
        workspace = Workspace(name="Pipeline", owner_id=user.id, spreadsheet_id="sheet-e2e", sheet_name="Leads",
                              trello_board_id="b" * 24)
        db.session.add(workspace)
        db.session.flush()
        db.session.add(Link(workspace_id=workspace.id, lead_id="L-e2e000000001", card_id="c" * 24, shadow={},
                            sync_state="synced"))
        code = issue_connect_code(db.session, workspace)
        db.session.commit()
        workspace_id = workspace.id
    card = {"id": "c" * 24, "name": "Ann Lee", "url": "https://trello.com/c/AbCd1234", "idList": "l" * 24,
            "list": {"id": "l" * 24, "name": "Contacted"}, "labels": [{"name": "Hot", "color": "red"}],
            "members": [], "due": None, "dateLastActivity": "2024-05-01T10:00:00.000Z"}
    monkeypatch.setattr(addon_api, "fetch_card", lambda ws, card_id: card)

    running = serve_in_thread(behind_prefix(app, prefix))
    server_url = running.base_url + prefix
    try:
        options = {"server_url": server_url, "code": code, "spreadsheet_id": "sheet-e2e", "sheet": "Leads"}
        result = subprocess.run([node, str(ADDON_DIR / "testlib" / "e2e_driver.js"), json.dumps(options)],
                                capture_output=True, text=True, timeout=120, cwd=ADDON_DIR)
    finally:
        running.stop()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    # connect: settings kept, two triggers, ids filled
    assert report["errors"] == [], report["errors"]
    assert "Connected to the workspace \u201cPipeline\u201d" in report["connect_message"], report["connect_message"]
    assert report["properties"]["workspace_id"] == workspace_id
    assert report["triggers"] == ["handleChange", "handleEdit"]
    first, second, third = report["ids_after_connect"]
    assert (first, second) == ("L-e2e000000001", "L-e2e000000002")
    assert third.startswith("L-") and len(third) == 14
    statuses = {step["name"]: [r["status"] for r in step["requests"]] for step in report["steps"]}
    assert statuses == {"connect": [200, 200], "paste": [200], "remove": [200], "sidebar": [200, 202, 202]}
    assert report["steps"][0]["requests"][1]["url"] == f"{server_url}/webhooks/sheets/{workspace_id}"
    assert [r["url"] for r in report["steps"][-1]["requests"]] == [
        f"{server_url}/api/addon/leads/L-e2e000000001", f"{server_url}/api/addon/leads/L-e2e000000001/card",
        f"{server_url}/api/addon/sync"]

    # the sidebar's lookup went through the signed GET
    assert report["selected"]["leadId"] == "L-e2e000000001"
    assert report["card"]["ok"] is True and report["card"]["linked"] is True
    assert report["card"]["card"]["list"] == {"id": "l" * 24, "name": "Contacted"}
    assert report["create"]["ok"] is True and report["sync"]["ok"] is True

    # what the server stored
    with app.app_context():
        stored = list(db.session.execute(
            select(Event).where(Event.workspace_id == workspace_id).order_by(Event.id)).scalars())
        rows = [(e.source, e.kind, json.loads(e.payload)) for e in stored]
        workspace = db.session.get(Workspace, workspace_id)
        assert workspace.connect_code_hash is None, "the code was used up"
    kinds = [(source, kind) for source, kind, _ in rows]
    assert kinds == [("sheets", "row")] * 3 + [("sheets", "row")] * 3 + [
        ("sheets", "row_removed"), ("system", "create_card"), ("system", "reconcile")]
    first_sync = [payload for _, _, payload in rows[:3]]
    assert [p["lead_id"] for p in first_sync] == [first, second, third]
    assert all(p["changed"] is None for p in first_sync)
    assert first_sync[0]["values"] == {"Name": "Ann Lee", "Email": "ann@example.com", "Status": "New", "Notes": "",
                                       "Lead ID": first}
    paste = [payload for _, _, payload in rows[3:6]]
    assert [(p["lead_id"], p["row"], p["changed"]) for p in paste] == [
        (first, 2, ["Status", "Notes"]), (second, 3, ["Status", "Notes"]), (third, 4, ["Status", "Notes"])]
    assert paste[0]["values"]["Notes"] == "Zoë said “call Tuesday” — €5k"
    assert paste[1]["values"]["Status"] == "Won"
    assert rows[6][2]["lead_id"] == second and rows[6][2]["row"] == 3
    assert rows[7][2] == {"lead_id": first}
