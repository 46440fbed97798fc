"""Start date, "done", the card's URL and per-field direction, end to end over HTTP.

The sheet gets four columns after Lead ID (Due, Start, Done, Card) and the mapping maps them;
people edit both sides, and the worker applies what the emulators deliver.
"""

from __future__ import annotations

import time

import pytest

from server.extensions import db
from server.models import Workspace

EXTRA = ["Due", "Start", "Done", "Card"]



def _map_fields(world, directions=None):
    mapping = {"due_column": "Due", "start_column": "Start", "due_done_column": "Done", "card_url_column": "Card"}
    world.map_columns({**mapping, **({"directions": directions} if directions else {})}, EXTRA)







def test_start_done_and_the_card_url_travel_both_ways(world):
    _map_fields(world)
    row, lead_id = world.add_lead(Due="2026-12-24", Start="2026-12-01", Done="yes")
    card = world.card_for(lead_id)
    assert card["start"].startswith("2026-12-01") and card["due"].startswith("2026-12-24")
    assert card["dueComplete"] is True
    assert world.row_for(lead_id)["Card"] == card["shortUrl"]  # written when the card was made

    world.person.update_card(card["id"], start="2026-11-20T12:00:00.000Z", dueComplete=False)
    world.settle()
    assert world.row_for(lead_id)["Start"] == "2026-11-20"
    assert world.row_for(lead_id)["Done"] == "FALSE"

    world.edit_row(row, Done="✓")
    world.settle()
    assert world.card_for(lead_id)["dueComplete"] is True
    world.edit_row(row, Start="", Done="")  # empty: no start date, not done
    world.settle()
    card = world.card_for(lead_id)
    assert card["start"] is None and card["dueComplete"] is False


def test_a_card_made_on_the_board_brings_its_start_done_and_url_into_its_row(world):
    _map_fields(world)
    card = world.trello.add_card(world.lists["Contacted"], "Grace Hopper")
    world.person.update_card(card["id"], start="2026-10-01T12:00:00.000Z", dueComplete=True)
    world.settle()
    row = next(r for r in world.rows() if r["Name"] == "Grace Hopper")
    assert (row["Start"], row["Done"]) == ("2026-10-01", "TRUE")
    assert row["Card"] == world.trello.card(card["id"])["shortUrl"]


def test_a_sheet_edit_of_several_fields_is_one_trello_call(either_world):
    world = either_world
    _map_fields(world)
    row, lead_id = world.add_lead(Start="2026-12-01")
    world.trello.reset_stats()
    world.edit_row(row, Name="Ada King", Notes="met at the fair", Due="2026-12-31", Start="2026-12-02", Done="TRUE")
    world.settle()
    assert world.trello_writes() == {"PUT /1/cards/{id}": 1}
    card = world.card_for(lead_id)
    assert card["name"] == "Ada King" and "Notes: met at the fair" in card["desc"]
    assert card["due"].startswith("2026-12-31") and card["start"].startswith("2026-12-02") and card["dueComplete"]
    assert not world.history(action="update_row")  # the PUT's echo was known as ours, not a person's change
    assert world.row_for(lead_id)["Done"] == "TRUE"


@pytest.mark.parametrize("trello_last", [True, False])
def test_queued_changes_of_start_and_done_on_both_sides_newest_wins(either_world, trello_last):
    """The worker is not drained between the steps: both sides' changes wait in the queue together.
    Both change the start date (a conflict the newest wins); "done" is set on both (they agree)."""
    world = either_world
    _map_fields(world)
    row, lead_id = world.add_lead(Start="2026-12-01", Done="FALSE")
    card_id = world.link(lead_id).card_id

    def sheet():
        world.edit_row(row, Start="2026-12-05", Done="TRUE")

    def trello():
        world.person.update_card(card_id, start="2026-12-09T12:00:00.000Z", dueComplete=True)

    first, second = (sheet, trello) if trello_last else (trello, sheet)
    first()
    world.delivered()
    time.sleep(0.3)
    second()
    world.delivered()
    world.settle()
    card, values = world.card_for(lead_id), world.row_for(lead_id)
    expected, overruled = ("2026-12-09", "2026-12-05") if trello_last else ("2026-12-05", "2026-12-09")
    assert values["Start"] == expected and card["start"].startswith(expected)
    assert values["Done"] == "TRUE" and card["dueComplete"] is True
    [conflict] = world.history(action="conflict")
    assert conflict.changes == {"Start": [overruled, expected]}
    assert conflict.side == ("sheets" if trello_last else "trello")  # credited to the side a person used


def test_a_sheet_to_trello_field_ignores_card_changes(world):
    _map_fields(world, directions={"Start": "to_trello", "Notes": "to_trello"})
    row, lead_id = world.add_lead(Start="2026-12-01", Notes="first")
    card_id = world.link(lead_id).card_id
    world.person.update_card(card_id, start="2026-12-20T12:00:00.000Z", name="Ada from Trello")
    world.settle()
    values = world.row_for(lead_id)
    assert values["Start"] == "2026-12-01"  # not taken into the sheet
    assert values["Name"] == "Ada from Trello"  # a two-way field in the same action is
    [skipped] = world.history(action="one_way")
    assert skipped.outcome == "skipped" and skipped.side == "trello"
    assert "Start changed on the card was not written into the sheet" in skipped.message
    assert "sheet → Trello only" in skipped.message
    assert not world.history(action="conflict")

    world.edit_row(row, Start="2026-12-03")  # the sheet's changes still go to the card
    world.settle()
    assert world.trello.card(card_id)["start"].startswith("2026-12-03")


