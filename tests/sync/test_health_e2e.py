"""Connection health end to end, against the emulators over real HTTP: a refused Google grant stops
every workspace that shares the account; a webhook Trello deactivated is found and registered again;
one that cannot be registered again opens one alert; add-on and Power-Up calls are recorded."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from server.alerts.incidents import IncidentKind
from server.alerts.messages import Notice
from server.alerts.rounds import AlertSettings, run_round
from server.extensions import db
from server.models import AlertIncident, History, ProviderAccount, Workspace
from server.sync.health_report import Health, build_report
from server.sync.signatures import addon_request_signature
from server.sync.worker import check_webhooks

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class RecordingChannels:
    emails: list[tuple[str, Notice]] = field(default_factory=list)
    slacks: list[tuple[str, Notice]] = field(default_factory=list)

    def email(self, address: str, notice: Notice) -> None:
        self.emails.append((address, notice))

    def slack(self, url: str, notice: Notice) -> None:
        self.slacks.append((url, notice))


def alert_round(world, now: datetime, channels: RecordingChannels):
    settings = AlertSettings(base_url=world.web.base_url, email_enabled=True)
    return run_round(world.worker.session_factory, channels, settings, now)


def share_accounts(world, names: list[str]) -> list[str]:
    """More workspaces of Ann's on other boards and sheets, with the same Google and Trello accounts."""
    with world.app.app_context():
        first = db.session.get(Workspace, world.workspace_id)
        ids = []
        for name in names:
            workspace = Workspace(name=name, owner_id=first.owner_id, google_account_id=first.google_account_id,
                                  trello_account_id=first.trello_account_id, spreadsheet_id=f"sheet-{name}",
                                  sheet_name="Leads", trello_board_id=uuid.uuid4().hex[:24], mapping=first.mapping)
            db.session.add(workspace)
            db.session.flush()
            ids.append(workspace.id)
        db.session.commit()
        return ids


def test_a_refused_google_token_marks_all_three_workspaces_sharing_the_account(world):
    others = share_accounts(world, ["Berlin leads", "Paris leads"])
    world.add_row(Name="Ada Lovelace", Status="New")
    world.settle()
    [link] = world.links()
    world.sheets.revoke_token("google-token-ann")  # the grant was revoked at Google
    world.person.update_card(link.card_id, idList=world.lists["Contacted"])  # the row must be written
    world.settle()

    with world.app.app_context():
        states = {w.id: (w.state, w.state_detail) for w in db.session.scalars(select(Workspace)).all()}
        google = db.session.get(ProviderAccount, db.session.get(Workspace, world.workspace_id).google_account_id)
        assert google.status == "needs_reauth"
        assert {ws: state for ws, (state, _) in states.items()} == {
            world.workspace_id: "needs_reauth", others[0]: "needs_reauth", others[1]: "needs_reauth"}
        for other in others:
            assert states[other][1].startswith("The Google account ann@example.com needs to be connected again")
            [entry] = db.session.scalars(select(History).where(History.workspace_id == other)).all()
            assert entry.action == "needs_reauth" and entry.outcome == "error"
        report = build_report(db.session.get(Workspace, others[0]), google, None, T0, timedelta(days=2))
        assert report.line("google").health == Health.PROBLEM
        assert "Google refused the Google account ann@example.com" in report.line("google").text

    channels = RecordingChannels()
    assert alert_round(world, T0, channels).opened == 3
    subjects = sorted(notice.subject for _, notice in channels.emails)
    assert subjects == ['Leads Sync: Sync stopped for "Berlin leads": access needs to be renewed',
                        'Leads Sync: Sync stopped for "Leads": access needs to be renewed',
                        'Leads Sync: Sync stopped for "Paris leads": access needs to be renewed']
    assert {address for address, _ in channels.emails} == {"ann@example.com"}
    assert alert_round(world, T0 + timedelta(minutes=1), channels).opened == 0 and len(channels.emails) == 3


