"""Editing a running workspace's mapping: the page, its checks, its preview, saving, and the parked
events it clears — through the Flask test client with CSRF on, against the emulators."""

from __future__ import annotations

import html as html_module
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import Event, History, Workspace
from server.models.sync import DONE, PARKED, PENDING
from tests.conftest import make_app
from tests.dashboard.helpers import login
from tests.mapping.forms import form_fields
from tests.sync.world import build_world

GAP = "Status 'Demo booked' has no Trello list in this workspace's mapping; the card was not created"


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app, config={"WTF_CSRF_ENABLED": True})
    yield w
    w.stop()


def stored(app, workspace_id: str) -> Workspace:
    with app.app_context():
        ws = db.session.get(Workspace, workspace_id)
        assert ws is not None
        db.session.expunge(ws)
        return ws


def event(app, event_id: int) -> Event:
    with app.app_context():
        found = db.session.get(Event, event_id)
        assert found is not None
        db.session.expunge(found)
        return found


def park(app, workspace_id: str, reason: str, payload: dict[str, Any] | None = None,
         kind: str = "create_card") -> int:
    with app.app_context():
        parked = Event(workspace_id=workspace_id, source="system", provider_event_id=f"{kind}:{reason[:20]}",
                       kind=kind, order_key="lead:L-demo", payload=json.dumps(payload or {"lead_id": "L-demo"}),
                       state=PARKED, attempts=1, last_error=reason, processed_at=datetime.now(UTC))
        db.session.add(parked)
        db.session.commit()
        return parked.id


def body(response) -> str:
    return response.get_data(as_text=True)


def as_form(fields: dict[str, list[str]], **changes: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: (v if len(v) > 1 else v[0]) for k, v in fields.items()}
    out.update(changes)
    return out


def list_field(html: str, status: str) -> str:
    """The name of the select that picks the list of ``status``."""
    found = re.search(r'name="status_name_(\d+)" value="' + re.escape(status) + '"', html)
    assert found, status
    return f"status_list_{found.group(1)}"


