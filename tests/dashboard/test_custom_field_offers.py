"""The wizard makes the custom fields a sheet's columns need; a board without Custom Fields is said
and its columns are offered as “Column: value” description lines instead, in the wizard, the
mapping editor and (when Trello starts refusing a board's custom fields) the workspace page."""

from __future__ import annotations

from html import unescape

from server.extensions import db
from server.models import History, Workspace
from server.sync import customfields
from tests.dashboard.helpers import account_ids, flashes, location, login, page, post_step, seed_pipeline, workspace
from tests.mapping.forms import form_fields
from tests.mapping.test_mapping_edit import as_form, body


def _to_columns_step(client, world, seeded) -> str:
    ids = account_ids(world.app)
    post_step(client, "sheet", spreadsheet=seeded["spreadsheet_id"], google_account=ids["google"])
    post_step(client, "tab", tab="Leads 2026", header_row="1")
    assert location(post_step(client, "board", board=f"{ids['trello']}:{seeded['board_id']}")).endswith(
        "step=columns")
    return page(client, "/app/workspaces/new?step=columns")


def _wizard_state(client) -> dict:
    with client.session_transaction() as session:
        return dict(session["wizard"])


def _columns_answer(**extra):
    return {"step": "columns", "title_column": "Name", "status_column": "Status", "due_column": "Follow up",
            "description_columns": ["Email", "Company", "Notes"], **extra}


def test_the_wizard_makes_the_fields_chosen_for_columns_and_maps_them(world):
    seeded = seed_pipeline(world)
    world.trello.set_custom_fields(seeded["board_id"], True)
    client = world.app.test_client()
    login(client, world.app)
    html = _to_columns_step(client, world, seeded)
    assert "Make custom fields on the board" in html
    fields = form_fields(html, 'name="step"')
    assert fields["new_custom_type:Company"] == [""] and "new_custom_type:Name" not in fields  # the title is taken
    response = client.post("/app/workspaces/new", data=_columns_answer(**{"new_custom_type:Company": "list",
                                                                          "new_custom_type:Notes": "text"}))
    assert location(response).endswith("step=statuses"), flashes(client)
    made = {f["name"]: f for f in world.person.board_custom_fields(seeded["board_id"])}
    assert {name: f["type"] for name, f in made.items()} == {"Company": "list", "Notes": "text"}
    # a list's options are the column's values in the sheet
    assert [o["value"]["text"] for o in made["Company"]["options"]] == ["Analytical Engines", "Navy Labs", "NASA"]
    assert any("Made on the board and mapped to their columns: “Company” (list: Analytical Engines, Navy Labs, "
               "NASA), “Notes” (text)." in f for f in flashes(client))
    state = _wizard_state(client)
    assert state["custom_fields"] == {"Company": made["Company"]["id"], "Notes": made["Notes"]["id"]}
    assert state["description_columns"] == ["Email"]  # the columns are fields now, not description lines
    again = form_fields(page(client, "/app/workspaces/new?step=columns"), 'name="step"')
    assert again[f"custom_field:{made['Company']['id']}"] == ["Company"]  # listed and mapped like any field


def test_making_fields_in_the_wizard_keeps_its_other_answers(world):
    """The columns step's answers are checked again with the fields to make: the members column,
    its email table and the labels choices stay as given."""
    seeded = seed_pipeline(world)
    world.trello.set_custom_fields(seeded["board_id"], True)
    client = world.app.test_client()
    login(client, world.app)
    _to_columns_step(client, world, seeded)
    answer = _columns_answer(description_columns=["Email"], members_column="Company", labels_column="Notes",
                             create_labels="yes", member_emails="ann@example.com = ann",
                             **{"new_custom_type:Follow up": "date"})
    answer["due_column"] = ""
    response = client.post("/app/workspaces/new", data=answer)
    assert location(response).endswith("step=statuses"), flashes(client)
    state = _wizard_state(client)
    assert list(state["custom_fields"]) == ["Follow up"]
    assert (state["members_column"], state["labels_column"], state["create_labels"]) == ("Company", "Notes", True)
    assert state["member_emails"] == {"ann@example.com": "ann"}


