"""Ordering under lag, end to end: events queue while both sides change, then the worker catches up.

Each case of issue 13 and the echo cases of issue 14, over real HTTP against the emulators. The
worker is not drained between the steps: deliveries pile up in the inbox as they would behind a
deploy, a paused workspace or a backlog.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import make_app
from tests.sync.world import build_world


@pytest.fixture(params=["provenance", "ledger"])
def world(request, sqlite_url):
    """Our own writes' echoes known by their provenance (TRELLO_APP_ID set), and, where it is not
    configured, by the ledger of what we sent."""
    config = {} if request.param == "provenance" else {"TRELLO_APP_ID": ""}
    w = build_world(sqlite_url, make_app=make_app, config=config)
    yield w
    w.stop()





@pytest.mark.parametrize("trello_last", [True, False])
def test_the_newest_edit_wins_when_the_worker_catches_up(world, trello_last):
    """Issue 13, case 1: a sheet edit, then 1.5 s later (here 0.3 s) a Trello move, both queued."""
    row, lead_id = world.add_lead()
    card_id = world.link(lead_id).card_id
    if trello_last:
        world.edit_row(row, Status="Qualified")
        world.delivered()
        time.sleep(0.3)
        world.person.update_card(card_id, idList=world.lists["Closed"])
    else:
        world.person.update_card(card_id, idList=world.lists["Closed"])
        world.delivered()
        time.sleep(0.3)
        world.edit_row(row, Status="Qualified")
    world.delivered()
    world.settle()
    expected, overruled = ("Won", "Qualified") if trello_last else ("Qualified", "Won")
    assert world.row_for(lead_id)["Status"] == expected
    assert world.list_name(world.card_for(lead_id)["idList"]) == ("Closed" if trello_last else "Qualified")
    [conflict] = world.history(action="conflict")
    assert conflict.side == ("sheets" if trello_last else "trello")  # credited to the side a person used
    assert conflict.changes == {"Status": [overruled, expected]}
    assert "earlier" in conflict.message
    # our own writes' echoes were recognised: nothing but the two people's changes was applied
    updates = [h for h in world.history() if h.action in ("update_row", "update_card") and h.changes.get("Status")]
    assert [(h.side, h.changes["Status"][1]) for h in updates] == [("trello" if trello_last else "sheets", expected)]


def test_a_quick_second_edit_delivered_after_our_echo_still_wins(world):
    """Issue 13, case 2: n3 is typed before our card update for n2 lands, but delivered after its echo."""
    row, lead_id = world.add_lead()
    world.edit_row(row, Name="n2")
    world.delivered()
    world.sheets.pause_events()
    world.edit_row(row, Name="n3")  # typed now; its trigger runs late
    world.worker.drain()  # n2 goes to Trello; our write lands after n3 was typed
    assert world.trello.wait_for_deliveries(timeout=10)
    world.worker.drain()  # the echo of our n2 write: ours, not a person's change
    assert world.card_for(lead_id)["name"] == "n2"
    world.sheets.resume_events()
    world.delivered()
    world.settle()
    assert world.card_for(lead_id)["name"] == "n3" and world.row_for(lead_id)["Name"] == "n3"
    assert not world.history(action="conflict")


def test_echoes_of_quick_edits_never_write_an_older_value_back(world):
    """Issue 14, case 6: five quick edits of one cell while Trello answers 400 ms late: the sheet
    is never given an older value, and the card ends at the last one."""
    row, lead_id = world.add_lead()
    slow = world.trello.faults.add(path=r"^/1/cards/[0-9a-f]+$", methods=["PUT"], latency_ms=400)
    world.sheets.reset_stats()
    world.start_worker()
    for i in range(5):
        world.edit_row(row, Notes=f"note {i}")
        time.sleep(0.15)
    world.wait_until(lambda: "note 4" in world.card_for(lead_id)["desc"], timeout=20)
    world.delivered()
    time.sleep(0.5)
    world.stop_workers()
    assert world.sheets.stats()["writes"] == 0  # the sheet was never written: no echo came back to it
    assert world.row_for(lead_id)["Notes"] == "note 4"
    assert not world.history(action="conflict")
    assert slow.hits >= 1  # the card's PUTs were answered late


def test_a_trello_move_queued_behind_a_notes_edit_is_not_undone(world):
    """Only changed fields travel, and the merge sees both: the move survives the queued edit."""
    row, lead_id = world.add_lead()
    world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
    world.edit_row(row, Notes="call back")
    world.delivered()
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Qualified"
    assert world.list_name(world.card_for(lead_id)["idList"]) == "Qualified"
    assert "call back" in world.card_for(lead_id)["desc"]


def test_a_late_update_of_ours_never_overwrites_a_newer_change(sqlite_url, trello_errors):
    """Issue 14, case 2 (update): our PUT times out but lands later, over a person's newer change
    in Trello: the person's value is put back on the card and reaches the row."""
    world = build_world(sqlite_url, make_app=make_app, config={"HTTP_TIMEOUT_S": 0.5})
    try:
        row, lead_id = world.add_lead()
        card_id = world.link(lead_id).card_id
        late = world.trello.faults.add(path=rf"^/1/cards/{card_id}$", methods=["PUT"], latency_ms=1500, times=1)
        world.edit_row(row, Name="from the sheet")
        world.delivered()
        world.worker.run_once()  # times out after 0.5 s; the call still lands at 1.5 s
        assert late.hits == 1 and ("PUT", f"/cards/{card_id}", "Trello did not answer within 0.5 s") in trello_errors
        time.sleep(0.2)
        world.person.update_card(card_id, name="from trello")  # a person, after our call was sent
        # our late call lands now, over the person's name
        world.wait_until(lambda: world.card_for(lead_id)["name"] == "from the sheet", timeout=10)
        world.delivered()
        world.settle(timeout=30)
        assert world.card_for(lead_id)["name"] == "from trello"
        assert world.row_for(lead_id)["Name"] == "from trello"
    finally:
        world.stop()


