"""Row and card filters, end to end: emulators ⇄ webhooks ⇄ inbox ⇄ worker ⇄ real clients over HTTP.

A row outside the row filter gets no card; a linked row leaving it follows the row-removed policy
and entering it brings the same card back. A card outside the card filter gets no row; a linked
card leaving it follows the card-removed policy and moved back in is linked again. Never a second
card or row, with deliveries doubled and events of both sides queued before the worker runs.
"""

from __future__ import annotations

from server.extensions import db
from server.models import History, Workspace
from server.sync.reconcile import reconcile


def _set(world, *, row_filter=None, card_filter=None, **fields):
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        mapping = dict(workspace.mapping)
        for key, value in (("row_filter", row_filter), ("card_filter", card_filter)):
            if value is None:
                mapping.pop(key, None)
            else:
                mapping[key] = value
        workspace.mapping = mapping
        for name, value in fields.items():
            setattr(workspace, name, value)
        db.session.commit()


def _add_region_column(world):
    with world.sheets._lock:  # a "Region" column after Lead ID, not synced: only the filter reads it
        world.sheets._sheet(world.spreadsheet_id, "Leads")[1].set(1, 8, "Region")


def _lead(world, **values):
    row = world.add_row(**{"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", **values})
    world.settle()
    return row, world.rows()[-1]["Lead ID"]


def _history(world, lead_id=None, action=None):
    with world.app.app_context():
        query = db.session.query(History).filter_by(workspace_id=world.workspace_id)
        if lead_id:
            query = query.filter_by(lead_id=lead_id)
        if action:
            query = query.filter_by(action=action)
        return [(h.action, h.message) for h in query.order_by(History.id)]


def _reconcile(world, dry_run=False):
    with world.app.app_context():
        return reconcile(db.session, db.session.get(Workspace, world.workspace_id), world.worker.processor.providers,
                         dry_run=dry_run)


NOT_LOST = [{"column": "Status", "op": "is_not", "value": "Lost"}]


def test_a_row_outside_the_filter_gets_no_card_and_one_entering_gets_one(world):
    _set(world, row_filter=NOT_LOST)
    row, lead_id = _lead(world, Status="Lost")
    assert world.cards() == []
    world.edit_row(row, Notes="still lost")
    world.settle()
    assert world.cards() == []
    world.edit_row(row, Status="Qualified")  # enters the filter: a card, once
    world.settle()
    [card] = world.cards()
    assert world.list_name(card["idList"]) == "Qualified" and "Notes: still lost" in card["desc"]
    assert world.events(state="parked") == []


def test_a_linked_row_leaving_the_filter_archives_its_card_and_entering_brings_it_back(world):
    world.trello.duplicate_deliveries = True
    world.sheets.duplicate_events = True
    _set(world, row_filter=NOT_LOST)
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    world.edit_row(row, Status="Lost")
    world.settle()
    assert world.trello.card(card_id)["closed"] is True  # the workspace's row policy: archive
    link = world.link(lead_id)
    assert link.status == "row_removed" and link.card_extra["filter_out"]["side"] == "row"
    assert "Status is not “Lost”" in link.card_extra["filter_out"]["why"]
    [(_, left)] = _history(world, lead_id, "filter_left")
    assert "“Ada Lovelace”" in left and lead_id in left and "archived" in left
    world.edit_row(row, Name="Ada King")  # outside the filter: not synced
    world.settle()
    assert world.trello.card(card_id)["name"] == "Ada Lovelace"
    world.edit_row(row, Status="Won")  # back in: the same card, unarchived, with the row's values
    world.settle()
    card = world.trello.card(card_id)
    assert card["closed"] is False and card["name"] == "Ada King" and world.list_name(card["idList"]) == "Closed"
    assert world.link(lead_id).status == "linked" and "filter_out" not in world.link(lead_id).card_extra
    assert len(world.cards()) == 1 and len(world.cards(include_closed=True)) == 1 and len(world.rows()) == 1
    [(_, entered)] = _history(world, lead_id, "filter_entered")
    assert "“Ada King”" in entered and "its card is back" in entered
    assert world.row_for(lead_id)["Status"] == "Won"  # the echoes of our own writes changed nothing
    world.person.update_card(card_id, idList=world.lists["Contacted"])  # and it syncs both ways again
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Contacted"


