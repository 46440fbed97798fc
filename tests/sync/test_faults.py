"""Faults: 429s, 500s, timeouts, lost deliveries and a worker killed mid-event. Nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import make_app
from tests.sync.world import build_world

ROOT = Path(__file__).resolve().parents[2]


def _single_card_for(world, lead_id):
    cards = [c for c in world.trello.cards(world.board_id, include_closed=True) if f"Lead ID: {lead_id}" in c["desc"]]
    assert len(cards) == 1, cards
    return cards[0]


def test_trello_429_with_retry_after_is_retried(world):
    """A short Retry-After is waited out inside the client: the event succeeds on its first claim."""
    rule = world.trello.faults.add(path=r"^/1/cards$", methods=["POST"], status=429, times=2,
                            body={"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
                            headers={"Retry-After": "0.2"})
    world.add_row(Name="Ada", Status="New")
    world.settle()
    lead_id = world.rows()[0]["Lead ID"]
    _single_card_for(world, lead_id)
    [event] = world.events(source="sheets")
    assert event.state == "done" and event.attempts == 1 and rule.hits == 2


def test_trello_429_asking_a_long_wait_reschedules_the_event(world):
    rule = world.trello.faults.add(path=r"^/1/cards$", methods=["POST"], status=429, times=1,
                                   body={"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"},
                                   headers={"Retry-After": "60"})
    world.add_row(Name="Ada", Status="New")
    world.trello.wait_for_deliveries()
    world.sheets.wait_for_events()
    world.worker.run_once()
    [event] = world.events(source="sheets")
    assert rule.hits == 1 and event.state == "pending" and "slow down" in event.last_error
    assert event.next_attempt_at.timestamp() - time.time() > 50  # Retry-After is honoured


def test_trello_500_then_success_creates_one_card(world, trello_errors):
    rule = world.trello.faults.add(path=r"^/1/cards$", methods=["POST"], status=500, times=1, body="Internal error")
    world.add_row(Name="Ada", Status="New")
    world.settle()
    _single_card_for(world, world.rows()[0]["Lead ID"])
    # The fault fired: the emulator served the 500, the client raised it, the worker tried again,
    # and only the second POST reached Trello.
    assert rule.hits == 1
    assert trello_errors == [("POST", "/cards", "Trello error 500: Internal error")]
    [event] = world.events(source="sheets")
    assert (event.state, event.attempts) == ("done", 2)
    assert world.trello.stats()["calls"]["POST /1/cards"] == 1


def test_timeout_after_trello_created_the_card_does_not_duplicate(sqlite_url, trello_errors):
    world = build_world(sqlite_url, make_app=make_app, config={"HTTP_TIMEOUT_S": 0.5, "WORKER_LEASE_S": 1.0})
    try:
        # Trello creates the card but answers too late: the client times out.
        rule = world.trello.faults.add(path=r"^/1/cards$", methods=["POST"], latency_ms=900, times=1)
        world.add_row(Name="Ada", Status="New")
        world.settle(timeout=30)
        world.wait_until(lambda: world.cards(), timeout=10)  # the emulator finished the slow request
        world.settle(timeout=30)
        lead_id = world.rows()[0]["Lead ID"]
        card = _single_card_for(world, lead_id)
        assert world.link(lead_id).card_id == card["id"]
        # The fault fired: the POST was held past the timeout, the client gave up on it, and the
        # card it made anyway was found again rather than made twice.
        assert rule.hits == 1
        assert ("POST", "/cards", "Trello did not answer within 0.5 s") in trello_errors
        assert world.trello.stats()["calls"]["POST /1/cards"] == 1
    finally:
        world.stop()


def test_sheets_500_and_429_on_write_keep_the_trello_move(world):
    world.add_row(Name="Ada", Status="New")
    world.settle()
    lead_id = world.rows()[0]["Lead ID"]
    world.sheets.faults.add(path=r"values:batchUpdate", methods=["POST"], status=500, times=1,
                            body={"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}})
    world.sheets.faults.add(path=r"values:batchUpdate", methods=["POST"], status=429, times=1,
                            body={"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
                            headers={"Retry-After": "0.1"})
    world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Qualified"
    moves = [e for e in world.events(source="trello") if e.kind == "updateCard"]
    # The move is decided and done at once; its cell waits in the sheet outbox, which the
    # worker writes again after the 500 and after the 429's Retry-After.
    assert moves[-1].state == "done" and moves[-1].attempts == 1
    assert [rule.hits for rule in world.sheets.faults.rules()] == [1, 1]
    link = world.link(lead_id)
    assert link.sheet_pending is None and link.sync_state == "synced"


def test_event_parks_after_max_attempts_with_error_kept(sqlite_url):
    world = build_world(sqlite_url, make_app=make_app, config={"WORKER_MAX_ATTEMPTS": 3})
    try:
        world.trello.faults.add(path=r"^/1/cards$", methods=["POST"], status=503, body="unavailable")
        world.add_row(Name="Ada", Status="New")
        world.settle()
        [event] = world.events(source="sheets")
        assert event.state == "parked" and "503" in event.last_error and event.attempts == 3
        assert world.cards() == []
    finally:
        world.stop()


def test_revoked_trello_token_marks_workspace_for_reauthorisation_and_keeps_events(world):
    world.trello.revoke_token(world.token)
    world.add_row(Name="Ada", Status="New")
    world.settle()
    workspace = world.workspace()
    assert workspace.state == "needs_reauth" and "token" in workspace.state_detail.lower()
    [event] = world.events(source="sheets")
    assert event.state == "pending"  # kept until the user reconnects


def test_lost_trello_delivery_is_repaired_by_reconciliation(world):
    from server.extensions import db
    from server.models import Workspace
    from server.sync.reconcile import reconcile

    world.add_row(Name="Ada", Status="New")
    world.settle()
    lead_id = world.rows()[0]["Lead ID"]
    world.trello.drop_next_deliveries(1)
    world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Contacted"])
    world.settle()
    assert world.row_for(lead_id)["Status"] == "New"  # the webhook was lost
    with world.app.app_context():
        plan = reconcile(db.session, db.session.get(Workspace, world.workspace_id), world.worker.processor.providers)
    assert plan.rows_to_update == 1
    assert world.row_for(lead_id)["Status"] == "Contacted"


def test_worker_killed_mid_event_loses_nothing_and_duplicates_nothing(tmp_path):
    database = f"sqlite:///{tmp_path / 'app.db'}"
    world = build_world(database, make_app=make_app, config={"WORKER_LEASE_S": 1.0})
    env = {**os.environ, "DATABASE_URL": database, "TRELLO_API_BASE_URL": world.trello.api_base_url,
           "GOOGLE_SHEETS_API_BASE_URL": world.sheets.api_base_url, "TRELLO_API_KEY": "emulator-key",
           "TRELLO_API_SECRET": "emulator-secret", "SECRET_KEY": "test-secret-key-0123456789",
           "RATE_LIMITS_ENABLED": "0", "WORKER_LEASE_S": "1", "LOG_LEVEL": "WARNING", "RECONCILE_INTERVAL_S": "0",
           "SHEET_WRITE_WINDOW_S": "0"}
    try:
        # The card is created, then the answer hangs: the worker is killed while waiting for it.
        rule = world.trello.faults.add(path=r"^/1/cards$", methods=["POST"], hang_s=5.0, times=1)
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", "worker"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        world.add_row(Name="Ada", Status="New")
        deadline = time.monotonic() + 20
        while rule.hits == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rule.hits == 1, process.stderr.read().decode() if process.poll() is not None else "no POST yet"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        [event] = world.events(source="sheets")
        assert event.state == "processing"  # claimed by the dead worker
        time.sleep(5.5)  # the hung request completes in the emulator: the card now exists
        world.settle(timeout=30)
        lead_id = world.rows()[0]["Lead ID"]
        card = _single_card_for(world, lead_id)
        assert world.link(lead_id).card_id == card["id"]
        assert world.events(source="sheets")[0].state == "done"
    finally:
        world.stop()


@pytest.mark.postgres
def test_two_workers_on_postgres_make_one_card_per_row(pg_url):
    """Redelivered and duplicated add-on events for the same new rows, two workers racing."""
    import threading

    from server.engine import build_worker

    world = build_world(pg_url, make_app=make_app)
    try:
        world.sheets.duplicate_events = True
        workers = [world.worker, build_worker(world.app, worker_id="second-worker")]
        threads = [threading.Thread(target=w.run_forever, daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        for i in range(15):
            world.add_row(Name=f"Lead {i}", Status="New")
        # the same rows again in one paste: new event ids, same lead ids
        world.sheets.user_paste(world.spreadsheet_id, "Leads", 2, [{"Notes": "pasted"} for _ in range(15)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            world.trello.wait_for_deliveries(timeout=10)
            world.sheets.wait_for_events(timeout=10)
            pending = [e for e in world.events() if e.state in ("pending", "processing")]
            if not pending and len(world.cards()) == 15 and all("pasted" in c["desc"] for c in world.cards()):
                break
            time.sleep(0.1)
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(timeout=10)
        cards = world.cards()
        assert len(cards) == 15
        assert sorted(c["name"] for c in cards) == sorted(f"Lead {i}" for i in range(15))
        # The add-on really sent every event twice.
        sent = Counter(body for _status, body in world.sheets.addon_deliveries())
        assert sent and min(sent.values()) >= 2, sent
        assert {e.locked_by for e in world.events()} == {None}
        assert not [e for e in world.events() if e.state == "parked"]
    finally:
        world.stop()


@pytest.mark.postgres
def test_a_first_sync_longer_than_the_lease_is_not_run_twice(pg_url):
    """A reconciliation outlasting the claim's lease (its read of the board takes 2.5 s, the lease
    is 1 s) keeps its lease; a second worker never takes it for abandoned and creates the same
    cards again."""
    import threading

    from server.engine import build_worker
    from server.extensions import db
    from server.sync.queue import enqueue_command

    world = build_world(pg_url, make_app=make_app, config={"WORKER_LEASE_S": 1.0})
    try:
        rows = 24
        world.sheets.drop_next_events(rows)  # rows that fire no trigger: only a reconciliation sees them
        for i in range(rows):
            world.add_row(Name=f"Lead {i}", Status="New")
        # The reconciliation queues its creations as events of their own (each far inside the
        # lease), so what outlasts the 1 s lease is its own read of the board's cards: 2.5 s.
        slow_read = world.trello.faults.add(path=r"^/1/boards/[^/]+/cards", methods=["GET"], latency_ms=2500)
        slow = world.trello.faults.add(path=r"^/1/cards$", methods=["POST"], latency_ms=150)  # ~3.6 s of creations
        workers = [world.worker, build_worker(world.app, worker_id="second-worker")]
        threads = [threading.Thread(target=w.run_forever, daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        with world.app.app_context():
            enqueue_command(db.session, world.workspace_id, "reconcile")
            db.session.commit()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if not [e for e in world.events() if e.state in ("pending", "processing")]:
                break
        world.trello.faults.clear()
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(timeout=10)
        cards = world.cards()
        assert sorted(c["name"] for c in cards) == sorted(f"Lead {i}" for i in range(rows))
        reconciles = [e for e in world.events() if e.kind == "reconcile"]
        assert [(e.state, e.attempts) for e in reconciles] == [("done", 1)]
        assert slow.hits == rows  # every creation was held 150 ms
        assert slow_read.hits >= 1  # and the reconciliation's read of the board outlasted its lease
    finally:
        world.stop()


def test_a_slow_event_keeps_its_lease_while_it_runs(sqlite_url):
    """A Trello call slower than the lease: a second worker polling meanwhile takes nothing, and
    the card is updated once."""
    import threading

    from server.engine import build_worker

    world = build_world(sqlite_url, make_app=make_app, config={"WORKER_LEASE_S": 0.6})
    try:
        world.add_row(Name="Ada", Status="New")
        world.settle()
        lead_id = world.rows()[0]["Lead ID"]
        slow = world.trello.faults.add(path=r"^/1/cards/[0-9a-f]+$", methods=["PUT"], latency_ms=1500)
        world.sheets.drop_next_events(1)  # the worker is driven by hand below
        world.edit_row(2, Notes="call back on Monday")
        with world.app.app_context():
            from server.extensions import db
            from server.sync.inbox import store_sheets_event

            store_sheets_event(db.session, world.workspace_id, {
                "event_id": "slow-1", "spreadsheet_id": world.spreadsheet_id, "sheet": "Leads",
                "sent_at": int(time.time() * 1000),
                "rows": [{"lead_id": lead_id, "row": 2, "values": world.rows()[0], "changed": ["Notes"]}]})
            db.session.commit()
        first = threading.Thread(target=world.worker.run_once)
        first.start()
        time.sleep(1.0)  # the first worker is inside the slow call, past its 0.6 s lease
        second = build_worker(world.app, worker_id="second-worker")
        assert second.run_once() == 0
        assert first.is_alive()  # the second worker polled while the first was still in the slow call
        first.join(timeout=10)
        assert slow.hits == 1
        assert "call back on Monday" in _single_card_for(world, lead_id)["desc"]
        [event] = [e for e in world.events(source="sheets") if e.provider_event_id.startswith("slow-1")]
        assert (event.state, event.attempts) == ("done", 1)
    finally:
        world.stop()
