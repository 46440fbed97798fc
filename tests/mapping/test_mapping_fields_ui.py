"""The mapping editor and the wizard offer the start date, "done" and card link columns and each
column's direction, store them, and the workspace page and the preview show them."""

from __future__ import annotations

import re

import pytest

from server.models.enums import Direction
from server.sync.mapping_form import check_columns
from tests.conftest import make_app
from tests.mapping.forms import form_fields
from tests.mapping.test_mapping_edit import as_form, body, stored
from tests.sync.world import build_world

try:  # the dashboard tests' helpers, wherever the branch this is merged into keeps them
    from tests.dashboard.helpers import account_ids, location, login, page, post_step, seed_pipeline
except ImportError:
    from tests.test_dashboard import account_ids, location, login, page, post_step, seed_pipeline


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app, config={"WTF_CSRF_ENABLED": True})
    with w.sheets._lock:  # Start, Done and Card columns after Lead ID
        grid = w.sheets._sheet(w.spreadsheet_id, "Leads")[1]
        for offset, name in enumerate(("Start", "Done", "Card", "Tags")):
            grid.set(1, 8 + offset, name)
    yield w
    w.stop()


def test_the_editor_saves_the_new_columns_and_directions_and_shows_them(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    html = body(client.get(url))
    assert "Start date column" in html and "“Done” column" in html and "Card link column" in html
    fields = form_fields(html)
    assert fields["direction:Notes"] == ["both"] and fields["start_column"] == [""]
    answer = as_form(fields, action="preview", start_column="Start", due_done_column="Done", card_url_column="Card",
                     labels_column="Tags", create_labels="yes",
                     **{"direction:Notes": "to_trello", "direction:Start": "to_sheet",
                        "direction:Status": "to_trello"})
    preview = body(client.post(url, data=answer))
    assert "What saving changes" in preview
    response = client.post(url, data=as_form(form_fields(preview), action="save"))
    assert response.status_code == 302, body(response)
    mapping = stored(app, world.workspace_id).mapping
    assert (mapping["start_column"], mapping["due_done_column"], mapping["card_url_column"]) == ("Start", "Done",
                                                                                                  "Card")
    assert mapping["directions"] == {"Notes": "to_trello", "Start": "to_sheet"}  # the status stays two-way
    assert mapping["labels_column"] == "Tags" and mapping["create_labels"] is True
    page = body(client.get(f"/app/workspaces/{world.workspace_id}"))
    assert "Tags (a label the board lacks is made)" in page
    assert "Notes: sheet → Trello only" in page and "Start: Trello → sheet only" in page
    assert "Card (from Trello only)" in page
    again = form_fields(body(client.get(url)))  # the editor shows what is stored
    assert again["direction:Notes"] == ["to_trello"] and again["due_done_column"] == ["Done"]
    assert again["create_labels"] == ["yes"]
    answer = as_form(again, action="preview")
    del answer["create_labels"]  # unticked
    saved = client.post(url, data=as_form(form_fields(body(client.post(url, data=answer))), action="save"))
    assert saved.status_code == 302 and "create_labels" not in stored(app, world.workspace_id).mapping


def test_a_column_cannot_be_two_fields_and_a_direction_must_be_one():
    columns = ["Name", "Status", "Start", "Notes"]
    answer = check_columns(columns, "Name", "Status", "Start", ["Notes"], start="Start",
                           directions={"Notes": "up", "Name": "to_sheet"})
    assert "The start date column must be another column (or none)." in answer.problems
    assert "Choose which way “Notes” syncs." in answer.problems
    assert answer.directions == {"Name": Direction.TO_SHEET}
    fine = check_columns(columns, "Name", "Status", None, ["Notes", "Start"], start="Start",
                         directions={"Start": "to_trello", "Status": "to_sheet"})
    assert not fine.problems and fine.description_columns == ["Notes"]
    assert [(f.column, f.kind.value, f.direction.value) for f in fine.fields()][-1] == ("Start", "start",
                                                                                         "to_trello")


def test_the_wizard_offers_the_new_columns_and_directions_and_stores_them(sqlite_url):
    plain = build_world(sqlite_url, make_app=make_app)
    try:
        seeded = seed_pipeline(plain)
        client = plain.app.test_client()
        login(client, plain.app)
        ids = account_ids(plain.app)
        post_step(client, "sheet", spreadsheet=seeded["spreadsheet_id"], google_account=ids["google"])
        post_step(client, "tab", tab="Leads 2026", header_row="1")
        post_step(client, "board", board=f"{ids['trello']}:{seeded['board_id']}")
        columns_page = page(client, "/app/workspaces/new?step=columns")
        assert "Start date column" in columns_page and 'name="direction:Company"' in columns_page
        refused = post_step(client, "columns", title_column="Name", status_column="Status",
                            due_column="Follow up", start_column="Follow up", description_columns=["Email"])
        assert location(refused).endswith("step=columns")
        page(client, "/app/workspaces/new?step=columns")
        response = post_step(client, "columns", title_column="Name", status_column="Status",
                             start_column="Follow up", description_columns=["Email", "Company"],
                             **{"direction:Company": "to_sheet", "direction:Email": "both"})
        assert location(response).endswith("step=statuses")
        again = form_fields(page(client, "/app/workspaces/new?step=columns"), 'name="start_column"')
        assert again["start_column"] == ["Follow up"] and again["direction:Company"] == ["to_sheet"]
        with client.session_transaction() as session:
            state = next(v for k, v in session.items() if isinstance(v, dict) and "start_column" in v)
        assert state["directions"] == {"Company": "to_sheet"} and state["due_done_column"] is None
        lists = seeded["lists"]
        statuses = page(client, "/app/workspaces/new?step=statuses")
        form = {"step": "statuses", "default_status": "New"}
        target = {"new": lists["New"], "won": lists["Closed"], "lost": lists["Closed"]}
        for index, status in re.findall(r'name="status_name_(\d+)" value="([^"]+)"', statuses):
            form[f"status_name_{index}"] = status
            form[f"status_list_{index}"] = target[status.casefold()]
        form.update({"extra_status_0": "Contacted", "extra_list_0": lists["Contacted"],
                     f"reverse_{lists['New']}": "New", f"reverse_{lists['Contacted']}": "Contacted",
                     f"reverse_{lists['Closed']}": "Won"})
        assert location(client.post("/app/workspaces/new", data=form)).endswith("step=policies")
        response = post_step(client, "policies", name="Pipeline", row_removed_policy="archive",
                             card_removed_policy="set_status", card_removed_status="Archived")
        draft_id = re.search(r"/app/workspaces/(ws_[0-9a-f]+)/setup$", location(response)).group(1)
        mapping = stored(plain.app, draft_id).mapping
        assert mapping["start_column"] == "Follow up" and mapping["directions"] == {"Company": "to_sheet"}
        assert "Company: Trello → sheet only" in page(client, f"/app/workspaces/{draft_id}/setup")
    finally:
        plain.stop()
