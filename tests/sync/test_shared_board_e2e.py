"""Two tabs of one spreadsheet into one Trello board, end to end.

Tab "Leads" (the world's workspace, A) maps the board's lists New, Contacted, Qualified and Closed
(its card filter is the default: its mapped lists); tab "Outbound" (B) maps "Outbound New" and
"Outbound Won" and says so in its card filter. Each takes only the cards in its lists; a card moved
from A's lists to B's follows A's card-removed policy and becomes B's row, whichever workspace
applies the move first; a card linked by one is never adopted or given a second row by the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulators.sheets_model import fill_rows
from server.extensions import db
from server.models import History, Workspace
from server.seed import DEMO_HEADER
from server.sync.reconcile import reconcile
from server.trello.client import TrelloClient
from server.trello.webhooks import register_board_webhook
from tests.sync.world import Tenant

OUTBOUND = "Outbound"


@dataclass
class Tab(Tenant):
    """A workspace on another tab of the same spreadsheet (the Tenant helpers, for that tab)."""

    sheet: str = OUTBOUND

    def add_row(self, **values):
        return self.world.sheets.user_append(self.spreadsheet_id, self.sheet, values)

    def edit_row(self, row, **values):
        self.world.sheets.user_edit(self.spreadsheet_id, self.sheet, row, values)

    def rows(self):
        return self.world.sheets.rows_as_dicts(self.spreadsheet_id, self.sheet)


def _outbound(world, *, card_lists=None, **fields) -> Tab:
    """Workspace B: the "Outbound" tab, two lists of its own on A's board, the same accounts."""
    new = world.trello.add_list(world.board_id, "Outbound New")["id"]
    won = world.trello.add_list(world.board_id, "Outbound Won")["id"]
    lists = {"Outbound New": new, "Outbound Won": won}
    with world.sheets._lock:
        spreadsheet = world.sheets._spreadsheets[world.spreadsheet_id]
        fill_rows(spreadsheet.add_sheet(OUTBOUND, world.sheets._rng), [DEMO_HEADER])
    mapping = {"title_column": "Name", "status_column": "Status",
               "description_columns": ["Email", "Phone", "Company", "Notes"], "due_column": None,
               "status_to_list": {"New": new, "Won": won}, "list_to_status": {new: "New", won: "Won"},
               "default_status": "New", "list_names": {new: "Outbound New", won: "Outbound Won"},
               "card_filter": {"lists": card_lists or [new, won]}}
    with world.app.app_context():
        a = db.session.get(Workspace, world.workspace_id)
        b = Workspace(name=OUTBOUND, owner_id=a.owner_id, google_account_id=a.google_account_id,
                      trello_account_id=a.trello_account_id, spreadsheet_id=a.spreadsheet_id, sheet_name=OUTBOUND,
                      trello_board_id=a.trello_board_id, mapping=mapping, **fields)
        db.session.add(b)
        db.session.commit()
        client = TrelloClient("emulator-key", world.token, base_url=world.trello.api_base_url)
        register_board_webhook(b, client, world.web.base_url)
        db.session.commit()
        b_id, secret = b.id, b.addon_secret
    world.sheets.install_addon(world.spreadsheet_id, OUTBOUND, secret=secret,
                               webhook_url=f"{world.web.base_url}/webhooks/sheets/{b_id}")
    return Tab(world=world, workspace_id=b_id, board_id=world.board_id, lists=lists,
               spreadsheet_id=world.spreadsheet_id, token=world.token, person=world.person)


def _all_links(world):
    return [link for tenant in world.tenants for link in tenant.links()]


def _reconcile(world, workspace_id):
    with world.app.app_context():
        return reconcile(db.session, db.session.get(Workspace, workspace_id), world.worker.processor.providers)


def _history(world, workspace_id, action):
    with world.app.app_context():
        return [h.message for h in db.session.query(History).filter_by(workspace_id=workspace_id, action=action)]


def _no_duplicates(world, b):
    card_ids = [link.card_id for link in _all_links(world) + b.links() if link.status == "linked"]
    assert len(card_ids) == len(set(card_ids)), "a card is linked by both workspaces"
    assert world.events(state="parked") == [] and b.events(state="parked") == []


