"""The mapping editor and Trello custom fields: said plainly when the board has none, listed to
map to columns when it has them, stored as ``"custom_fields": {"Column": "<field id>"}``."""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.mapping.forms import form_fields
from tests.mapping.test_mapping_edit import as_form, body, stored
from tests.sync.world import build_world

try:  # the dashboard tests' helpers, wherever the branch this is merged into keeps them
    from tests.dashboard.helpers import login
except ImportError:
    from tests.test_dashboard import login


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app, config={"WTF_CSRF_ENABLED": True})
    with w.sheets._lock:  # a Deal column after Lead ID
        w.sheets._sheet(w.spreadsheet_id, "Leads")[1].set(1, 8, "Deal")
    yield w
    w.stop()


def test_a_board_without_custom_fields_is_said_and_none_is_offered(world):
    client = world.app.test_client()
    login(client, world.app)
    html = body(client.get(f"/app/workspaces/{world.workspace_id}/mapping"))
    assert "This Trello board has no Custom Fields" in html
    assert not [k for k in form_fields(html) if k.startswith("custom_field:")]


def test_the_boards_custom_fields_are_listed_mapped_to_columns_and_stored(world):
    world.trello.set_custom_fields(world.board_id, True)
    deal = world.trello.add_custom_field(world.board_id, "Deal size", "number")["id"]
    client = world.app.test_client()
    login(client, world.app)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    html = body(client.get(url))
    assert "Deal size" in html and "This Trello board has no Custom Fields" not in html
    fields = form_fields(html)
    assert fields[f"custom_field:{deal}"] == [""]
    preview = body(client.post(url, data=as_form(fields, action="preview",
                                                  **{f"custom_field:{deal}": "Deal",
                                                     "description_columns": ["Email", "Notes"]})))
    assert "What saving changes" in preview, preview
    response = client.post(url, data=as_form(form_fields(preview), action="save"))
    assert response.status_code == 302, body(response)
    mapping = stored(world.app, world.workspace_id).mapping
    assert mapping["custom_fields"] == {"Deal": deal}
    assert form_fields(body(client.get(url)))[f"custom_field:{deal}"] == ["Deal"]

    taken = body(client.post(url, data=as_form(form_fields(body(client.get(url))), action="preview",
                                               **{f"custom_field:{deal}": "Name"})))
    assert "cannot hold a Trello custom field" in taken  # the title's column is taken


@pytest.mark.parametrize("enabled", [False, True])
def test_the_wizard_says_when_the_board_has_no_custom_fields_and_maps_them_when_it_has(sqlite_url, enabled):
    from tests.mapping.test_mapping_fields_ui import account_ids, page, post_step, seed_pipeline

    plain = build_world(sqlite_url, make_app=make_app)
    try:
        seeded = seed_pipeline(plain)
        plain.trello.set_custom_fields(seeded["board_id"], enabled)
        deal = plain.trello.add_custom_field(seeded["board_id"], "Deal size", "number")["id"] if enabled else ""
        client = plain.app.test_client()
        login(client, plain.app)
        ids = account_ids(plain.app)
        post_step(client, "sheet", spreadsheet=seeded["spreadsheet_id"], google_account=ids["google"])
        post_step(client, "tab", tab="Leads 2026", header_row="1")
        post_step(client, "board", board=f"{ids['trello']}:{seeded['board_id']}")
        columns_page = page(client, "/app/workspaces/new?step=columns")
        if not enabled:
            assert "This Trello board has no Custom Fields" in columns_page
            assert "custom_field:" not in columns_page
            return
        assert "Deal size" in columns_page and f'name="custom_field:{deal}"' in columns_page
        post_step(client, "columns", title_column="Name", status_column="Status", description_columns=["Email"],
                  **{f"custom_field:{deal}": "Company"})
        again = form_fields(page(client, "/app/workspaces/new?step=columns"), f'name="custom_field:{deal}"')
        assert again[f"custom_field:{deal}"] == ["Company"]
        with client.session_transaction() as session:
            state = next(v for k, v in session.items() if isinstance(v, dict) and "custom_fields" in v)
        assert state["custom_fields"] == {"Company": deal}
    finally:
        plain.stop()


def test_the_editor_makes_a_missing_custom_field_for_a_column_and_maps_it(world):
    world.trello.set_custom_fields(world.board_id, True)
    client = world.app.test_client()
    login(client, world.app)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    html = body(client.get(url))
    assert "none defined yet" in html and "Make the field on the board" in html
    fields = form_fields(html)
    refused = client.post(url, data=as_form(fields, action="create_custom_field", new_custom_column="Deal",
                                            new_custom_type="list", new_custom_options=""))
    assert refused.status_code == 400 and "Give the new list field" in body(refused)
    assert world.person.board_custom_fields(world.board_id) == []
    made = body(client.post(url, data=as_form(fields, action="create_custom_field", new_custom_column="Deal",
                                              new_custom_type="list", new_custom_options="Small, Large")))
    [field] = world.person.board_custom_fields(world.board_id)
    assert (field["name"], field["type"]) == ("Deal", "list")
    assert [o["value"]["text"] for o in field["options"]] == ["Small", "Large"]
    shown = form_fields(made)
    assert shown[f"custom_field:{field['id']}"] == ["Deal"]
    preview = body(client.post(url, data=as_form(shown, action="preview")))
    response = client.post(url, data=as_form(form_fields(preview), action="save"))
    assert response.status_code == 302, body(response)
    assert stored(world.app, world.workspace_id).mapping["custom_fields"] == {"Deal": field["id"]}
