"""Webhook lifecycle, the sync CLI (first sync, dry run) and reconciliation end to end."""

from __future__ import annotations

from server.extensions import db
from server.models import Workspace
from server.sync.worker import check_webhooks
from server.trello.webhooks import delete_board_webhook


def test_worker_reregisters_a_webhook_trello_dropped(world):
    old = world.workspace().trello_webhook_id
    world.person.delete_webhook(old)
    assert world.trello.webhooks() == []
    repaired = check_webhooks(world.worker.session_factory, world.worker.processor.providers, world.worker.settings)
    assert repaired == 1
    new = world.workspace().trello_webhook_id
    assert new and new != old and [h["id"] for h in world.trello.webhooks()] == [new]
    # deliveries flow again
    card = world.person.create_card(id_list=world.lists["New"], name="After repair")
    world.settle()
    assert world.link(world.rows()[0]["Lead ID"]).card_id == card["id"]
    assert check_webhooks(world.worker.session_factory, world.worker.processor.providers, world.worker.settings) == 0


def test_disconnect_deletes_the_webhook(world):
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        delete_board_webhook(workspace, world.worker.processor.providers.trello(db.session, workspace))
        db.session.commit()
    assert world.trello.webhooks() == []


def _seed_sheet(world, rows):
    for values in rows:
        world.sheets.user_append(world.spreadsheet_id, "Leads", values)


def test_sync_cli_dry_run_then_first_sync(world):
    world.sheets.drop_next_events(10)  # these rows predate the add-on: no events
    _seed_sheet(world, [{"Name": f"Lead {i}", "Email": f"l{i}@example.com", "Status": "New"} for i in range(4)])
    # one card already on the board for Lead 0 (matched by email), one card with no row
    world.person.create_card(id_list=world.lists["Contacted"], name="Lead 0", desc="Email: l0@example.com")
    world.trello.pause_deliveries()
    world.person.create_card(id_list=world.lists["Qualified"], name="Only on Trello")
    runner = world.app.test_cli_runner()
    dry = runner.invoke(args=["sync", world.workspace_id, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "cards to create: 3" in dry.output and "links to make: 1" in dry.output and "rows to append: 1" in dry.output
    assert len(world.cards()) == 2 and len(world.rows()) == 4  # nothing changed
    real = runner.invoke(args=["sync", world.workspace_id])
    assert real.exit_code == 0, real.output
    world.trello.resume_deliveries()
    world.settle()
    cards, rows = world.cards(), world.rows()
    assert len(cards) == 5 and len(rows) == 5
    assert len({link.card_id for link in world.links()}) == 5
    lead0 = next(r for r in rows if r["Name"] == "Lead 0")
    assert lead0["Status"] == "New"  # the sheet wins the first-sync conflict
    assert world.list_name(world.card_for(lead0["Lead ID"])["idList"]) == "New"
    # a second pass finds nothing to do and writes nothing
    world.trello.reset_stats()
    world.sheets.reset_stats()
    again = runner.invoke(args=["sync", world.workspace_id])
    assert "cards to create: 0" in again.output and "rows to update: 0" in again.output
    assert world.sheets.stats()["writes"] == 0
    assert not [k for k, v in world.trello.stats()["calls"].items() if v and not k.startswith("GET")]
    progress = world.workspace().sync_progress
    assert progress["phase"] == "done" and "finished_at" in progress


def test_interrupted_first_sync_resumes_without_duplicates(world, monkeypatch):
    from server.sync.reconcile import reconcile
    from server.trello.client import TrelloClient

    world.sheets.drop_next_events(10)
    _seed_sheet(world, [{"Name": f"Lead {i}", "Status": "New"} for i in range(6)])
    real_create = TrelloClient.create_card
    made = {"n": 0}

    def dies_after_three(self, **kwargs):
        if made["n"] == 3:
            raise RuntimeError("worker killed")
        made["n"] += 1
        return real_create(self, **kwargs)

    monkeypatch.setattr(TrelloClient, "create_card", dies_after_three)
    with world.app.app_context():
        try:
            reconcile(db.session, db.session.get(Workspace, world.workspace_id), world.worker.processor.providers)
        except RuntimeError:
            db.session.rollback()
    assert len(world.cards()) == 3
    monkeypatch.setattr(TrelloClient, "create_card", real_create)
    with world.app.app_context():
        reconcile(db.session, db.session.get(Workspace, world.workspace_id), world.worker.processor.providers)
    world.settle()
    assert sorted(c["name"] for c in world.cards()) == sorted(f"Lead {i}" for i in range(6))


def test_old_applied_events_are_purged_and_parked_ones_kept(world):
    from datetime import datetime, timedelta, timezone

    from server.models import Event
    from server.sync.worker import purge_old_events

    world.add_row(Name="Ada", Status="New")
    world.add_row(Name="Bob", Status="Someday")  # parked: no list for this status
    world.settle()
    with world.app.app_context():
        for event in db.session.query(Event).all():
            event.received_at = datetime.now(timezone.utc) - timedelta(days=30)
        db.session.commit()
    assert purge_old_events(world.worker.session_factory, 14) >= 2
    assert [e.state for e in world.events()] == ["parked"]