def test_cards_made_on_the_board_go_to_the_tab_of_their_list(world):
    b = _outbound(world)
    world.person.create_card(id_list=world.lists["New"], name="Inbound lead")
    world.person.create_card(id_list=b.lists["Outbound New"], name="Outbound lead")
    world.settle()
    assert [r["Name"] for r in world.rows()] == ["Inbound lead"]
    assert [r["Name"] for r in b.rows()] == ["Outbound lead"]
    assert b.rows()[0]["Status"] == "New"
    _no_duplicates(world, b)
    world.add_row(Name="Typed in A", Status="Contacted")  # rows of each tab go to that tab's lists
    b.add_row(Name="Typed in B", Status="Won")
    world.settle()
    by_name = {c["name"]: c for c in world.cards()}
    assert world.list_name(by_name["Typed in A"]["idList"]) == "Contacted"
    assert by_name["Typed in B"]["idList"] == b.lists["Outbound Won"]
    assert len(world.rows()) == 2 and len(b.rows()) == 2 and len(world.cards()) == 4
    assert _reconcile(world, world.workspace_id).nothing_to_do and _reconcile(world, b.workspace_id).nothing_to_do


def test_a_card_moved_from_one_tabs_lists_to_the_others_and_back(world):
    b = _outbound(world, card_removed_policy="unlink")
    world.trello.duplicate_deliveries = True
    world.sheets.duplicate_events = True
    world.add_row(Name="Ada Lovelace", Email="ada@example.com", Status="Contacted")
    world.settle()
    lead_a = world.rows()[0]["Lead ID"]
    card_id = world.link(lead_a).card_id
    world.person.update_card(card_id, idList=b.lists["Outbound Won"])  # A → B
    world.settle()
    assert world.row_for(lead_a)["Status"] == "Archived"  # A's policy: set the status
    assert world.link(lead_a).status == "card_removed"
    [row_b] = b.rows()
    assert row_b["Name"] == "Ada Lovelace" and row_b["Status"] == "Won" and row_b["Email"] == "ada@example.com"
    lead_b = row_b["Lead ID"]
    assert lead_b != lead_a and b.link(lead_b).card_id == card_id  # a lead of B's own
    assert f"Lead ID: {lead_b}" in world.trello.card(card_id)["desc"]
    assert any("“Ada Lovelace”" in m and "left the workspace's filter" in m
               for m in _history(world, world.workspace_id, "filter_left"))
    _no_duplicates(world, b)
    b.edit_row(2, Notes="handled by outbound")  # B syncs it now
    world.settle()
    assert "Notes: handled by outbound" in world.trello.card(card_id)["desc"]
    world.person.update_card(card_id, idList=world.lists["Qualified"])  # B → A
    world.settle()
    assert b.link(lead_b).status == "unlinked"  # B's policy: unlink, keep the row
    assert b.rows()[0]["Status"] == "Won"
    assert world.link(lead_a).status == "linked" and world.row_for(lead_a)["Status"] == "Qualified"
    assert len(world.rows()) == 1 and len(b.rows()) == 1 and len(world.cards()) == 1
    _no_duplicates(world, b)
    world.edit_row(2, Name="Ada King")  # A syncs it again
    world.settle()
    assert world.trello.card(card_id)["name"] == "Ada King"
    _reconcile(world, world.workspace_id)
    _reconcile(world, b.workspace_id)
    world.settle()
    assert f"Lead ID: {lead_a}" in world.trello.card(card_id)["desc"]  # A's marker again
    assert _reconcile(world, world.workspace_id).nothing_to_do and _reconcile(world, b.workspace_id).nothing_to_do
    assert len(world.rows()) == 1 and len(b.rows()) == 1 and len(world.cards(include_closed=True)) == 1


