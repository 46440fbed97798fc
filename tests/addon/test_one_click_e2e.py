"""End to end, one-click connect over real HTTP: the built add-on (``flask addon build`` output, run
by Node with the Apps Script fakes and a UrlFetchApp that really sends) opens the connect page; a
signed-in person (``requests`` with a real session cookie) chooses the workspace there; the add-on's
next poll connects it, and an edit it then sends lands in the events inbox."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from emulators.common import serve_in_thread
from server.addon.build import BuildOptions, build
from server.auth.sessions import start_session
from server.extensions import db
from server.models import Event, User, Workspace
from tests.conftest import make_app

ADDON_DIR = Path(__file__).resolve().parents[2] / "apps_script"


def _signed_in(app, base_url: str, user_id: int) -> requests.Session:
    with app.app_context():
        token = start_session(db.session, user_id)
        db.session.commit()
    http = requests.Session()
    cookie = app.session_interface.get_signing_serializer(app).dumps({"sid": token, "_permanent": True})
    http.cookies.set(app.config.get("SESSION_COOKIE_NAME", "session"), cookie, domain="127.0.0.1", path="/")
    return http


def test_the_built_addon_connects_with_one_click_and_its_edit_syncs(sqlite_url, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the add-on's end-to-end test needs Node 20 (see apps_script/README.md)")
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    with app.app_context():
        ann = User(email="ann@example.com", name="Ann")
        db.session.add(ann)
        db.session.flush()
        ws = Workspace(name="Pipeline", owner_id=ann.id, spreadsheet_id="sheet-1click", sheet_name="Leads",
                       trello_board_id="b" * 24, state="active")
        db.session.add(ws)
        db.session.commit()
        ann_id, workspace_id = ann.id, ws.id

    running = serve_in_thread(app)
    try:
        app.config["PUBLIC_BASE_URL"] = running.base_url
        build(BuildOptions(server_url=running.base_url, out_dir=tmp_path / "addon", allow_http=True))
        options = {"one_click": True, "addon_dir": str(tmp_path / "addon"), "spreadsheet_id": "sheet-1click",
                   "sheet": "Leads"}
        driver = subprocess.Popen([node, str(ADDON_DIR / "testlib" / "e2e_driver.js"), json.dumps(options)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=ADDON_DIR)
        try:
            assert driver.stdout is not None and driver.stdin is not None
            line = driver.stdout.readline()
            assert line.startswith("CONNECT_URL "), line + (driver.stderr.read() if driver.stderr else "")
            connect_url = line.split(" ", 1)[1].strip()
            assert connect_url.startswith(running.base_url + "/app/addon/connect?nonce=")

            # the person in the popup: signed in, sees their workspace, chooses it
            http = _signed_in(app, running.base_url, ann_id)
            page = http.get(connect_url, timeout=10)
            assert page.status_code == 200 and "Pipeline" in page.text
            form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
            chosen = http.post(running.base_url + "/app/addon/connect", data={**form, "workspace_id": workspace_id},
                               timeout=10)
            assert chosen.status_code == 200 and "Connected to “Pipeline”" in chosen.text

            out, err = driver.communicate("approved\n", timeout=120)
        finally:
            if driver.poll() is None:
                driver.kill()
    finally:
        running.stop()
    assert driver.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["build"] == {"serverUrl": running.base_url, "editorAddon": True}
    assert report["begin_ok"] is True and report["before_approval"] == {"state": "waiting"}
    assert report["finish"]["state"] == "connected", report["finish"]
    assert "Connected to the workspace “Pipeline”" in report["finish"]["message"]
    assert report["after"] == {"state": "none"}
    assert report["edit_requests"] == [{"method": "post", "url": f"{running.base_url}/webhooks/sheets/{workspace_id}",
                                        "status": 200}]
    assert report["errors"] == []
    with app.app_context():
        stored = list(db.session.execute(
            select(Event).where(Event.workspace_id == workspace_id).order_by(Event.id)).scalars())
        assert db.session.get(Workspace, workspace_id).connect_code_hash is None
        db.engine.dispose()
    payloads = [json.loads(e.payload) for e in stored]
    assert len(payloads) == 3, payloads   # the first sync (two rows), then the edit
    assert payloads[0]["lead_id"] == "L-e2e000000001" and payloads[1]["lead_id"].startswith("L-")
    assert payloads[0]["changed"] is None and payloads[1]["changed"] is None
    edit = payloads[-1]
    assert (edit["lead_id"], edit["changed"], edit["values"]["Status"]) == ("L-e2e000000001", ["Status"], "Won")
