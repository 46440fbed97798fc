"""Every sync rule, end to end: emulators ⇄ webhooks ⇄ inbox ⇄ worker ⇄ real clients over HTTP."""

from __future__ import annotations

from collections import Counter

from server.extensions import db
from server.models import History, Workspace


def _add_lead(world, **values):
    row = world.add_row(**{"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", **values})
    world.settle()
    lead_id = world.rows()[-1]["Lead ID"]
    return row, lead_id


def test_row_added_creates_one_card_in_the_mapped_list(world):
    row, lead_id = _add_lead(world, Company="Analytical Engines", Status="Contacted")
    cards = world.cards()
    assert len(cards) == 1
    card = cards[0]
    assert card["name"] == "Ada Lovelace"
    assert world.list_name(card["idList"]) == "Contacted"
    assert "Email: ada@example.com" in card["desc"] and "Company: Analytical Engines" in card["desc"]
    assert f"Lead ID: {lead_id}" in card["desc"]
    link = world.link(lead_id)
    assert link.card_id == card["id"] and link.row_number == row and link.sync_state == "synced"
    # our own card's createCard/updateCard echoes were dropped: nothing else happened
    assert len(world.cards()) == 1 and len(world.rows()) == 1


def test_row_edit_updates_card_with_one_trello_call(world):
    row, lead_id = _add_lead(world)
    world.trello.reset_stats()
    world.edit_row(row, Name="Ada King", Notes="met at the expo")
    world.settle()
    card = world.card_for(lead_id)
    assert card["name"] == "Ada King" and "Notes: met at the expo" in card["desc"]
    calls = world.trello.stats()["calls"]
    writes = {k: v for k, v in calls.items() if not k.startswith("GET")}
    assert sum(writes.values()) == 1, calls


def test_status_edit_moves_card_ignoring_case_and_spaces(world):
    row, lead_id = _add_lead(world)
    world.edit_row(row, Status="  QUALIFIED ")
    world.settle()
    assert world.list_name(world.card_for(lead_id)["idList"]) == "Qualified"
    # the sheet keeps what the person typed
    assert world.row_for(lead_id)["Status"] == "  QUALIFIED "


def test_card_moved_sets_status_from_reverse_mapping(world):
    row, lead_id = _add_lead(world)
    card = world.card_for(lead_id)
    world.person.update_card(card["id"], idList=world.lists["Closed"])
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Won"  # Closed's reverse default


def test_many_to_one_status_is_not_rewritten_by_its_echo(world):
    row, lead_id = _add_lead(world)
    world.edit_row(row, Status="Lost")
    world.settle()
    assert world.list_name(world.card_for(lead_id)["idList"]) == "Closed"
    assert world.row_for(lead_id)["Status"] == "Lost"  # not turned into "Won" by the move's echo


def test_card_renamed_and_description_edited_update_row(world):
    row, lead_id = _add_lead(world, Phone="555-0100")
    card = world.card_for(lead_id)
    desc = card["desc"].replace("Phone: 555-0100", "Phone: 555-0199")
    world.person.update_card(card["id"], name="Countess Ada", desc=desc)
    world.settle()
    lead = world.row_for(lead_id)
    assert lead["Name"] == "Countess Ada" and lead["Phone"] == "555-0199"


def test_card_created_in_trello_appends_a_row(world):
    card = world.person.create_card(id_list=world.lists["Contacted"], name="Grace Hopper",
                                    desc="Met at COBOL meetup\n\nEmail: grace@example.com")
    world.settle()
    rows = world.rows()
    assert len(rows) == 1
    lead = rows[0]
    assert lead["Name"] == "Grace Hopper" and lead["Status"] == "Contacted" and lead["Email"] == "grace@example.com"
    assert lead["Lead ID"].startswith("L-")
    fresh = world.trello.card(card["id"])
    assert f"Lead ID: {lead['Lead ID']}" in fresh["desc"] and fresh["desc"].startswith("Met at COBOL meetup")
    assert world.link(lead["Lead ID"]).card_id == card["id"]
    assert len(world.cards()) == 1


def test_row_deleted_archives_card_per_policy(world):
    row, lead_id = _add_lead(world)
    card_id = world.link(lead_id).card_id
    world.delete_row(row)
    world.settle()
    assert world.trello.card(card_id)["closed"] is True
    assert world.cards() == []


