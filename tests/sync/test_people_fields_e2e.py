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

from server.extensions import db
from server.models import History, Workspace
from server.sync import labels, members
from server.sync.reconcile import reconcile
from tests.conftest import make_app
from tests.sync.world import build_world

EXTRA = ["Owner", "Checklist", "Last comment", "Labels"]


@pytest.fixture(params=["provenance", "ledger"])
def either_world(request, sqlite_url):
    """Our own writes' echoes known by their provenance (TRELLO_APP_ID set), and by the ledger."""
    w = build_world(sqlite_url, make_app=make_app, config={} if request.param == "provenance" else {"TRELLO_APP_ID": ""})
    yield w
    w.stop()


def _map(world, *, comment=True):
    """Bob and Cara join the board; the four columns are mapped; returns {username: member id}."""
    ids = {"ann": world.trello.state.usernames["ann"]}
    for username, full_name in (("bob", "Bob Builder"), ("cara", "Cara Dune")):
        ids[username] = world.trello.add_member(username, full_name)["id"]
        world.trello.add_board_member(world.board_id, ids[username])
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        mapping = {**workspace.mapping, "members_column": "Owner", "member_emails": {"cara@example.com": "cara"},
                   "checklist_column": "Checklist", "labels_column": "Labels"}
        if comment:
            mapping["comment_column"] = "Last comment"
        workspace.mapping = mapping
        db.session.commit()
    members.forget(world.workspace_id)
    labels.forget(world.workspace_id)
    with world.sheets._lock:  # the columns after Lead ID, as the sheet's owner would add them
        grid = world.sheets._sheet(world.spreadsheet_id, "Leads")[1]
        for offset, name in enumerate(EXTRA):
            grid.set(1, 8 + offset, name)
    return ids


def _lead(world, **values):
    world.add_row(**{"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", **values})
    world.settle()
    lead_id = world.rows()[-1]["Lead ID"]
    return world.link(lead_id).row_number, lead_id


def _history(world, **filters):
    with world.app.app_context():
        return db.session.query(History).filter_by(workspace_id=world.workspace_id, **filters).order_by(History.id).all()


def _delivered(world):
    assert world.trello.wait_for_deliveries(timeout=10)
    assert world.sheets.wait_for_events(timeout=10)


def _writes(world):
    return {k: v for k, v in world.trello.stats()["calls"].items() if v and not k.startswith("GET")}


def _reconcile(world):
    with world.app.app_context():
        return reconcile(db.session, db.session.get(Workspace, world.workspace_id), world.worker.processor.providers)


def _members_of(world, lead_id):
    return sorted(world.card_for(lead_id)["idMembers"])


# --------------------------------------------------------------------------- members


def test_members_travel_both_ways_and_an_unknown_name_is_said_not_guessed(world):
    ids = _map(world)
    row, lead_id = _lead(world, Owner="@bob, Zed Nobody, cara@example.com")
    assert _members_of(world, lead_id) == sorted([ids["bob"], ids["cara"]])  # by username and by the email table
    [unknown] = _history(world, action="unknown_member")
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
    assert len(_history(world, action="update_row")) == 2  # the person's two changes above, no echo


def test_an_unknown_name_alone_is_said_once_and_sends_nothing(world):
    ids = _map(world)
    row, lead_id = _lead(world, Owner="bob")
    world.trello.reset_stats()
    world.edit_row(row, Owner="bob, Zoe Unknown")
    world.settle()
    assert _writes(world) == {}  # the card already has everyone the cell names
    [unknown] = _history(world, action="unknown_member")
    assert "“Zoe Unknown”" in unknown.message and lead_id in unknown.message and unknown.side == "sheets"
    world.edit_row(row, Owner="bob, Zoe Unknown, cara")  # the next edit says only what is new
    world.settle()
    assert len(_history(world, action="unknown_member")) == 1
    assert _members_of(world, lead_id) == sorted([ids["bob"], ids["cara"]])