def test_a_filter_on_an_unsynced_column_with_the_unlink_policy(world):
    _add_region_column(world)
    _set(world, row_filter=[{"column": "Region", "op": "is", "value": "east"}], row_removed_policy="unlink")
    row, lead_id = _lead(world, Region="West")
    assert world.cards() == []
    world.edit_row(row, Region=" EAST ")  # compared ignoring case and spaces
    world.settle()
    [card] = world.cards()
    assert world.link(lead_id).card_id == card["id"]
    world.edit_row(row, Region="North")
    world.settle()
    link = world.link(lead_id)
    assert link.status == "unlinked" and world.trello.card(card["id"])["closed"] is False  # left on the board
    world.person.update_card(card["id"], name="Renamed on the board")  # not synced while outside
    world.edit_row(row, Notes="call on Monday")
    world.settle()
    assert world.row_for(lead_id)["Name"] == "Ada Lovelace"
    world.edit_row(row, Region="East")
    world.settle()
    [again] = world.cards()
    assert again["id"] == card["id"] and again["name"] == "Ada Lovelace" and "Notes: call on Monday" in again["desc"]
    assert world.link(lead_id).status == "linked" and len(world.rows()) == 1


def test_email_not_empty_and_contains(world):
    _set(world, row_filter=[{"column": "Email", "op": "is_not_empty"},
                            {"column": "Company", "op": "contains", "value": "engine"}])
    world.add_row(Name="No email", Email="", Company="Analytical Engines", Status="New")
    world.add_row(Name="Other company", Email="x@example.com", Company="Looms Ltd", Status="New")
    world.add_row(Name="Both", Email="b@example.com", Company="Difference ENGINES", Status="New")
    world.settle()
    assert [c["name"] for c in world.cards()] == ["Both"]


LISTS_BUT_CLOSED = ("New", "Contacted", "Qualified")


def test_card_filter_by_list_both_ways(world):
    world.trello.duplicate_deliveries = True
    _set(world, card_filter={"lists": [world.lists[n] for n in LISTS_BUT_CLOSED]})
    outside = world.person.create_card(id_list=world.lists["Closed"], name="Made in Closed")
    world.settle()
    assert world.rows() == []  # outside the card filter: no row
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    world.person.update_card(card_id, idList=world.lists["Closed"])  # leaves: the card-removed policy
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Archived"
    link = world.link(lead_id)
    assert link.status == "card_removed" and link.card_extra["filter_out"]["side"] == "card"
    [(_, left)] = _history(world, lead_id, "filter_left")
    assert "“Ada Lovelace”" in left and "“Closed”" in left and "Archived" in left
    world.person.update_card(card_id, name="Renamed outside")  # not synced while outside
    world.settle()
    assert world.row_for(lead_id)["Name"] == "Ada Lovelace"
    world.person.update_card(card_id, idList=world.lists["Contacted"])  # back in: linked again
    world.settle()
    assert world.link(lead_id).status == "linked" and world.row_for(lead_id)["Status"] == "Contacted"
    assert _history(world, lead_id, "filter_entered")
    world.person.update_card(outside["id"], idList=world.lists["New"])  # a card moved into the filter: a row
    world.settle()
    assert sorted(r["Name"] for r in world.rows()) == ["Ada Lovelace", "Made in Closed"]
    assert len(world.cards()) == 2 and world.events(state="parked") == []


def test_a_status_going_to_a_list_outside_the_card_filter_takes_the_row_out(world):
    _set(world, card_filter={"lists": [world.lists[n] for n in LISTS_BUT_CLOSED]})
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    world.edit_row(row, Status="Won")  # Won goes to Closed, which the card filter leaves out
    world.settle()
    assert world.trello.card(card_id)["closed"] is True and world.link(lead_id).status == "row_removed"
    world.add_row(Name="Lost from the start", Status="Lost")
    world.settle()
    assert world.cards() == [] and world.events(state="parked") == []
    world.edit_row(row, Status="Qualified")
    world.settle()
    [card] = world.cards()
    assert card["id"] == card_id and world.list_name(card["idList"]) == "Qualified"