def test_edit_page_offers_what_the_sync_met_and_saving_requeues_it(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    demo = world.trello.add_list(world.board_id, "Demo")
    event_id = park(app, world.workspace_id, GAP)
    before = stored(app, world.workspace_id).mapping

    ws_page = body(client.get(f"/app/workspaces/{world.workspace_id}"))
    assert "Status “Demo booked” in the sheet has no Trello list" in ws_page and "map it to a list" in ws_page
    assert f"/app/workspaces/{world.workspace_id}/mapping" in ws_page

    html = body(client.get(f"/app/workspaces/{world.workspace_id}/mapping"))
    assert "Demo booked" in html and "not mapped yet" in html and "No Trello list matches 1 status" in html
    assert f'id="reverse_{demo["id"]}"' in html and "new list" in html and "mapping.js" in html
    fields = form_fields(html)
    assert fields[list_field(html, "Demo booked")] == [""]  # not sent to some default list

    # Without the CSRF token: refused, nothing changed.
    no_token = {k: v for k, v in as_form(fields, action="preview").items() if k != "csrf_token"}
    assert client.post(f"/app/workspaces/{world.workspace_id}/mapping", data=no_token).status_code == 400

    # Bad answers: a clear error naming the status, and nothing saved.
    response = client.post(f"/app/workspaces/{world.workspace_id}/mapping",
                           data=as_form(fields, action="save", title_column="Nope"))
    assert response.status_code == 400
    text = body(response)
    assert "The mapping was not saved; nothing changed" in text
    assert "Choose a list for the status “Demo booked”." in text
    assert "Choose the column that becomes the card title." in text
    assert stored(app, world.workspace_id).mapping == before and event(app, event_id).state == PARKED

    # A good answer is previewed first: what it clears, what it moves; nothing saved yet.
    answer = as_form(fields, action="save", **{list_field(html, "Demo booked"): demo["id"],
                                                f"reverse_{demo['id']}": "Demo booked"})
    response = client.post(f"/app/workspaces/{world.workspace_id}/mapping", data=answer)
    assert response.status_code == 200
    preview = body(response)
    assert "What saving changes" in preview and "1 parked event will be queued again" in preview
    assert f"#{event_id} (status “Demo booked”)" in preview and "Save mapping" in preview
    assert stored(app, world.workspace_id).mapping == before

    # Saving the previewed answer: stored, the parked event queued again, a history line.
    confirmed = as_form(form_fields(preview), action="save")
    response = client.post(f"/app/workspaces/{world.workspace_id}/mapping", data=confirmed)
    assert response.status_code == 302 and response.headers["Location"].endswith(world.workspace_id)
    mapping = stored(app, world.workspace_id).mapping
    assert mapping["status_to_list"]["Demo booked"] == demo["id"]
    assert mapping["list_to_status"][demo["id"]] == "Demo booked" and mapping["list_names"][demo["id"]] == "Demo"
    assert event(app, event_id).state == PENDING
    with app.app_context():
        lines = db.session.scalars(select(History).where(History.workspace_id == world.workspace_id,
                                                         History.action == "mapping_changed")).all()
        assert len(lines) == 1 and "1 parked event(s) queued again" in lines[0].message
    assert "Status “Demo booked” in the sheet has no Trello list" not in body(
        client.get(f"/app/workspaces/{world.workspace_id}"))


def test_a_changed_answer_is_previewed_again_and_a_concurrent_edit_is_refused(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    before = stored(app, world.workspace_id).mapping
    html = body(client.get(f"/app/workspaces/{world.workspace_id}/mapping"))
    preview = body(client.post(f"/app/workspaces/{world.workspace_id}/mapping",
                               data=as_form(form_fields(html), action="preview")))
    fields = form_fields(preview)
    assert fields["previewed"][0]
    # saving something other than what was previewed shows the new preview instead of saving
    other = as_form(fields, action="save", **{list_field(html, "Lost"): world.lists["New"]})
    response = client.post(f"/app/workspaces/{world.workspace_id}/mapping", data=other)
    assert response.status_code == 200 and "What saving changes" in body(response)
    assert stored(app, world.workspace_id).mapping == before
    # someone else saved meanwhile: refused in words, nothing changed
    with app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.mapping = {**ws.mapping, "default_status": "Contacted"}
        db.session.commit()
    response = client.post(f"/app/workspaces/{world.workspace_id}/mapping", data=as_form(fields, action="save"))
    assert response.status_code == 409 and "Someone changed this workspace&#39;s mapping" in body(response)
    assert stored(app, world.workspace_id).mapping["default_status"] == "Contacted"


def test_another_users_workspace_is_404(world):
    app = world.app
    bob = world.add_tenant("bob")
    client = app.test_client()
    login(client, app)  # ann
    assert client.get(f"/app/workspaces/{bob.workspace_id}/mapping").status_code == 404
    html = body(client.get(f"/app/workspaces/{world.workspace_id}/mapping"))
    token = form_fields(html)["csrf_token"][0]
    before = stored(app, bob.workspace_id).mapping
    response = client.post(f"/app/workspaces/{bob.workspace_id}/mapping",
                           data={"csrf_token": token, "action": "save", "title_column": "Email"})
    assert response.status_code == 404 and stored(app, bob.workspace_id).mapping == before
    assert client.get("/app/workspaces/ws_doesnotexist/mapping").status_code == 404


def test_unmapped_status_parks_then_the_edited_mapping_creates_the_card(world):
    """End to end: a row with a new status parks; mapping it on the page creates its card."""
    app, client = world.app, world.app.test_client()
    login(client, app)
    demo = world.trello.add_list(world.board_id, "Demo")
    world.add_row(Name="Dora Demo", Email="dora@example.com", Status="Demo booked")
    world.settle()
    with app.app_context():
        parked = db.session.scalars(select(Event).where(Event.workspace_id == world.workspace_id,
                                                        Event.state == PARKED)).all()
        assert len(parked) == 1 and "'Demo booked' has no Trello list" in parked[0].last_error
    assert not [c for c in world.cards() if c["name"] == "Dora Demo"]

    html = body(client.get(f"/app/workspaces/{world.workspace_id}"))
    assert "Status “Demo booked” in the sheet has no Trello list" in html
    html = body(client.get(f"/app/workspaces/{world.workspace_id}/mapping"))
    answer = as_form(form_fields(html), action="preview", **{list_field(html, "Demo booked"): demo["id"]})
    preview = body(client.post(f"/app/workspaces/{world.workspace_id}/mapping", data=answer))
    assert "1 parked event will be queued again" in preview
    response = client.post(f"/app/workspaces/{world.workspace_id}/mapping",
                           data=as_form(form_fields(preview), action="save"))
    assert response.status_code == 302
    world.settle()
    cards = [c for c in world.cards() if c["name"] == "Dora Demo"]
    assert len(cards) == 1 and cards[0]["idList"] == demo["id"]
    with app.app_context():
        states = {e.state for e in db.session.scalars(select(Event).where(Event.workspace_id == world.workspace_id))}
        assert PARKED not in states and DONE in states
    lead_id = next(r for r in world.rows() if r["Name"] == "Dora Demo")["Lead ID"]
    assert lead_id and world.link(lead_id).card_id == cards[0]["id"]


def test_a_card_moved_to_a_new_list_parks_then_mapping_the_list_updates_the_row(world):
    """End to end: a card moved to a list the mapping lacks parks; the page offers the list; mapping
    it writes the new status to the row."""
    app, client = world.app, world.app.test_client()
    login(client, app)
    row = world.add_row(Name="Eve Example", Email="eve@example.com", Status="New")
    world.settle()
    lead_id = world.rows()[row - 2]["Lead ID"]
    demo = world.trello.add_list(world.board_id, "Demo")
    world.person.update_card(world.link(lead_id).card_id, idList=demo["id"])
    world.settle()
    with app.app_context():
        parked = db.session.scalars(select(Event).where(Event.workspace_id == world.workspace_id,
                                                        Event.state == PARKED)).all()
        assert len(parked) == 1 and "Trello list 'Demo' has no status" in parked[0].last_error
    assert world.row_for(lead_id)["Status"] == "New"

    ws_page = body(client.get(f"/app/workspaces/{world.workspace_id}"))
    assert "New list “Demo” on the board" in ws_page and "map it to a status" in ws_page
    html = body(client.get(f"/app/workspaces/{world.workspace_id}/mapping"))
    fields = form_fields(html)
    assert fields[f"reverse_{demo['id']}"] == ["Demo"]  # suggested: the list's own name
    preview = body(client.post(f"/app/workspaces/{world.workspace_id}/mapping",
                               data=as_form(fields, action="preview", full_sync="")))
    assert "1 parked event will be queued again" in preview and "(list “Demo”)" in preview
    fields = form_fields(preview)
    assert "full_sync" not in fields  # the person's choice is kept
    assert client.post(f"/app/workspaces/{world.workspace_id}/mapping",
                       data=as_form(fields, action="save")).status_code == 302
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Demo"
    assert stored(app, world.workspace_id).mapping["status_to_list"]["Demo"] == demo["id"]


def test_a_draft_is_sent_to_its_setup_page_and_a_status_can_be_asked_for(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    html = body(client.get(f"/app/workspaces/{world.workspace_id}/mapping?status=" + "<b>Trial</b> " * 30))
    assert "&lt;b&gt;Trial&lt;/b&gt;" in html and "<b>Trial</b>" not in html  # escaped, and cut short
    asked = re.search(r'name="status_name_\d+" value="(&lt;b&gt;Trial[^"]*)"', html)
    assert asked and len(html_module.unescape(asked.group(1))) == 100  # cut to a status's length
    with app.app_context():
        db.session.get(Workspace, world.workspace_id).state = "draft"
        db.session.commit()
    response = client.get(f"/app/workspaces/{world.workspace_id}/mapping")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{world.workspace_id}/setup")


def test_a_renamed_column_is_said_and_choosing_again_saves(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    header = world.sheets.values(world.spreadsheet_id, "Leads")[0]
    world.sheets.user_edit(world.spreadsheet_id, "Leads", 1, {"Notes": "Comments"})
    assert world.sheets.values(world.spreadsheet_id, "Leads")[0] != header
    html = body(client.get(f"/app/workspaces/{world.workspace_id}/mapping"))
    assert "The sheet&#39;s header row no longer has “Notes”" in html
    fields = form_fields(html)
    assert "Comments" in re.findall(r'name="description_columns" value="([^"]+)"', html)
    fields["description_columns"] = ["Email", "Comments"]
    preview = body(client.post(f"/app/workspaces/{world.workspace_id}/mapping", data=as_form(fields, action="save")))
    assert "Columns synced from now on: Comments." in preview and "Columns no longer synced: Phone, Company, Notes." in preview
    client.post(f"/app/workspaces/{world.workspace_id}/mapping", data=as_form(form_fields(preview), action="save"))
    assert stored(app, world.workspace_id).mapping["description_columns"] == ["Email", "Comments"]