def test_a_sheet_edit_of_members_and_other_fields_is_one_trello_call(either_world):
    world = either_world
    ids = _map(world)
    row, lead_id = _lead(world, Owner="Ann Example")
    world.trello.reset_stats()
    world.edit_row(row, Name="Ada King", Owner="Bob Builder, cara", Notes="met at the fair")
    world.settle()
    calls = world.trello.stats()["calls"]
    assert _writes(world) == {"PUT /1/cards/{id}": 1}
    assert calls.get("GET /1/boards/{id}/members", 0) == 0  # read when the row was added, still cached
    card = world.card_for(lead_id)
    assert card["name"] == "Ada King" and sorted(card["idMembers"]) == sorted([ids["bob"], ids["cara"]])
    assert world.row_for(lead_id)["Owner"] == "Bob Builder, cara"
    assert not _history(world, action="update_row")  # the member actions of our PUT were known as ours
    assert not _history(world, action="unknown_member")


@pytest.mark.parametrize("trello_last", [True, False])
def test_queued_member_changes_on_both_sides_newest_wins(either_world, trello_last):
    """The worker is not drained between the steps: both sides' changes wait in the queue together."""
    world = either_world
    ids = _map(world)
    row, lead_id = _lead(world, Owner="Ann Example")
    card_id = world.link(lead_id).card_id

    def sheet():
        world.edit_row(row, Owner="Cara Dune")

    def trello():
        world.person.add_card_member(card_id, ids["bob"])

    first, second = (sheet, trello) if trello_last else (trello, sheet)
    first()
    _delivered(world)
    time.sleep(0.3)
    second()
    _delivered(world)
    world.settle()
    expected, on_card = (("Ann Example, Bob Builder", [ids["ann"], ids["bob"]]) if trello_last
                         else ("Cara Dune", [ids["cara"]]))
    assert world.row_for(lead_id)["Owner"] == expected
    assert _members_of(world, lead_id) == sorted(on_card)
    [conflict] = _history(world, action="conflict")
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
    _delivered(world)
    world.sheets.drop_next_events(1)  # and a sheet edit whose event was lost, of the same lead
    world.edit_row(world.link(lead_id).row_number, Name="Grace B. Hopper")
    _delivered(world)
    world.settle()
    assert world.row_for(lead_id)["Owner"] == "Bob Builder"
    plan = _reconcile(world)
    assert not plan.conflicts
    assert world.row_for(lead_id)["Owner"] == "Bob Builder, Cara Dune"
    assert world.trello.card(card["id"])["name"] == "Grace B. Hopper"
    assert _reconcile(world).nothing_to_do


def test_reconciliation_gives_the_card_the_sheets_members(world):
    ids = _map(world)
    row, lead_id = _lead(world, Owner="Ann Example")
    world.sheets.drop_next_events(1)
    world.edit_row(row, Owner="bob, Nobody Known")
    _delivered(world)
    world.settle()
    assert _members_of(world, lead_id) == [ids["ann"]]
    plan = _reconcile(world)
    assert _members_of(world, lead_id) == [ids["bob"]]
    assert any("“Nobody Known”" in w for w in plan.warnings)
    assert any("“Nobody Known”" in h.message for h in _history(world, action="unknown_member"))


# --------------------------------------------------------------------------- checklist progress


def test_checklist_progress_follows_the_card_and_is_read_only(world):
    _map(world, comment=False)
    row, lead_id = _lead(world)
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
    assert _writes(world) == {}
    [skipped] = _history(world, action="one_way")
    assert skipped.side == "sheets" and "Checklist changed in the sheet was not sent to Trello" in skipped.message
    _reconcile(world)
    assert world.row_for(lead_id)["Checklist"] == "2/2"

    world.person.request("DELETE", f"/checklists/{checklist['id']}")
    world.settle()
    assert world.row_for(lead_id)["Checklist"] == ""
    assert _reconcile(world).nothing_to_do


def test_checklist_deliveries_lost_are_repaired_by_reconciliation(world):
    _map(world, comment=False)
    _row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    world.trello.drop_next_deliveries(3)
    world.trello.add_checklist(card_id, "Steps", ["call", "demo"])
    _delivered(world)
    world.settle()
    assert world.row_for(lead_id)["Checklist"] == ""
    _reconcile(world)
    assert world.row_for(lead_id)["Checklist"] == "0/2"


