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
