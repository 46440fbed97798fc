"""A worker process's several event loops (``WORKER_CONCURRENCY``) behave like several processes.

Each loop has its own worker id, claims and leases; the database serialises their claims and never
splits a lead between them. Only the first loop runs the job runner and the periodic jobs, and one
loop at a time writes a process's sheet outboxes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from server.engine import build_workers
from server.sync.settings import EngineSettings
from tests.conftest import make_app
from tests.sync.world import build_world


def test_two_loops_by_default_on_either_database():
    assert EngineSettings.from_config({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://h/db"}).concurrency == 2
    assert EngineSettings.from_config({"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db"}).concurrency == 2
    assert EngineSettings.from_config({"SQLALCHEMY_DATABASE_URI": "sqlite:///x.db",
                                       "WORKER_CONCURRENCY": "3"}).concurrency == 3
    assert EngineSettings.from_config({"WORKER_CONCURRENCY": "0"}).concurrency == 1


def test_only_the_first_loop_runs_jobs_and_periodic_work(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'app.db'}", WORKER_CONCURRENCY="3", RATE_LIMITS_ENABLED=False)
    workers = build_workers(app)
    ids = [loop.worker_id for loop in workers.loops]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert workers.primary.primary and workers.primary.periodic.next_due_in() < float("inf")
    for loop in workers.loops[1:]:
        assert not loop.primary
        assert loop.periodic.next_due_in() == float("inf")  # nothing scheduled
        assert loop.flush_lock is workers.primary.flush_lock


def test_a_loop_leaves_the_outboxes_to_the_loop_writing_them(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'app.db'}", WORKER_CONCURRENCY="2", RATE_LIMITS_ENABLED=False)
    second = build_workers(app).loops[1]
    flushed: list[str] = []
    second.processor.flush_sheet = lambda workspace_id: flushed.append(workspace_id)  # type: ignore[method-assign]
    with second.flush_lock:  # the other loop is writing
        second._flush_due()
    assert flushed == []
    assert second._flush_check_at == 0.0  # it looks again on its next turn, not a second later
    assert second._next_flush_at is not None
    assert second._idle_wait() <= second.settings.settle_probe_s + 0.001


@pytest.mark.postgres
def test_three_loops_of_one_process_make_one_card_per_row_and_lose_no_edit(pg_url):
    """Two tenants add rows and move cards while three loops of one worker process apply them."""
    world = build_world(pg_url, make_app=make_app, config={"WORKER_CONCURRENCY": "3"})
    ann, bob = world.tenants[0], world.add_tenant("bob")
    workers = build_workers(world.app)
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    for loop in workers.loops:
        def on_outbound(kind: str, event_id: int, loop_id: str = loop.worker_id) -> None:
            with lock:
                calls[loop_id] += 1
        loop.processor.on_outbound = on_outbound
    thread = threading.Thread(target=workers.run_forever, daemon=True)
    try:
        # Rows queued before the loops start, so their claims compete for a backlog.
        for i in range(12):
            ann.add_row(Name=f"Ann {i}", Status="New")
            bob.add_row(Name=f"Bob {i}", Status="New")
        world.sheets.wait_for_events(timeout=10)
        thread.start()
        world.wait_until(lambda: len(ann.cards()) == 12 and len(bob.cards()) == 12, timeout=60)
        # Then both sides at once: a rename in the sheet and a move in Trello for each of Ann's leads.
        for row in ann.rows():
            ann.edit_row(ann.link(row["Lead ID"]).row_number, Name=row["Name"] + " (renamed)")
        qualified = ann.lists["Qualified"]
        for card in ann.cards():
            ann.person.update_card(card["id"], idList=qualified)

        def converged() -> bool:
            rows, cards = ann.rows(), ann.cards()
            return (all(r["Name"].endswith("(renamed)") and r["Status"] == "Qualified" for r in rows)
                    and all(c["name"].endswith("(renamed)") and c["idList"] == qualified for c in cards))
        world.wait_until(converged, timeout=60)
        world.wait_until(lambda: not [e for e in world.all_events() if e.state in ("pending", "processing")],
                         timeout=30)
    finally:
        workers.stop()
        thread.join(timeout=30)
        world.stop()
    assert not thread.is_alive()
    for tenant in (ann, bob):
        lead_ids = [r["Lead ID"] for r in tenant.rows()]
        assert len(lead_ids) == 12 and len(set(lead_ids)) == 12
        assert len(tenant.cards()) == 12
    events = world.all_events()
    assert not [e for e in events if e.state == "parked"]
    assert {e.locked_by for e in events} == {None}
    assert sum(calls.values()) >= 24 + 12  # every creation and every rename reached Trello
    assert set(calls) <= {loop.worker_id for loop in workers.loops}


def test_a_stopped_set_stops_every_loop(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'app.db'}", WORKER_CONCURRENCY="2", RATE_LIMITS_ENABLED=False,
                   WEBHOOK_CHECK_INTERVAL_S="3600", RECONCILE_INTERVAL_S="0")
    workers = build_workers(app)
    thread = threading.Thread(target=workers.run_forever, daemon=True)
    thread.start()
    time.sleep(0.2)
    workers.stop()
    thread.join(timeout=timedelta(seconds=20).total_seconds())
    assert not thread.is_alive()
    assert all(loop.stopping.is_set() for loop in workers.loops)
