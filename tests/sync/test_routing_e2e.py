"""Several boards per sheet, end to end over HTTP: a Region column routes each row to a board.

US rows (and rows with an empty or unknown Region) go to the workspace's own board; EU rows to a
second board with its own lists. Both boards' webhooks deliver to the app, each verified
against its own callback URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
import requests

from server.extensions import db
from server.models import Event, History, Workspace, WorkspaceBoard
from server.models.mapping import Mapping
from server.seed import DEMO_LIST_TO_STATUS, DEMO_LISTS, DEMO_STATUS_TO_LIST_NAME
from server.sync.reconcile import reconcile
from server.trello import board_webhooks
from server.trello.client import TrelloClient
from tests.conftest import make_app
from tests.sync.world import build_world


def _route(world) -> dict:
    """A second board ("EU leads") for the same person, routed by Region; returns its list ids by name."""
    owner = world.person.request("GET", f"/boards/{world.board_id}/members")[0]["id"]
    board = world.trello.add_board("EU leads", owner, lists=DEMO_LISTS)
    lists = {lst["name"]: lst["id"] for lst in board["lists"]}
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.mapping = {**workspace.mapping, "routing": {
            "column": "Region", "primary_routes": ["US"],
            "boards": [{"board_id": board["id"], "board_name": "EU leads", "routes": ["EU", "Europe"],
                        "status_to_list": {s: lists[n] for s, n in DEMO_STATUS_TO_LIST_NAME.items()},
                        "list_to_status": {lists[n]: s for n, s in DEMO_LIST_TO_STATUS.items()},
                        "list_names": {lid: n for n, lid in lists.items()}}]}}
        client = TrelloClient("emulator-key", world.token, base_url=world.trello.api_base_url)
        board_webhooks.connect(db.session, workspace, Mapping.of(workspace), client, world.web.base_url)
        db.session.commit()
    with world.sheets._lock:  # the routing column after Lead ID, as the sheet's owner would add it
        grid = world.sheets._sheet(world.spreadsheet_id, "Leads")[1]
        grid.set(1, 8, "Region")
    return {"board_id": board["id"], "lists": lists}


@pytest.fixture
def routed(world):
    return world, _route(world)


@pytest.fixture(params=["provenance", "ledger"])
def either_routed(request, sqlite_url):
    """Our own moves' echoes known by provenance (TRELLO_APP_ID), and by the write ledger without it."""
    w = build_world(sqlite_url, make_app=make_app, config={} if request.param == "provenance" else {"TRELLO_APP_ID": ""})
    try:
        yield w, _route(w)
    finally:
        w.stop()


def _lead(world, **values) -> tuple[int, str]:
    world.add_row(**{"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", **values})
    world.settle()
    lead_id = world.rows()[-1]["Lead ID"]
    return world.link(lead_id).row_number, lead_id


def _history(world, **filters):
    with world.app.app_context():
        return db.session.query(History).filter_by(workspace_id=world.workspace_id, **filters).order_by(History.id).all()


def _writes(world) -> dict[str, int]:
    return {k: v for k, v in world.trello.stats()["calls"].items() if v and not k.startswith("GET")}


def test_rows_go_to_the_board_their_region_names(routed):
    world, eu = routed
    _, us_lead = _lead(world, Name="Grace Hopper", Region="US")
    _, eu_lead = _lead(world, Name="Ada Lovelace", Region="europe", Status="Qualified")
    _, blank_lead = _lead(world, Name="Alan Turing")
    assert world.card_for(us_lead)["idBoard"] == world.board_id
    eu_card = world.card_for(eu_lead)
    assert eu_card["idBoard"] == eu["board_id"] and eu_card["idList"] == eu["lists"]["Qualified"]
    assert world.card_for(blank_lead)["idBoard"] == world.board_id
    assert [c["name"] for c in world.trello.cards(eu["board_id"])] == ["Ada Lovelace"]
    assert len(world.cards()) == 2


def test_an_unknown_region_goes_to_the_main_board_and_is_said(routed):
    world, _ = routed
    _, lead_id = _lead(world, Region="Mars")
    assert world.card_for(lead_id)["idBoard"] == world.board_id
    [said] = _history(world, action="unknown_route")
    assert "'Mars' names none of the workspace's boards" in said.message and said.lead_id == lead_id


