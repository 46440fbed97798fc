"""Every way a card comes back or appears on the board, and comments, end to end.

Recorded Trello deliveries showed gaps (issue 17): reopening an archived card did not bring its
row back, a card moved back onto the board was ignored as "already linked", and a comment was
stored and did nothing. A card that appears — created, copied, emailed, converted, moved in — is
handled the same way: linked again when it is a lead's card, a new row when it is new.
"""

from __future__ import annotations

from server.extensions import db
from server.models import History, Workspace
from server.seed import DEMO_LISTS


def _add_lead(world, **values):
    world.add_row(**{"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", **values})
    world.settle()
    lead_id = world.rows()[-1]["Lead ID"]
    return world.link(lead_id).row_number, lead_id


def _set_policy(world, policy: str) -> None:
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.card_removed_policy = policy
        db.session.commit()


def _history(world, lead_id):
    with world.app.app_context():
        return [(h.action, h.message) for h in
                db.session.query(History).filter_by(workspace_id=world.workspace_id, lead_id=lead_id)
                .order_by(History.id)]


def test_reopening_an_archived_card_brings_its_row_back(world):
    row, lead_id = _add_lead(world, Status="Contacted")
    card_id = world.link(lead_id).card_id
    world.person.archive_card(card_id)
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Archived"
    world.person.update_card(card_id, closed=False)
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Contacted"  # the status of the list it is back in
    assert world.link(lead_id).status == "linked"
    world.edit_row(row, Notes="back in business")  # and it syncs again
    world.settle()
    assert "Notes: back in business" in world.trello.card(card_id)["desc"]


def test_reopening_a_card_that_was_unlinked_links_it_again(world):
    _set_policy(world, "unlink")
    row, lead_id = _add_lead(world)
    card_id = world.link(lead_id).card_id
    world.person.archive_card(card_id)
    world.settle()
    assert world.link(lead_id).status == "unlinked"
    assert world.row_for(lead_id)["Status"] == "New"  # the unlink policy leaves the row alone
    world.person.update_card(card_id, closed=False, idList=world.lists["Qualified"])
    world.settle()
    assert world.link(lead_id).status == "linked" and world.link(lead_id).card_id == card_id
    assert world.row_for(lead_id)["Status"] == "Qualified"
    world.edit_row(row, Name="Ada King")
    world.settle()
    assert world.trello.card(card_id)["name"] == "Ada King"
    assert len(world.cards()) == 1 and len(world.rows()) == 1


def test_a_card_moved_to_another_board_and_back_is_linked_again(world):
    row, lead_id = _add_lead(world)
    card_id = world.link(lead_id).card_id
    owner = world.person.request("GET", f"/boards/{world.board_id}/members")[0]["id"]
    other = world.trello.add_board("Elsewhere", owner, lists=DEMO_LISTS)
    other_list = other["lists"][0]["id"]
    world.person.update_card(card_id, idBoard=other["id"], idList=other_list)
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Archived"
    assert world.link(lead_id).status == "card_removed"
    world.person.update_card(card_id, idBoard=world.board_id, idList=world.lists["Closed"])
    world.settle()
    assert world.link(lead_id).status == "linked" and world.link(lead_id).card_id == card_id
    assert world.row_for(lead_id)["Status"] == "Won"
    assert len(world.rows()) == 1 and len(world.cards()) == 1
    assert ("card_reopened", "the card is back on the board") in _history(world, lead_id)


def test_an_emailed_card_becomes_a_row_like_a_created_one(world):
    world.trello.email_card(world.lists["New"], "Lead from the inbox", "Sent by email")
    world.settle()
    [row] = world.rows()
    assert row["Name"] == "Lead from the inbox" and row["Status"] == "New" and row["Lead ID"]
    [card] = world.cards()
    assert f"Lead ID: {row['Lead ID']}" in card["desc"]


def test_a_comment_is_recorded_in_the_leads_history(world):
    _, lead_id = _add_lead(world)
    card_id = world.link(lead_id).card_id
    world.trello.comment_card(card_id, "Called her, she wants a quote")
    world.settle()
    entries = _history(world, lead_id)
    assert any(action == "comment" and "Called her, she wants a quote" in message for action, message in entries)
    assert world.row_for(lead_id)["Notes"] == ""  # a comment changes no field
