"""The wizard's safer defaults, against the emulators: statuses no list matches are flagged, not
sent to the first list; a tab or board another workspace syncs is refused unless confirmed (naming
that workspace only to someone who may see it); the preview names the rows and cards it will
create, link and update, and says which due dates it cannot use."""

from __future__ import annotations

import re

import pytest

from server.extensions import db
from server.models import Workspace
from tests.conftest import make_app
from tests.dashboard.helpers import (
    LEADS_HEADER,
    account_ids,
    flashes,
    location,
    login,
    page,
    post_step,
)
from tests.mapping.forms import form_fields
from tests.sync.world import build_world

ROWS = [
    ["Ada Lovelace", "ada@example.com", "Analytical Engines", "new", "", "tomorrow"],
    ["Grace Hopper", "grace@example.com", "Navy Labs", "won", "", "2026-12-01"],
    ["Katherine Johnson", "katherine@example.com", "NASA", "Closed-Lost!", "", ""],
    ["Dorothy Vaughan", "dorothy@example.com", "NACA", "Contaced", "", ""],
]


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app)
    yield w
    w.stop()


def to_statuses(client, world, board_id: str) -> str:
    spreadsheet_id = world.sheets.create_spreadsheet("Pipeline", {"Leads 2026": [LEADS_HEADER, *ROWS]})
    ids = account_ids(world.app)
    assert location(post_step(client, "sheet", spreadsheet=spreadsheet_id, google_account=ids["google"])).endswith("tab")
    assert location(post_step(client, "tab", tab="Leads 2026", header_row="1")).endswith("board")
    assert location(post_step(client, "board", board=f"{ids['trello']}:{board_id}")).endswith("columns")
    response = client.post("/app/workspaces/new", data={
        "step": "columns", "title_column": "Name", "status_column": "Status", "due_column": "Follow up",
        "description_columns": ["Email", "Company"]})
    assert location(response).endswith("statuses"), flashes(client)
    return page(client, "/app/workspaces/new?step=statuses")


def selected_list(html: str, status: str) -> str:
    found = re.search(r'name="status_name_(\d+)" value="' + re.escape(status) + '"', html)
    assert found, status
    return form_fields(html, 'name="step"')[f"status_list_{found.group(1)}"][0]


def test_statuses_match_loosely_and_flag_the_rest_then_the_preview_names_rows(world):
    client = world.app.test_client()
    login(client, world.app)
    board = world.trello.add_board("Pipeline board", "ann", lists=["Inbox", "New", "Contacted", "Closed lost"])
    lists = {lst["name"]: lst["id"] for lst in world.trello.lists(board["id"])}
    html = to_statuses(client, world, board["id"])
    assert selected_list(html, "new") == lists["New"]  # case
    assert selected_list(html, "Closed-Lost!") == lists["Closed lost"]  # punctuation
    assert selected_list(html, "Contaced") == lists["Contacted"]  # a close spelling
    assert selected_list(html, "won") == ""  # flagged, not sent to "Inbox"
    assert "No Trello list matches 1 status" in html and "“won”" in html and "mapping.js" in html
    # the reverse table suggests the first status sent to each list
    fields = form_fields(html, 'name="step"')
    assert fields[f"reverse_{lists['Closed lost']}"] == ["Closed-Lost!"] and fields[f"reverse_{lists['Inbox']}"] == ["Inbox"]

    # Continuing without choosing a list for "won" is refused in words.
    form = {k: v[0] for k, v in fields.items()}
    response = client.post("/app/workspaces/new", data=form)
    assert location(response).endswith("step=statuses")
    assert "Choose a list for the status “won”." in flashes(client)
    page(client, "/app/workspaces/new?step=statuses")
    index = re.search(r'name="status_name_(\d+)" value="won"', html).group(1)
    form[f"status_list_{index}"] = lists["Closed lost"]
    assert location(client.post("/app/workspaces/new", data=form)).endswith("step=policies"), flashes(client)
    response = post_step(client, "policies", name="Pipeline", row_removed_policy="archive",
                         card_removed_policy="set_status", card_removed_status="Archived")
    draft_id = re.search(r"/app/workspaces/(ws_[0-9a-f]+)/setup$", location(response)).group(1)

    page(client, f"/app/workspaces/{draft_id}/setup")  # queues the preview
    world.worker.drain(timeout_s=20)
    preview = page(client, f"/app/workspaces/{draft_id}/setup")
    text = re.sub(r"<[^>]+>", " ", preview)
    assert "Cards it will create (4)" in text
    for name in ("row 2 “Ada Lovelace”", "row 3 “Grace Hopper”", "row 5 “Dorothy Vaughan”"):
        assert name in text, name
    assert "Values the sync cannot use" in text
    assert "row 2 “Ada Lovelace”: “tomorrow” in “Follow up” is not a date the sync can use" in text


def test_a_board_already_synced_is_refused_unless_confirmed(world):
    client = world.app.test_client()
    login(client, world.app)
    to_statuses(client, world, world.board_id)  # the board ann's running workspace syncs
    html = page(client, "/app/workspaces/new?step=statuses")
    form = {k: v[0] for k, v in form_fields(html, 'name="step"').items()}
    for name, value in list(form.items()):
        if name.startswith("status_list_") and not value:
            form[name] = world.lists["New"]
    assert location(client.post("/app/workspaces/new", data=form)).endswith("step=policies"), flashes(client)
    policies = page(client, "/app/workspaces/new?step=policies")
    assert "The workspace “Leads” already syncs this Trello board." in policies and "confirm_shared" in policies
    answer = {"name": "Second", "row_removed_policy": "archive", "card_removed_policy": "set_status",
              "card_removed_status": "Archived"}
    response = post_step(client, "policies", **answer)
    assert location(response).endswith("step=policies")
    assert any("already syncs this Trello board" in m and "tick the box" in m for m in flashes(client))
    page(client, "/app/workspaces/new?step=policies")
    response = post_step(client, "policies", confirm_shared="yes", **answer)
    assert re.search(r"/app/workspaces/ws_[0-9a-f]+/setup$", location(response)), flashes(client)


def test_someone_elses_workspace_is_not_named(world):
    bob = world.add_tenant("bob")
    with world.app.app_context():
        db.session.get(Workspace, bob.workspace_id).name = "Bob's secret pipeline"
        db.session.commit()
    world.trello.add_board_member(bob.board_id, "ann")  # ann may pick bob's board in Trello
    client = world.app.test_client()
    login(client, world.app)
    to_statuses(client, world, bob.board_id)
    html = page(client, "/app/workspaces/new?step=statuses")
    form = {k: v[0] for k, v in form_fields(html, 'name="step"').items()}
    for name, value in list(form.items()):
        if name.startswith("status_list_") and not value:
            form[name] = bob.lists["New"]
    assert location(client.post("/app/workspaces/new", data=form)).endswith("step=policies"), flashes(client)
    policies = page(client, "/app/workspaces/new?step=policies")
    assert "Another workspace on this server (one you cannot see) already syncs this Trello board." in policies
    assert "secret pipeline" not in policies and "“Leads”" not in policies  # ann's own workspace uses another board