def test_editing_the_region_moves_the_card_in_one_call_and_its_list_follows_that_board(either_routed):
    world, eu = either_routed
    row, lead_id = _lead(world, Region="US", Status="Contacted")
    card_id = world.link(lead_id).card_id
    before = _writes(world)
    world.edit_row(row, Region="EU")
    world.settle()
    card = world.trello.card(card_id)
    assert card["idBoard"] == eu["board_id"] and card["idList"] == eu["lists"]["Contacted"]
    after = _writes(world)
    assert sum(after.values()) - sum(before.values()) == 1  # one PUT with idBoard and idList
    assert world.link(lead_id).card_id == card_id and world.link(lead_id).status == "linked"
    assert world.row_for(lead_id)["Region"] == "EU" and world.row_for(lead_id)["Status"] == "Contacted"
    # the echo of our own move changed nothing and made no second call
    assert sum(_writes(world).values()) == sum(after.values())
    world.edit_row(row, Status="Won", Region="US")
    world.settle()
    card = world.trello.card(card_id)
    assert card["idBoard"] == world.board_id and card["idList"] == world.lists["Closed"]
    assert len(world.rows()) == 1 and world.row_for(lead_id)["Status"] == "Won"


def test_a_card_moved_between_boards_in_trello_updates_the_region(either_routed):
    world, eu = either_routed
    row, lead_id = _lead(world, Region="US")
    card_id = world.link(lead_id).card_id
    world.person.update_card(card_id, idBoard=eu["board_id"], idList=eu["lists"]["Qualified"])
    world.settle()
    got = world.row_for(lead_id)
    assert got["Region"] == "EU" and got["Status"] == "Qualified"
    link = world.link(lead_id)
    assert link.status == "linked" and link.card_id == card_id
    assert len(world.rows()) == 1 and len(world.trello.cards(eu["board_id"])) == 1 and not world.cards()
    assert not _history(world, action="card_removed")
    kinds = {e.kind: e.last_error for e in world.events(source="trello")}
    assert "moveCardToBoard" in kinds and "moveCardFromBoard" in kinds
    # and back, into a list whose status two statuses share: the row's own status is kept
    world.edit_row(row, Status="Lost")
    world.settle()
    world.person.update_card(card_id, idBoard=world.board_id, idList=world.lists["Closed"])
    world.settle()
    got = world.row_for(lead_id)
    assert got["Region"] == "US" and got["Status"] == "Lost"
    assert world.trello.card(card_id)["idBoard"] == world.board_id


def test_a_region_value_kept_when_the_card_stays_on_its_board(routed):
    world, eu = routed
    _, lead_id = _lead(world, Region="Europe")
    card_id = world.link(lead_id).card_id
    world.person.update_card(card_id, idList=eu["lists"]["Contacted"])
    world.settle()
    assert world.row_for(lead_id)["Region"] == "Europe" and world.row_for(lead_id)["Status"] == "Contacted"


def test_queued_changes_on_both_sides_newest_wins(routed):
    world, eu = routed
    row, lead_id = _lead(world, Region="US")
    card_id = world.link(lead_id).card_id
    # the worker is not drained: a person moves the card to the EU board, then someone types an
    # unknown Region (the main board) and a new status in the sheet (newer): the sheet wins both
    world.person.update_card(card_id, idBoard=eu["board_id"], idList=eu["lists"]["Contacted"])
    assert world.trello.wait_for_deliveries(timeout=10)
    world.edit_row(row, Region="Mars", Status="Qualified")
    assert world.sheets.wait_for_events(timeout=10)
    world.settle()
    card = world.trello.card(card_id)
    assert card["idBoard"] == world.board_id and card["idList"] == world.lists["Qualified"]
    got = world.row_for(lead_id)
    assert got["Region"] == "Mars" and got["Status"] == "Qualified"
    assert len(world.rows()) == 1 and len(world.cards()) == 1 and not world.trello.cards(eu["board_id"])
    # the other order: the sheet first, then a newer move in Trello: Trello's board wins
    world.edit_row(row, Region="US")
    assert world.sheets.wait_for_events(timeout=10)
    world.person.update_card(card_id, idBoard=eu["board_id"], idList=eu["lists"]["New"])
    assert world.trello.wait_for_deliveries(timeout=10)
    world.settle()
    card = world.trello.card(card_id)
    assert card["idBoard"] == eu["board_id"] and card["idList"] == eu["lists"]["New"]
    got = world.row_for(lead_id)
    assert got["Region"] == "EU" and got["Status"] == "New"
    assert len(world.rows()) == 1 and len(world.trello.cards(eu["board_id"])) == 1 and not world.cards()
    calls = sum(_writes(world).values())
    world.settle()
    assert sum(_writes(world).values()) == calls  # settled: nothing goes back and forth


