"""Members ⇄ an owner column, checklist progress, the latest comment and colour-only labels, end to
end over HTTP.

The board gets two more members (Bob, Cara); the sheet gets Owner, Checklist, Last comment and
Labels columns after Lead ID, and the mapping maps them (``members_column``, ``member_emails``,
``checklist_column``, ``comment_column``, ``labels_column``). People edit both sides; the worker
applies what the emulators deliver.
"""

from __future__ import annotations

import time

import pytest

from server.sync import labels, members

EXTRA = ["Owner", "Checklist", "Last comment", "Labels"]



def _map(world, *, comment=True):
    """Bob and Cara join the board; the four columns are mapped; returns {username: member id}."""
    ids = {"ann": world.trello.state.usernames["ann"]}
    for username, full_name in (("bob", "Bob Builder"), ("cara", "Cara Dune")):
        ids[username] = world.trello.add_member(username, full_name)["id"]
        world.trello.add_board_member(world.board_id, ids[username])
    mapping = {"members_column": "Owner", "member_emails": {"cara@example.com": "cara"},
               "checklist_column": "Checklist", "labels_column": "Labels"}
    world.map_columns({**mapping, **({"comment_column": "Last comment"} if comment else {})}, EXTRA)
    members.forget(world.workspace_id)
    labels.forget(world.workspace_id)
    return ids







def _members_of(world, lead_id):
    return sorted(world.card_for(lead_id)["idMembers"])


# --------------------------------------------------------------------------- members


def test_members_travel_both_ways_and_an_unknown_name_is_said_not_guessed(world):
    ids = _map(world)
    row, lead_id = world.add_lead(Owner="@bob, Zed Nobody, cara@example.com")
    assert _members_of(world, lead_id) == sorted([ids["bob"], ids["cara"]])  # by username and by the email table
    [unknown] = world.history(action="unknown_member")
    assert "“Zed Nobody”" in unknown.message and lead_id in unknown.message and "Ada Lovelace" in unknown.message
    card_id = world.link(lead_id).card_id

    world.person.add_card_member(card_id, ids["ann"])  # a person adds Ann on the card: her full name
    world.settle()
    assert world.row_for(lead_id)["Owner"] == "@bob, Zed Nobody, cara@example.com, Ann Example"
    world.person.remove_card_member(card_id, ids["cara"])  # taken out however the cell named her
    world.settle()
    assert world.row_for(lead_id)["Owner"] == "@bob, Zed Nobody, Ann Example"

    world.edit_row(row, Owner="cara dune")  # a full name, ignoring case
    world.settle()
    assert _members_of(world, lead_id) == [ids["cara"]]
    assert world.row_for(lead_id)["Owner"] == "cara dune"  # our write's echoes changed nothing
    assert len(world.history(action="update_row")) == 2  # the person's two changes above, no echo


def test_an_unknown_name_alone_is_said_once_and_sends_nothing(world):
    ids = _map(world)
    row, lead_id = world.add_lead(Owner="bob")
    world.trello.reset_stats()
    world.edit_row(row, Owner="bob, Zoe Unknown")
    world.settle()
    assert world.trello_writes() == {}  # the card already has everyone the cell names
    [unknown] = world.history(action="unknown_member")
    assert "“Zoe Unknown”" in unknown.message and lead_id in unknown.message and unknown.side == "sheets"
    world.edit_row(row, Owner="bob, Zoe Unknown, cara")  # the next edit says only what is new
    world.settle()
    assert len(world.history(action="unknown_member")) == 1
    assert _members_of(world, lead_id) == sorted([ids["bob"], ids["cara"]])


def test_a_sheet_edit_of_members_and_other_fields_is_one_trello_call(either_world):
    world = either_world
    ids = _map(world)
    row, lead_id = world.add_lead(Owner="Ann Example")
    world.trello.reset_stats()
    world.edit_row(row, Name="Ada King", Owner="Bob Builder, cara", Notes="met at the fair")
    world.settle()
    calls = world.trello.stats()["calls"]
    assert world.trello_writes() == {"PUT /1/cards/{id}": 1}
    assert calls.get("GET /1/boards/{id}/members", 0) == 0  # read when the row was added, still cached
    card = world.card_for(lead_id)
    assert card["name"] == "Ada King" and sorted(card["idMembers"]) == sorted([ids["bob"], ids["cara"]])
    assert world.row_for(lead_id)["Owner"] == "Bob Builder, cara"
    assert not world.history(action="update_row")  # the member actions of our PUT were known as ours
    assert not world.history(action="unknown_member")