def test_a_trello_to_sheet_field_ignores_sheet_changes(world):
    _map_fields(world, directions={"Done": "to_sheet"})
    row, lead_id = world.add_lead()
    card_id = world.link(lead_id).card_id
    world.trello.reset_stats()
    world.edit_row(row, Done="TRUE")
    world.settle()
    assert world.trello.card(card_id)["dueComplete"] is False  # not sent to the card
    assert world.trello_writes() == {}
    [skipped] = world.history(action="one_way")
    assert skipped.side == "sheets" and "Done changed in the sheet was not sent to Trello" in skipped.message

    world.person.update_card(card_id, dueComplete=True)  # the card's changes still come into the sheet
    world.settle()
    assert world.row_for(lead_id)["Done"] == "TRUE"


def test_the_card_url_is_read_only_and_put_back_by_reconciliation(world):
    _map_fields(world)
    row, lead_id = world.add_lead()
    url = world.card_for(lead_id)["shortUrl"]
    world.trello.reset_stats()
    world.edit_row(row, Card="https://example.com/not-the-card")
    world.settle()
    assert world.trello_writes() == {}  # nothing sent to Trello
    assert world.row_for(lead_id)["Card"] == "https://example.com/not-the-card"
    assert world.history(action="one_way")[0].side == "sheets"
    world.reconcile()
    assert world.row_for(lead_id)["Card"] == url


def test_reconciliation_brings_start_and_done_across_and_keeps_directions(world):
    _map_fields(world, directions={"Due": "to_trello"})
    row, lead_id = world.add_lead(Start="2026-12-01", Due="2026-12-24")
    card_id = world.link(lead_id).card_id
    # changes whose deliveries were lost: only a reconciliation sees them
    world.trello.drop_next_deliveries(1)
    world.person.update_card(card_id, start="2026-12-07T12:00:00.000Z", dueComplete=True,
                             due="2026-12-30T12:00:00.000Z")
    world.delivered()
    world.sheets.drop_next_events(1)
    world.edit_row(row, Name="Ada Byron")
    world.delivered()
    world.settle()
    assert world.row_for(lead_id)["Start"] == "2026-12-01"
    plan = world.reconcile()
    assert not plan.conflicts
    values, card = world.row_for(lead_id), world.trello.card(card_id)
    assert (values["Start"], values["Done"]) == ("2026-12-07", "TRUE")
    assert values["Due"] == "2026-12-24" and card["due"].startswith("2026-12-24")  # sheet → Trello only: put back
    assert card["name"] == "Ada Byron"
    [skipped] = world.history(action="one_way")
    assert skipped.side == "trello" and "Due changed on the card" in skipped.message
    assert world.reconcile().nothing_to_do  # settled: a second pass has nothing to do


# --------------------------------------------------------------------------- labels


def _map_labels(world, directions=None):
    _map_fields(world, directions)
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.mapping = {**workspace.mapping, "labels_column": "Labels"}
        db.session.commit()
    with world.sheets._lock:
        world.sheets._sheet(world.spreadsheet_id, "Leads")[1].set(1, 12, "Labels")
    return {name: world.person.create_label(world.board_id, name, color)["id"]
            for name, color in (("Hot", "red"), ("Referral", "green"), ("Cold", "blue"))}


def _label_names(card):
    return sorted(label["name"] for label in card["labels"])


def test_labels_travel_both_ways_and_an_unknown_name_is_said_not_invented(world):
    ids = _map_labels(world)
    row, lead_id = world.add_lead(Labels="hot, Partner")
    card = world.card_for(lead_id)
    assert _label_names(card) == ["Hot"]  # matched ignoring case; "Partner" is not on the board
    [unknown] = world.history(action="unknown_label")
    assert "“Partner”" in unknown.message and lead_id in unknown.message and "Ada Lovelace" in unknown.message
    assert "partner" not in {(label["name"] or "").casefold() for label in world.person.board_labels(world.board_id)}

    world.person.add_card_label(card["id"], ids["Referral"])
    world.settle()
    assert world.row_for(lead_id)["Labels"] == "hot, Partner, Referral"
    world.person.remove_card_label(card["id"], ids["Hot"])
    world.settle()
    assert world.row_for(lead_id)["Labels"] == "Partner, Referral"

    world.edit_row(row, Labels="Cold, Referral")
    world.settle()
    assert _label_names(world.card_for(lead_id)) == ["Cold", "Referral"]
    assert world.row_for(lead_id)["Labels"] == "Cold, Referral"  # our write's echoes changed nothing


