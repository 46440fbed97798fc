"""A draft's setup page (``/app/workspaces/<id>/setup``): the preview the worker computes, what blocks
it, its progress, a preview nobody picks up, and one that hits Google's quota."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from server.extensions import db
from server.models import Event, User, Workspace
from server.models.sync import PENDING
from tests.dashboard.helpers import (
    account_ids,
    events,
    login,
    page,
    workspace,
)


def test_preview_explains_what_blocks_it(world):
    app = world.app
    client = app.test_client()
    login(client, app)
    ids = account_ids(app)
    with app.app_context():
        ann = db.session.execute(select(User).where(User.email == "ann@example.com")).scalar_one()
        draft = Workspace(name="Broken", owner_id=ann.id, google_account_id=ids["google"],
                          trello_account_id=ids["trello"], spreadsheet_id=world.spreadsheet_id, sheet_name="Leads",
                          trello_board_id=world.board_id, state="draft",
                          mapping={"title_column": "Name", "status_column": "Stage",
                                   "status_to_list": {"new": world.lists["New"]}})
        db.session.add(draft)
        db.session.commit()
        draft_id = draft.id
    page(client, f"/app/workspaces/{draft_id}/setup")  # queues the preview
    world.worker.drain(timeout_s=10)
    preview = page(client, f"/app/workspaces/{draft_id}/setup")
    assert "does not match the mapping" in preview and "Stage" in preview
    assert "disabled" in preview  # the start button
    assert client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]["state"] == "failed"
    world.sheets.revoke_token("google-token-ann")
    page(client, f"/app/workspaces/{draft_id}/setup")  # an error is shown, not recomputed on every load
    assert len(events(app, draft_id)) == 1
    assert client.post(f"/app/workspaces/{draft_id}/setup/preview").status_code == 302
    world.worker.drain(timeout_s=10)
    preview = page(client, f"/app/workspaces/{draft_id}/setup")
    assert "Reconnect Google" in preview
    # a refused token is said on the page; the draft stays a draft (not "needs re-authorisation")
    draft = workspace(app, draft_id)
    assert draft.state == "draft" and draft.state_detail == ""
    assert [e.state for e in events(app, draft_id)] == ["done", "done"]
    # starting anyway is refused in words, and nothing is registered
    response = client.post(f"/app/workspaces/{draft_id}/setup")
    assert response.status_code == 302
    assert workspace(app, draft_id).state == "draft" and workspace(app, draft_id).trello_webhook_id is None


def make_draft(app, world, **fields: Any) -> str:
    """A draft of the world's sheet and board, as the wizard saves it."""
    ids = account_ids(app)
    with app.app_context():
        ann = db.session.execute(select(User).where(User.email == "ann@example.com")).scalar_one()
        settings = {"name": "Draft", "owner_id": ann.id, "google_account_id": ids["google"],
                    "trello_account_id": ids["trello"], "spreadsheet_id": world.spreadsheet_id,
                    "sheet_name": "Leads", "trello_board_id": world.board_id, "state": "draft",
                    "mapping": workspace(app, world.workspace_id).mapping}
        draft = Workspace(**{**settings, **fields})
        db.session.add(draft)
        db.session.commit()
        return draft.id


def test_preview_says_when_no_worker_picks_it_up(world, monkeypatch):
    from server.sync import preview as preview_module

    client = world.app.test_client()
    login(client, world.app)
    draft_id = make_draft(world.app, world)
    assert "Waiting for the sync worker" in page(client, f"/app/workspaces/{draft_id}/setup")
    monkeypatch.setattr(preview_module, "STALL_S", 0.0)  # as if 30 s had gone by without a worker
    time.sleep(0.01)
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert status["state"] == "queued" and status["stalled"]
    assert "No worker has picked up the preview yet: is the worker process running?" in status["message"]
    assert "is the worker process running?" in page(client, f"/app/workspaces/{draft_id}/setup")
    # a worker that took it and stopped (its lease ran out) is the same as none
    with world.app.app_context():
        event = db.session.execute(select(Event).where(Event.workspace_id == draft_id)).scalar_one()
        event.state, event.locked_until = "processing", datetime.now(timezone.utc)
        db.session.commit()
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert status["state"] == "queued" and status["stalled"]
    monkeypatch.setattr(preview_module, "STALL_S", 30.0)
    world.worker.drain(timeout_s=10)
    assert client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]["state"] == "done"


