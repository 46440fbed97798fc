"""Trello custom fields ⇄ sheet columns, end to end over HTTP, for all five field types.

The world's board gets Custom Fields (the emulator's per-board switch) and one field of each type;
the sheet gets one column per field after Lead ID, and the mapping maps them
(``"custom_fields": {"Column": "<field id>"}``). People edit both sides; the worker applies what
the emulators deliver.
"""

from __future__ import annotations

import time

import pytest

from server.extensions import db
from server.models import Event
from server.sync import customfields

COLUMNS = {"Note": "text", "Deal": "number", "Met": "date", "VIP": "checkbox", "Stage": "list"}



def _map_custom_fields(world, directions=None):
    """One custom field of each type on the board, a column for each, mapped; returns {column: field id}."""
    world.trello.set_custom_fields(world.board_id, True)
    ids = {}
    for column, kind in COLUMNS.items():
        options = ("Hot", "Cold") if kind == "list" else ()
        ids[column] = world.trello.add_custom_field(world.board_id, column, kind, options)["id"]
    world.map_columns({"custom_fields": ids, **({"directions": directions} if directions else {})}, list(COLUMNS))
    customfields.forget(world.workspace_id)
    return ids



def _on_card(world, card_id, ids):
    """The card's custom fields as the sheet would show them."""
    definitions = {d["id"]: d for d in world.person.board_custom_fields(world.board_id)}
    items = {i["idCustomField"]: i for i in world.person.card_custom_field_items(card_id)}
    return {column: customfields.to_cell(definitions[fid], items.get(fid)) for column, fid in ids.items()}





def test_each_type_goes_from_the_sheet_to_the_card(world):
    ids = _map_custom_fields(world)
    row, lead_id = world.add_lead(Note="met at the fair", Deal="1200.50", Met="2026-12-01", VIP="TRUE", Stage="hot")
    card_id = world.link(lead_id).card_id
    assert _on_card(world, card_id, ids) == {"Note": "met at the fair", "Deal": "1200.5", "Met": "2026-12-01",
                                             "VIP": "TRUE", "Stage": "Hot"}  # a new row's card gets them all
    world.edit_row(row, Note="called back", Deal="7", Met="2027-01-15", VIP="no", Stage="COLD")
    world.settle()
    assert _on_card(world, card_id, ids) == {"Note": "called back", "Deal": "7", "Met": "2027-01-15",
                                             "VIP": "FALSE", "Stage": "Cold"}
    world.edit_row(row, Note="", Deal="", Met="", VIP="", Stage="")  # empty clears
    world.settle()
    # every item cleared, but the unchecked box: an empty cell is unchecked too, so nothing was sent for it
    assert [i["idCustomField"] for i in world.person.card_custom_field_items(card_id)] == [ids["VIP"]]
    assert _on_card(world, card_id, ids) == {"Note": "", "Deal": "", "Met": "", "VIP": "FALSE", "Stage": ""}
    assert not world.history(action="update_row")  # our writes' echoes were not taken for a person's


def test_each_type_comes_from_the_card_into_the_sheet(world):
    ids = _map_custom_fields(world)
    row, lead_id = world.add_lead()
    card_id = world.link(lead_id).card_id
    stage = world.person.board_custom_fields(world.board_id)[-1]
    cold = next(o["id"] for o in stage["options"] if o["value"]["text"] == "Cold")
    world.trello.set_custom_field_item(card_id, ids["Note"], {"text": "from Trello"})
    world.trello.set_custom_field_item(card_id, ids["Deal"], {"number": "42"})
    world.trello.set_custom_field_item(card_id, ids["Met"], {"date": "2026-11-20T09:30:00.000Z"})
    world.trello.set_custom_field_item(card_id, ids["VIP"], {"checked": "true"})
    world.trello.set_custom_field_item(card_id, ids["Stage"], id_value=cold)
    world.settle()
    values = world.row_for(lead_id)
    assert {c: values[c] for c in COLUMNS} == {"Note": "from Trello", "Deal": "42", "Met": "2026-11-20",
                                               "VIP": "TRUE", "Stage": "Cold"}
    world.trello.set_custom_field_item(card_id, ids["Stage"])  # cleared in Trello
    world.trello.set_custom_field_item(card_id, ids["VIP"], {"checked": "false"})
    world.settle()
    assert (world.row_for(lead_id)["Stage"], world.row_for(lead_id)["VIP"]) == ("", "FALSE")
    assert len(world.history(action="update_row")) >= 2


