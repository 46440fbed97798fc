"""Processes the benchmark runs next to the service, built exactly like the service's own.

``python -m bench.probe worker --record FILE --ready FILE``
    The worker of ``flask --app server worker`` (``server/cli.py``: ``build_worker(app)`` then
    ``run_forever``), with ``Processor.on_outbound`` set to append ``kind event_id unix_time`` to
    FILE right after each outbound call. Before looping it runs the start-up webhook check (the
    loop's first step anyway) and then writes FILE given by ``--ready``.

``python -m bench.probe reconcile WORKSPACE --out FILE``
    One ``reconcile()`` pass as ``flask --app server sync WORKSPACE`` runs it (same providers and
    limiter), timed around the call; writes the plan, the time and the peak RSS as JSON.

``python -m bench.probe eventcost --out FILE ...``
    Cost of one event as the number of stored links grows (see ``event_cost``).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


# --------------------------------------------------------------------------- worker


def trace_trello_calls(path: str) -> None:
    """Log each Trello call: the limiter's reserved slot, when the call was let go, when it ended.

    Used by the bulk run to show how late calls leave relative to their slot (a call that leaves
    later than its slot + the limiter's margin can land in the provider's window next to one
    that left on time, which is how a matching limiter can still draw 429s).
    """
    import threading

    from server.sync import ratelimit
    from server.trello.client import TrelloClient

    local = threading.local()
    out = open(path, "a", buffering=1)
    original_plan = ratelimit._plan

    def plan(specs, rows, now, margin, max_wait):  # type: ignore[no-untyped-def]
        wait, new = original_plan(specs, rows, now, margin, max_wait)
        if new is not None and any(name.startswith("trello:") for name, _l, _p in specs):
            local.slot = now + wait
        return wait, new

    ratelimit._plan = plan
    original_init = TrelloClient.__init__
    original_request = TrelloClient.request

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        throttle = self.throttle
        if throttle is not None:
            def traced() -> None:
                throttle()
                local.granted = time.time()
            self.throttle = traced

    def request(self, method, path, **kwargs):  # type: ignore[no-untyped-def]
        local.slot = local.granted = None
        outcome = "ok"
        try:
            return original_request(self, method, path, **kwargs)
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            out.write(f"{local.slot} {local.granted} {time.time():.6f} {method} {outcome}\n")

    TrelloClient.__init__ = init
    TrelloClient.request = request


def run_worker(record: str, ready: str, trace: str | None = None) -> None:
    from server import create_app
    from server.engine import build_worker

    if trace:
        trace_trello_calls(trace)
    app = create_app()
    runner = build_worker(app)
    out = open(record, "a", buffering=1)

    def on_outbound(kind: str, event_id: int) -> None:
        out.write(f"{kind} {event_id} {time.time():.6f}\n")

    runner.processor.on_outbound = on_outbound
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: runner.stop())
    runner._maybe_check_webhooks()  # what the loop does first; done here so "ready" means idle
    Path(ready).write_text(str(time.time()))
    runner.run_forever()
    out.close()


# --------------------------------------------------------------------------- reconcile


def run_reconcile(workspace_id: str, out: str) -> None:
    from server import create_app
    from server.engine import providers
    from server.extensions import db
    from server.models import Workspace
    from server.sync.reconcile import reconcile

    app = create_app()
    with app.app_context():
        workspace = db.session.get(Workspace, workspace_id)
        if workspace is None:
            raise SystemExit(f"no workspace {workspace_id}")
        start = time.perf_counter()
        plan = reconcile(db.session, workspace, providers(app))
        elapsed = time.perf_counter() - start
    Path(out).write_text(json.dumps({"elapsed_s": elapsed, "plan": plan.as_dict(),
                                     "nothing_to_do": plan.nothing_to_do, "errors": plan.errors[:5],
                                     "peak_rss_mb": _peak_rss_mb()}))


# --------------------------------------------------------------------------- event cost


class StubTrello:
    """Stands in for the Trello client so that only the service's own work is timed."""

    def __init__(self) -> None:
        self.calls = 0

    def update_card(self, card_id: str, **fields: Any) -> dict[str, Any]:
        self.calls += 1
        return {"id": card_id, **fields}

    def archive_card(self, card_id: str) -> dict[str, Any]:
        return self.update_card(card_id, closed=True)

    def create_card(self, **fields: Any) -> dict[str, Any]:
        raise AssertionError("the cost benchmark edits linked leads only")

    def iter_board_cards(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        return iter(())


def event_cost(out: str, small: int, large: int, events: int, move_events: int, sheets_url: str, seed: int) -> None:
    """Median time of ``Worker.run_once()`` for one stored event, with ``small`` then ``large`` links.

    Row edit (Sheets → Trello, the headline figure): the Trello call is a stub (excluded the same
    way in both), so the time is claim + load + decide + history + commits. Card move (Trello →
    Sheets, a secondary figure): the real Sheets client against the emulator, with a sheet holding
    as many rows as there are links, since the engine reads the Lead ID column to find the row.
    """
    from sqlalchemy import text

    from bench.data import (
        DEMO_LISTS,
        SHEET,
        Http,
        insert_links,
        lead_id,
        lead_values,
        sheet_row,
    )
    from server import create_app
    from server.extensions import db
    from server.models import Workspace
    from server.seed import DEMO_HEADER
    from server.sync.inbox import store_sheets_event, store_trello_event
    from server.sync.providers import AccountProviders
    from server.sync.settings import EngineSettings
    from server.sync.worker import Worker

    rng = random.Random(seed)
    app = create_app({"RATE_LIMITS_ENABLED": False, "SHEET_WRITE_WINDOW_S": 0.0, "RECONCILE_INTERVAL_S": 0})
    sheets = Http(sheets_url)
    stub = StubTrello()

    class CostProviders(AccountProviders):
        def trello(self, session, workspace):  # type: ignore[no-untyped-def]
            return stub

    prefix = rng.randrange(1 << 16)
    list_ids = {name: "%024x" % (0xB0000 + k) for k, name in enumerate(DEMO_LISTS)}
    from server.seed import DEMO_STATUS_TO_LIST_NAME, demo_mapping
    mapping = demo_mapping(list_ids)
    status_list = {status: list_ids[name] for status, name in DEMO_STATUS_TO_LIST_NAME.items()}
    board_id = "%024x" % 0xB0A4D

    def leads(start: int, stop: int) -> list[dict]:
        return [{"lead_id": lead_id(prefix, i), "row": i + 2, "values": lead_values(i)} for i in range(start, stop)]

    def card_id(i: int) -> str:
        return "%024x" % (0xC0000000 + i)

    def make_sheet(n: int) -> str:
        rows = [list(DEMO_HEADER)] + [sheet_row(lead_values(i), lead_id(prefix, i)) for i in range(n)]
        return sheets.post("/_emulator/spreadsheets", {"title": f"cost {n}", "sheets": {SHEET: rows}})["spreadsheet_id"]

    with app.app_context():
        from server.seed import seed_workspace

        workspace = seed_workspace(db.session, email="cost@example.com", trello_member_id="%024x" % 0xB0B,
                                   trello_username="cost", trello_token="ATTA" + "0" * 72,
                                   google_token=f"google-cost-{prefix}", spreadsheet_id=make_sheet(small),
                                   sheet_name=SHEET, board_id=board_id, mapping=mapping)
        workspace_id = workspace.id
        engine = db.engine
        settings = EngineSettings.from_config(app.config)
        worker = Worker(engine, CostProviders(settings, None), settings, worker_id="bench-cost")
        dialect = engine.dialect.name

        def analyze() -> None:
            if dialect == "postgresql":  # what autovacuum does after a bulk load
                with engine.begin() as connection:
                    connection.execute(text("ANALYZE links; ANALYZE events; ANALYZE history"))

        import inspect

        def store_trello(session, data):  # type: ignore[no-untyped-def]
            """As the webhook endpoint stores a delivery (newer code also checks the action's board)."""
            if "board_id" in inspect.signature(store_trello_event).parameters:
                return store_trello_event(session, workspace_id, data, board_id=board_id)
            return store_trello_event(session, workspace_id, data)

        def timed(store) -> float:  # type: ignore[no-untyped-def]
            with app.app_context():
                store(db.session)
                db.session.commit()
            start = time.perf_counter()
            took = worker.run_once()
            elapsed = time.perf_counter() - start
            if took != 1:
                raise RuntimeError(f"expected to claim 1 event, claimed {took}")
            return elapsed * 1000.0

        used: set[int] = set()

        def measure(n: int) -> dict[str, Any]:
            analyze()
            chosen = []
            while len(chosen) < events + 10 + move_events + 5:  # leads not touched by an earlier measure
                i = rng.randrange(n)
                if i not in used:
                    used.add(i)
                    chosen.append(i)
            edit_ids, move_ids = chosen[:events + 10], chosen[events + 10:]
            row_ms: list[float] = []
            calls_before = stub.calls
            for k, i in enumerate(edit_ids):
                values = {**lead_values(i), "Notes": f"edited {n}-{k}"}
                body = {"event_id": f"cost-{n}-{k}-{rng.getrandbits(40):x}", "spreadsheet_id": "x", "sheet": SHEET,
                        "sent_at": int(time.time() * 1000),
                        "rows": [{"lead_id": lead_id(prefix, i), "row": i + 2,
                                  "values": {**values, "Lead ID": lead_id(prefix, i)}, "changed": ["Notes"],
                                  "edited_at": int(time.time() * 1000)}]}
                row_ms.append(timed(lambda s, body=body: store_sheets_event(s, workspace_id, body)))
            if stub.calls - calls_before != len(edit_ids):
                raise RuntimeError(f"expected {len(edit_ids)} card updates, saw {stub.calls - calls_before}")
            move_ms: list[float] = []
            for k, i in enumerate(move_ids):
                status = lead_values(i)["Status"]
                old_list = status_list[status]
                new_status = {"New": "Contacted", "Contacted": "Qualified", "Qualified": "Won", "Won": "New"}[status]
                new_list = status_list[new_status]
                now = datetime.now(UTC)
                action = {"id": "%024x" % rng.getrandbits(96), "type": "updateCard",
                          "date": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                          "idMemberCreator": "%024x" % 0xB0B,
                          "data": {"card": {"id": card_id(i), "idList": new_list, "name": lead_values(i)["Name"]},
                                   "old": {"idList": old_list}, "listBefore": {"id": old_list, "name": status},
                                   "listAfter": {"id": new_list, "name": new_status},
                                   "board": {"id": board_id, "name": "cost"}}}
                move_ms.append(timed(lambda s, action=action: store_trello(s, {"action": action})))
            with app.app_context():
                states = dict(db.session.execute(text(
                    "SELECT state, count(*) FROM events GROUP BY state")).all())
            if set(states) - {"done"}:
                raise RuntimeError(f"events not all done: {states}")
            row_ms, move_ms = row_ms[10:], move_ms[5:]  # the first few warm caches up
            return {"links": n, "row_edit_median_ms": statistics.median(row_ms),
                    "row_edit_p90_ms": sorted(row_ms)[int(len(row_ms) * 0.9) - 1], "row_edit_samples": len(row_ms),
                    "card_move_median_ms": statistics.median(move_ms) if move_ms else None,
                    "card_move_samples": len(move_ms)}

        insert_links(engine, workspace_id, leads(0, small), [card_id(i) for i in range(small)])
        first = measure(small)
        insert_links(engine, workspace_id, leads(small, large), [card_id(i) for i in range(small, large)])
        with app.app_context():  # the same sheet, grown to as many rows as links
            ws = db.session.get(Workspace, workspace_id)
            ws.spreadsheet_id = make_sheet(large)
            db.session.commit()
        second = measure(large)
        with app.app_context():
            counts = {"links": db.session.execute(text("SELECT count(*) FROM links")).scalar_one(),
                      "events": db.session.execute(text("SELECT count(*) FROM events")).scalar_one()}
    Path(out).write_text(json.dumps({"dialect": dialect, "small": first, "large": second, "counts": counts}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--record", required=True)
    w.add_argument("--ready", required=True)
    w.add_argument("--trace-trello", default=None)
    r = sub.add_parser("reconcile")
    r.add_argument("workspace")
    r.add_argument("--out", required=True)
    c = sub.add_parser("eventcost")
    c.add_argument("--out", required=True)
    c.add_argument("--small", type=int, default=1000)
    c.add_argument("--large", type=int, default=100_000)
    c.add_argument("--events", type=int, default=200)
    c.add_argument("--move-events", type=int, default=40)
    c.add_argument("--sheets-url", required=True)
    c.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.command == "worker":
        run_worker(args.record, args.ready, args.trace_trello)
    elif args.command == "reconcile":
        run_reconcile(args.workspace, args.out)
    else:
        event_cost(args.out, args.small, args.large, args.events, args.move_events, args.sheets_url, args.seed)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