def test_preview_progress_is_visible_while_the_worker_reads(world):
    """The worker commits the preview's progress while it reads, and the page's JSON shows it."""
    from server.seed import DEMO_HEADER

    rows = [[f"Lead {i}" if c == "Name" else "New" if c == "Status" else "" for c in DEMO_HEADER] for i in range(12)]
    spreadsheet_id = world.sheets.create_spreadsheet("Big", {"Leads": [DEMO_HEADER, *rows]})
    client = world.app.test_client()
    login(client, world.app)
    draft_id = make_draft(world.app, world, spreadsheet_id=spreadsheet_id)
    page(client, f"/app/workspaces/{draft_id}/setup")
    runner = world.worker  # whole-workspace jobs (the preview) use the worker's job providers
    base = runner.job_providers
    seen: list[dict[str, Any]] = []

    class Spy:
        """The worker's providers; every sheet read first asks the page how the preview is going."""

        def trello(self, session, ws):  # type: ignore[no-untyped-def]
            return base.trello(session, ws)

        def sheet(self, session, ws):  # type: ignore[no-untyped-def]
            tab = base.sheet(session, ws)
            outer = self

            class Tab:
                def __getattr__(self, name):  # type: ignore[no-untyped-def]
                    return getattr(tab, name)

                def get(self, cells):  # type: ignore[no-untyped-def]
                    outer.look()
                    return tab.get(cells)

            return Tab()

        def look(self) -> None:
            seen.append(client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"])

    runner.job_providers = Spy()
    try:
        world.worker.drain(timeout_s=20)
    finally:
        runner.job_providers = base
    assert seen and all(s["state"] == "running" for s in seen)
    assert any(s["phase"] == "reading sheet" and s["message"].startswith("Reading the sheet") for s in seen)
    done = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert done["state"] == "done" and done["plan"]["cards_to_create"] == 12


def test_only_previews_run_for_paused_workspaces(world):
    """A paused workspace's scheduled reconciliation waits; a draft's preview runs in the same drain."""
    from server.sync.queue import enqueue_command

    app = world.app
    client = app.test_client()
    login(client, app)
    draft_id = make_draft(app, world)
    world.add_row(Name="Ada", Email="ada@example.com", Status="New")
    world.settle()
    assert client.post(f"/app/workspaces/{world.workspace_id}/pause").status_code == 302
    with app.app_context():
        enqueue_command(db.session, world.workspace_id, "reconcile", {"scheduled": True},
                        provider_event_id="reconcile:period-1")
        enqueue_command(db.session, world.workspace_id, "reconcile", {"dry_run": True})  # not a preview
        enqueue_command(db.session, world.workspace_id, "preview", {})  # not a draft: dropped, nothing run
        enqueue_command(db.session, draft_id, "reconcile", {"first_sync": True})  # a draft never syncs
        db.session.commit()
    progress_before = workspace(app, world.workspace_id).sync_progress
    page(client, f"/app/workspaces/{draft_id}/setup")  # queues the draft's preview (after its reconcile)
    world.worker.drain(timeout_s=10)
    waiting = [(e.kind, e.state) for e in events(app, world.workspace_id) if e.source == "system"]
    assert waiting == [("reconcile", PENDING), ("reconcile", PENDING), ("preview", "ignored")]
    assert workspace(app, world.workspace_id).sync_progress == progress_before
    draft_events = [(e.kind, e.state) for e in events(app, draft_id)]
    # the draft's stray reconcile never runs; its preview does, though they share a group
    assert draft_events == [("reconcile", PENDING), ("preview", "done")]
    assert client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]["state"] == "done"
    assert len(world.cards()) == 1  # the preview created nothing
    # resuming runs what waited
    client.post(f"/app/workspaces/{world.workspace_id}/resume")
    world.worker.drain(timeout_s=10)
    states = [(e.kind, e.state) for e in events(app, world.workspace_id) if e.source == "system"]
    assert states == [("reconcile", "done"), ("reconcile", "done"), ("preview", "ignored")]


def test_a_preview_that_hits_a_429_is_tried_again(world):
    """A 429 (Google's quota) defers the preview to the provider's time, not counted as an attempt;
    meanwhile the page says so."""
    client = world.app.test_client()
    login(client, world.app)
    draft_id = make_draft(world.app, world)
    page(client, f"/app/workspaces/{draft_id}/setup")  # queues the preview
    world.sheets.faults.add(path=r"/values", methods=["GET"], status=429, times=1,
                            body={"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}})
    assert world.worker.jobs.run_once() == 1
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert status["state"] == "queued" and "it is tried again shortly" in status["message"]
    with world.app.app_context():  # as if Google's 10 s had gone by
        db.session.execute(Event.__table__.update().where(Event.workspace_id == draft_id)
                           .values(next_attempt_at=datetime.now(timezone.utc)))
        db.session.commit()
    world.worker.drain(timeout_s=10)
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert status["state"] == "done" and status["plan"] is not None
    assert [(e.kind, e.state, e.attempts) for e in events(world.app, draft_id)] == [("preview", "done", 1)]
