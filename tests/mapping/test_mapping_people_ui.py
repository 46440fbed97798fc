"""The mapping editor and the wizard offer the members column (with its email table), the checklist
progress and latest comment columns, store them, and the workspace page and the preview show them."""

from __future__ import annotations

import pytest

from server.sync.mapping_form import check_columns, member_emails_from_text
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
    with w.sheets._lock:  # Owner, Checklist and Last comment columns after Lead ID
        grid = w.sheets._sheet(w.spreadsheet_id, "Leads")[1]
        for offset, name in enumerate(("Owner", "Checklist", "Last comment")):
            grid.set(1, 8 + offset, name)
    yield w
    w.stop()


def test_the_editor_saves_the_people_columns_and_the_email_table_and_shows_them(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    html = body(client.get(url))
    assert "Members (owner) column" in html and "Checklist progress column" in html
    assert "Latest comment column" in html and "Emails of board members" in html
    fields = form_fields(html)
    assert fields["members_column"] == [""] and fields["comment_column"] == [""]
    refused = body(client.post(url, data=as_form(fields, action="preview", members_column="Owner",
                                                 member_emails="not an email line")))
    assert "“not an email line” in the member table is not “email = Trello username”." in refused
    answer = as_form(fields, action="preview", members_column="Owner", checklist_column="Checklist",
                     comment_column="Last comment", member_emails="Ann@Example.com = @ann; bob@example.com: bob",
                     **{"direction:Owner": "to_trello", "direction:Checklist": "to_trello"})
    preview = body(client.post(url, data=answer))
    assert "What saving changes" in preview
    response = client.post(url, data=as_form(form_fields(preview), action="save"))
    assert response.status_code == 302, body(response)
    mapping = stored(app, world.workspace_id).mapping
    assert (mapping["members_column"], mapping["checklist_column"], mapping["comment_column"]) == (
        "Owner", "Checklist", "Last comment")
    assert mapping["member_emails"] == {"ann@example.com": "ann", "bob@example.com": "bob"}
    assert mapping["directions"] == {"Owner": "to_trello"}  # the checklist's direction is fixed: not stored
    shown = body(client.get(f"/app/workspaces/{world.workspace_id}"))
    assert "Owner" in shown and "2 emails in the member table" in shown
    assert "Checklist (from Trello only)" in shown and "Last comment (from Trello only)" in shown
    assert "Owner: sheet → Trello only" in shown
    again = form_fields(body(client.get(url)))  # the editor shows what is stored
    assert again["members_column"] == ["Owner"] and again["checklist_column"] == ["Checklist"]
    assert again["member_emails"] == ["ann@example.com = ann, bob@example.com = bob"]


def test_a_people_column_cannot_be_another_field():
    columns = ["Name", "Status", "Owner", "Notes"]
    answer = check_columns(columns, "Name", "Status", None, ["Notes"], labels="Owner", members="Owner",
                           checklist="Notes", comment="Gone")
    assert "The members column must be another column (or none)." in answer.problems
    assert "The latest comment column must be another column (or none)." in answer.problems
    assert answer.description_columns == []  # Notes holds the checklist progress
    assert member_emails_from_text("a@x.com = ann,, b@x.com bob; c@x.com =, nobody")[0] == {
        "a@x.com": "ann", "b@x.com": "bob"}


def test_the_wizard_offers_the_people_columns_and_stores_them(sqlite_url):
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
        assert "Members (owner) column" in columns_page and 'name="checklist_column"' in columns_page
        response = post_step(client, "columns", title_column="Name", status_column="Status",
                             members_column="Company", comment_column="Notes", description_columns=["Email"],
                             member_emails="ada@example.com = ann")
        assert location(response).endswith("step=statuses")
        again = form_fields(page(client, "/app/workspaces/new?step=columns"), 'name="members_column"')
        assert again["members_column"] == ["Company"] and again["comment_column"] == ["Notes"]
        assert again["member_emails"] == ["ada@example.com = ann"]
        with client.session_transaction() as session:
            state = next(v for k, v in session.items() if isinstance(v, dict) and "members_column" in v)
        assert state["member_emails"] == {"ada@example.com": "ann"} and state["checklist_column"] is None
    finally:
        plain.stop()
