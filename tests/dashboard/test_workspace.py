"""The workspace page's actions: sync now, pause and resume, retry a parked event, disconnect and
reconnect, delete, members."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy import select

from server.extensions import db
from server.models import Event, Link, Workspace, WorkspaceMember
from server.models.sync import PARKED, PENDING
from server.sync.signatures import addon_signature
from tests.dashboard.helpers import (
    events,
    flashes,
    location,
    login,
    page,
    workspace,
)


def test_reconciliation_learns_the_tab_gid(world):
    """A workspace without a gid (made before it was stored) gets it from the next reconciliation."""
    app = world.app
    with app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.sheet_gid = None
        db.session.commit()
    client = app.test_client()
    login(client, app)
    client.post(f"/app/workspaces/{world.workspace_id}/sync")
    world.sheets.reset_stats()
    world.worker.drain(timeout_s=10)
    assert workspace(app, world.workspace_id).sheet_gid == world.sheets.sheet_id(world.spreadsheet_id, "Leads") == 0
    assert world.sheets.stats()["calls"]["spreadsheets.get"] == 1  # the grid-size read it makes anyway
    with app.app_context():  # a stale gid (the tab was replaced) is refreshed the same way
        db.session.get(Workspace, world.workspace_id).sheet_gid = 12345
        db.session.commit()
    client.post(f"/app/workspaces/{world.workspace_id}/sync")
    world.worker.drain(timeout_s=10)
    assert workspace(app, world.workspace_id).sheet_gid == 0


def test_sync_now_pause_resume(world):
    client = world.app.test_client()
    login(client, world.app)
    ws_id = world.workspace_id
    assert client.post(f"/app/workspaces/{ws_id}/sync").status_code == 302
    assert [e.kind for e in events(world.app, ws_id, state=PENDING)] == ["reconcile"]
    assert client.post(f"/app/workspaces/{ws_id}/pause").status_code == 302
    assert workspace(world.app, ws_id).state == "paused"
    assert client.get(f"/app/workspaces/{ws_id}/status.json").get_json()["state"] == "paused"
    world.worker.drain(timeout_s=3)
    assert len(events(world.app, ws_id, state=PENDING)) == 1  # paused: the worker leaves it alone
    assert "Resume" in page(client, f"/app/workspaces/{ws_id}")
    client.post(f"/app/workspaces/{ws_id}/sync")
    assert any("not syncing" in m for m in flashes(client))
    assert client.post(f"/app/workspaces/{ws_id}/resume").status_code == 302
    assert workspace(world.app, ws_id).state == "active"
    world.worker.drain(timeout_s=10)
    assert not events(world.app, ws_id, state=PENDING)
    assert workspace(world.app, ws_id).last_reconciled_at is not None


def test_retry_requeues_a_parked_event(world):
    app = world.app
    client = app.test_client()
    login(client, app)
    with app.app_context():
        parked = Event(workspace_id=world.workspace_id, source="system", provider_event_id="reconcile:parked-1",
                       kind="reconcile", order_key="workspace:reconcile", payload="{}", state=PARKED, attempts=5,
                       last_error="Google Sheets refused the write: the sheet 'Leads' is protected.",
                       processed_at=datetime.now(timezone.utc))
        db.session.add(parked)
        db.session.commit()
        event_id = parked.id
    ws_page = page(client, f"/app/workspaces/{world.workspace_id}")
    assert "the sheet &#39;Leads&#39; is protected" in ws_page and f"/events/{event_id}/retry" in ws_page
    assert client.get(f"/app/workspaces/{world.workspace_id}/status.json").get_json()["parked"] == 1
    before = datetime.now(timezone.utc)
    assert client.post(f"/app/workspaces/{world.workspace_id}/events/{event_id}/retry").status_code == 302
    event = events(app, world.workspace_id, id=event_id)[0]
    assert event.state == PENDING and event.attempts == 0 and event.next_attempt_at <= datetime.now(timezone.utc)
    assert event.next_attempt_at >= before.replace(microsecond=0) or True
    world.worker.drain(timeout_s=10)
    assert events(app, world.workspace_id, id=event_id)[0].state == "done"
    # retrying something not parked changes nothing
    client.post(f"/app/workspaces/{world.workspace_id}/events/{event_id}/retry")
    assert events(app, world.workspace_id, id=event_id)[0].state == "done"


def test_disconnect_removes_the_webhook_and_refuses_the_addon(world):
    app = world.app
    client = app.test_client()
    login(client, app)
    ws = workspace(app, world.workspace_id)
    assert any(h["id"] == ws.trello_webhook_id for h in world.trello.webhooks())
    assert client.post(f"/app/workspaces/{ws.id}/disconnect").status_code == 302
    after = workspace(app, ws.id)
    assert after.state == "disconnected" and after.trello_webhook_id is None
    assert not any(h["idModel"] == world.board_id for h in world.trello.webhooks())
    body = b'{"event_id":"e1","spreadsheet_id":"%s","sheet":"Leads","rows":[{"row":2,"values":{"Name":"X"}}]}' % \
        world.spreadsheet_id.encode()
    stamp = str(int(time.time()))
    refused = client.post(f"/webhooks/sheets/{ws.id}", data=body, headers={
        "X-Timestamp": stamp, "X-Signature": addon_signature(ws.addon_secret, stamp, body),
        "Content-Type": "application/json"})
    assert refused.status_code == 410
    assert "Reconnect" in page(client, f"/app/workspaces/{ws.id}")
    # reconnect registers the webhook again and queues a full sync
    assert client.post(f"/app/workspaces/{ws.id}/reconnect").status_code == 302
    again = workspace(app, ws.id)
    assert again.state == "active" and again.trello_webhook_id
    assert any(h["idModel"] == world.board_id for h in world.trello.webhooks())
    assert [e.kind for e in events(app, ws.id, state=PENDING)] == ["reconcile"]


def test_delete_asks_then_deletes_and_removes_the_webhook(world):
    app = world.app
    client = app.test_client()
    login(client, app)
    ws_id = world.workspace_id
    world.add_row(Name="Ada", Email="ada@example.com", Status="New")
    world.settle()
    assert world.links()
    confirm = page(client, f"/app/workspaces/{ws_id}/delete")
    assert 'name="confirm"' in confirm
    client.post(f"/app/workspaces/{ws_id}/delete")  # not confirmed
    assert workspace(app, ws_id) is not None
    response = client.post(f"/app/workspaces/{ws_id}/delete", data={"confirm": "yes"})
    assert response.status_code == 302 and location(response).endswith("/app")
    assert workspace(app, ws_id) is None
    with app.app_context():
        assert not db.session.execute(select(Link).where(Link.workspace_id == ws_id)).first()
        assert not db.session.execute(select(Event).where(Event.workspace_id == ws_id)).first()
    assert not any(h["idModel"] == world.board_id for h in world.trello.webhooks())
    assert client.get(f"/app/workspaces/{ws_id}").status_code == 404
    assert len(world.cards()) == 1  # the board is untouched


def test_members_invite_see_and_remove(world):
    app = world.app
    owner = app.test_client()
    login(owner, app)
    ws_id = world.workspace_id
    guest = app.test_client()
    login(guest, app, "Bob@Example.com")
    assert guest.get(f"/app/workspaces/{ws_id}").status_code == 404
    owner.post(f"/app/workspaces/{ws_id}/members", data={"email": "not-an-email"})
    assert any("Enter an email address" in m for m in flashes(owner))
    owner.post(f"/app/workspaces/{ws_id}/members", data={"email": "bob@example.com"})
    with app.app_context():
        member = db.session.execute(select(WorkspaceMember).where(WorkspaceMember.workspace_id == ws_id)).scalar_one()
        member_id = member.id
    assert "Leads" in page(guest, "/app")
    guest_view = page(guest, f"/app/workspaces/{ws_id}")
    assert "Sync now" in guest_view and "Delete…" not in guest_view
    # members run the workspace but cannot delete it or manage members
    guest.post(f"/app/workspaces/{ws_id}/delete", data={"confirm": "yes"})
    assert workspace(app, ws_id) is not None
    guest.post(f"/app/workspaces/{ws_id}/members/{member_id}/remove")
    assert any("Only the workspace's owner" in m for m in flashes(guest))
    assert owner.post(f"/app/workspaces/{ws_id}/members/{member_id}/remove").status_code == 302
    assert guest.get(f"/app/workspaces/{ws_id}").status_code == 404