def test_a_row_edit_of_a_title_and_two_custom_fields_is_one_put_and_one_batch_call(either_world):
    world = either_world
    ids = _map_custom_fields(world)
    row, lead_id = world.add_lead(Deal="10", Stage="Hot")
    card_id = world.link(lead_id).card_id
    world.trello.reset_stats()
    world.edit_row(row, Name="Ada King", Deal="20", Stage="Cold")
    world.settle()
    assert world.trello_writes() == {"PUT /1/cards/{id}": 1, "PUT /1/cards/{id}/customFields": 1}
    assert world.card_for(lead_id)["name"] == "Ada King"
    assert _on_card(world, card_id, ids)["Deal"] == "20" and _on_card(world, card_id, ids)["Stage"] == "Cold"
    assert not world.history(action="update_row")  # the echoes (updateCard, two updateCustomFieldItem) are ours
    assert (world.row_for(lead_id)["Deal"], world.row_for(lead_id)["Stage"]) == ("20", "Cold")


def test_an_unknown_list_option_is_said_in_the_history_and_not_invented(world):
    ids = _map_custom_fields(world)
    row, lead_id = world.add_lead(Stage="Hot")
    card_id = world.link(lead_id).card_id
    world.edit_row(row, Stage="Lukewarm", Deal="5")
    world.settle()
    assert _on_card(world, card_id, ids)["Stage"] == "Hot" and _on_card(world, card_id, ids)["Deal"] == "5"
    [error] = world.history(action="error")
    assert error.lead_id == lead_id and error.outcome == "error"
    assert f"Stage of lead {lead_id} (“Ada Lovelace”)" in error.message
    assert "“Lukewarm” is not an option" in error.message
    assert len(world.person.board_custom_fields(world.board_id)[-1]["options"]) == 2  # no option made


@pytest.mark.parametrize("trello_last", [True, False])
def test_queued_custom_field_changes_on_both_sides_newest_wins(either_world, trello_last):
    """The worker is not drained between the steps: both sides' changes wait in the queue together."""
    world = either_world
    ids = _map_custom_fields(world)
    row, lead_id = world.add_lead(Deal="1")
    card_id = world.link(lead_id).card_id

    def sheet():
        world.edit_row(row, Deal="2")

    def trello():
        world.trello.set_custom_field_item(card_id, ids["Deal"], {"number": "3"})

    first, second = (sheet, trello) if trello_last else (trello, sheet)
    first()
    assert world.trello.wait_for_deliveries(timeout=10) and world.sheets.wait_for_events(timeout=10)
    time.sleep(0.3)
    second()
    assert world.trello.wait_for_deliveries(timeout=10) and world.sheets.wait_for_events(timeout=10)
    world.settle()
    expected, overruled = ("3", "2") if trello_last else ("2", "3")
    assert world.row_for(lead_id)["Deal"] == expected
    assert _on_card(world, card_id, ids)["Deal"] == expected
    [conflict] = world.history(action="conflict")
    assert conflict.changes == {"Deal": [overruled, expected]}
    assert conflict.side == ("sheets" if trello_last else "trello")