def test_events_of_both_tabs_queued_late_and_doubled_before_the_worker_drains(world):
    b = _outbound(world)
    for name in ("Ada", "Bob"):
        world.add_row(Name=name, Status="New")
    world.settle()
    ids = {r["Name"]: r["Lead ID"] for r in world.rows()}
    cards = {n: world.link(ids[n]).card_id for n in ids}
    world.trello.duplicate_deliveries = True
    world.sheets.duplicate_events = True
    world.trello.pause_deliveries()  # Trello's deliveries arrive late, after the sheet's edits
    world.person.update_card(cards["Ada"], idList=b.lists["Outbound New"])  # A → B
    world.person.update_card(cards["Bob"], name="Robert")  # a rename in A's lists
    world.person.create_card(id_list=b.lists["Outbound Won"], name="Made in B")
    world.person.create_card(id_list=world.lists["Closed"], name="Made in A")
    world.edit_row(2, Notes="typed before the move arrived")  # Ada's row, in A
    b.add_row(Name="Typed in B", Status="New")
    assert world.sheets.wait_for_events(10)
    world.trello.resume_deliveries()
    world.settle()
    assert sorted(r["Name"] for r in world.rows()) == ["Ada", "Made in A", "Robert"]
    assert sorted(r["Name"] for r in b.rows()) == ["Ada", "Made in B", "Typed in B"]
    assert world.row_for(ids["Ada"])["Status"] == "Archived"
    ada_b = next(r for r in b.rows() if r["Name"] == "Ada")
    # typed after the card had left A's lists (its move was only delivered later): A's row keeps it,
    # the card (B's now) is not written by A
    assert ada_b["Notes"] == "" and world.row_for(ids["Ada"])["Notes"] == "typed before the move arrived"
    assert "typed before" not in world.trello.card(cards["Ada"])["desc"]
    assert len(world.cards()) == 5
    _no_duplicates(world, b)
    assert _reconcile(world, world.workspace_id).nothing_to_do and _reconcile(world, b.workspace_id).nothing_to_do


def test_a_card_in_a_list_both_tabs_take_gets_one_row_only(world):
    b = _outbound(world, card_lists=None)
    with world.app.app_context():  # B takes A's "New" list too (overlapping filters), as status New
        workspace = db.session.get(Workspace, b.workspace_id)
        workspace.mapping = {**workspace.mapping,
                             "list_to_status": {**workspace.mapping["list_to_status"], world.lists["New"]: "New"},
                             "card_filter": {"lists": [world.lists["New"], *b.lists.values()]}}
        db.session.commit()
    world.add_row(Name="Made in A's sheet", Status="New")  # A's card, in the shared list
    world.person.create_card(id_list=world.lists["New"], name="Made on the board")
    world.settle()
    rows = world.rows() + b.rows()
    assert sorted(r["Name"] for r in rows) == ["Made in A's sheet", "Made on the board"]
    assert len(world.cards()) == 2
    _no_duplicates(world, b)
    for workspace_id in (world.workspace_id, b.workspace_id):
        _reconcile(world, workspace_id)
    world.settle()
    assert len(world.rows() + b.rows()) == 2 and len(world.cards()) == 2
    _no_duplicates(world, b)


def test_moves_between_tabs_applied_by_three_loops_at_once(sqlite_url):
    """Both tabs' events, claimed by three event loops of one worker: every card ends linked once."""
    import threading

    from server.engine import build_workers
    from tests.conftest import make_app
    from tests.sync.world import build_world

    world = build_world(sqlite_url, make_app=make_app, config={"WORKER_CONCURRENCY": "3"})
    workers = build_workers(world.app)
    thread = threading.Thread(target=workers.run_forever, daemon=True)
    try:
        b = _outbound(world)
        for i in range(6):
            world.add_row(Name=f"Lead {i}", Status="New")
        world.settle()
        ids = {r["Name"]: r["Lead ID"] for r in world.rows()}
        world.trello.duplicate_deliveries = True
        for i in range(3):  # three cards move from A's lists to B's, three are made in B's lists
            world.person.update_card(world.link(ids[f"Lead {i}"]).card_id, idList=b.lists["Outbound Won"])
            world.person.create_card(id_list=b.lists["Outbound New"], name=f"Made in B {i}")
        assert world.trello.wait_for_deliveries(10)
        thread.start()

        def converged() -> bool:
            return (len(b.rows()) == 6 and sum(r["Status"] == "Archived" for r in world.rows()) == 3
                    and not [e for e in world.all_events() if e.state in ("pending", "processing")])
        world.wait_until(converged, timeout=60)
    finally:
        workers.stop()
        thread.join(timeout=30)
    try:
        assert len(world.rows()) == 6 and len(world.cards()) == 9
        _no_duplicates(world, b)
        assert sorted(r["Status"] for r in b.rows()) == ["New"] * 3 + ["Won"] * 3
    finally:
        world.stop()