def test_duplicate_and_late_deliveries_of_a_move(routed):
    world, eu = routed
    _, lead_id = _lead(world, Region="US")
    card_id = world.link(lead_id).card_id
    world.person.update_card(card_id, idBoard=eu["board_id"], idList=eu["lists"]["Contacted"])
    world.settle()
    move = next(e for e in world.events(source="trello") if e.kind == "moveCardToBoard")
    hook = next(h for h in world.trello.webhooks() if h["idModel"] == eu["board_id"])
    # Trello delivers the same move again, and a later move is followed by the old one's redelivery
    world.person.update_card(card_id, idList=eu["lists"]["Qualified"])
    world.settle()
    body = json.dumps({"action": json.loads(move.payload), "model": {"id": eu["board_id"]},
                       "webhook": {"id": hook["id"]}}).encode()
    answer = _deliver(world, hook["callbackURL"], body)
    assert answer.status_code == 200 and answer.json() == {"stored": 0, "duplicates": 1}
    world.settle()
    got = world.row_for(lead_id)
    assert got["Region"] == "EU" and got["Status"] == "Qualified"
    assert len(world.rows()) == 1


def test_a_move_delivered_late_is_older_than_what_followed(routed):
    world, eu = routed
    _, lead_id = _lead(world, Region="US")
    card_id = world.link(lead_id).card_id
    world.trello.drop_next_deliveries(2)  # the move's two deliveries (one per board) are lost for now
    world.person.update_card(card_id, idBoard=eu["board_id"], idList=eu["lists"]["Contacted"])
    assert world.trello.wait_for_deliveries(timeout=10)
    world.person.update_card(card_id, idList=eu["lists"]["Qualified"])
    world.settle()
    got = world.row_for(lead_id)  # the list of the other board tells the board too
    assert got["Region"] == "EU" and got["Status"] == "Qualified"
    # now Trello delivers the old move: older than what was applied, it changes nothing
    late = next(a for a in world.trello.actions(eu["board_id"]) if a["type"] == "moveCardToBoard")
    hook = next(h for h in world.trello.webhooks() if h["idModel"] == eu["board_id"])
    answer = _deliver(world, hook["callbackURL"], json.dumps({"action": late}).encode())
    assert answer.status_code == 200 and answer.json()["stored"] == 1
    world.settle()
    got = world.row_for(lead_id)
    assert got["Region"] == "EU" and got["Status"] == "Qualified"
    card = world.trello.card(card_id)
    assert card["idBoard"] == eu["board_id"] and card["idList"] == eu["lists"]["Qualified"]
    assert _history(world, action="stale")
    assert len(world.rows()) == 1


def _deliver(world, callback: str, body: bytes, secret: str = "emulator-secret") -> requests.Response:
    signature = base64.b64encode(hmac.new(secret.encode(), body + callback.encode(), hashlib.sha1).digest()).decode()
    return requests.post(callback, data=body, headers={"X-Trello-Webhook": signature,
                                                       "Content-Type": "application/json"}, timeout=10)