def test_a_workspace_that_allows_it_makes_the_labels_the_board_lacks(either_world):
    """``create_labels``: a name the board has no label for is made (once, no colour) and put on the
    card in the edit's one PUT; nothing is reported; its echoes change nothing; a dry run makes none."""
    world = either_world
    _map_labels(world)
    world.map_columns({"create_labels": True})
    row, lead_id = world.add_lead(Labels="Hot")
    world.trello.reset_stats()
    world.edit_row(row, Name="Ada King", Labels="hot, Partner")
    world.settle()
    made = [label for label in world.person.board_labels(world.board_id) if label["name"] == "Partner"]
    assert len(made) == 1 and made[0]["color"] is None
    card = world.card_for(lead_id)
    assert _label_names(card) == ["Hot", "Partner"] and card["name"] == "Ada King"
    assert world.trello_writes() == {"POST /1/labels": 1, "PUT /1/cards/{id}": 1}
    assert world.row_for(lead_id)["Labels"] == "hot, Partner"
    assert not world.history(action="unknown_label") and not world.history(action="update_row")

    world.add_lead(Name="Grace Hopper", Labels="partner, Web")  # "partner" is the board's now; "Web" is new
    assert sorted(label["name"] for label in world.person.board_labels(world.board_id) if label["name"]) == [
        "Cold", "Hot", "Partner", "Referral", "Web"]
    world.edit_row(row, Labels="Hot, Ghost")
    plan = world.reconcile(dry_run=True)  # the edit waits in the queue: a preview makes nothing
    assert "Ghost" not in {label["name"] for label in world.person.board_labels(world.board_id)}
    assert plan.errors == []
    world.settle()
    assert _label_names(world.card_for(lead_id)) == ["Ghost", "Hot"]


def test_a_sheet_edit_of_labels_and_other_fields_is_one_trello_call_and_labels_are_read_once(either_world):
    world = either_world
    _map_labels(world)
    row, lead_id = world.add_lead(Labels="Hot")
    world.trello.reset_stats()
    world.edit_row(row, Name="Ada King", Labels="Referral, Cold", Done="TRUE")
    world.settle()
    world.edit_row(row, Labels="Hot")
    world.settle()
    calls = world.trello.stats()["calls"]
    assert world.trello_writes() == {"PUT /1/cards/{id}": 2}  # one per edit
    assert calls.get("GET /1/boards/{id}/labels", 0) == 0  # read when the row was added, still cached
    card = world.card_for(lead_id)
    assert _label_names(card) == ["Hot"] and card["name"] == "Ada King" and card["dueComplete"] is True
    assert world.row_for(lead_id)["Labels"] == "Hot"
    assert not world.history(action="update_row")  # the label actions of our PUTs were known as ours


def test_a_card_made_on_the_board_brings_its_labels_and_reconciliation_repairs_them(world):
    ids = _map_labels(world)
    card = world.trello.add_card(world.lists["New"], "Grace Hopper")
    world.person.add_card_label(card["id"], ids["Hot"])
    world.settle()
    row = next(r for r in world.rows() if r["Name"] == "Grace Hopper")
    assert row["Labels"] == "Hot"
    lead_id = row["Lead ID"]
    world.trello.drop_next_deliveries(1)  # a label added whose delivery was lost
    world.person.add_card_label(card["id"], ids["Cold"])
    world.delivered()
    world.settle()
    assert world.row_for(lead_id)["Labels"] == "Hot"
    world.reconcile()
    assert world.row_for(lead_id)["Labels"] == "Hot, Cold"
    assert world.reconcile().nothing_to_do


def test_a_card_brought_back_keeps_its_labels_start_and_done(world):
    _map_labels(world)
    row, lead_id = world.add_lead(Labels="Hot, Referral", Start="2026-12-01", Done="TRUE")
    world.person.delete_card(world.link(lead_id).card_id)
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Archived"
    world.edit_row(row, Status="Contacted")  # a listed status brings the card back: a new one, it was deleted
    world.settle()
    card = world.card_for(lead_id)
    assert world.list_name(card["idList"]) == "Contacted"
    assert _label_names(card) == ["Hot", "Referral"] and card["start"].startswith("2026-12-01") and card["dueComplete"]


@pytest.mark.parametrize("trello_last", [True, False])
def test_queued_label_changes_on_both_sides_newest_wins(either_world, trello_last):
    world = either_world
    ids = _map_labels(world)
    row, lead_id = world.add_lead(Labels="Hot")
    card_id = world.link(lead_id).card_id

    def sheet():
        world.edit_row(row, Labels="Cold")

    def trello():
        world.person.add_card_label(card_id, ids["Referral"])

    first, second = (sheet, trello) if trello_last else (trello, sheet)
    first()
    world.delivered()
    time.sleep(0.3)
    second()
    world.delivered()
    world.settle()
    expected = "Hot, Referral" if trello_last else "Cold"
    assert world.row_for(lead_id)["Labels"] == expected
    assert _label_names(world.card_for(lead_id)) == sorted(expected.split(", "))
    [conflict] = world.history(action="conflict")
    assert conflict.changes["Labels"][1] == expected
    assert conflict.side == ("sheets" if trello_last else "trello")