def test_a_create_that_times_out_but_lands_late_makes_one_card(sqlite_url, trello_errors):
    """Issue 14, case 2 (create): the POST is held past the client timeout, then completes."""
    world = build_world(sqlite_url, make_app=make_app, config={"HTTP_TIMEOUT_S": 0.5})
    try:
        late = world.trello.faults.add(path=r"^/1/cards$", methods=["POST"], latency_ms=1500, times=1)
        world.add_row(Name="Grace", Status="New")
        world.delivered()
        world.settle(timeout=40)
        world.wait_until(lambda: world.cards(), timeout=10)  # the held POST completed
        assert late.hits == 1 and ("POST", "/cards", "Trello did not answer within 0.5 s") in trello_errors
        world.delivered()
        world.settle(timeout=40)
        cards = world.cards()
        assert [c["name"] for c in cards] == ["Grace"], cards
        assert len(world.rows()) == 1
        lead_id = world.rows()[0]["Lead ID"]
        assert world.link(lead_id).card_id == cards[0]["id"]
    finally:
        world.stop()


def test_a_description_write_dates_every_line_it_carries(world):
    """Our PUT of a description rewrites every line of the block: each of those fields is dated
    with the write's landing, so a person's older change to another line, delivered later, is
    known to have been covered by it (and is written back, not lost)."""
    row, lead_id = world.add_lead(Email="ada@example.com")
    world.edit_row(row, Notes="call back")
    world.settle()
    clocks = world.link(lead_id).field_times
    assert clocks["Notes"]["wt"] == clocks["Email"]["wt"] == clocks["Company"]["wt"]
    assert clocks["Notes"]["wt"] > clocks["Name"].get("wt", 0)  # the title was not part of that call


def test_a_row_edited_then_deleted_before_the_worker_runs_leaves_its_card_archived(world):
    """An edit and then the row's deletion in one group: the deletion archives the card, and the
    edit taken in before it does not bring the card back for a row that is gone."""
    world.add_row(Name="Ada Lovelace", Email="ada@example.com", Status="New")
    world.settle()
    [row] = world.rows()
    lead_id = row["Lead ID"]
    card_id = world.link(lead_id).card_id
    world.edit_row(row["_row"], Notes="call back")
    world.delete_row(row["_row"])
    world.delivered()
    world.settle()
    assert world.rows() == [] and world.cards() == []
    assert world.trello.card(card_id)["closed"] is True and world.link(lead_id).status == "row_removed"
    assert world.reconcile(dry_run=True).nothing_to_do