def test_the_second_boards_webhook_is_registered_and_verified(routed):
    world, eu = routed
    hooks = [h for h in world.trello.webhooks() if h["idModel"] == eu["board_id"]]
    assert len(hooks) == 1
    callback = hooks[0]["callbackURL"]
    assert callback == f"{world.web.base_url}/webhooks/trello/{world.workspace_id}/boards/{eu['board_id']}"
    with world.app.app_context():
        row = db.session.query(WorkspaceBoard).filter_by(workspace_id=world.workspace_id).one()
        assert (row.board_id, row.webhook_id, row.webhook_callback) == (eu["board_id"], hooks[0]["id"], callback)
    assert requests.head(callback, timeout=10).status_code == 200
    action = {"id": "5f0000000000000000000001", "type": "createCard", "date": "2026-12-06T12:00:00.000Z",
              "data": {"card": {"id": "5f00000000000000000000aa", "name": "Forged"},
                       "board": {"id": eu["board_id"]}, "list": {"id": eu["lists"]["New"]}}}
    body = json.dumps({"action": action}).encode()
    assert _deliver(world, callback, body, secret="wrong-secret").status_code == 401
    # signed for the primary board's callback, sent to the second board's: refused too
    primary = f"{world.web.base_url}/webhooks/trello/{world.workspace_id}"
    signature = base64.b64encode(hmac.new(b"emulator-secret", body + primary.encode(), hashlib.sha1).digest())
    answer = requests.post(callback, data=body, headers={"X-Trello-Webhook": signature.decode()}, timeout=10)
    assert answer.status_code == 401
    with world.app.app_context():
        assert db.session.query(Event).filter_by(provider_event_id=action["id"]).count() == 0
    # a card a person makes on the second board becomes a row, routed EU
    world.person.create_card(id_list=eu["lists"]["Contacted"], name="Made on the EU board")
    world.settle()
    [row] = world.rows()
    assert row["Name"] == "Made on the EU board" and row["Region"] == "EU" and row["Status"] == "Contacted"


def test_the_worker_checks_and_repairs_the_second_boards_webhook(routed):
    from server.sync.worker import check_webhooks

    world, eu = routed
    hook = next(h for h in world.trello.webhooks() if h["idModel"] == eu["board_id"])
    world.person.delete_webhook(hook["id"])
    worker = world.worker
    repaired = check_webhooks(worker.session_factory, worker.processor.providers, worker.settings)
    assert repaired == 1
    [again] = [h for h in world.trello.webhooks() if h["idModel"] == eu["board_id"]]
    assert again["id"] != hook["id"]
    with world.app.app_context():
        row = db.session.query(WorkspaceBoard).filter_by(workspace_id=world.workspace_id).one()
        assert row.webhook_id == again["id"] and row.webhook_active is True
        assert "registered again" in row.webhook_detail


def test_reconciliation_converges_across_boards(routed):
    world, eu = routed
    row_us, us_lead = _lead(world, Name="Grace Hopper", Region="US")
    row_eu, eu_lead = _lead(world, Name="Ada Lovelace", Region="EU")
    us_card, eu_card = world.link(us_lead).card_id, world.link(eu_lead).card_id
    # changes the webhooks never told: deliveries lost (a move is two: one to each board's webhook)
    world.trello.drop_next_deliveries(4)
    world.person.update_card(us_card, idBoard=eu["board_id"], idList=eu["lists"]["Qualified"])
    world.person.update_card(eu_card, idList=eu["lists"]["Closed"])
    world.person.create_card(id_list=eu["lists"]["New"], name="Only on the EU board")
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        reconcile(db.session, workspace, world.worker.processor.providers)
    world.settle()
    rows = {r["Name"]: r for r in world.rows()}
    assert rows["Grace Hopper"]["Region"] == "EU" and rows["Grace Hopper"]["Status"] == "Qualified"
    assert rows["Ada Lovelace"]["Region"] == "EU" and rows["Ada Lovelace"]["Status"] == "Won"
    assert rows["Only on the EU board"]["Region"] == "EU" and rows["Only on the EU board"]["Status"] == "New"
    assert len(rows) == 3 and len(world.trello.cards(eu["board_id"])) == 3
    # and a routing cell changed where no add-on saw it: the pass moves the card
    world.sheets.drop_next_events(1)
    world.edit_row(row_us, Region="US")
    with world.app.app_context():
        reconcile(db.session, db.session.get(Workspace, world.workspace_id), world.worker.processor.providers)
    world.settle()
    assert world.trello.card(us_card)["idBoard"] == world.board_id
    assert world.trello.card(us_card)["idList"] == world.lists["Qualified"]


