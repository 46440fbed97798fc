"""The Boards page (several boards per sheet): the routing column, adding a board with its lists,
its webhook, the checks, removing it — through the Flask test client with CSRF on, against the
emulators."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import Event, History, Workspace, WorkspaceBoard
from server.seed import DEMO_LISTS
from tests.conftest import make_app
from tests.dashboard.helpers import login
from tests.mapping.forms import form_fields
from tests.sync.world import build_world


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app, config={"WTF_CSRF_ENABLED": True})
    with w.sheets._lock:
        w.sheets._sheet(w.spreadsheet_id, "Leads")[1].set(1, 8, "Region")
    yield w
    w.stop()


def _form(html: str, action: str, **changes: Any) -> dict[str, Any]:
    fields = form_fields(html, f'name="action" value="{action}"')
    out: dict[str, Any] = {k: (v if len(v) > 1 else v[0]) for k, v in fields.items()}
    out.update(changes)
    return out


def _select(html: str, status: str) -> str:
    """The name of the select that picks the list of ``status`` on the board being added."""
    found = re.search(r'for="adding-list-(\d+)">List for ' + re.escape(status) + "<", html)
    assert found, status
    return f"status_list_{found.group(1)}"


def _stored(world) -> Workspace:
    with world.app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        db.session.expunge(ws)
        return ws


def _rows(world) -> list[WorkspaceBoard]:
    with world.app.app_context():
        rows = db.session.scalars(select(WorkspaceBoard).where(WorkspaceBoard.workspace_id == world.workspace_id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def test_route_rows_to_a_second_board_from_the_boards_page(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    url = f"/app/workspaces/{world.workspace_id}/boards"
    owner = world.person.request("GET", f"/boards/{world.board_id}/members")[0]["id"]
    eu = world.trello.add_board("EU leads", owner, lists=DEMO_LISTS)
    eu_lists = {lst["name"]: lst["id"] for lst in eu["lists"]}

    ws_page = client.get(f"/app/workspaces/{world.workspace_id}").get_data(as_text=True)
    assert url in ws_page
    html = client.get(url).get_data(as_text=True)
    assert "Routing column" in html and "Add a board" not in html  # a column first

    # without the CSRF token: refused
    no_token = {k: v for k, v in _form(html, "routing", routing_column="Region").items() if k != "csrf_token"}
    assert client.post(url, data=no_token).status_code == 400
    # a column already synced as a card field: refused in words
    response = client.post(url, data=_form(html, "routing", routing_column="Status"))
    assert response.status_code == 400 and "already synced as a card field" in response.get_data(as_text=True)

    response = client.post(url, data=_form(html, "routing", routing_column="Region", primary_routes="US, Americas"))
    assert response.status_code == 302
    assert _stored(world).mapping["routing"] == {"column": "Region", "primary_routes": ["US", "Americas"],
                                                 "boards": []}
    html = client.get(url).get_data(as_text=True)
    assert "Add a board" in html and "EU leads" in html

    # pick the board: its lists are matched to the statuses by name, to check and save
    response = client.post(url, data=_form(html, "choose_board", board_id=eu["id"], routes="EU, Europe"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Add “EU leads”" in html
    answer = _form(html, "save_board")
    assert answer["routes"] == "EU, Europe" and answer["board_id"] == eu["id"]
    assert answer[_select(html, "New")] == eu_lists["New"]  # matched by name
    assert answer[_select(html, "Won")] == ""  # no list named like it: the person chooses
    response = client.post(url, data=answer)
    assert response.status_code == 400 and "Choose a list of this board for “Won”." in response.get_data(as_text=True)
    answer.update({_select(html, "Won"): eu_lists["Closed"], _select(html, "Lost"): eu_lists["Closed"]})
    # a value the main board has already: refused, nothing saved
    response = client.post(url, data={**answer, "routes": "EU, us"})
    assert response.status_code == 400 and "“us” already sends rows to" in response.get_data(as_text=True)
    assert _stored(world).mapping["routing"]["boards"] == []
    response = client.post(url, data=answer)
    assert response.status_code == 302, response.get_data(as_text=True)
    [board] = _stored(world).mapping["routing"]["boards"]
    assert board["routes"] == ["EU", "Europe"] and board["board_name"] == "EU leads"
    assert board["status_to_list"]["Won"] == eu_lists["Closed"] and board["status_to_list"]["New"] == eu_lists["New"]
    assert board["list_to_status"][eu_lists["Closed"]] == "Won"
    # its webhook is registered with its own callback; a full sync is queued; history says it
    [row] = _rows(world)
    hooks = [h for h in world.trello.webhooks() if h["idModel"] == eu["id"]]
    assert len(hooks) == 1 and row.webhook_id == hooks[0]["id"] and row.webhook_callback == hooks[0]["callbackURL"]
    assert row.webhook_callback.endswith(f"/webhooks/trello/{world.workspace_id}/boards/{eu['id']}")
    with app.app_context():
        assert db.session.scalars(select(Event).where(Event.workspace_id == world.workspace_id,
                                                      Event.kind == "reconcile")).first() is not None
        said = db.session.scalars(select(History).where(History.action == "mapping_changed")).all()
        assert any("routed by “Region” to “EU leads” (EU, Europe)" in h.message for h in said)

    # the page shows every board with its webhook; the workspace page's health has a line for it
    html = client.get(url).get_data(as_text=True)
    assert f'data-board="{eu["id"]}"' in html and "registered" in html
    health = client.get(f"/app/workspaces/{world.workspace_id}").get_data(as_text=True)
    assert "Trello webhook of “EU leads”" in health

    # a row typed with Region EU goes to that board
    world.worker.drain(timeout_s=10)
    world.add_row(Name="Ada Lovelace", Email="ada@example.com", Status="Contacted", Region="Europe")
    world.settle()
    [card] = world.trello.cards(eu["id"])
    assert card["name"] == "Ada Lovelace" and card["idList"] == eu_lists["Contacted"]

    # a status added in the mapping editor later: the page says the board has no list for it yet
    with app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.mapping = {**ws.mapping, "status_to_list": {**ws.mapping["status_to_list"], "Demo": world.lists["New"]}}
        db.session.commit()
    html = client.get(url).get_data(as_text=True)
    assert "“EU leads” has no list for “Demo”: its rows with that status go to the main board" in html

    # removing the board deletes its webhook
    html = client.get(url).get_data(as_text=True)
    response = client.post(url, data=_form(html, "remove_board"))
    assert response.status_code == 302
    assert _stored(world).mapping["routing"]["boards"] == [] and not _rows(world)
    assert not [h for h in world.trello.webhooks() if h["idModel"] == eu["id"]]


def test_custom_field_columns_block_other_boards_in_plain_words(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    with app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.mapping = {**ws.mapping, "custom_fields": {"Deal size": "cf-1"},
                      "routing": {"column": "Region", "boards": []}}
        db.session.commit()
    html = client.get(f"/app/workspaces/{world.workspace_id}/boards").get_data(as_text=True)
    assert "custom field columns sync with the main board" in html and "Add a board" not in html


def test_the_mapping_editor_refuses_custom_fields_while_rows_go_to_several_boards(world):
    from server.dashboard import mapping_edit
    from server.models.mapping import Mapping

    with world.app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.mapping = {**ws.mapping, "routing": {"column": "Region", "boards": [
            {"board_id": "b" * 24, "routes": ["EU"], "status_to_list": {}, "list_to_status": {}}]}}
        db.session.commit()
        saved = Mapping.of(ws)
        form = {"title_column": "Name", "status_column": "Status", "description_columns": ["Email"],
                "custom_field:cf-1": "Deal"}
        with world.app.test_request_context(method="POST", data=form):
            sources = mapping_edit.Sources(columns=["Name", "Status", "Email", "Region", "Deal"], statuses=[],
                                           lists=[(lid, name) for name, lid in world.lists.items()],
                                           custom_fields=[("cf-1", "Deal", "text")])
            checked = mapping_edit._check(ws, sources)
        assert saved.routing is not None
        assert checked.mapping.custom_fields == {"Deal": "cf-1"}
        assert any("Custom fields belong to one board" in p for p in checked.problems)


def test_a_card_filter_of_some_lists_blocks_other_boards_in_plain_words(world):
    """A card filter naming some of the main board's lists would leave every card of another board
    out: the Boards page refuses to add one until the filter takes every list, and the mapping
    editor refuses to set such a filter while rows go to several boards."""
    from server.dashboard import mapping_edit
    from server.models.mapping import Mapping

    app, client = world.app, world.app.test_client()
    login(client, app)
    owner = world.person.request("GET", f"/boards/{world.board_id}/members")[0]["id"]
    eu = world.trello.add_board("EU leads", owner, lists=DEMO_LISTS)
    with app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.mapping = {**ws.mapping, "routing": {"column": "Region", "boards": []},
                      "card_filter": {"lists": [world.lists["New"]]}}
        db.session.commit()
    url = f"/app/workspaces/{world.workspace_id}/boards"
    html = client.get(url).get_data(as_text=True)
    response = client.post(url, data=_form(html, "choose_board", board_id=eu["id"], routes="EU"))
    assert response.status_code == 400
    assert "would leave every card of the other boards out" in response.get_data(as_text=True)
    assert _stored(world).mapping["routing"]["boards"] == []

    with app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.mapping = {**ws.mapping, "card_filter": {}, "routing": {"column": "Region", "boards": [
            {"board_id": eu["id"], "routes": ["EU"], "status_to_list": {}, "list_to_status": {}}]}}
        db.session.commit()
        form = {"title_column": "Name", "status_column": "Status", "description_columns": ["Email"],
                "card_lists_mode": "some", "card_lists": [world.lists["New"]]}
        with app.test_request_context(method="POST", data=form):
            sources = mapping_edit.Sources(columns=["Name", "Status", "Email", "Region"], statuses=[],
                                           lists=[(lid, name) for name, lid in world.lists.items()],
                                           custom_fields=[])
            checked = mapping_edit._check(db.session.get(Workspace, world.workspace_id), sources)
        assert Mapping.of(db.session.get(Workspace, world.workspace_id)).routing is not None
        assert any("keep “every list” here" in p for p in checked.problems), checked.problems
