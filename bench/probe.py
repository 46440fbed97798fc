"""Processes the benchmark runs next to the service, built exactly like the service's own.

``python -m bench.probe worker --record FILE --ready FILE``
    The worker of ``flask --app server worker`` (``server/cli.py``: ``build_workers(app)`` then
    ``run_forever``), with ``Processor.on_outbound`` set to append ``kind event_id unix_time`` to
    FILE right after each outbound call; a Trello line adds ``sent entered``: when that call was
    let go (its rate-limit slot granted, the request about to be written) and when the client
    asked the limiter for the slot. Before looping it runs the start-up webhook check (the loop's
    first step anyway) and then writes FILE given by ``--ready``.

    ``--trace-trello FILE`` logs every Trello call (slot, let go, ended, method, outcome, token
    tag); ``--trace-claims FILE`` every claim (start, ms, ready groups, groups taken, lanes).

``python -m bench.probe reconcile WORKSPACE --out FILE``
    One ``reconcile()`` pass as ``flask --app server sync WORKSPACE`` runs it (same providers and
    limiter), timed around the call; writes the plan, the time and the peak RSS as JSON.

``python -m bench.probe eventcost --out FILE ...``
    Cost of one event as the number of stored links grows (see ``event_cost``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
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


def token_tag(token: str) -> str:
    """A short name for a Trello token in the benchmark's traces (never the token itself)."""
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()[:10]


def trace_trello_calls(path: str) -> None:
    """Log each Trello call: the limiter's reserved slot, when the call was let go, when it ended,
    the method, the outcome and the token's tag (``token_tag``).

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

    def plan(specs, rows, now, margin, max_wait, **kwargs):  # type: ignore[no-untyped-def]
        wait, new = original_plan(specs, rows, now, margin, max_wait, **kwargs)
        if new is not None and wait <= max_wait and any(name.startswith("trello:token:") for name, _l, _p in specs):
            local.slot = now + wait
        return wait, new

    ratelimit._plan = plan
    original_init = TrelloClient.__init__
    original_request = TrelloClient.request

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        throttle = self.throttle
        if throttle is not None:
            def traced():  # type: ignore[no-untyped-def]
                finish = throttle()
                local.granted = time.time()
                return finish
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
            out.write(f"{local.slot} {local.granted} {time.time():.6f} {method} {outcome} {token_tag(self.token)}\n")

    TrelloClient.__init__ = init
    TrelloClient.request = request


def trace_claims(path: str) -> None:
    """Log each claim of the worker's loops (``queue.claim``): when it started, how long it took (ms),
    how many ready groups it chose from, how many it took, and its lanes (``2``: the job runner)."""
    import threading

    from server.sync import queue

    out = open(path, "a", buffering=1)
    original_claim, original_choose = queue.claim, queue._choose
    local = threading.local()

    def choose(candidates, policy, served):  # type: ignore[no-untyped-def]
        local.candidates = len(candidates)
        return original_choose(candidates, policy, served)

    def claim(engine, worker_id, policy, **kwargs):  # type: ignore[no-untyped-def]
        local.candidates = 0
        start = time.time()
        result = original_claim(engine, worker_id, policy, **kwargs)
        lanes = ",".join(str(int(lane)) for lane in policy.lanes)
        out.write(f"{start:.6f} {(time.time() - start) * 1000:.3f} {local.candidates} {len(result.groups)} {lanes}\n")
        return result

    queue._choose = choose
    queue.claim = claim


def time_trello_sends() -> Any:
    """Per thread, when the last Trello call asked for its rate-limit slot (``entered``) and when
    it was let go (``sent``: the slot granted, the request written next). Wraps the client's
    throttle, the last step before ``requests`` sends (a client without one gets a no-op)."""
    import threading

    from server.trello.client import TrelloClient

    class Sends(threading.local):
        entered = sent = 0.0  # class defaults: seen by every thread

    local = Sends()
    original_init = TrelloClient.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        throttle = self.throttle

        def timed():  # type: ignore[no-untyped-def]
            local.entered = time.time()
            finish = throttle() if throttle is not None else None
            local.sent = time.time()
            return finish
        self.throttle = timed

    TrelloClient.__init__ = init
    return local


def run_worker(record: str, ready: str, trace: str | None = None, claims: str | None = None) -> None:
    from server import create_app
    from server.engine import build_workers

    if trace:
        trace_trello_calls(trace)
    if claims:
        trace_claims(claims)
    sends = time_trello_sends()
    app = create_app()
    runner = build_workers(app)
    out = open(record, "a", buffering=1)

    def on_outbound(kind: str, event_id: int) -> None:
        if kind == "trello":
            out.write(f"{kind} {event_id} {time.time():.6f} {sends.sent:.6f} {sends.entered:.6f}\n")
        else:
            out.write(f"{kind} {event_id} {time.time():.6f}\n")

    for loop in runner.loops:
        loop.processor.on_outbound = on_outbound
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: runner.stop())
    runner.primary.periodic.run_due()  # what the loop does first (webhook check); done here so "ready" means idle
    # written aside and renamed: the benchmark reads the file as soon as it exists (never empty)
    Path(ready + ".tmp").write_text(str(time.time()))
    os.replace(ready + ".tmp", ready)
    sql_dir = os.environ.get("BENCH_SQL_DIR")  # opt-in: which statements the worker runs, how often
    statements = count_statements(app) if sql_dir else None
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")  # opt-in: where a worker's time goes
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        profiler.runcall(runner.run_forever)
        profiler.dump_stats(os.path.join(profile_dir, f"worker-{os.getpid()}.prof"))
    else:
        runner.run_forever()
    if sql_dir and statements is not None:
        lines = [f"{n}\t{sql}" for sql, n in statements.most_common()]
        Path(sql_dir, f"worker-{os.getpid()}.sql.tsv").write_text("\n".join(lines) + "\n")
    out.close()


def count_statements(app: Any) -> collections.Counter[str]:
    """Count the worker's SQL statements by text (whitespace folded, cut at 160 characters)."""
    from sqlalchemy import event

    from server.extensions import db

    counts: collections.Counter[str] = collections.Counter()
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        counts[" ".join(statement.split())[:160]] += 1

    return counts


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