def test_a_refusal_from_trello_is_said_and_nothing_is_mapped(world):
    seeded = seed_pipeline(world)
    world.trello.set_custom_fields(seeded["board_id"], True)
    client = world.app.test_client()
    login(client, world.app)
    _to_columns_step(client, world, seeded)
    world.trello.set_custom_fields(seeded["board_id"], False)  # lost between reading the board and Continue
    response = client.post("/app/workspaces/new", data=_columns_answer(**{"new_custom_type:Notes": "number"}))
    assert location(response).endswith("step=columns")
    [said] = [f for f in flashes(client) if "Trello did not make" in f]
    assert said.startswith("Trello did not make the custom field “Notes” (number): Custom Fields are not available "
                           "on this board (they need a paid Trello plan or the board's Custom Fields Power-Up).")
    assert "Nothing was mapped" in said
    state = _wizard_state(client)
    assert not state.get("custom_fields") and "title_column" not in state
    assert world.person.board_custom_fields(seeded["board_id"]) == []
    html = page(client, "/app/workspaces/new?step=columns")
    assert form_fields(html, 'name="step"')["new_custom_type:Notes"] == ["number"]  # the choice is shown again


def test_a_list_for_an_empty_column_and_a_taken_column_are_refused_before_any_call(world):
    seeded = seed_pipeline(world)
    world.trello.set_custom_fields(seeded["board_id"], True)
    world.trello.add_custom_field(seeded["board_id"], "Email", "text")
    client = world.app.test_client()
    login(client, world.app)
    _to_columns_step(client, world, seeded)
    calls = dict(world.trello.stats()["calls"])
    response = client.post("/app/workspaces/new", data=_columns_answer(
        due_column="", **{"new_custom_type:Follow up": "date", "new_custom_type:Email": "text",
                          "new_custom_type:Status": "text"}))
    assert location(response).endswith("step=columns")
    said = flashes(client)
    assert "The board already has a custom field named “Email”: map it to the column instead of making another." \
        in said
    assert any("“Status” cannot hold a Trello custom field" in s for s in said), said
    assert {k: v for k, v in world.trello.stats()["calls"].items() if v != calls.get(k) and "POST" in k} == {}
    assert [f["name"] for f in world.person.board_custom_fields(seeded["board_id"])] == ["Email"]


def test_the_wizard_offers_description_lines_on_a_board_without_custom_fields(world):
    seeded = seed_pipeline(world)  # the emulator's new boards have no Custom Fields
    client = world.app.test_client()
    login(client, world.app)
    html = _to_columns_step(client, world, seeded)
    assert "This Trello board has no Custom Fields (they need a paid Trello plan or the board's Custom Fields " \
           "Power-Up)" in unescape(html)
    assert "Make custom fields on the board" not in html and "new_custom_type:" not in html
    assert "sync as “Column: value” lines in each card's description (Email, Company, Notes)" in unescape(html)
    assert form_fields(html, 'name="step"')["description_columns"] == ["Email", "Company", "Notes"]  # pre-checked


def _with_a_custom_field(world):
    """The world's workspace with a number field mapped to a Deal column, and a lead with a deal."""
    world.trello.set_custom_fields(world.board_id, True)
    deal = world.trello.add_custom_field(world.board_id, "Deal", "number")["id"]
    world.map_columns({"custom_fields": {"Deal": deal}}, ["Deal"])
    customfields.forget(world.workspace_id)
    world.add_row(Name="Ada Lovelace", Email="ada@example.com", Status="New", Deal="1200")
    world.settle()
    return deal


def test_the_editor_offers_lost_custom_field_columns_as_description_lines(world):
    world.app.config["WTF_CSRF_ENABLED"] = True
    _with_a_custom_field(world)
    world.trello.set_custom_fields(world.board_id, False)
    client = world.app.test_client()
    login(client, world.app)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    html = body(client.get(url))
    assert "the columns mapped to custom fields (“Deal”) are not written to cards" in html
    assert "They are checked below to sync as “Column: value” lines in the card description instead" in html
    fields = form_fields(html)
    assert "Deal" in fields["description_columns"]  # pre-checked
    preview = body(client.post(url, data=as_form(fields, action="preview")))
    assert "Columns no longer synced" not in preview and "rewrites the title, description" in preview
    response = client.post(url, data=as_form(form_fields(preview), action="save"))
    assert response.status_code == 302, body(response)
    mapping = workspace(world.app, world.workspace_id).mapping
    assert "Deal" in mapping["description_columns"] and "custom_fields" not in mapping