def test_card_filter_by_label(world):
    _set(world, card_filter={"labels": ["hot"]})
    hot = world.person.create_label(world.board_id, "Hot", "red")
    card = world.person.create_card(id_list=world.lists["New"], name="Cold lead")
    world.settle()
    assert world.rows() == []
    world.person.add_card_label(card["id"], hot["id"])  # now in the filter: a row
    world.settle()
    [row] = world.rows()
    assert row["Name"] == "Cold lead"
    world.person.remove_card_label(card["id"], hot["id"])  # out again: the card-removed policy
    world.settle()
    assert world.rows()[0]["Status"] == "Archived" and world.link(row["Lead ID"]).status == "card_removed"
    world.person.add_card_label(card["id"], hot["id"])
    world.settle()
    assert world.rows()[0]["Status"] == "New" and len(world.rows()) == 1 and len(world.cards()) == 1


def test_events_of_both_sides_queued_before_the_worker_runs(world):
    _set(world, row_filter=NOT_LOST, card_filter={"lists": [world.lists[n] for n in LISTS_BUT_CLOSED]})
    rows = {}
    for name in ("Ada", "Bob", "Cy"):
        rows[name] = world.add_row(Name=name, Status="New")
    world.settle()
    ids = {r["Name"]: r["Lead ID"] for r in world.rows()}
    cards = {name: world.link(ids[name]).card_id for name in ids}
    world.sheets.duplicate_events = True
    world.trello.duplicate_deliveries = True
    world.edit_row(rows["Ada"], Status="Lost")  # Ada's row leaves
    world.person.update_card(cards["Bob"], idList=world.lists["Closed"])  # Bob's card leaves
    world.person.update_card(cards["Cy"], name="Cy Young")  # Cy's card is renamed, and then
    world.edit_row(rows["Cy"], Status="Lost")  # Cy's row leaves the filter
    world.person.create_card(id_list=world.lists["Closed"], name="Outside")  # a card outside
    world.person.create_card(id_list=world.lists["New"], name="Inside")  # and one inside
    assert world.trello.wait_for_deliveries(10) and world.sheets.wait_for_events(10)
    world.settle()  # now the worker drains both sides' events
    assert world.link(ids["Ada"]).status == "row_removed" and world.trello.card(cards["Ada"])["closed"] is True
    assert world.link(ids["Bob"]).status == "card_removed" and world.row_for(ids["Bob"])["Status"] == "Archived"
    assert world.link(ids["Cy"]).status == "row_removed"
    assert sorted(r["Name"] for r in world.rows()) == ["Ada", "Bob", "Cy", "Inside"]
    open_cards = sorted(c["name"] for c in world.cards())
    assert open_cards == ["Bob", "Inside", "Outside"]
    assert world.events(state="parked") == []


def test_a_filter_change_and_a_full_sync_converge(world):
    for name, status in (("Ada", "New"), ("Bob", "Lost"), ("Cy", "Contacted")):
        world.add_row(Name=name, Status=status)
    world.settle()
    ids = {r["Name"]: r["Lead ID"] for r in world.rows()}
    assert len(world.cards()) == 3
    _set(world, row_filter=NOT_LOST)
    preview = _reconcile(world, dry_run=True)
    assert preview.removed == 1 and preview.samples["rows_leaving_filter"] == ["row 3 “Bob”"]
    _reconcile(world)
    world.settle()
    assert sorted(c["name"] for c in world.cards()) == ["Ada", "Cy"]
    assert world.link(ids["Bob"]).status == "row_removed"
    assert _reconcile(world).nothing_to_do  # converged
    _set(world, row_filter=None, card_filter={"lists": [world.lists["New"], world.lists["Closed"]]})
    plan = _reconcile(world)
    world.settle()
    # Bob is back (his card unarchived, in Closed); Cy's card in Contacted left the card filter
    assert plan.cards_to_create == 1 and plan.removed == 1
    assert world.link(ids["Bob"]).status == "linked" and world.link(ids["Cy"]).status == "card_removed"
    assert world.row_for(ids["Cy"])["Status"] == "Archived"
    assert sorted(c["name"] for c in world.cards()) == ["Ada", "Bob", "Cy"]  # Cy's card stays, unsynced
    assert len(world.cards(include_closed=True)) == 3
    assert _reconcile(world).nothing_to_do
    _set(world, card_filter=None)  # every mapped list again: Cy's card comes back
    _reconcile(world)
    world.settle()
    assert world.link(ids["Cy"]).status == "linked" and world.row_for(ids["Cy"])["Status"] == "Contacted"
    assert _reconcile(world).nothing_to_do
    assert len(world.rows()) == 3 and len(world.cards(include_closed=True)) == 3
    assert _history(world, ids["Cy"], "filter_entered")