def test_card_archived_sets_configured_status_and_keeps_row(world):
    row, lead_id = _add_lead(world)
    world.person.archive_card(world.link(lead_id).card_id)
    world.settle()
    lead = world.row_for(lead_id)
    assert lead["Status"] == "Archived" and lead["Name"] == "Ada Lovelace"
    assert world.link(lead_id).status == "card_removed"
    # other edits while the card is archived change nothing on Trello
    world.edit_row(row, Notes="still archived")
    world.settle()
    assert world.cards() == []
    # a listed status brings the same card back, with the current values
    card_id = world.link(lead_id).card_id
    world.edit_row(row, Status="Qualified")
    world.settle()
    card = world.trello.card(card_id)
    assert card["closed"] is False and world.list_name(card["idList"]) == "Qualified"
    assert "Notes: still archived" in card["desc"] and world.link(lead_id).status == "linked"


def test_card_deleted_keeps_row_and_a_listed_status_makes_a_new_card(world):
    row, lead_id = _add_lead(world)
    old_card = world.link(lead_id).card_id
    world.person.delete_card(old_card)
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Archived"
    assert len(world.rows()) == 1
    world.edit_row(row, Status="Contacted")
    world.settle()
    [card] = world.cards()
    assert card["id"] != old_card and world.list_name(card["idList"]) == "Contacted"
    assert world.link(lead_id).card_id == card["id"]


def test_unmapped_status_is_an_error_the_user_sees_and_changes_nothing(world):
    row = world.add_row(Name="Bob", Status="Maybe later")
    world.settle()
    assert world.cards() == []
    parked = world.events(state="parked")
    assert len(parked) == 1 and "Maybe later" in parked[0].last_error
    with world.app.app_context():
        errors = db.session.query(History).filter_by(workspace_id=world.workspace_id, outcome="error").all()
        assert any("Maybe later" in h.message for h in errors)
    # fixing the status creates the card
    world.edit_row(row, Status="New")
    world.settle()
    assert len(world.cards()) == 1


def test_list_without_status_is_an_error_and_changes_nothing(world):
    row, lead_id = _add_lead(world)
    stray = world.trello.add_list(world.board_id, "Someday")
    world.person.update_card(world.link(lead_id).card_id, idList=stray["id"])
    world.settle()
    assert world.row_for(lead_id)["Status"] == "New"
    parked = world.events(state="parked")
    assert parked and "Someday" in parked[-1].last_error


def test_card_title_formula_is_written_as_text(world):
    row, lead_id = _add_lead(world)
    world.person.update_card(world.link(lead_id).card_id, name='=HYPERLINK("http://x","y")')
    world.settle()
    cell = world.sheets.cell(world.spreadsheet_id, "Leads", f"A{row}")
    assert cell["formula"] is None and cell["value"] == '=HYPERLINK("http://x","y")'


def test_genuine_trello_move_right_after_sheet_edit_survives(world):
    row, lead_id = _add_lead(world)
    world.edit_row(row, Notes="call back Tuesday")
    world.settle()
    world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
    world.edit_row(row, Phone="555-0142")  # a later Notes-like edit must not move the card back
    world.settle()
    assert world.list_name(world.card_for(lead_id)["idList"]) == "Qualified"
    lead = world.row_for(lead_id)
    assert lead["Status"] == "Qualified" and lead["Phone"] == "555-0142" and lead["Notes"] == "call back Tuesday"


def test_redelivered_webhooks_are_stored_once(world):
    world.trello.duplicate_deliveries = True
    world.sheets.duplicate_events = True
    row, lead_id = _add_lead(world)
    world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
    world.settle()
    assert len(world.cards()) == 1 and len(world.rows()) == 1
    assert world.row_for(lead_id)["Status"] == "Qualified"
    with world.app.app_context():
        history = db.session.query(History).filter_by(workspace_id=world.workspace_id, action="update_row").all()
        assert len(history) == 1
    # Both sides really sent everything twice.
    delivered = Counter(entry["action"] for entry in world.trello.delivery_log() if entry.get("status") == 200)
    sent = Counter(body for _status, body in world.sheets.addon_deliveries())
    assert delivered and min(delivered.values()) >= 2, delivered
    assert sent and min(sent.values()) >= 2, sent


def test_sorting_rows_changes_nothing_but_locators(world):
    world.add_row(Name="Zed", Status="New")
    world.add_row(Name="Amy", Status="New")
    world.settle()
    world.trello.reset_stats()
    world.sheets.user_sort(world.spreadsheet_id, "Leads", "Name")
    world.settle()
    assert sum(v for k, v in world.trello.stats()["calls"].items() if not k.startswith("GET")) == 0
    amy = next(r for r in world.rows() if r["Name"] == "Amy")
    assert world.link(amy["Lead ID"]).row_number == 2
    # a later card move still lands on the right (moved) row
    world.person.update_card(world.link(amy["Lead ID"]).card_id, idList=world.lists["Contacted"])
    world.settle()
    assert world.row_for(amy["Lead ID"])["Status"] == "Contacted"
    assert next(r for r in world.rows() if r["Name"] == "Zed")["Status"] == "New"