# --------------------------------------------------------------------------- the latest comment


def test_the_latest_comment_goes_into_its_column_and_reconciliation_reads_it_only_where_mapped(world):
    _map(world)
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    world.person.add_comment(card_id, "called, no answer")
    world.settle()
    assert world.row_for(lead_id)["Last comment"] == "called, no answer"
    assert _history(world, action="comment")  # still recorded in the lead's history
    world.trello.drop_next_deliveries(1)
    world.person.add_comment(card_id, "called again: =interested")
    _delivered(world)
    world.settle()
    assert world.row_for(lead_id)["Last comment"] == "called, no answer"
    world.trello.reset_stats()
    _reconcile(world)
    assert world.row_for(lead_id)["Last comment"] == "called again: =interested"  # written RAW, not a formula
    assert world.trello.stats()["calls"].get("GET /1/boards/{id}/actions") == 1  # one read for the whole board

    world.edit_row(row, **{"Last comment": "mine"})  # read-only: not sent, put back
    world.settle()
    assert _history(world, action="one_way")
    _reconcile(world)
    assert world.row_for(lead_id)["Last comment"] == "called again: =interested"


def test_a_workspace_without_the_comment_column_reads_no_comments(world):
    _map(world, comment=False)
    _row, lead_id = _lead(world)
    world.person.add_comment(world.link(lead_id).card_id, "hello")
    world.settle()
    world.trello.reset_stats()
    _reconcile(world)
    calls = world.trello.stats()["calls"]
    assert not calls.get("GET /1/boards/{id}/actions") and not calls.get("GET /1/cards/{id}/actions")


@pytest.mark.parametrize("trello_last", [True, False])
def test_queued_comment_and_sheet_edit_newest_wins(world, trello_last):
    """A person's edit of the read-only comment cell and a comment queued together: the comment
    reaches the row whichever came last (the column takes nothing from the sheet)."""
    _map(world)
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id

    def sheet():
        world.edit_row(row, **{"Last comment": "typed over"})

    def trello():
        world.person.add_comment(card_id, "a real comment")

    first, second = (sheet, trello) if trello_last else (trello, sheet)
    first()
    _delivered(world)
    time.sleep(0.3)
    second()
    _delivered(world)
    world.settle()
    assert world.row_for(lead_id)["Last comment"] == "a real comment"  # the sheet's edit, older or newer, is not taken
    [skipped] = _history(world, action="one_way")
    assert skipped.side == "sheets" and skipped.changes == {"Last comment": ["typed over", None]}
    assert not _history(world, action="conflict")
    assert _reconcile(world).nothing_to_do


# --------------------------------------------------------------------------- colour-only labels


def test_a_sheet_edit_of_labels_keeps_the_cards_colour_only_labels(either_world):
    world = either_world
    _map(world, comment=False)
    hot = world.person.create_label(world.board_id, "Hot", "red")["id"]
    cold = world.person.create_label(world.board_id, "Cold", "blue")["id"]
    purple = world.person.create_label(world.board_id, "", "purple")["id"]
    row, lead_id = _lead(world, Labels="Hot")
    card_id = world.link(lead_id).card_id
    world.person.add_card_label(card_id, purple)
    world.settle()
    assert world.row_for(lead_id)["Labels"] == "Hot"  # no words for a colour
    world.trello.reset_stats()
    world.edit_row(row, Labels="Cold")
    world.settle()
    assert _writes(world) == {"PUT /1/cards/{id}": 1}
    assert sorted(world.trello.card(card_id)["idLabels"]) == sorted([cold, purple])
    assert hot not in world.trello.card(card_id)["idLabels"]
    _reconcile(world)
    world.edit_row(row, Labels="Hot, Cold")
    world.settle()
    assert sorted(world.trello.card(card_id)["idLabels"]) == sorted([hot, cold, purple])