def event_cost(out: str, small_url: str, large_url: str, small: int, large: int, events: int, move_events: int,
               sheets_url: str, seed: int) -> None:
    """Median time of ``Worker.run_once()`` for one stored event, ``small`` vs ``large`` links stored.

    Each size has its own database (same dialect), and the timed events alternate between the
    two, so what else happens on the machine meanwhile (other processes, an fsync stall) falls on
    both sizes alike instead of on whichever was measured second.

    Row edit (Sheets → Trello, the headline figure): the Trello call is a stub (excluded the same
    way in both), so the time is claim + load + decide + history + commits. Card move (Trello →
    Sheets, a secondary figure): the real Sheets client against the emulator, with a sheet holding
    as many rows as there are links, since the engine may read the sheet to find the row.
    """
    rng = random.Random(seed)
    sides = [_CostSide(small_url, small, sheets_url, rng), _CostSide(large_url, large, sheets_url, rng)]
    for side in sides:
        side.settle()
    edits = events + 10  # the first few of each warm caches up and are dropped
    for k in range(edits):
        for side in sides:
            side.row_edit(k)
    for k in range(move_events + 5 if move_events else 0):
        for side in sides:
            side.card_move(k)
    report: dict[str, Any] = {"dialect": sides[0].dialect}
    for name, side in zip(("small", "large"), sides, strict=True):
        side.check_done()
        row_ms, move_ms = side.row_ms[10:], side.move_ms[5:]
        report[name] = {"links": side.n, "row_edit_median_ms": statistics.median(row_ms),
                        "row_edit_p90_ms": sorted(row_ms)[int(len(row_ms) * 0.9) - 1],
                        "row_edit_samples": len(row_ms),
                        "card_move_median_ms": statistics.median(move_ms) if move_ms else None,
                        "card_move_samples": len(move_ms), "counts": side.counts()}
    Path(out).write_text(json.dumps(report))