def test_burst_of_card_moves_becomes_few_sheet_writes(world):
    for i in range(20):
        world.add_row(Name=f"Lead {i}", Status="New")
    world.settle()
    world.worker.settings = world.worker.processor.settings = _with(world.worker.settings, sheet_write_window_s=0.5)
    world.sheets.reset_stats()
    for link in world.links():
        world.person.update_card(link.card_id, idList=world.lists["Qualified"])
    world.settle()
    assert all(r["Status"] == "Qualified" for r in world.rows())
    stats = world.sheets.stats()
    assert stats["writes"] <= 3, stats


def test_paused_workspace_keeps_events_until_resumed(world):
    with world.app.app_context():
        db.session.get(Workspace, world.workspace_id).state = "paused"
        db.session.commit()
    world.add_row(Name="Paused Lead", Status="New")
    world.settle()
    assert world.cards() == [] and len(world.events(state="pending")) == 1
    with world.app.app_context():
        db.session.get(Workspace, world.workspace_id).state = "active"
        db.session.commit()
    world.settle()
    assert len(world.cards()) == 1


def _with(settings, **changes):
    from dataclasses import replace

    return replace(settings, **changes)


def test_older_trello_action_delivered_late_does_not_overwrite_a_newer_one(world):
    """Trello retries failed deliveries without holding back newer ones: order comes from action dates."""
    import json

    import requests

    from server.sync.signatures import trello_signature

    row, lead_id = _add_lead(world)
    card_id = world.link(lead_id).card_id
    callback = world.workspace().trello_webhook_callback

    def deliver(action_id, list_name, date):
        action = {"id": action_id, "type": "updateCard", "date": date,
                  "data": {"card": {"id": card_id, "name": "Ada Lovelace", "idList": world.lists[list_name]},
                           "old": {"idList": world.lists["New"]},
                           "listAfter": {"id": world.lists[list_name], "name": list_name},
                           "board": {"id": world.board_id, "name": "Leads"}}}
        body = json.dumps({"action": action, "model": {"id": world.board_id}}).encode()
        response = requests.post(callback, data=body, headers={
            "Content-Type": "application/json", "X-Trello-Webhook": trello_signature("emulator-secret", body, callback)})
        assert response.status_code == 200

    deliver("a" * 24, "Qualified", "2030-01-01T10:00:02.000Z")  # the newer move arrives first
    world.settle()
    deliver("b" * 24, "Contacted", "2030-01-01T10:00:01.000Z")  # the older one arrives late
    deliver("a" * 24, "Qualified", "2030-01-01T10:00:02.000Z")  # and a redelivery
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Qualified"
    with world.app.app_context():
        stale = db.session.query(History).filter_by(workspace_id=world.workspace_id, action="stale").all()
        assert len(stale) == 1


def test_a_due_date_trello_cannot_take_keeps_the_cards_and_says_so(tmp_path):
    """'tomorrow' in the Due column used to clear the card's due date silently."""
    from tests.conftest import make_app
    from tests.sync.world import build_world

    world = build_world(f"sqlite:///{tmp_path / 'app.db'}", make_app=make_app)
    try:
        with world.app.app_context():
            workspace = db.session.get(Workspace, world.workspace_id)
            workspace.mapping = {**workspace.mapping, "due_column": "Follow up"}
            db.session.commit()
        with world.sheets._lock:  # a "Follow up" column after Lead ID, as the sheet's owner would add it
            world.sheets._sheet(world.spreadsheet_id, "Leads")[1].set(1, 8, "Follow up")
        row, lead_id = _add_lead(world, **{"Follow up": "2026-12-24"})
        card_id = world.link(lead_id).card_id
        assert world.trello.card(card_id)["due"].startswith("2026-12-24")
        world.edit_row(row, **{"Follow up": "tomorrow", "Notes": "call her"})
        world.settle()
        card = world.trello.card(card_id)
        assert card["due"].startswith("2026-12-24")  # kept, not cleared
        assert "Notes: call her" in card["desc"]  # the rest of the edit went through
        assert world.row_for(lead_id)["Follow up"] == "tomorrow"  # the person's text stays in the sheet
        with world.app.app_context():
            [entry] = db.session.query(History).filter_by(workspace_id=world.workspace_id, lead_id=lead_id,
                                                           action="due_not_a_date").all()
        assert entry.outcome == "error" and "'tomorrow' is not a date" in entry.message
    finally:
        world.stop()