def test_the_power_up_finds_the_workspace_and_lead_on_the_second_board(routed):
    from server.access import workspace_for_board
    from server.powerup.leads import card_on_another_board, card_view

    world, eu = routed
    _, lead_id = _lead(world, Region="EU")
    card_id = world.link(lead_id).card_id
    member = world.person.request("GET", f"/boards/{world.board_id}/members")[0]["id"]
    with world.app.app_context():
        found = workspace_for_board(db.session, member, eu["board_id"])
        assert found is not None and found.id == world.workspace_id
        assert not card_on_another_board(db.session, eu["board_id"], card_id)
        view = card_view(db.session, found, card_id)
        assert view["linked"] and view["badge"]["list_id"] == eu["lists"]["New"]


def test_labels_are_those_of_the_board_the_card_is_on(routed):
    world, eu = routed
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.mapping = {**workspace.mapping, "labels_column": "Labels"}
        db.session.commit()
    with world.sheets._lock:
        world.sheets._sheet(world.spreadsheet_id, "Leads")[1].set(1, 9, "Labels")
    us_hot = world.person.request("POST", "/labels", json={"idBoard": world.board_id, "name": "Hot", "color": "red"})
    eu_hot = world.person.request("POST", "/labels", json={"idBoard": eu["board_id"], "name": "Hot", "color": "red"})
    row, lead_id = _lead(world, Region="EU", Labels="Hot")
    card_id = world.link(lead_id).card_id
    assert world.trello.card(card_id)["idLabels"] == [eu_hot["id"]]
    assert not _history(world, action="unknown_label")
    # moved to the main board by its Region: its label is the main board's "Hot", in the same call
    before = sum(_writes(world).values())
    world.edit_row(row, Region="US")
    world.settle()
    card = world.trello.card(card_id)
    assert card["idBoard"] == world.board_id and card["idLabels"] == [us_hot["id"]]
    assert sum(_writes(world).values()) - before == 1
    assert world.row_for(lead_id)["Labels"] == "Hot"


def test_routing_both_ways_on_postgresql(pg_url):
    world = build_world(pg_url, make_app=make_app)
    try:
        eu = _route(world)
        row, lead_id = _lead(world, Region="US")
        card_id = world.link(lead_id).card_id
        world.edit_row(row, Region="EU")
        world.settle()
        assert world.trello.card(card_id)["idBoard"] == eu["board_id"]
        world.person.update_card(card_id, idBoard=world.board_id, idList=world.lists["Qualified"])
        world.settle()  # delivered to both boards' webhooks, the second verified against its own URL
        got = world.row_for(lead_id)
        assert got["Region"] == "US" and got["Status"] == "Qualified" and len(world.rows()) == 1
        assert all(e.state in ("done", "ignored") for e in world.events())
    finally:
        world.stop()


def test_a_lost_webhook_of_the_second_board_is_an_alert_of_its_own(routed):
    from datetime import UTC, datetime, timedelta

    from server.alerts.incidents import conditions_of

    world, eu = routed
    with world.app.app_context():
        row = db.session.query(WorkspaceBoard).filter_by(workspace_id=world.workspace_id).one()
        row.webhook_active = False
        row.webhook_detail = "the webhook could not be checked or registered again: Trello said no"
        db.session.commit()
        workspace = db.session.get(Workspace, world.workspace_id)
        [lost] = [c for c in conditions_of(db.session, workspace, datetime.now(UTC), timedelta(days=3))
                  if c.kind == "webhook_lost"]
        assert lost.subject == eu["board_id"]
        assert "\"EU leads\"" in lost.summary and "Trello said no" in lost.detail


def test_an_unknown_region_is_said_once_not_at_every_whole_row_send(routed):
    world, _ = routed
    row, lead_id = _lead(world, Region="Mars")
    world.edit_row(row, Notes="called", Region="Mars")  # the same value sent again with another edit
    world.settle()
    assert len(_history(world, action="unknown_route")) == 1


def test_reconnecting_trello_registers_the_second_boards_webhook_again(routed):
    from server.auth.trello import repair_webhooks

    world, eu = routed
    hook = next(h for h in world.trello.webhooks() if h["idModel"] == eu["board_id"])
    world.person.delete_webhook(hook["id"])  # as Trello does for a revoked token's webhooks
    with world.app.test_request_context():
        repair_webhooks([db.session.get(Workspace, world.workspace_id)], world.token)
        db.session.commit()
    [again] = [h for h in world.trello.webhooks() if h["idModel"] == eu["board_id"]]
    with world.app.app_context():
        assert db.session.query(WorkspaceBoard).filter_by(workspace_id=world.workspace_id).one().webhook_id == again["id"]