class _CostSide:
    """One database with ``n`` linked leads, a workspace over a sheet of ``n`` rows, and a worker."""

    def __init__(self, url: str, n: int, sheets_url: str, rng: random.Random) -> None:
        from bench.data import DEMO_LISTS, SHEET, Http, insert_links, lead_id, lead_values, sheet_row
        from server import create_app
        from server.extensions import db
        from server.seed import DEMO_HEADER, DEMO_STATUS_TO_LIST_NAME, demo_mapping, seed_workspace
        from server.sync.providers import AccountProviders
        from server.sync.settings import EngineSettings
        from server.sync.worker import Worker

        self.n, self.rng, self.row_ms, self.move_ms = n, rng, [], []
        self.stub = StubTrello()
        self.prefix = rng.randrange(1 << 16)
        self.lead_id, self.lead_values = lead_id, lead_values
        list_ids = {name: "%024x" % (0xB0000 + k) for k, name in enumerate(DEMO_LISTS)}
        self.status_list = {status: list_ids[name] for status, name in DEMO_STATUS_TO_LIST_NAME.items()}
        self.board_id = "%024x" % 0xB0A4D
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATE_LIMITS_ENABLED": False,
                               "SHEET_WRITE_WINDOW_S": 0.0, "SHEET_WRITE_PROBE_S": 0.0, "RECONCILE_INTERVAL_S": 0})
        rows = [list(DEMO_HEADER)] + [sheet_row(lead_values(i), lead_id(self.prefix, i)) for i in range(n)]
        sheet = Http(sheets_url).post("/_emulator/spreadsheets", {"title": f"cost {n}", "sheets": {SHEET: rows}})
        stub = self.stub

        class CostProviders(AccountProviders):
            def trello(self, session, workspace):  # type: ignore[no-untyped-def]
                return stub

        with self.app.app_context():
            workspace = seed_workspace(db.session, email="cost@example.com", trello_member_id="%024x" % 0xB0B,
                                       trello_username="cost", trello_token="ATTA" + "0" * 72,
                                       google_token=f"google-cost-{self.prefix}",
                                       spreadsheet_id=sheet["spreadsheet_id"], sheet_name=SHEET,
                                       board_id=self.board_id, mapping=demo_mapping(list_ids))
            self.workspace_id = workspace.id
            self.engine = db.engine
            settings = EngineSettings.from_config(self.app.config)
        self.dialect = self.engine.dialect.name
        self.worker = Worker(self.engine, CostProviders(settings, None), settings, worker_id="bench-cost")
        insert_links(self.engine, self.workspace_id,
                     [{"lead_id": lead_id(self.prefix, i), "row": i + 2, "values": lead_values(i)} for i in range(n)],
                     [self.card_id(i) for i in range(n)])
        self.unused = list(range(n))
        rng.shuffle(self.unused)

    @staticmethod
    def card_id(i: int) -> str:
        return "%024x" % (0xC0000000 + i)

    def settle(self) -> None:
        """After the bulk load, what a running system has had time to do (PostgreSQL: autovacuum
        and a checkpoint, so the load's dirty pages are not written out during the timed events)."""
        from sqlalchemy import text

        if self.dialect == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                for statement in ("VACUUM ANALYZE links", "VACUUM ANALYZE events", "VACUUM ANALYZE history",
                                  "CHECKPOINT"):
                    connection.execute(text(statement))

    def _timed(self, store) -> float:  # type: ignore[no-untyped-def]
        from server.extensions import db

        with self.app.app_context():
            store(db.session, self.workspace_id)
            db.session.commit()
        start = time.perf_counter()
        took = self.worker.run_once()
        elapsed = time.perf_counter() - start
        if took != 1:
            raise RuntimeError(f"expected to claim 1 event, claimed {took}")
        return elapsed * 1000.0

    def row_edit(self, k: int) -> None:
        """A person edits the Notes of a lead not touched before (→ one Trello update)."""
        from bench.data import SHEET
        from server.sync.inbox import store_sheets_event

        i = self.unused.pop()
        lead = self.lead_id(self.prefix, i)
        values = {**self.lead_values(i), "Notes": f"edited {self.n}-{k}", "Lead ID": lead}
        now = int(time.time() * 1000)
        body = {"event_id": f"cost-{self.n}-{k}-{self.rng.getrandbits(40):x}", "spreadsheet_id": "x", "sheet": SHEET,
                "sent_at": now, "rows": [{"lead_id": lead, "row": i + 2, "values": values, "changed": ["Notes"],
                                          "edited_at": now}]}
        calls = self.stub.calls
        self.row_ms.append(self._timed(lambda session, ws: store_sheets_event(session, ws, body)))
        if self.stub.calls != calls + 1:
            raise RuntimeError("a row edit did not make exactly one card update")

    def card_move(self, k: int) -> None:
        """A card of a lead not touched before moves to the next list (→ one sheet write)."""
        from server.sync.inbox import store_trello_event

        i = self.unused.pop()
        status = self.lead_values(i)["Status"]
        new_status = {"New": "Contacted", "Contacted": "Qualified", "Qualified": "Won", "Won": "New"}[status]
        old_list, new_list = self.status_list[status], self.status_list[new_status]
        now = datetime.now(UTC)
        action = {"id": "%024x" % self.rng.getrandbits(96), "type": "updateCard",
                  "date": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                  "idMemberCreator": "%024x" % 0xB0B,
                  "data": {"card": {"id": self.card_id(i), "idList": new_list, "name": self.lead_values(i)["Name"]},
                           "old": {"idList": old_list}, "listBefore": {"id": old_list, "name": status},
                           "listAfter": {"id": new_list, "name": new_status},
                           "board": {"id": self.board_id, "name": "cost"}}}
        self.move_ms.append(self._timed(
            lambda session, ws: store_trello_event(session, ws, {"action": action}, board_id=self.board_id)))

    def check_done(self) -> None:
        from sqlalchemy import text

        from server.extensions import db

        with self.app.app_context():
            states = dict(db.session.execute(text("SELECT state, count(*) FROM events GROUP BY state")).all())
        if set(states) - {"done"}:
            raise RuntimeError(f"events not all done: {states}")

    def counts(self) -> dict[str, int]:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                    for table in ("links", "events")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--record", required=True)
    w.add_argument("--ready", required=True)
    w.add_argument("--trace-trello", default=None)
    w.add_argument("--trace-claims", default=None)
    r = sub.add_parser("reconcile")
    r.add_argument("workspace")
    r.add_argument("--out", required=True)
    c = sub.add_parser("eventcost")
    c.add_argument("--out", required=True)
    c.add_argument("--small-url", required=True, help="database for the small size (migrated, empty)")
    c.add_argument("--large-url", required=True, help="database for the large size (same dialect)")
    c.add_argument("--small", type=int, default=1000)
    c.add_argument("--large", type=int, default=100_000)
    c.add_argument("--events", type=int, default=200)
    c.add_argument("--move-events", type=int, default=40)
    c.add_argument("--sheets-url", required=True)
    c.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.command == "worker":
        run_worker(args.record, args.ready, args.trace_trello, args.trace_claims)
    elif args.command == "reconcile":
        run_reconcile(args.workspace, args.out)
    else:
        event_cost(args.out, args.small_url, args.large_url, args.small, args.large, args.events, args.move_events, args.sheets_url, args.seed)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