@pytest.mark.parametrize("trello_last", [True, False])
def test_queued_member_changes_on_both_sides_newest_wins(either_world, trello_last):
    """The worker is not drained between the steps: both sides' changes wait in the queue together."""
    world = either_world
    ids = _map(world)
    row, lead_id = world.add_lead(Owner="Ann Example")
    card_id = world.link(lead_id).card_id

    def sheet():
        world.edit_row(row, Owner="Cara Dune")

    def trello():
        world.person.add_card_member(card_id, ids["bob"])

    first, second = (sheet, trello) if trello_last else (trello, sheet)
    first()
    world.delivered()
    time.sleep(0.3)
    second()
    world.delivered()
    world.settle()
    expected, on_card = (("Ann Example, Bob Builder", [ids["ann"], ids["bob"]]) if trello_last
                         else ("Cara Dune", [ids["cara"]]))
    assert world.row_for(lead_id)["Owner"] == expected
    assert _members_of(world, lead_id) == sorted(on_card)
    [conflict] = world.history(action="conflict")
    assert conflict.changes["Owner"][1] == expected
    assert conflict.side == ("sheets" if trello_last else "trello")


def test_a_card_made_on_the_board_brings_its_people_and_reconciliation_repairs_members(world):
    ids = _map(world)
    card = world.trello.add_card(world.lists["New"], "Grace Hopper")
    world.person.add_card_member(card["id"], ids["bob"])
    world.trello.add_checklist(card["id"], "Steps", ["call", "demo"])
    world.trello.comment_card(card["id"], "first call went well")
    world.settle()
    row = next(r for r in world.rows() if r["Name"] == "Grace Hopper")
    assert (row["Owner"], row["Checklist"], row["Last comment"]) == ("Bob Builder", "0/2", "first call went well")
    lead_id = row["Lead ID"]

    world.trello.drop_next_deliveries(1)  # a member added whose delivery was lost
    world.person.add_card_member(card["id"], ids["cara"])
    world.delivered()
    world.sheets.drop_next_events(1)  # and a sheet edit whose event was lost, of the same lead
    world.edit_row(world.link(lead_id).row_number, Name="Grace B. Hopper")
    world.delivered()
    world.settle()
    assert world.row_for(lead_id)["Owner"] == "Bob Builder"
    plan = world.reconcile()
    assert not plan.conflicts
    assert world.row_for(lead_id)["Owner"] == "Bob Builder, Cara Dune"
    assert world.trello.card(card["id"])["name"] == "Grace B. Hopper"
    assert world.reconcile().nothing_to_do


def test_reconciliation_gives_the_card_the_sheets_members(world):
    ids = _map(world)
    row, lead_id = world.add_lead(Owner="Ann Example")
    world.sheets.drop_next_events(1)
    world.edit_row(row, Owner="bob, Nobody Known")
    world.delivered()
    world.settle()
    assert _members_of(world, lead_id) == [ids["ann"]]
    plan = world.reconcile()
    assert _members_of(world, lead_id) == [ids["bob"]]
    assert any("“Nobody Known”" in w for w in plan.warnings)
    assert any("“Nobody Known”" in h.message for h in world.history(action="unknown_member"))


# --------------------------------------------------------------------------- checklist progress


def test_checklist_progress_follows_the_card_and_is_read_only(world):
    _map(world, comment=False)
    row, lead_id = world.add_lead()
    card_id = world.link(lead_id).card_id
    assert world.row_for(lead_id)["Checklist"] == ""
    checklist = world.trello.add_checklist(card_id, "Steps", ["call", "demo", "offer"])
    world.settle()
    assert world.row_for(lead_id)["Checklist"] == "0/3"
    world.trello.set_check_item(card_id, checklist["checkItems"][0]["id"])
    world.trello.set_check_item(card_id, checklist["checkItems"][1]["id"])
    world.settle()
    assert world.row_for(lead_id)["Checklist"] == "2/3"
    world.person.request("DELETE", f"/checklists/{checklist['id']}/checkItems/{checklist['checkItems'][2]['id']}")
    world.settle()
    assert world.row_for(lead_id)["Checklist"] == "2/2"  # "3/5" is written as text, never a date

    world.trello.reset_stats()
    world.edit_row(row, Checklist="5/5")  # a person's edit: not sent, recorded, put back by reconciliation
    world.settle()
    assert world.trello_writes() == {}
    [skipped] = world.history(action="one_way")
    assert skipped.side == "sheets" and "Checklist changed in the sheet was not sent to Trello" in skipped.message
    world.reconcile()
    assert world.row_for(lead_id)["Checklist"] == "2/2"

    world.person.request("DELETE", f"/checklists/{checklist['id']}")
    world.settle()
    assert world.row_for(lead_id)["Checklist"] == ""
    assert world.reconcile().nothing_to_do