def test_unticking_the_fallback_keeps_the_custom_field_mapped(world):
    deal = _with_a_custom_field(world)
    world.trello.set_custom_fields(world.board_id, False)
    client = world.app.test_client()
    login(client, world.app)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    fields = form_fields(body(client.get(url)))
    fields["description_columns"] = [c for c in fields["description_columns"] if c != "Deal"]
    preview = body(client.post(url, data=as_form(fields, action="preview")))
    assert client.post(url, data=as_form(form_fields(preview), action="save")).status_code == 302
    assert workspace(world.app, world.workspace_id).mapping["custom_fields"] == {"Deal": deal}


def test_the_workspace_page_offers_the_switch_when_trello_refuses_the_custom_fields(world):
    world.app.config["WTF_CSRF_ENABLED"] = True
    _with_a_custom_field(world)
    client = world.app.test_client()
    login(client, world.app)
    ws_url = f"/app/workspaces/{world.workspace_id}"
    assert 'id="custom-fields-lost"' not in page(client, ws_url)
    world.trello.set_custom_fields(world.board_id, False)  # the plan lapsed, or the Power-Up was turned off
    row = world.rows()[-1]
    world.edit_row(row["_row"], Deal="1500", Notes="asked for a quote")
    world.settle()
    with world.app.app_context():
        errors = [h.message for h in db.session.query(History).filter_by(workspace_id=world.workspace_id,
                                                                         outcome="error")]
    assert any(m.startswith("Deal of lead ") and "Custom Fields are not available on this Trello board" in m
               for m in errors), errors  # the engine's per-column line stays
    card = world.card_for(row["Lead ID"])
    assert "Notes: asked for a quote" in card["desc"]  # the other fields synced
    html = page(client, ws_url)
    assert "Trello no longer takes this board's custom fields" in unescape(html) and "“Deal” is not written to cards" in html
    assert "each lead's history says so (last refused 20" in unescape(html)
    switch = form_fields(html, 'value="fallback"')
    preview = client.post(f"{ws_url}/mapping", data=as_form(switch))
    assert preview.status_code == 200, body(preview)
    shown = body(preview)
    assert "What saving changes" in shown and "“Deal” switched to “Column: value” lines" in shown
    saved = client.post(f"{ws_url}/mapping", data=as_form(form_fields(shown), action="save"))
    assert saved.status_code == 302, body(saved)
    mapping = workspace(world.app, world.workspace_id).mapping
    assert mapping["description_columns"][-1] == "Deal" and "custom_fields" not in mapping
    world.settle()  # the full sync queued by saving
    assert "Deal: 1500" in world.card_for(row["Lead ID"])["desc"]
    assert 'id="custom-fields-lost"' not in page(client, ws_url)


def test_a_list_fields_options_are_the_columns_distinct_values():
    from server.sync.customfield_make import MAX_OPTIONS, NewField, options_from_text, options_from_values

    assert options_from_values(["Hot", " hot ", "", "Warm  leads", None, "Cold"]) == ("Hot", "Warm leads", "Cold")
    assert len(options_from_values(str(n) for n in range(80))) == MAX_OPTIONS
    assert options_from_text("Hot, , Warm,hot") == ("Hot", "Warm")
    assert NewField("Stage", "list", ("Hot", "Cold")).words() == "“Stage” (list: Hot, Cold)"
    assert NewField("Deal", "number").words() == "“Deal” (number)"


def test_the_one_click_fallback_keeps_the_rest_of_the_mapping(world):
    """Only the custom field columns move: the owner column, its email table and both filters stay."""
    _with_a_custom_field(world)
    with world.sheets._lock:
        world.sheets._sheet(world.spreadsheet_id, "Leads")[1].set(1, 9, "Owner")
    kept = {"members_column": "Owner", "member_emails": {"ann@example.com": "ann"},
            "row_filter": [{"column": "Status", "op": "is_not", "value": "Lost"}],
            "card_filter": {"labels": ["Hot"]}}
    with world.app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.mapping = {**ws.mapping, **kept}
        db.session.commit()
    world.trello.set_custom_fields(world.board_id, False)
    client = world.app.test_client()
    login(client, world.app)
    url = f"/app/workspaces/{world.workspace_id}/mapping"
    preview = client.post(url, data={"action": "fallback", "base": ""})
    assert preview.status_code == 200, body(preview)
    saved = client.post(url, data=as_form(form_fields(body(preview)), action="save"))
    assert saved.status_code == 302, body(saved)
    mapping = workspace(world.app, world.workspace_id).mapping
    assert "Deal" in mapping["description_columns"] and "custom_fields" not in mapping
    assert {key: mapping.get(key) for key in kept} == kept
