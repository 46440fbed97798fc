"""Editing the row and card filters in the mapping editor (Flask test client, CSRF on, emulators):
the preview counts what a new filter takes in or leaves out, saving stores it, the workspace page
says it in words, a full sync then applies it; bad answers change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import Event
from tests.conftest import make_app
from tests.dashboard.helpers import login
from tests.mapping.forms import form_fields
from tests.mapping.test_mapping_edit import as_form, body, stored
from tests.sync.world import build_world


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app, config={"WTF_CSRF_ENABLED": True})
    yield w
    w.stop()


def _leads(world):
    for name, status in (("Ada", "New"), ("Bob", "Lost"), ("Cy", "Contacted")):
        world.add_row(Name=name, Email=f"{name.lower()}@example.com", Status=status)
    world.settle()


def test_setting_a_filter_previews_its_effect_and_saving_applies_it(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    _leads(world)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    page = body(client.get(url))
    assert "Which rows sync" in page and "Which cards sync" in page
    fields = form_fields(page)
    assert fields["card_lists_mode"] == ["all"] and fields["filter_column_0"] == [""]

    answer = as_form(fields, action="preview", filter_column_0="Status", filter_op_0="is_not", filter_value_0="lost",
                     card_lists_mode="some", card_lists=[world.lists[n] for n in ("New", "Contacted", "Qualified")])
    preview = body(client.post(url, data=answer))
    assert "The new row filter takes in 0 rows and leaves out 1 row (“Bob”), of 3 in the sheet." in preview
    assert "The new card filter takes in 0 cards and leaves out 1 card (“Bob”), of 3 on the board." in preview
    assert "a row's card is archived" in preview
    assert stored(app, world.workspace_id).mapping.get("row_filter") is None  # nothing saved yet

    saved = client.post(url, data=as_form(form_fields(preview), action="save", full_sync="yes"))
    assert saved.status_code == 302
    mapping = stored(app, world.workspace_id).mapping
    assert mapping["row_filter"] == [{"column": "Status", "op": "is_not", "value": "lost"}]
    assert mapping["card_filter"] == {"lists": [world.lists[n] for n in ("New", "Contacted", "Qualified")]}
    summary = body(client.get(f"/app/workspaces/{world.workspace_id}"))
    assert "rows where Status is not “lost” whose status goes to a list the card filter takes" in summary
    assert "cards in “New” or “Contacted” or “Qualified”" in summary
    with app.app_context():
        assert db.session.scalars(select(Event).where(Event.workspace_id == world.workspace_id,
                                                      Event.kind == "reconcile")).first() is not None
    world.settle(timeout=30)
    bob = next(r for r in world.rows() if r["Name"] == "Bob")
    assert world.link(bob["Lead ID"]).status == "row_removed"
    assert sorted(c["name"] for c in world.cards()) == ["Ada", "Cy"]

    again = form_fields(body(client.get(url)))  # the editor shows the saved filters
    assert again["filter_column_0"] == ["Status"] and again["filter_op_0"] == ["is_not"]
    assert again["filter_value_0"] == ["lost"] and again["card_lists_mode"] == ["some"]
    assert sorted(again["card_lists"]) == sorted(world.lists[n] for n in ("New", "Contacted", "Qualified"))


def test_bad_filter_answers_are_named_and_change_nothing(world):
    app, client = world.app, world.app.test_client()
    login(client, app)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    fields = form_fields(body(client.get(url)))
    before = stored(app, world.workspace_id).mapping
    response = client.post(url, data=as_form(fields, action="save", filter_column_0="Status", filter_op_0="is",
                                             filter_value_0="", filter_column_1="Region", filter_op_1="is",
                                             filter_value_1="East", card_lists_mode="some"))
    assert response.status_code == 400
    text = body(response)
    assert "The row filter&#39;s “Status is …” needs a value." in text or "The row filter's “Status is …” needs a value." in text
    assert "names the column “Region”, which the sheet does not have" in text
    assert "tick at least one list" in text
    assert stored(app, world.workspace_id).mapping == before