def test_a_card_that_left_the_workspaces_boards_and_comes_back_onto_another_follows_it(routed):
    world, eu = routed
    row, lead_id = _lead(world, Region="EU")
    card_id = world.link(lead_id).card_id
    owner = world.person.request("GET", f"/boards/{world.board_id}/members")[0]["id"]
    elsewhere = world.trello.add_board("Elsewhere", owner, lists=DEMO_LISTS)
    world.person.update_card(card_id, idBoard=elsewhere["id"], idList=elsewhere["lists"][0]["id"])
    world.settle()
    assert world.link(lead_id).status == "card_removed" and world.row_for(lead_id)["Status"] == "Archived"
    world.person.update_card(card_id, idBoard=world.board_id, idList=world.lists["Contacted"])
    world.settle()
    link = world.link(lead_id)
    assert link.status == "linked" and link.card_id == card_id
    got = world.row_for(lead_id)
    assert got["Region"] == "US" and got["Status"] == "Contacted" and len(world.rows()) == 1


def test_disconnect_and_reconnect_cover_every_boards_webhook(routed):
    from tests.dashboard.helpers import login

    world, eu = routed
    client = world.app.test_client()
    login(client, world.app)
    assert client.post(f"/app/workspaces/{world.workspace_id}/disconnect").status_code == 302
    assert not world.trello.webhooks()  # the main board's and the EU board's
    assert client.post(f"/app/workspaces/{world.workspace_id}/reconnect").status_code == 302
    assert {h["idModel"] for h in world.trello.webhooks()} == {world.board_id, eu["board_id"]}
    with world.app.app_context():
        row = db.session.query(WorkspaceBoard).filter_by(workspace_id=world.workspace_id).one()
        assert row.webhook_id == next(h["id"] for h in world.trello.webhooks() if h["idModel"] == eu["board_id"])


def test_both_boards_calls_share_the_tokens_rate_limit(tmp_path):
    """Trello counts per token and per key, not per board: one workspace's calls for its two
    boards are paced together under its token's bucket, and Trello never answers 429."""
    import time

    world = build_world(f"sqlite:///{tmp_path / 'app.db'}", make_app=make_app,
                        config={"RATE_LIMITS_ENABLED": True, "TRELLO_TOKEN_LIMIT": "5/1",
                                "TRELLO_KEY_LIMIT": "300/10"})
    try:
        eu = _route(world)
        world.trello.set_limits(token_limit=(5, 1.0))  # Trello itself refuses a sixth call in a second
        world.trello.reset_stats()
        world.start_worker()
        started = time.monotonic()
        world.paste_rows([{"Name": f"Lead {i}", "Status": "New", "Region": "EU" if i % 2 else "US"}
                          for i in range(12)])
        world.wait_until(lambda: len(world.cards()) + len(world.trello.cards(eu["board_id"])) == 12, timeout=30)
        elapsed = time.monotonic() - started
        world.stop_workers()
        assert len(world.cards()) == 6 and len(world.trello.cards(eu["board_id"])) == 6
        assert world.trello.stats()["rate_limited"] == 0
        assert elapsed >= 1.5  # 12 creations at 5 a second, whichever board they are for
    finally:
        world.stop()


def test_an_archived_card_brought_back_with_a_new_region_comes_back_on_that_board(routed):
    world, eu = routed
    row, lead_id = _lead(world, Region="US")
    card_id = world.link(lead_id).card_id
    world.person.update_card(card_id, closed=True)
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Archived"
    world.edit_row(row, Status="Qualified", Region="EU")
    world.settle()
    card = world.trello.card(card_id)
    assert not card["closed"] and card["idBoard"] == eu["board_id"] and card["idList"] == eu["lists"]["Qualified"]
    assert world.link(lead_id).status == "linked"
    got = world.row_for(lead_id)
    assert got["Region"] == "EU" and got["Status"] == "Qualified" and len(world.rows()) == 1