def test_a_board_without_custom_fields_is_a_plain_history_error_and_the_rest_syncs(world):
    ids = _map_custom_fields(world)
    row, lead_id = world.add_lead(Deal="1")
    card_id = world.link(lead_id).card_id
    world.trello.set_custom_fields(world.board_id, False)  # the Power-Up switched off, the plan downgraded
    world.trello.reset_stats()
    world.edit_row(row, Name="Ada King", Deal="2")
    world.settle()
    assert world.card_for(lead_id)["name"] == "Ada King"
    assert _on_card(world, card_id, ids)["Deal"] == "1"
    [error] = world.history(action="error")
    assert error.lead_id == lead_id
    assert "Custom Fields are not available on this Trello board" in error.message
    assert f"Deal of lead {lead_id}" in error.message
    assert world.trello_writes() == {"PUT /1/cards/{id}": 1, "PUT /1/cards/{id}/customFields": 1}  # tried once, no storm
    assert all(e.state in ("done", "ignored") for e in world.events())  # nothing parked or waiting
    world.edit_row(row, Email="ada@king.example")  # later edits of the other fields sync as ever
    world.settle()
    assert "ada@king.example" in world.card_for(lead_id)["desc"]


def _lose_deliveries(world):
    """What the webhooks and the add-on delivered meanwhile is lost (as if never sent)."""
    assert world.trello.wait_for_deliveries(timeout=10) and world.sheets.wait_for_events(timeout=10)
    with world.app.app_context():
        for event in db.session.query(Event).filter_by(workspace_id=world.workspace_id, state="pending"):
            db.session.delete(event)
        db.session.commit()


def test_reconciliation_repairs_a_custom_field(world):
    ids = _map_custom_fields(world)
    row, lead_id = world.add_lead(Note="kept", Stage="Hot")
    card_id = world.link(lead_id).card_id
    world.trello.set_custom_field_item(card_id, ids["Note"], {"text": "changed in Trello"})
    world.edit_row(row, Stage="Cold")
    _lose_deliveries(world)
    world.trello.reset_stats()
    plan = world.reconcile()
    world.settle()
    assert world.row_for(lead_id)["Note"] == "changed in Trello"
    assert _on_card(world, card_id, ids)["Stage"] == "Cold"
    assert world.trello_writes().get("PUT /1/cards/{id}/customFields") == 1 and plan.cards_to_update == 1
    assert not world.history(action="conflict")
    assert world.reconcile().cards_to_update == 0  # nothing left to repair


def test_a_card_made_on_the_board_brings_its_custom_fields_into_its_row(world):
    ids = _map_custom_fields(world)
    card = world.trello.add_card(world.lists["Contacted"], "Grace Hopper")
    world.trello.set_custom_field_item(card["id"], ids["Deal"], {"number": "99"})
    world.trello.set_custom_field_item(card["id"], ids["VIP"], {"checked": "true"})
    world.settle()
    row = next(r for r in world.rows() if r["Name"] == "Grace Hopper")
    assert (row["Deal"], row["VIP"], row["Stage"]) == ("99", "TRUE", "")


def test_a_full_sync_gives_a_card_it_makes_its_rows_custom_fields(world):
    ids = _map_custom_fields(world)
    world.sheets.drop_next_events(1)  # a row the add-on never told us about
    world.add_row(Name="Alan Turing", Email="alan@example.com", Status="New", Deal="12", Stage="Cold", VIP="TRUE")
    assert world.sheets.wait_for_events(timeout=10)
    world.trello.reset_stats()
    world.reconcile()
    world.settle()
    lead_id = next(r for r in world.rows() if r["Name"] == "Alan Turing")["Lead ID"]
    card_id = world.link(lead_id).card_id
    assert _on_card(world, card_id, ids) == {"Note": "", "Deal": "12", "Met": "", "VIP": "TRUE", "Stage": "Cold"}
    assert world.trello_writes()["PUT /1/cards/{id}/customFields"] == 1
    plan = world.reconcile()  # nothing left to repair, and the row keeps its values
    assert plan.cards_to_update == 0 and world.row_for(lead_id)["Deal"] == "12"