def test_a_first_sync_with_filters_makes_no_card_or_row_outside_them(world):
    _set(world, row_filter=NOT_LOST, card_filter={"lists": [world.lists[n] for n in LISTS_BUT_CLOSED]})
    world.trello.drop_next_deliveries(3)  # the board and the sheet as they were before the workspace
    world.person.create_card(id_list=world.lists["Closed"], name="Closed card")
    world.person.create_card(id_list=world.lists["New"], name="New card")
    world.person.create_card(id_list=world.lists["New"], name="Bob's card", desc="Email: bob@example.com")
    assert world.trello.wait_for_deliveries(10)
    with world.sheets._lock:  # rows written without the add-on (no events)
        grid = world.sheets._sheet(world.spreadsheet_id, "Leads")[1]
        for row, (name, email, status) in enumerate((("Ada", "ada@example.com", "New"),
                                                      ("Bob", "bob@example.com", "Lost")), start=2):
            grid.set(row, 1, name)
            grid.set(row, 2, email)
            grid.set(row, 5, status)
    preview = _reconcile(world, dry_run=True)
    assert (preview.cards_to_create, preview.rows_to_append, preview.links_to_make) == (1, 1, 0)
    _reconcile(world)
    world.settle()
    assert sorted(r["Name"] for r in world.rows()) == ["Ada", "Bob", "New card"]
    assert sorted(c["name"] for c in world.cards()) == ["Ada", "Bob's card", "Closed card", "New card"]
    assert _reconcile(world).nothing_to_do


def test_an_edit_then_leaving_in_one_group_leaves_the_card_archived(world):
    _set(world, row_filter=NOT_LOST)
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    world.edit_row(row, Notes="one more thing")  # both queued before the worker runs: one group
    world.edit_row(row, Status="Lost")
    world.settle()
    assert world.trello.card(card_id)["closed"] is True and world.link(lead_id).status == "row_removed"
    assert "one more thing" not in world.trello.card(card_id)["desc"]
    world.edit_row(row, Status="New")  # the note travels when the row is back
    world.settle()
    card = world.trello.card(card_id)
    assert card["closed"] is False and "Notes: one more thing" in card["desc"]


def test_create_card_now_on_a_row_outside_the_filter_makes_no_card_and_the_lead_page_says_why(world):
    from server.sync import queue
    from tests.dashboard.helpers import login

    _set(world, row_filter=NOT_LOST)
    row, lead_id = _lead(world)
    world.edit_row(row, Status="Lost")
    world.settle()
    world.add_row(Name="Never synced", Status="Lost")
    world.settle()
    other_id = next(r["Lead ID"] for r in world.rows() if r["Name"] == "Never synced")
    assert other_id  # the add-on gave it its id
    with world.app.app_context():  # "Create card now" from the sidebar, for a row outside the filter
        queue.enqueue_command(db.session, world.workspace_id, queue.Command.CREATE_CARD, {"lead_id": other_id})
        db.session.commit()
    world.settle()
    assert [c["name"] for c in world.cards()] == []
    [done] = [e for e in world.events(kind="create_card")]
    assert done.state == "ignored" and "outside the workspace's filter" in done.last_error
    client = world.app.test_client()
    login(client, world.app)
    page = client.get(f"/app/workspaces/{world.workspace_id}/leads/{lead_id}").get_data(as_text=True)
    assert "Outside the workspace&#39;s filter: its row does not meet" in page or \
        "Outside the workspace's filter: its row does not meet" in page
    history = client.get(f"/app/workspaces/{world.workspace_id}/history").get_data(as_text=True)
    assert "Left the workspace&#39;s filter" in history or "Left the workspace's filter" in history