def test_statuses_sharing_a_list_on_the_main_board_but_not_on_the_other(routed):
    world, eu = routed
    lost = world.trello.add_list(eu["board_id"], "Lost")
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        mapping = dict(workspace.mapping)
        board = dict(mapping["routing"]["boards"][0])
        board["status_to_list"] = {**board["status_to_list"], "Lost": lost["id"]}
        board["list_to_status"] = {**board["list_to_status"], lost["id"]: "Lost"}
        mapping["routing"] = {**mapping["routing"], "boards": [board]}
        workspace.mapping = mapping
        db.session.commit()
    row, lead_id = _lead(world, Region="EU", Status="Won")
    card_id = world.link(lead_id).card_id
    assert world.trello.card(card_id)["idList"] == eu["lists"]["Closed"]
    world.edit_row(row, Status="Lost")  # Won and Lost share "Closed" on the main board only
    world.settle()
    assert world.trello.card(card_id)["idList"] == lost["id"]
    world.person.update_card(card_id, idList=eu["lists"]["Closed"])
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Won"


def _filter_not_lost(world) -> None:
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.mapping = {**workspace.mapping, "row_filter": [{"column": "Status", "op": "is_not", "value": "Lost"}]}
        db.session.commit()


def test_a_row_entering_the_filter_brings_its_card_back_on_the_board_its_region_names(routed):
    """A row filter with routing: a row back in the filter gets its own card back (never a new one),
    unarchived on the board its Region names now, moved there in the same PUT (idBoard)."""
    world, eu = routed
    _filter_not_lost(world)
    row, lead_id = _lead(world, Region="EU")
    card_id = world.link(lead_id).card_id
    world.edit_row(row, Status="Lost")  # leaves: its card is archived on the EU board
    world.settle()
    assert world.trello.card(card_id)["closed"] is True and world.link(lead_id).status == "row_removed"
    world.edit_row(row, Status="Contacted")  # enters: the same card, not a second one
    world.settle()
    card = world.trello.card(card_id)
    assert not card["closed"] and card["idBoard"] == eu["board_id"] and card["idList"] == eu["lists"]["Contacted"]
    assert world.link(lead_id).card_id == card_id and world.link(lead_id).status == "linked"
    assert len(world.trello.cards(eu["board_id"], include_closed=True)) == 1 and world.cards(include_closed=True) == []
    world.edit_row(row, Status="Lost")
    world.settle()
    world.edit_row(row, Status="Qualified", Region="US")  # enters routed to the main board: moved there
    world.settle()
    card = world.trello.card(card_id)
    assert not card["closed"] and card["idBoard"] == world.board_id and card["idList"] == world.lists["Qualified"]
    assert world.link(lead_id).card_id == card_id and world.link(lead_id).status == "linked"
    assert world.events(state="parked") == [] and len(world.rows()) == 1
    assert world.trello.cards(eu["board_id"], include_closed=True) == []
    assert world.row_for(lead_id)["Region"] == "US" and world.row_for(lead_id)["Status"] == "Qualified"


def test_a_label_card_filter_takes_the_cards_of_every_routed_board(routed):
    """A card filter by label only ("every list"): its lists are every board's mapped lists, so a
    labelled card on the EU board is taken and one without the label is left out, as on the main board."""
    world, eu = routed
    world.map_columns({"card_filter": {"labels": ["Hot"]}})
    hot = world.person.create_label(eu["board_id"], "Hot", "red")["id"]
    mapping = Mapping.of(world.workspace())
    assert set(eu["lists"].values()) <= set(mapping.mapped_lists)
    labelled = world.person.create_card(id_list=eu["lists"]["New"], name="Hot on the EU board")
    world.person.add_card_label(labelled["id"], hot)
    world.person.create_card(id_list=eu["lists"]["New"], name="Plain on the EU board")
    world.settle()
    world.reconcile()  # the card was made before its label: a full sync takes it in
    world.settle()
    rows = {r["Name"]: r for r in world.rows()}
    assert "Plain on the EU board" not in rows
    assert rows["Hot on the EU board"]["Region"] == "EU"
    assert world.card_for(rows["Hot on the EU board"]["Lead ID"])["idBoard"] == eu["board_id"]
