"""Rotating a workspace's add-on secret: the old secret keeps working for a grace period (add-on API
and sheets webhook), then the add-on is told in plain words to reconnect; owner only, CSRF-protected,
shown in the history, with a new connect code on the workspace page."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import Event, History, User, Workspace, WorkspaceMember
from server.sync.signatures import addon_signature
from tests.addon.test_api import connect, make_workspace, signed_headers
from tests.conftest import make_app, sign_in_as

LOOKUP = "/api/addon/leads/L-0123456789ab"


def owner_client(app, email: str = "ann@example.com"):
    with app.app_context():
        user_id = db.session.execute(select(User.id).where(User.email == email)).scalar_one()
    client = app.test_client()
    sign_in_as(client, app, user_id)
    return client


def api_get(client, workspace_id: str, secret: str):
    return client.get(LOOKUP, headers=signed_headers(workspace_id, secret, "GET", LOOKUP))


def webhook_post(client, workspace_id: str, secret: str, event_id: str):
    body = json.dumps({"event_id": event_id, "spreadsheet_id": "sheet-123", "sheet": "Leads",
                       "rows": [{"lead_id": "L-0123456789ab", "row": 2, "values": {"Name": "Ann"},
                                 "changed": ["Name"], "edited_at": 1700000000000}], "removed": []}).encode()
    stamp = str(int(time.time()))
    return client.post(f"/webhooks/sheets/{workspace_id}", data=body, headers={
        "X-Timestamp": stamp, "X-Signature": addon_signature(secret, stamp, body), "Content-Type": "application/json"})


def stored(app, workspace_id: str) -> dict:
    with app.app_context():
        ws = db.session.get(Workspace, workspace_id)
        return {"secret": ws.addon_secret, "code": ws.connect_code_hash,
                "previous": getattr(ws, "addon_secret_previous", None)}


def end_grace(app, workspace_id: str) -> None:
    with app.app_context():
        ws = db.session.get(Workspace, workspace_id)
        ws.addon_secret_previous_until = datetime.now(timezone.utc) - timedelta(seconds=1)
        db.session.commit()


def test_after_rotation_both_secrets_work_within_the_grace_period_then_only_the_new_one(app):
    ws = make_workspace(app)
    old = ws["secret"]
    owner = owner_client(app)
    page = owner.post(f"/app/workspaces/{ws['id']}/rotate-secret")
    assert page.status_code == 200, page.status_code
    text = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    new = stored(app, ws["id"])["secret"]
    assert new != old and len(new) == 64
    assert old not in text and new not in text, "secrets are never shown"
    # the page shows a new one-time connect code, and says what to do with it
    code = text.split('id="connect-code">')[1].split("<")[0]
    assert "Connect to server" in text and "10 minutes" in text

    client = app.test_client()
    # within the grace period: both secrets open the add-on API and the sheets webhook
    during = api_get(client, ws["id"], old)
    assert during.status_code == 200 and during.headers.get("X-Secret-Rotated") == "1"
    fresh = api_get(client, ws["id"], new)
    assert fresh.status_code == 200 and "X-Secret-Rotated" not in fresh.headers
    assert webhook_post(client, ws["id"], old, "e-old").status_code == 200
    assert webhook_post(client, ws["id"], new, "e-new").status_code == 200

    end_grace(app, ws["id"])
    refused = api_get(client, ws["id"], old)
    assert refused.status_code == 401
    error = refused.get_json()["error"]
    assert error["reason"] == "secret_rotated" and "connect code" in error["message"]
    hook = webhook_post(client, ws["id"], old, "e-late")
    assert hook.status_code == 401 and hook.get_json()["error"]["reason"] == "secret_rotated"
    assert api_get(client, ws["id"], new).status_code == 200
    assert webhook_post(client, ws["id"], new, "e-new-2").status_code == 200
    with app.app_context():
        ids = db.session.execute(select(Event.provider_event_id).where(Event.workspace_id == ws["id"])).scalars()
        assert sorted(i.split(":")[0] for i in ids) == ["e-new", "e-new-2", "e-old"]
    # an unrelated wrong secret is still just a wrong signature
    other = api_get(client, ws["id"], "f" * 64)
    assert other.status_code == 401 and "reason" not in other.get_json()["error"]

    # connecting with the code shown after the rotation hands out the new secret
    connected = connect(client, code)
    assert connected.status_code == 200 and connected.get_json()["secret"] == new


def test_the_rotation_is_in_the_history_and_on_the_page(app):
    ws = make_workspace(app)
    owner = owner_client(app)
    owner.post(f"/app/workspaces/{ws['id']}/rotate-secret")
    with app.app_context():
        [entry] = db.session.execute(select(History).where(History.workspace_id == ws["id"])).scalars().all()
        assert entry.action == "rotate_addon_secret" and "ann@example.com" in entry.message
        assert stored(app, ws["id"])["secret"] not in entry.message
    page = owner.get(f"/app/workspaces/{ws['id']}").get_data(as_text=True)
    assert "Add-on secret rotated" in page
    assert "Secret last rotated" in page


def test_refuse_the_old_secret_at_once(app):
    ws = make_workspace(app)
    owner = owner_client(app)
    owner.post(f"/app/workspaces/{ws['id']}/rotate-secret", data={"immediately": "yes"})
    refused = api_get(app.test_client(), ws["id"], ws["secret"])
    assert refused.status_code == 401 and refused.get_json()["error"]["reason"] == "secret_rotated"


def test_a_member_cannot_rotate(app):
    ws = make_workspace(app)
    with app.app_context():
        db.session.add(WorkspaceMember(workspace_id=ws["id"], email="bob@example.com"))
        db.session.add(User(email="bob@example.com"))
        db.session.commit()
    before = stored(app, ws["id"])
    member = owner_client(app, "bob@example.com")
    response = member.post(f"/app/workspaces/{ws['id']}/rotate-secret")
    assert response.status_code == 302
    with member.session_transaction() as session:
        assert any("Only the workspace's owner" in m for _, m in session.get("_flashes", []))
    assert stored(app, ws["id"]) == before
    assert "Rotate secret" not in member.get(f"/app/workspaces/{ws['id']}").get_data(as_text=True)
    assert "Rotate secret" in owner_client(app).get(f"/app/workspaces/{ws['id']}").get_data(as_text=True)


def test_rotation_needs_a_csrf_token(sqlite_url):
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    ws = make_workspace(app)
    before = stored(app, ws["id"])
    response = owner_client(app).post(f"/app/workspaces/{ws['id']}/rotate-secret")
    assert response.status_code == 400
    assert stored(app, ws["id"]) == before
    with app.app_context():
        db.engine.dispose()


def test_rotation_grace_is_configurable(sqlite_url):
    from server.dashboard import workspace_actions as actions

    app = make_app(sqlite_url, ADDON_SECRET_GRACE_MINUTES=3)
    ws = make_workspace(app)
    owner_client(app).post(f"/app/workspaces/{ws['id']}/rotate-secret")
    with app.app_context():
        workspace = db.session.get(Workspace, ws["id"])
        left = workspace.addon_secret_previous_until - datetime.now(timezone.utc)
        assert timedelta(minutes=2) < left <= timedelta(minutes=3)
        owner = db.session.get(User, workspace.owner_id)
        draft = Workspace(name="Draft", owner_id=owner.id, spreadsheet_id="s", sheet_name="L",
                          trello_board_id="b" * 24, state="draft")
        db.session.add(draft)
        db.session.commit()
        with pytest.raises(actions.Refused):
            actions.rotate_addon_secret(db.session, draft, owner, grace=timedelta(minutes=1))
        db.engine.dispose()