def _deliver_move(world, card_id, action_id, before, after, date):
    """A Trello ``updateCard`` move delivered by hand (so it can arrive late, or twice)."""
    import json

    import requests

    from server.sync.signatures import trello_signature

    callback = world.workspace().trello_webhook_callback
    action = {"id": action_id, "type": "updateCard", "date": date,
              "data": {"card": {"id": card_id, "name": "Ada Lovelace", "idList": world.lists[after]},
                       "old": {"idList": world.lists[before]},
                       "listBefore": {"id": world.lists[before], "name": before},
                       "listAfter": {"id": world.lists[after], "name": after},
                       "board": {"id": world.board_id, "name": "Leads"}}}
    body = json.dumps({"action": action, "model": {"id": world.board_id}}).encode()
    response = requests.post(callback, data=body, headers={
        "Content-Type": "application/json", "X-Trello-Webhook": trello_signature("emulator-secret", body, callback)})
    assert response.status_code == 200


def test_a_move_out_of_the_filter_delivered_late_changes_nothing(world):
    _set(world, card_filter={"lists": [world.lists[n] for n in LISTS_BUT_CLOSED]})
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    _deliver_move(world, card_id, "b" * 24, "Closed", "Qualified", "2030-01-01T10:00:02.000Z")  # the newer first
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Qualified"
    _deliver_move(world, card_id, "a" * 24, "New", "Closed", "2030-01-01T10:00:01.000Z")  # out, but older
    _deliver_move(world, card_id, "b" * 24, "Closed", "Qualified", "2030-01-01T10:00:02.000Z")  # a redelivery
    world.settle()
    assert world.link(lead_id).status == "linked" and world.row_for(lead_id)["Status"] == "Qualified"
    assert _history(world, lead_id, "filter_left") == []
    # and the other way: out (newer) first, then an older move back in arrives late
    _deliver_move(world, card_id, "d" * 24, "Qualified", "Closed", "2030-01-01T10:00:04.000Z")
    world.settle()
    assert world.link(lead_id).status == "card_removed" and world.row_for(lead_id)["Status"] == "Archived"
    _deliver_move(world, card_id, "c" * 24, "Closed", "New", "2030-01-01T10:00:03.000Z")
    world.settle()
    assert world.link(lead_id).status == "card_removed" and world.row_for(lead_id)["Status"] == "Archived"
    assert len(world.rows()) == 1 and world.events(state="parked") == []


def test_an_archive_older_than_our_own_unarchive_does_not_leave_an_open_card_unlinked(world):
    """The row leaves the filter and comes back, and a person archives the card meanwhile, all
    queued before the worker runs: leaving archives the (already archived) card, entering unarchives
    it, and then the person's archive, older than that write, is applied. The card is open: the
    lead stays linked with the row's status (it was once left "Archived" with its card open)."""
    _set(world, row_filter=NOT_LOST)
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    world.edit_row(row, Status="Lost")
    world.edit_row(row, Status="Contacted")
    world.delivered()
    world.person.archive_card(card_id)  # after both edits, before the worker applies them
    world.settle()
    card = world.trello.card(card_id)
    link = world.link(lead_id)
    assert (card["closed"], link.status, world.row_for(lead_id)["Status"]) == (False, "linked", "Contacted")
    assert world.list_name(card["idList"]) == "Contacted"
    assert _reconcile(world, dry_run=True).nothing_to_do and world.events(state="parked") == []


def test_a_full_sync_brings_no_card_back_for_a_row_outside_the_filter_whose_card_was_archived(world):
    """The card archived in Trello (the row "Archived"), then the row's status typed outside the filter:
    the events bring no card back, and neither does a full sync (it revived the card before)."""
    _set(world, row_filter=NOT_LOST)
    row, lead_id = _lead(world)
    card_id = world.link(lead_id).card_id
    world.person.archive_card(card_id)
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Archived" and world.link(lead_id).status == "card_removed"
    world.edit_row(row, Status="Lost")
    world.settle()
    assert world.trello.card(card_id)["closed"] is True
    assert _reconcile(world, dry_run=True).nothing_to_do
    _reconcile(world)
    world.settle()
    assert world.cards() == [] and world.link(lead_id).status == "card_removed"
    assert world.row_for(lead_id)["Status"] == "Lost"