def test_checklist_deliveries_lost_are_repaired_by_reconciliation(world):
    _map(world, comment=False)
    _row, lead_id = world.add_lead()
    card_id = world.link(lead_id).card_id
    world.trello.drop_next_deliveries(3)
    world.trello.add_checklist(card_id, "Steps", ["call", "demo"])
    world.delivered()
    world.settle()
    assert world.row_for(lead_id)["Checklist"] == ""
    world.reconcile()
    assert world.row_for(lead_id)["Checklist"] == "0/2"


# --------------------------------------------------------------------------- the latest comment


def test_the_latest_comment_goes_into_its_column_and_reconciliation_reads_it_only_where_mapped(world):
    _map(world)
    row, lead_id = world.add_lead()
    card_id = world.link(lead_id).card_id
    world.person.add_comment(card_id, "called, no answer")
    world.settle()
    assert world.row_for(lead_id)["Last comment"] == "called, no answer"
    assert world.history(action="comment")  # still recorded in the lead's history
    world.trello.drop_next_deliveries(1)
    world.person.add_comment(card_id, "called again: =interested")
    world.delivered()
    world.settle()
    assert world.row_for(lead_id)["Last comment"] == "called, no answer"
    world.trello.reset_stats()
    world.reconcile()
    assert world.row_for(lead_id)["Last comment"] == "called again: =interested"  # written RAW, not a formula
    assert world.trello.stats()["calls"].get("GET /1/boards/{id}/actions") == 1  # one read for the whole board

    world.edit_row(row, **{"Last comment": "mine"})  # read-only: not sent, put back
    world.settle()
    assert world.history(action="one_way")
    world.reconcile()
    assert world.row_for(lead_id)["Last comment"] == "called again: =interested"


def test_a_workspace_without_the_comment_column_reads_no_comments(world):
    _map(world, comment=False)
    _row, lead_id = world.add_lead()
    world.person.add_comment(world.link(lead_id).card_id, "hello")
    world.settle()
    world.trello.reset_stats()
    world.reconcile()
    calls = world.trello.stats()["calls"]
    assert not calls.get("GET /1/boards/{id}/actions") and not calls.get("GET /1/cards/{id}/actions")


@pytest.mark.parametrize("trello_last", [True, False])
def test_queued_comment_and_sheet_edit_newest_wins(world, trello_last):
    """A person's edit of the read-only comment cell and a comment queued together: the comment
    reaches the row whichever came last (the column takes nothing from the sheet)."""
    _map(world)
    row, lead_id = world.add_lead()
    card_id = world.link(lead_id).card_id

    def sheet():
        world.edit_row(row, **{"Last comment": "typed over"})

    def trello():
        world.person.add_comment(card_id, "a real comment")

    first, second = (sheet, trello) if trello_last else (trello, sheet)
    first()
    world.delivered()
    time.sleep(0.3)
    second()
    world.delivered()
    world.settle()
    assert world.row_for(lead_id)["Last comment"] == "a real comment"  # the sheet's edit, older or newer, is not taken
    [skipped] = world.history(action="one_way")
    assert skipped.side == "sheets" and skipped.changes == {"Last comment": ["typed over", None]}
    assert not world.history(action="conflict")
    assert world.reconcile().nothing_to_do


# --------------------------------------------------------------------------- colour-only labels


def test_a_sheet_edit_of_labels_keeps_the_cards_colour_only_labels(either_world):
    world = either_world
    _map(world, comment=False)
    hot = world.person.create_label(world.board_id, "Hot", "red")["id"]
    cold = world.person.create_label(world.board_id, "Cold", "blue")["id"]
    purple = world.person.create_label(world.board_id, "", "purple")["id"]
    row, lead_id = world.add_lead(Labels="Hot")
    card_id = world.link(lead_id).card_id
    world.person.add_card_label(card_id, purple)
    world.settle()
    assert world.row_for(lead_id)["Labels"] == "Hot"  # no words for a colour
    world.trello.reset_stats()
    world.edit_row(row, Labels="Cold")
    world.settle()
    assert world.trello_writes() == {"PUT /1/cards/{id}": 1}
    assert sorted(world.trello.card(card_id)["idLabels"]) == sorted([cold, purple])
    assert hot not in world.trello.card(card_id)["idLabels"]
    world.reconcile()
    world.edit_row(row, Labels="Hot, Cold")
    world.settle()
    assert sorted(world.trello.card(card_id)["idLabels"]) == sorted([hot, cold, purple])