def test_a_deactivated_webhook_is_detected_recorded_and_registered_again(world):
    world.add_row(Name="Ada Lovelace", Status="New")
    world.settle()
    [link] = world.links()
    old_hook = world.workspace().trello_webhook_id
    [hook] = [h for h in world.trello.webhooks() if h["id"] == old_hook]
    assert hook["active"] is True and hook["consecutiveFailures"] == 0
    world.trello.deactivate_webhook(old_hook, failures=1000)
    world.person.update_card(link.card_id, idList=world.lists["Qualified"])
    world.settle()
    assert world.rows()[0]["Status"] == "New"  # Trello no longer delivers: the move never arrived

    worker = world.worker
    repaired = check_webhooks(worker.session_factory, worker.processor.providers, worker.settings, now=lambda: T0)
    assert repaired == 1
    workspace = world.workspace()
    assert workspace.trello_webhook_id != old_hook and workspace.webhook_active is True
    assert workspace.webhook_failures == 1000 and workspace.webhook_checked_at == T0
    assert workspace.webhook_reregistered_at == T0
    assert workspace.webhook_detail == ("Trello had deactivated the webhook after 1000 failed deliveries; "
                                        "it was registered again")
    [new_hook] = world.trello.webhooks()  # the dead one was deleted, the new one is live
    assert new_hook["id"] == workspace.trello_webhook_id and new_hook["active"] is True
    with world.app.app_context():
        line = build_report(workspace, None, None, T0 + timedelta(minutes=5), timedelta(days=2)).line("webhook")
    assert line.health == Health.WARNING
    assert line.text == ("Trello had deactivated the webhook after 1000 failed deliveries; it was registered "
                         "again (checked 5 minutes ago).")

    world.person.update_card(link.card_id, idList=world.lists["Contacted"])  # deliveries flow again
    world.settle()
    assert world.rows()[0]["Status"] == "Contacted"
    assert check_webhooks(worker.session_factory, worker.processor.providers, worker.settings,
                          now=lambda: T0 + timedelta(hours=1)) == 0
    assert world.workspace().webhook_detail == "active"


def test_a_webhook_that_cannot_be_registered_again_opens_one_alert_until_it_is(world):
    hook_id = world.workspace().trello_webhook_id
    world.trello.deactivate_webhook(hook_id)
    world.trello.faults.add(path=r"^/1/webhooks/?$", methods=["POST"], status=500, times=100)
    worker = world.worker
    check_webhooks(worker.session_factory, worker.processor.providers, worker.settings, now=lambda: T0)
    workspace = world.workspace()
    assert workspace.webhook_active is False
    assert workspace.webhook_detail.startswith("the webhook could not be checked or registered again")
    channels = RecordingChannels()
    alert_round(world, T0, channels)
    [(_, notice)] = channels.emails
    assert notice.subject == 'Leads Sync: Trello changes are not reaching "Leads": its webhook is lost'

    world.trello.faults.clear()
    check_webhooks(worker.session_factory, worker.processor.providers, worker.settings,
                   now=lambda: T0 + timedelta(hours=1))
    assert world.workspace().webhook_active is True
    alert_round(world, T0 + timedelta(hours=1), channels)
    assert channels.emails[-1][1].subject.startswith("Leads Sync: Resolved: Trello changes are not reaching")
    with world.app.app_context():
        [incident] = db.session.scalars(select(AlertIncident)).all()
        assert incident.kind == IncidentKind.WEBHOOK_LOST and incident.resolved_at == T0 + timedelta(hours=1)


def test_signed_addon_calls_are_recorded_as_last_heard_from(world):
    import requests

    workspace = world.workspace()
    assert workspace.addon_last_seen_at is None

    def call() -> int:
        stamp, nonce, path = str(int(time.time())), uuid.uuid4().hex, "/api/addon/sync"
        headers = {"X-Workspace": workspace.id, "X-Timestamp": stamp, "X-Nonce": nonce,
                   "X-Signature": addon_request_signature(workspace.addon_secret, stamp, nonce, "POST", path, b"")}
        return requests.post(world.web.base_url + path, headers=headers, timeout=10).status_code

    assert call() == 202
    seen = world.workspace().addon_last_seen_at
    assert seen is not None and abs((datetime.now(UTC) - seen).total_seconds()) < 30
    assert call() == 202
    assert world.workspace().addon_last_seen_at == seen  # at most one write a minute
    bad = requests.post(world.web.base_url + "/api/addon/sync", timeout=10,
                        headers={"X-Workspace": workspace.id, "X-Timestamp": str(int(time.time())),
                                 "X-Nonce": uuid.uuid4().hex, "X-Signature": "0" * 64})
    assert bad.status_code == 401


def test_trello_deactivating_a_failing_webhook_is_caught_by_the_next_check(world):
    """Deliveries keep failing (here: the callback we stored no longer matches, so every signature
    check answers 401) until Trello deactivates the webhook; the check registers it again."""
    world.trello.deactivate_after_failures = 2
    world.add_row(Name="Ada Lovelace", Status="New")
    world.settle()
    [link] = world.links()
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.trello_webhook_callback = workspace.trello_webhook_callback + "?moved"
        db.session.commit()
    for target in ("Contacted", "Qualified"):
        world.person.update_card(link.card_id, idList=world.lists[target])
        world.settle()
    [hook] = world.trello.webhooks()
    assert hook["active"] is False and hook["consecutiveFailures"] == 2

    worker = world.worker
    assert check_webhooks(worker.session_factory, worker.processor.providers, worker.settings, now=lambda: T0) == 1
    assert world.workspace().webhook_detail == ("Trello had deactivated the webhook after 2 failed deliveries; "
                                                "it was registered again")
    world.person.update_card(link.card_id, idList=world.lists["Closed"])
    world.settle()
    assert world.rows()[0]["Status"] == "Won"  # delivered and applied again ("Closed" reads Won)
