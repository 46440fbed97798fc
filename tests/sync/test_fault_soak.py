"""Fault soak: a bad day for real processes on a PostgreSQL the test owns (issue 14).

Two workspaces; people edit both sides in a steady stream while two ``flask worker`` processes
sync them. Meanwhile PostgreSQL is restarted (down for a second), one worker is killed with
SIGKILL and replaced, Trello answers 500, 429 and some card calls only after the client's
timeout (they still land), and Sheets answers 500 and 429. Then the faults stop, everything is
delivered and drained, and each workspace is reconciled once: every field holds its newest
value, each lead has one card, no worker died, nothing is stuck.

``FAULT_SOAK_EDITS`` (default 40) sets the length of the stream; longer by hand.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from emulators import sheets_addon
from emulators.common import serve_in_thread
from emulators.trello import DEFAULT_APP_ID
from server.extensions import db
from server.models import Workspace
from server.seed import DEMO_HEADER, DEMO_LISTS, demo_mapping, seed_workspace
from server.sync import description
from server.sync.mapping import Mapping
from server.trello.client import TrelloClient
from server.trello.webhooks import register_board_webhook
from tests.conftest import make_app
from tests.sync.world import SHEET, start_emulators

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
EDITS = int(os.environ.get("FAULT_SOAK_EDITS", "40"))
STATUSES = ["New", "Contacted", "Qualified", "Won", "Lost"]


def _spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", "worker"], cwd=ROOT, env=env,
                            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(check, timeout: float, what: str, logs=()) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except psycopg.OperationalError:
            pass
        time.sleep(0.2)
    tails = "\n".join(f"--- {log}\n{Path(log).read_text()[-3000:]}" for log in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def test_a_bad_day_loses_nothing_and_duplicates_nothing(private_postgres, tmp_path, monkeypatch):
    monkeypatch.setattr(sheets_addon, "RETRY_DELAYS", (0.5, 1.0, 2.0, 4.0))  # the add-on's outbox outlives an outage
    emulated = start_emulators(delivery_retry_delays=(0.5, 1.0, 2.0, 4.0))
    trello, sheets = emulated.trello, emulated.sheets
    config = {"TRELLO_API_BASE_URL": trello.api_base_url, "GOOGLE_SHEETS_API_BASE_URL": sheets.api_base_url,
              "TRELLO_APP_ID": DEFAULT_APP_ID, "RATE_LIMITS_ENABLED": False, "RECONCILE_INTERVAL_S": 0}
    url = private_postgres.url
    app = make_app(url, **config)
    web = serve_in_thread(app)
    app.config["PUBLIC_BASE_URL"] = web.base_url
    tenants = []
    for name, member, token, board, lists, spreadsheet_id in [
            ("ann", emulated.member, emulated.token, emulated.board, emulated.lists, emulated.spreadsheet_id),
            _another_tenant(trello, sheets, "bob")]:
        with app.app_context():
            workspace = seed_workspace(db.session, email=f"{name}@example.com", trello_member_id=member["id"],
                                       trello_username=member["username"], trello_token=token,
                                       google_token=f"google-{name}", spreadsheet_id=spreadsheet_id, sheet_name=SHEET,
                                       board_id=board["id"], mapping=demo_mapping(lists))
            register_board_webhook(workspace, TrelloClient("emulator-key", token, base_url=trello.api_base_url),
                                   web.base_url)
            db.session.commit()
            sheets.install_addon(spreadsheet_id, SHEET, secret=workspace.addon_secret,
                                 webhook_url=f"{web.base_url}/webhooks/sheets/{workspace.id}")
            tenants.append({"workspace": workspace.id, "board": board["id"], "lists": lists,
                            "sheet": spreadsheet_id, "mapping": Mapping.from_json(workspace.mapping)})
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE"))},
           "DATABASE_URL": url, "SECRET_KEY": "test-secret-key-0123456789", "PUBLIC_BASE_URL": web.base_url,
           "TRELLO_API_KEY": "emulator-key", "TRELLO_API_SECRET": "emulator-secret", "TRELLO_APP_ID": DEFAULT_APP_ID,
           "TRELLO_API_BASE_URL": trello.api_base_url, "GOOGLE_SHEETS_API_BASE_URL": sheets.api_base_url,
           "RATE_LIMITS_ENABLED": "0", "RECONCILE_INTERVAL_S": "0", "WEBHOOK_CHECK_INTERVAL_S": "0",
           "WORKER_BACKOFF_BASE_S": "0.1", "WORKER_BACKOFF_MAX_S": "1", "HTTP_TIMEOUT_S": "1",
           "WORKER_LEASE_S": "4",  # the killed worker's events come back after one lease
           "LOG_FORMAT": "console", "LOG_LEVEL": "WARNING"}
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log", tmp_path / "worker-3.log"]
    workers = [_spawn_worker(env, logs[0]), _spawn_worker(env, logs[1])]
    rng = random.Random(20261206)
    expected: dict[tuple[int, str], dict[str, str]] = {}
    try:
        # Two leads each, synced before the bad day starts.
        for t, tenant in enumerate(tenants):
            for i in range(2):
                sheets.user_append(tenant["sheet"], SHEET, {"Name": f"Lead {t}{i}", "Status": "New"})
        _wait(lambda: all(len(trello.cards(t["board"])) == 2 for t in tenants), 60, "the first cards", logs)

        def linked() -> int:  # a card is on the board a moment before the worker's commit names it in its link
            with psycopg.connect(private_postgres.dsn) as conn:
                return conn.execute("SELECT count(*) FROM links WHERE card_id IS NOT NULL").fetchone()[0]

        _wait(lambda: linked() == 2 * len(tenants), 30, "the first cards' links", logs)
        cards: dict[tuple[int, str], str] = {}
        with psycopg.connect(private_postgres.dsn) as conn:
            for lead_id, card_id, workspace_id in conn.execute("SELECT lead_id, card_id, workspace_id FROM links"):
                t = next(i for i, tenant in enumerate(tenants) if tenant["workspace"] == workspace_id)
                cards[(t, lead_id)] = card_id
                expected[(t, lead_id)] = {"Name": "", "list": tenants[t]["lists"]["New"]}
        for t, tenant in enumerate(tenants):
            for row in sheets.rows_as_dicts(tenant["sheet"], SHEET):
                expected[(t, row["Lead ID"])]["Name"] = row["Name"]

        faults = [
            (0.15, lambda: trello.faults.add(path=r"^/1/cards/", methods=["PUT"], status=500, times=2,
                                             body="Internal Server Error")),
            (0.25, lambda: trello.faults.add(path=r"^/1/cards/", methods=["PUT"], status=429, times=2,
                                             headers={"Retry-After": "0.5"},
                                             body={"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit"})),
            (0.35, lambda: trello.faults.add(path=r"^/1/cards/", methods=["PUT"], latency_ms=1500, times=3,
                                             probability=0.5)),  # past the 1 s timeout; they still land
            (0.45, lambda: private_postgres.restart(down_s=1.0)),
            (0.3, lambda: sheets.faults.add(path=r"values:batchUpdate", methods=["POST"], status=500, times=1,
                                             body={"error": {"code": 500, "message": "Internal error",
                                                             "status": "INTERNAL"}})),
            (0.6, lambda: _kill_and_replace(workers, env, logs[2])),
            (0.5, lambda: sheets.faults.add(path=r"values:batchUpdate", methods=["POST"], status=429, times=1,
                                            headers={"Retry-After": "0.5"},
                                            body={"error": {"code": 429, "message": "Quota exceeded",
                                                            "status": "RESOURCE_EXHAUSTED"}})),
        ]
        faults.sort(key=lambda fault: fault[0])
        keys = sorted(expected)
        injected = []
        def one_edit(step: int) -> None:
            t, lead_id = rng.choice(keys)
            tenant = tenants[t]
            if rng.random() < 0.5:  # a person in the sheet
                row = next(r for r in sheets.rows_as_dicts(tenant["sheet"], SHEET) if r["Lead ID"] == lead_id)
                if rng.random() < 0.5:
                    name = f"Name {step}"
                    sheets.user_edit(tenant["sheet"], SHEET, row["_row"], {"Name": name})
                    expected[(t, lead_id)]["Name"] = name
                else:
                    status = rng.choice(STATUSES)
                    sheets.user_edit(tenant["sheet"], SHEET, row["_row"], {"Status": status})
                    if row["Status"] != status:
                        expected[(t, lead_id)]["list"] = tenant["mapping"].list_for_status(status)
            else:  # a person in Trello's UI
                card_id = cards[(t, lead_id)]
                if rng.random() < 0.5:
                    name = f"Card {step}"
                    trello.update_card(card_id, name=name)
                    expected[(t, lead_id)]["Name"] = name
                else:
                    target = tenant["lists"][rng.choice(DEMO_LISTS)]
                    if trello.card(card_id)["idList"] != target:
                        trello.update_card(card_id, idList=target)
                        expected[(t, lead_id)]["list"] = target
            time.sleep(rng.uniform(0.05, 0.25))

        for step in range(EDITS):
            while faults and step >= faults[0][0] * EDITS:
                injected.append(faults.pop(0)[1]())
            one_edit(step)
        for _, fault in faults:
            injected.append(fault())
        rules = [rule for rule in injected if rule is not None]
        # How many calls meet a fault depends on how much the worker coalesces: go on until each
        # fault has been met (a loaded machine lags more and merges more edits into one call).
        step = EDITS
        while not all(rule.hits for rule in rules) and step < EDITS + 200:
            one_edit(step)
            step += 1

        # The day ends: the faults stop, everything is delivered and applied, then one reconciliation.
        trello.faults.clear()
        sheets.faults.clear()
        assert len(rules) == 5 and all(rule.hits for rule in rules), [(r.status, r.latency_ms, r.hits) for r in rules]
        assert trello.wait_for_deliveries(timeout=60) and sheets.wait_for_events(timeout=60)
        _wait(lambda: _quiet(private_postgres.dsn), 90, "the inbox and the sheet outbox to drain", logs)
        from server.engine import providers
        from server.sync.reconcile import reconcile

        with app.app_context():
            for tenant in tenants:
                plan = reconcile(db.session, db.session.get(Workspace, tenant["workspace"]), providers(app))
                assert not plan.errors, plan.errors
        # The reconciliation's card writes are applied by the workers and their echoes delivered
        # after that: settled once deliveries and the inbox are both quiet twice in a row.
        quiet_in_a_row = [0]

        def settled() -> bool:
            idle = trello.wait_for_deliveries(timeout=5) and sheets.wait_for_events(timeout=5)
            quiet_in_a_row[0] = quiet_in_a_row[0] + 1 if idle and _quiet(private_postgres.dsn) else 0
            return quiet_in_a_row[0] >= 2
        _wait(settled, 60, "the inbox to drain after the reconciliation", logs)

        alive = [w.poll() is None for w in workers]
        assert all(alive), ("a worker died", alive, [Path(log).read_text()[-2000:] for log in logs])
        for t, tenant in enumerate(tenants):
            markers = Counter(description.find_lead_id(c["desc"]) for c in trello.cards(tenant["board"]))
            assert len(markers) == 2 and all(n == 1 for n in markers.values()), markers
            rows = {r["Lead ID"]: r for r in sheets.rows_as_dicts(tenant["sheet"], SHEET)}
            assert len(rows) == 2, rows
            for lead_id, row in rows.items():
                card = trello.card(cards[(t, lead_id)])
                want = expected[(t, lead_id)]
                assert (row["Name"], card["name"]) == (want["Name"], want["Name"]), (t, lead_id, row, card)
                assert tenant["mapping"].list_for_status(row["Status"]) == want["list"] == card["idList"], \
                    (t, lead_id, row["Status"], card["idList"], want, _story(private_postgres.dsn, lead_id))
        with psycopg.connect(private_postgres.dsn) as conn:
            stuck = conn.execute("SELECT kind, state, last_error FROM events WHERE state IN "
                                 "('pending', 'processing', 'parked')").fetchall()
        assert not stuck, stuck
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        web.stop()
        trello.stop()
        sheets.stop()
        with app.app_context():
            db.engine.dispose()


def _another_tenant(trello, sheets, username):  # type: ignore[no-untyped-def]
    member = trello.add_member(username, username.title())
    token = trello.issue_token(member["id"])
    board = trello.add_board(f"{username} leads", member["id"], lists=DEMO_LISTS)
    lists = {lst["name"]: lst["id"] for lst in trello.lists(board["id"])}
    spreadsheet_id = sheets.create_spreadsheet(f"{username} leads", {SHEET: [DEMO_HEADER]})
    return username, member, token, board, lists, spreadsheet_id


def _kill_and_replace(workers: list[subprocess.Popen], env: dict[str, str], log: Path) -> None:
    """A worker dies mid-work (SIGKILL, like an OOM kill); the platform starts another."""
    victim = workers.pop(0)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    workers.append(_spawn_worker(env, log))


def _quiet(dsn: str) -> bool:
    with psycopg.connect(dsn, connect_timeout=2) as conn:
        busy = conn.execute("SELECT count(*) FROM events WHERE state IN ('pending', 'processing')").fetchone()[0]
        marked = conn.execute("SELECT count(*) FROM links WHERE sheet_marked_at IS NOT NULL").fetchone()[0]
    return busy == 0 and marked == 0


def _story(dsn: str, lead_id: str) -> str:
    """What happened to a lead, for a failure's message."""
    with psycopg.connect(dsn) as conn:
        history = conn.execute("SELECT id, side, action, changes::text, message FROM history WHERE lead_id = %s "
                               "ORDER BY id", (lead_id,)).fetchall()
        events = conn.execute("SELECT id, source, kind, echo, state, attempts, occurred_at, received_at, "
                              "left(payload, 300) FROM events WHERE order_key = %s ORDER BY id",
                              ("lead:" + lead_id,)).fetchall()
        link = conn.execute("SELECT shadow::text, field_times::text, card_extra::text FROM links WHERE lead_id = %s",
                            (lead_id,)).fetchone()
    story = "\n".join(["history:", *map(str, history), "events:", *map(str, events), "link:", str(link)])
    Path("/tmp/fault_story.txt").write_text(story)
    return story
