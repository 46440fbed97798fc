#!/usr/bin/env python
"""The benchmark: ``python bench/run.py [--quick] [--keep-temp]`` from the repository root.

Runs everything on loopback (emulators, gunicorn, worker processes, PostgreSQL databases of its
own), prints a table of the figures with their targets, and ends with ONE JSON line. Every figure
is measured in the run. See bench/README.md for what each figure is and how it is measured.
Exit status: 0 when every figure was measured (targets missed or not), 1 when some could not be.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.chdir(REPO)

from bench import loadgen  # noqa: E402 - after the sys.path set-up above
from bench.data import (  # noqa: E402 - after the sys.path set-up above
    SHEET,
    STATUSES,
    Account,
    Http,
    addon_body,
    addon_headers,
    create_cards,
    insert_links,
    lead_id,
    lead_values,
    sheet_row,
    synced_state,
)
from bench.fields import FieldsPhase  # noqa: E402 - after the sys.path set-up above
from bench.procs import (  # noqa: E402 - after the sys.path set-up above
    PYTHON,
    Child,
    PeakTracker,
    Procs,
    cpu_seconds,
    free_port,
    group_cpu_seconds,
    wait_http,
)
from bench.scheduling import PERSON_KEY, SchedulingPhases  # noqa: E402 - after the sys.path set-up above
from emulators.trello import DEFAULT_APP_ID  # noqa: E402 - after the sys.path set-up above

PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
API_KEY, API_SECRET = "emulator-key", "emulator-secret"

FULL = dict(ack_rate=200, ack_seconds=10.0, ingest_senders=16, ingest_seconds=4.0, prop_edits=100,
            prop_leads=240, moves=100, bulk_rows=5000, cost_small=1000, cost_large=100_000, cost_events=200,
            cost_moves=40, noop_rows=50_000, drain_timeout=150.0, single_leads=120, single_edits=100,
            edit_period_s=0.5, steady_seconds=30.0, iso_rows=5000, iso_batch=500, iso_light_leads=20,
            iso_light_seconds=30.0, budget_rows=1500, budget_batch=500, budget_seconds=20.0, backlog_leads=1000,
            fields_leads=40, fields_edits=20)
QUICK = dict(ack_rate=200, ack_seconds=1.5, ingest_senders=16, ingest_seconds=1.0, prop_edits=6,
             prop_leads=120, moves=100, bulk_rows=200, cost_small=100, cost_large=2000, cost_events=20,
             cost_moves=6, noop_rows=2000, drain_timeout=20.0, single_leads=30, single_edits=6,
             edit_period_s=0.5, steady_seconds=2.0, iso_rows=200, iso_batch=100, iso_light_leads=10,
             iso_light_seconds=2.0, budget_rows=150, budget_batch=75, budget_seconds=2.0, backlog_leads=80,
             fields_leads=4, fields_edits=2)

# key: (label, unit, target text, predicate)
TARGETS: dict[str, tuple[str, str, str, Callable[[float], bool] | None]] = {
    "ack_p50_ms": ("webhook ack p50, 200/s open loop, SQLite", "ms", "", None),
    "ack_p99_ms": ("webhook ack p99, 200/s open loop, SQLite", "ms", "< 10", lambda v: v < 10),
    "ack_errors": ("webhook answers other than 200 (warm-up + run), SQLite", "count", "= 0", lambda v: v == 0),
    "web_cpu_ms_per_request": ("web tier CPU per webhook (gunicorn processes), SQLite", "ms", "", None),
    "baseline_ack_p99_ms": ("context: bare verify+INSERT app, same run, p99", "ms", "", None),
    "baseline_web_cpu_ms_per_request": ("context: bare verify+INSERT app, CPU per webhook", "ms", "", None),
    "ingest_max_per_s": ("ingest, closed loop, 16 senders, SQLite", "req/s", ">= 500", lambda v: v >= 500),
    "ingest_errors": ("answers other than 200 during the saturation run", "count", "= 0", lambda v: v == 0),
    "ack_p50_ms_postgres": ("webhook ack p50, 200/s open loop, PostgreSQL", "ms", "", None),
    "ack_p99_ms_postgres": ("webhook ack p99, 200/s open loop, PostgreSQL", "ms", "< 25", lambda v: v < 25),
    "ack_errors_postgres": ("webhook answers other than 200 (warm-up + run), PostgreSQL", "count", "= 0", lambda v: v == 0),
    "web_cpu_ms_per_request_postgres": ("web tier CPU per webhook (gunicorn processes), PostgreSQL", "ms", "", None),
    "propagation_p50_ms": ("Sheets edit -> Trello call p50 (idle worker)", "ms", "< 100", lambda v: v < 100),
    "propagation_p99_ms": ("Sheets edit -> Trello call p99 (idle worker)", "ms", "< 250", lambda v: v < 250),
    "worker_idle_cpu_pct": ("idle worker CPU (SQLite: polls every 50 ms)", "% core", "", None),
    "trello_calls_per_sheet_edit": ("Trello calls per Sheets row edit", "calls", "= 1.0", lambda v: abs(v - 1.0) < 1e-9),
    "sheets_calls_per_100_card_moves": ("Sheets calls per burst of 100 card moves", "calls", "<= 3", lambda v: v <= 3),
    "move_propagation_p50_ms": ("card move -> Sheets write p50 (incl. 0.3 s batching window)", "ms", "", None),
    "bulk_ratio_to_rate_bound": ("first sync 5k rows: time / (Trello calls / 100 per s)", "x", "< 1.1", lambda v: v < 1.1),
    "bulk_429s": ("first sync 5k rows: 429s from Trello", "count", "= 0", lambda v: v == 0),
    "bulk_elapsed_s": ("first sync 5k rows: elapsed", "s", "", None),
    "bulk_trello_calls": ("first sync 5k rows: Trello calls", "calls", "", None),
    "worker_rss_mb": ("worker peak RSS during the bulk run", "MiB", "< 200", lambda v: v < 200),
    "web_rss_mb": ("gunicorn process peak RSS during the bulk run (max)", "MiB", "< 150", lambda v: v < 150),
    "event_cost_ratio_100k_vs_1k_links": ("row edit event cost, 100k vs 1k links, SQLite", "x", "< 1.3", lambda v: v < 1.3),
    "event_cost_ratio_100k_vs_1k_links_postgres": ("row edit event cost, 100k vs 1k links, PostgreSQL", "x", "< 1.3", lambda v: v < 1.3),
    "card_move_cost_ratio_100k_vs_1k_rows": ("card move event cost, 100k vs 1k rows+links, SQLite", "x", "(< 1.3)", lambda v: v < 1.3),
    "reconcile_noop_50k_s": ("no-op reconciliation of 50k rows + 50k cards", "s", "< 30", lambda v: v < 30),
    "reconcile_noop_writes": ("writes made by the no-op reconciliation", "calls", "= 0", lambda v: v == 0),
    "reconcile_noop_rss_mb": ("peak RSS of the process running that reconciliation", "MiB", "(< 200)", lambda v: v < 200),
    "single_edit_overhead_ms": ("row edit stored -> Trello request sent, p50 (idle worker)", "ms", "< 10", lambda v: v < 10),
    "single_edit_overhead_p99_ms": ("row edit stored -> Trello request sent, p99 (idle worker)", "ms", "", None),
    "steady_edit_p99_ms": ("a row edited every 500 ms, echoes not waited: edit -> Trello call p99", "ms", "< 250",
                           lambda v: v < 250),
    "tenant_isolation_p99_ms": ("light tenant edit -> Trello call p99 during a 5k-row paste, SQLite", "ms", "< 250",
                                lambda v: v < 250),
    "heavy_ratio_to_rate_bound": ("that 5k-row paste: time / (its Trello calls / 100 per s), SQLite", "x", "<= 1.1",
                                  lambda v: v <= 1.1),
    "isolation_429s": ("two tenants, SQLite: 429s from Trello", "count", "= 0", lambda v: v == 0),
    "tenant_isolation_p99_ms_postgres": ("light tenant edit -> Trello call p99 during a 5k-row paste, PostgreSQL",
                                         "ms", "< 250", lambda v: v < 250),
    "heavy_ratio_to_rate_bound_postgres": ("that 5k-row paste: time / (its Trello calls / 100 per s), PostgreSQL",
                                           "x", "<= 1.1", lambda v: v <= 1.1),
    "isolation_429s_postgres": ("two tenants, PostgreSQL: 429s from Trello", "count", "= 0", lambda v: v == 0),
    "key_budget_used_pct": ("4 tenants on one API key: Trello calls per window / key limit", "%", ">= 90",
                            lambda v: v >= 90),
    "key_fair_share_max_ratio": ("4 tenants on one API key: largest tenant's calls / fair share", "x", "(<= 1.1)",
                                 lambda v: v <= 1.1),
    "key_budget_429s": ("4 tenants on one API key: 429s from Trello", "count", "= 0", lambda v: v == 0),
    "backlog_newest_wins": ("1k-lead backlog, edits on both sides: (lead, field) on the newest value", "fraction",
                            "= 1.0", lambda v: v == 1.0),
    "backlog_drain_ratio_to_rate_bound": ("that backlog: drain time / (Trello calls / 100 per s)", "x", "<= 1.1",
                                          lambda v: v <= 1.1),
    "backlog_429s": ("that backlog: 429s from Trello", "count", "= 0", lambda v: v == 0),
    "trello_calls_per_multi_field_edit": ("row edit of name+due+start+done+labels+owner+notes: Trello calls", "calls",
                                          "= 1.0", lambda v: abs(v - 1.0) < 1e-9),
    "trello_calls_per_custom_field_edit": ("row edit of 3 custom field columns: Trello calls", "calls", "= 1.0",
                                           lambda v: abs(v - 1.0) < 1e-9),
    "trello_calls_per_mixed_edit": ("row edit of card fields + custom fields: Trello calls", "calls", "= 2.0",
                                    lambda v: abs(v - 2.0) < 1e-9),
    "trello_reads_per_field_edit": ("reads made by those edits (labels/members/fields cached)", "calls", "= 0",
                                    lambda v: v == 0),
}
REQUIRED = ["ack_p50_ms", "ack_p99_ms", "ingest_max_per_s", "ack_p99_ms_postgres", "propagation_p50_ms",
            "propagation_p99_ms", "trello_calls_per_sheet_edit", "sheets_calls_per_100_card_moves",
            "bulk_ratio_to_rate_bound", "bulk_429s", "event_cost_ratio_100k_vs_1k_links", "worker_rss_mb",
            "web_rss_mb", "reconcile_noop_50k_s", "single_edit_overhead_ms", "steady_edit_p99_ms",
            "tenant_isolation_p99_ms", "heavy_ratio_to_rate_bound", "tenant_isolation_p99_ms_postgres",
            "heavy_ratio_to_rate_bound_postgres", "key_budget_used_pct", "key_fair_share_max_ratio",
            "backlog_newest_wins", "backlog_drain_ratio_to_rate_bound", "trello_calls_per_multi_field_edit",
            "trello_calls_per_custom_field_edit", "trello_calls_per_mixed_edit", "trello_reads_per_field_edit"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def git_commit() -> str | None:
    """The checked-out commit, read from .git (no git command is run). In a worktree ``.git`` is a
    file naming the worktree's git directory, whose ``commondir`` holds the shared refs."""
    git = REPO / ".git"
    try:
        if git.is_file():
            git = (REPO / git.read_text().split("gitdir:", 1)[1].strip()).resolve()
        common = (git / (git / "commondir").read_text().strip()).resolve() if (git / "commondir").exists() else git
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head[4:].strip()
        for folder in (git, common):
            if (folder / ref).exists():
                return (folder / ref).read_text().strip()
        for line in (common / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except (OSError, IndexError):
        return None
    return None


def host_load() -> float | None:
    """1-minute load average of the machine (other work on these 2 cores skews latency figures)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pg_checkpoints() -> int | None:
    """Checkpoints the PostgreSQL server has run so far (timed + requested)."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            return int(conn.execute("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").fetchone()[0])
    except Exception:  # noqa: BLE001 - context only
        return None


def pg_backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to ``database`` (same machine)."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))]
    except Exception:  # noqa: BLE001 - context only
        return {}
    return {pid: cpu_seconds(pid) for pid in pids}


def r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


class Bench(SchedulingPhases, FieldsPhase):
    def __init__(self, quick: bool, keep_temp: bool) -> None:
        self.quick = quick
        self.cfg = QUICK if quick else FULL
        self.keep_temp = keep_temp
        self.tmp = Path(tempfile.mkdtemp(prefix="leads-bench-"))
        self.procs = Procs(self.tmp)
        self.results: dict[str, Any] = {}
        self.details: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.pg_databases: list[str] = []
        self.run_id = uuid.uuid4().hex[:8]
        self.rng = random.Random(20240601)
        self.base_env = {k: v for k, v in os.environ.items()
                         if k not in ("DATABASE_URL", "PORT", "FLASK_APP", "WEB_CONCURRENCY", "GUNICORN_THREADS")}
        self.base_env.update({
            "APP_ENV": "development", "SECRET_KEY": "bench-secret-key-0123456789abcdef",
            "INSTANCE_PATH": str(self.tmp / "instance"), "TRELLO_API_KEY": API_KEY,
            "TRELLO_API_SECRET": API_SECRET, "LOG_LEVEL": "INFO", "LOG_FORMAT": "console",
            "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), "RECONCILE_INTERVAL_S": "0",
            # our Trello writes are known by provenance: the emulator's default key is this app's
            "TRELLO_APP_ID": DEFAULT_APP_ID,
        })
        # the benchmark process seeds through the app too: same secrets, same instance path
        for key in ("SECRET_KEY", "INSTANCE_PATH", "TRELLO_API_KEY", "TRELLO_API_SECRET", "APP_ENV", "TRELLO_APP_ID"):
            os.environ[key] = self.base_env[key]
        os.environ.pop("DATABASE_URL", None)
        self._apps: list[Any] = []
        self.emulator_pids: dict[str, int] = {}

    # ------------------------------------------------------------------ infrastructure

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(self.base_env)
        env.update({
            "TRELLO_API_BASE_URL": self.trello.base_url + "/1",
            "GOOGLE_SHEETS_API_BASE_URL": self.sheets.base_url + "/v4",
        })
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start_emulators(self) -> None:
        for kind in ("trello", "sheets"):
            port = free_port()
            child = self.procs.start(f"emulator-{kind}", [PYTHON, "-m", "bench.emuhost", kind, "--port", str(port)],
                                     dict(self.base_env))
            wait_http(f"http://127.0.0.1:{port}/_bench/ping", child)
            setattr(self, kind, Http(f"http://127.0.0.1:{port}"))
            self.emulator_pids[kind] = child.pid
        # Realistic quotas stay on for the Sheets emulator (60/min per token); Trello's are set per phase.
        # People act in Trello with a key tied to no app: their actions carry appCreator null,
        # as changes made in Trello's web UI do (the service's key is DEFAULT_APP_ID's).
        self.trello.post("/_emulator/config", {"api_keys": {PERSON_KEY: None}})

    def migrate(self, *database_urls: str) -> None:
        """The release process, ``flask --app server db upgrade``, for each database (in parallel)."""
        children = [self.procs.start(f"migrate-{k}", [PYTHON, "-m", "flask", "--app", "server", "db", "upgrade"],
                                     self.env(DATABASE_URL=url)) for k, url in enumerate(database_urls)]
        failures = []
        for child in children:
            code = child.popen.wait(120)
            if code != 0:
                failures.append(f"{child.name} exited {code}:\n{child.tail()}")
            self.procs.stop(child)
        if failures:
            raise RuntimeError("migration failed: " + "\n".join(failures))

    def prepare_databases(self) -> None:
        """Migrated templates: a SQLite file copied per phase, a PostgreSQL database cloned per phase."""
        template = self.tmp / "template" / "app.db"
        template.parent.mkdir()
        self.sqlite_template = template
        import psycopg

        self.pg_template = f"leads_bench_{self.run_id}_tpl"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{self.pg_template}"')
        self.pg_databases.append(self.pg_template)
        self.migrate(f"sqlite:///{template}", self.pg_url(self.pg_template))

    def pg_url(self, name: str) -> str:
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def new_pg(self, tag: str) -> str:
        import psycopg

        name = f"leads_bench_{self.run_id}_{tag}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_template}"')
        self.pg_databases.append(name)
        return self.pg_url(name)

    def new_sqlite(self, tag: str) -> tuple[str, Path]:
        """A copy of the migrated template in a directory of its own (its rate-limit file goes there too)."""
        folder = self.tmp / tag
        folder.mkdir()
        path = folder / "app.db"
        src, dst = sqlite3.connect(self.sqlite_template), sqlite3.connect(path)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return f"sqlite:///{path}", path

    def drop_databases(self) -> None:
        if not self.pg_databases:
            return
        try:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
                for name in self.pg_databases:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.pg_databases.clear()
        except Exception as exc:  # noqa: BLE001
            log(f"warning: could not drop the benchmark databases {self.pg_databases}: {exc}")

    def app(self, database_url: str) -> Any:
        from server import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "LOG_LEVEL": "WARNING",
                          "CHECK_DATABASE_ON_START": False})
        self._apps.append(app)
        return app

    def dispose(self, app: Any) -> None:
        from server.extensions import db

        with app.app_context():
            db.engine.dispose()

    def start_web(self, name: str, database_url: str, **extra: str) -> tuple[Child, int]:
        port = free_port()
        # The command of the Procfile's web process; gunicorn 27's control socket goes to the temp dir.
        argv = [PYTHON, "-m", "gunicorn", "--config", "gunicorn.conf.py", "server:create_app()",
                "--control-socket", str(self.tmp / f"{name}.ctl")]
        child = self.procs.start(name, argv,
                                 self.env(DATABASE_URL=database_url, PORT=str(port),
                                          PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", **extra))
        wait_http(f"http://127.0.0.1:{port}/health", child, timeout=60)
        return child, port

    def start_worker(self, name: str, database_url: str, web_port: int, trace: Path | None = None,
                     **extra: str) -> tuple[Child, Path]:
        record, ready = self.tmp / f"{name}.record", self.tmp / f"{name}.ready"
        record.touch()
        argv = [PYTHON, "-m", "bench.probe", "worker", "--record", str(record), "--ready", str(ready)]
        if trace is not None:
            argv += ["--trace-trello", str(trace), "--trace-claims", str(trace.with_suffix(".claims"))]
        child = self.procs.start(name, argv,
                                 self.env(DATABASE_URL=database_url, PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
                                          **extra))
        deadline = time.monotonic() + 60
        while not ready.exists():
            if not child.alive():
                raise RuntimeError(f"{name} exited:\n{child.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready:\n{child.tail()}")
            time.sleep(0.05)
        return child, record

    def register_webhook(self, app: Any, workspace_id: str, token: str, web_port: int) -> None:
        from server.extensions import db
        from server.models import Workspace
        from server.trello.client import TrelloClient
        from server.trello.webhooks import register_board_webhook

        with app.app_context():
            workspace = db.session.get(Workspace, workspace_id)
            register_board_webhook(workspace, TrelloClient(API_KEY, token, base_url=self.trello.base_url + "/1"),
                                   f"http://127.0.0.1:{web_port}")
            db.session.commit()

    def connect_workspace(self, app: Any, workspace_id: str, token: str, spreadsheet_id: str, secret: str,
                          web_port: int) -> None:
        """Both sources deliver to the web tier: the board's webhook and the sheet's add-on."""
        self.register_webhook(app, workspace_id, token, web_port)
        self.sheets.post("/_emulator/addon", {"spreadsheet_id": spreadsheet_id, "sheet": SHEET,
                                              "webhook_url": f"http://127.0.0.1:{web_port}/webhooks/sheets/{workspace_id}",
                                              "secret": secret})

    def run_phase(self, name: str, function: Callable[[], None]) -> None:
        log(f"phase {name} ... (host load {host_load()})")
        start = time.monotonic()
        try:
            function()
        except Exception as exc:  # noqa: BLE001 - the other phases still run; the exit status says so
            self.errors[name] = f"{type(exc).__name__}: {exc}"
            log(f"phase {name} FAILED:\n{traceback.format_exc()}")
        log(f"phase {name} took {time.monotonic() - start:.1f} s")
        self.details.setdefault("phase_seconds", {})[name] = round(time.monotonic() - start, 1)

    # ------------------------------------------------------------------ helpers for the web phases

    def webhook_requests(self, port: int, workspace_id: str, secret: str, spreadsheet_id: str, count: int,
                         prefix: int) -> list[bytes]:
        """Signed one-row add-on deliveries with distinct event ids (prepared before the clock starts)."""
        path = f"/webhooks/sheets/{workspace_id}"
        out = []
        for k in range(count):
            i = self.rng.randrange(100_000)
            column = ("Notes", "Status", "Phone")[k % 3]
            values = lead_values(i)
            if column == "Notes":
                values["Notes"] = f"call back on day {k % 28 + 1}"
            elif column == "Status":
                values["Status"] = STATUSES[(STATUSES.index(values["Status"]) + 1) % len(STATUSES)]
            else:
                values["Phone"] = f"+1 555 {k % 10000:04d}"
            body = addon_body(spreadsheet_id, lead_id(prefix, i), i + 2, values, [column])
            out.append(loadgen.build_request("127.0.0.1", port, path, body, addon_headers(secret, body)))
        return out

    def open_loop_figures(self, port: int, workspace_id: str, secret: str, spreadsheet_id: str,
                          prefix: int, web_pid: int, database: str | None = None) -> dict[str, Any]:
        rate, seconds = self.cfg["ack_rate"], self.cfg["ack_seconds"]
        warm = self.webhook_requests(port, workspace_id, secret, spreadsheet_id, 100 if self.quick else 400, prefix)
        warm_result = loadgen.open_loop("127.0.0.1", port, warm, rate=rate, threads=32)
        requests = self.webhook_requests(port, workspace_id, secret, spreadsheet_id, int(rate * seconds), prefix + 1)
        load_before = host_load()
        web_cpu, own_cpu = group_cpu_seconds(web_pid), time.process_time()
        backends = pg_backend_cpu(database) if database else {}
        result = loadgen.open_loop("127.0.0.1", port, requests, rate=rate, threads=32)
        web_cpu, own_cpu = group_cpu_seconds(web_pid) - web_cpu, time.process_time() - own_cpu
        db_cpu = None
        if database:
            after = pg_backend_cpu(database)
            db_cpu = sum(v - backends.get(pid, 0.0) for pid, v in after.items()) * 1000 / len(requests)
        p = loadgen.percentile
        return {
            "postgres_backend_cpu_ms_per_request": db_cpu,
            "web_cpu_ms_per_request": web_cpu * 1000 / len(requests),
            "loadgen_cpu_ms_per_request": own_cpu * 1000 / len(requests),
            "host_load_1m_before": load_before, "host_load_1m_after": host_load(),
            "warmup_ok": len(warm_result.latencies_ms), "warmup_errors": warm_result.errors,
            "p50_ms": p(result.latencies_ms, 50), "p90_ms": p(result.latencies_ms, 90),
            "p99_ms": p(result.latencies_ms, 99), "p999_ms": p(result.latencies_ms, 99.9),
            "max_ms": max(result.latencies_ms) if result.latencies_ms else None,
            "service_p99_ms": p(result.service_ms, 99),
            "slip_p50_ms": p(result.slips_ms, 50), "slip_p99_ms": p(result.slips_ms, 99),
            "slip_max_ms": max(result.slips_ms) if result.slips_ms else None,
            "sent": result.planned, "ok": len(result.latencies_ms), "errors": result.errors,
            "statuses": {str(k): v for k, v in result.statuses.items()},
            "achieved_rate_per_s": result.planned / result.wall_s if result.wall_s else None,
            "warmup_requests": len(warm),
        }

    def check_stored(self, figures: dict[str, Any], stored: int) -> None:
        """Every acknowledged delivery must be in the inbox (a 5xx may or may not have stored)."""
        acked = figures["ok"] + figures["warmup_ok"]
        figures["events_stored"], figures["deliveries_acked"] = stored, acked
        if stored < acked:
            raise RuntimeError(f"{acked} deliveries were acknowledged but only {stored} events are stored")

    @staticmethod
    def count_events_sqlite(path: Path, where: str = "1=1") -> int:
        return Bench.count_sqlite(path, "events", where)

    @staticmethod
    def count_sqlite(path: Path, table: str, where: str = "1=1") -> int:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]

    # ------------------------------------------------------------------ phases

    def seeded_web(self, name: str, database_url: str, tag: str) -> tuple[Account, str, str, Child, int]:
        """An empty sheet and a workspace over it in ``database_url``, and the web tier serving it."""
        account = Account(self.trello, self.sheets, f"{tag}{self.run_id}")
        account.create_sheet([])
        app = self.app(database_url)
        workspace_id, secret = account.seed_workspace(app)
        self.dispose(app)
        web, port = self.start_web(name, database_url)
        return account, workspace_id, secret, web, port

    def record_ack(self, figures: dict[str, Any], dialect: str, suffix: str) -> None:
        """The open-loop figures: all in the details, the headline ones as results."""
        self.details[f"ack_{dialect}"] = {k: r(v) if isinstance(v, float) else v for k, v in figures.items()}
        self.results[f"ack_p50_ms{suffix}"] = r(figures["p50_ms"], 3)
        self.results[f"ack_p99_ms{suffix}"] = r(figures["p99_ms"], 3)
        self.results[f"ack_errors{suffix}"] = figures["errors"] + figures["warmup_errors"]
        self.results[f"web_cpu_ms_per_request{suffix}"] = r(figures["web_cpu_ms_per_request"], 3)

    def phase_web_sqlite(self) -> None:
        url, path = self.new_sqlite("web-sqlite")
        account, workspace_id, secret, web, port = self.seeded_web("web-sqlite", url, "ack")
        try:
            figures = self.open_loop_figures(port, workspace_id, secret, account.spreadsheet_id, 0x1000, web.pid)
            self.check_stored(figures, self.count_events_sqlite(path))
            self.record_ack(figures, "sqlite", "")

            # closed loop saturation on the same web tier
            pool = self.webhook_requests(port, workspace_id, secret, account.spreadsheet_id,
                                         int(1500 * (self.cfg["ingest_seconds"] + 1)), 0x2000)
            extra: list[bytes] = []

            def make(index: int) -> bytes:
                if index < len(pool):
                    return pool[index]
                extra.append(b"")
                return self.webhook_requests(port, workspace_id, secret, account.spreadsheet_id, 1, 0x3000 + index)[0]

            before = self.count_events_sqlite(path)
            result = loadgen.closed_loop("127.0.0.1", port, make, senders=self.cfg["ingest_senders"],
                                         duration_s=self.cfg["ingest_seconds"])
            after = self.count_events_sqlite(path)
            self.details["ingest_sqlite"] = {"host_load_1m_after": host_load(),
                "senders": result.senders, "seconds": result.duration_s, "completed_in_window": result.completed,
                "errors": result.errors, "p50_ms": r(loadgen.percentile(result.latencies_ms, 50)),
                "p99_ms": r(loadgen.percentile(result.latencies_ms, 99)),
                "events_stored_total_incl_warmup_and_edges": after - before, "pool_exhausted": bool(extra)}
            self.results["ingest_max_per_s"] = r(result.per_s, 1)
            self.results["ingest_errors"] = result.errors
        finally:
            self.procs.stop(web)

    def phase_baseline(self) -> None:
        """Context: the same open-loop run against bench/baseline_app.py (verify + INSERT only)."""
        folder = self.tmp / "baseline"
        folder.mkdir()
        port = free_port()
        secret = "baseline-secret"
        argv = [PYTHON, "-m", "gunicorn", "--config", "gunicorn.conf.py", "bench.baseline_app:create_app()",
                "--control-socket", str(self.tmp / "baseline.ctl")]
        web = self.procs.start("web-baseline", argv, self.env(DATABASE_URL=f"sqlite:///{folder / 'baseline.db'}",
                                                              PORT=str(port), BASELINE_SECRET=secret))
        try:
            wait_http(f"http://127.0.0.1:{port}/health", web, timeout=60)
            figures = self.open_loop_figures(port, "ws_baseline", secret, "baseline-sheet", 0x1800, web.pid)
            with sqlite3.connect(f"file:{folder / 'baseline.db'}?mode=ro", uri=True) as conn:
                stored = conn.execute("SELECT count(*) FROM baseline_events").fetchone()[0]
            self.check_stored(figures, stored)
            self.details["baseline_sqlite"] = {k: r(v) if isinstance(v, float) else v for k, v in figures.items()}
            self.results["baseline_ack_p99_ms"] = r(figures["p99_ms"], 3)
            self.results["baseline_web_cpu_ms_per_request"] = r(figures["web_cpu_ms_per_request"], 3)
        finally:
            self.procs.stop(web)

    def phase_web_postgres(self) -> None:
        url = self.new_pg("web")
        account, workspace_id, secret, web, port = self.seeded_web("web-postgres", url, "pg")
        try:
            import psycopg

            checkpoints = pg_checkpoints()
            figures = self.open_loop_figures(port, workspace_id, secret, account.spreadsheet_id, 0x4000, web.pid,
                                             database=url.rsplit("/", 1)[1])
            after = pg_checkpoints()
            # the server is shared: other databases' CREATE/DROP DATABASE force checkpoints (fsync storms)
            figures["server_checkpoints_during_warmup_and_run"] = (
                None if checkpoints is None or after is None else after - checkpoints)

            with psycopg.connect(url) as conn:
                stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            self.check_stored(figures, stored)
            self.record_ack(figures, "postgres", "_postgres")
        finally:
            self.procs.stop(web)

    def wait_quiet(self, path: Path, timeout: float) -> None:
        """Until the Trello emulator has delivered everything, the inbox has nothing left to do and
        the sheet outbox is written."""
        deadline = time.monotonic() + timeout
        self.trello.post("/_emulator/deliveries/wait", {"timeout": timeout})
        while time.monotonic() < deadline:
            if self.count_events_sqlite(path, "state IN ('pending', 'processing')") == 0 and \
                    self.count_sqlite(path, "links", "sheet_marked_at IS NOT NULL") == 0:
                return
            time.sleep(0.02)
        raise RuntimeError(f"the inbox did not drain within {timeout:g} s")

    def phase_propagation(self) -> None:
        """Sheets edits → Trello (latency, calls per edit), then a burst of card moves → Sheets."""
        from server.extensions import db

        cfg = self.cfg
        account = Account(self.trello, self.sheets, f"prop{self.run_id}")
        rows, cards, leads = synced_state(account, 0x5000, cfg["prop_leads"])
        account.create_sheet(rows)
        card_ids = create_cards(self.trello, account.board_id, cards)
        url, path = self.new_sqlite("propagation")
        app = self.app(url)
        workspace_id, secret = account.seed_workspace(app)
        with app.app_context():
            insert_links(db.engine, workspace_id, leads, card_ids)
        # quotas are not what this phase measures: keep the emulator's Trello limit out of the way
        self.trello.post("/_emulator/config", {"token_limit": [100_000, 1.0], "key_limit": [100_000, 1.0]})
        web, port = self.start_web("web-propagation", url)
        worker = None
        try:
            self.connect_workspace(app, workspace_id, account.token, account.spreadsheet_id, secret, port)
            worker, record = self.start_worker("worker-propagation", url, port)
            time.sleep(0.5)
            idle_cpu, idle_start = cpu_seconds(worker.pid), time.monotonic()
            time.sleep(3.0 if not self.quick else 1.0)
            self.results["worker_idle_cpu_pct"] = r(
                (cpu_seconds(worker.pid) - idle_cpu) / (time.monotonic() - idle_start) * 100, 1)
            self.trello.delete("/_emulator/stats")
            self.sheets.delete("/_emulator/stats")

            # ---- one edit at a time, with gaps
            offset = record.stat().st_size
            samples: list[float] = []
            event_ids: list[int] = []
            missing = 0
            next_status = {s: STATUSES[(i + 1) % len(STATUSES)] for i, s in enumerate(STATUSES)}
            for k in range(cfg["prop_edits"]):
                lead = leads[k]
                column = ("Notes", "Status", "Phone")[k % 3]
                current = lead["values"]
                value = {"Notes": f"edit {k}: wants a quote", "Status": next_status[current["Status"]],
                         "Phone": f"+44 20 7946 {k:04d}"}[column]
                self.sheets.post("/_emulator/user/edit", {"spreadsheet_id": account.spreadsheet_id, "sheet": SHEET,
                                                          "row": lead["row"], "values": {column: value}})
                deadline = time.monotonic() + 5
                found = None
                while time.monotonic() < deadline and found is None:
                    with open(record) as handle:
                        handle.seek(offset)
                        chunk = handle.read()
                    if chunk.endswith("\n"):
                        for line in chunk.splitlines():
                            kind, event_id, at = line.split()[:3]
                            if kind == "trello":
                                found = (int(event_id), float(at))
                        offset += len(chunk.encode())
                    if found is None:
                        time.sleep(0.002)
                if found is None:
                    missing += 1
                else:
                    event_ids.append(found[0])
                    samples.append(found[1])
                self.wait_quiet(path, 10)
                time.sleep(self.rng.uniform(0.05, 0.15))
            received = self.received_at(path, event_ids)
            latencies = [(at - received[event_id]) * 1000 for event_id, at in zip(event_ids, samples, strict=False)]
            trello_stats = self.trello.get("/_emulator/stats")
            sheets_stats = self.sheets.get("/_emulator/stats")
            calls = trello_stats["calls"]
            unrelated = {k: v for k, v in calls.items() if k.startswith("GET /1/webhooks") or k.startswith("GET /1/tokens")}
            edit_calls = trello_stats["total"] - sum(unrelated.values())
            p = loadgen.percentile
            self.details["propagation"] = {
                "edits": cfg["prop_edits"], "measured": len(latencies), "missing": missing,
                "p50_ms": r(p(latencies, 50)), "p90_ms": r(p(latencies, 90)), "p99_ms": r(p(latencies, 99)),
                "max_ms": r(max(latencies)) if latencies else None,
                "trello_calls": calls, "trello_calls_excluded": unrelated,
                "trello_429": trello_stats["rate_limited"], "sheets_calls_during_edits": sheets_stats["total"]}
            if missing:
                raise RuntimeError(f"{missing} edits made no Trello call within 5 s")
            self.results["propagation_p50_ms"] = r(p(latencies, 50))
            self.results["propagation_p99_ms"] = r(p(latencies, 99))
            self.results["trello_calls_per_sheet_edit"] = r(edit_calls / cfg["prop_edits"], 3)

            # ---- a burst of card moves made through Trello's API by a person
            from server.trello.client import TrelloClient

            def move(index: int) -> tuple[int, str]:
                lead = leads[index]
                status = next_status[lead["values"]["Status"]]
                return index, status

            def do_moves(indexes: list[int], threads: int) -> float:
                plan = [move(i) for i in indexes]
                start = time.perf_counter()
                chunks = [plan[t::threads] for t in range(threads)]
                failures: list[str] = []

                def run(chunk: list[tuple[int, str]]) -> None:
                    client = TrelloClient(PERSON_KEY, account.person_token, base_url=self.trello.base_url + "/1")
                    for index, status in chunk:
                        try:
                            client.update_card(card_ids[index], idList=account.list_for_status(status))
                        except Exception as exc:  # noqa: BLE001
                            failures.append(str(exc))

                workers = [threading.Thread(target=run, args=(c,)) for c in chunks if c]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                if failures:
                    raise RuntimeError(f"{len(failures)} card moves failed: {failures[0]}")
                return time.perf_counter() - start

            first = cfg["prop_edits"]
            do_moves([first], 1)  # warm-up: the worker's first sheet write reads the header row once
            self.wait_quiet(path, 15)
            moved = list(range(first + 1, first + 1 + cfg["moves"]))
            self.sheets.delete("/_emulator/stats")
            self.trello.delete("/_emulator/stats")
            offset = record.stat().st_size
            burst_s = do_moves(moved, 8)
            self.wait_quiet(path, 30)
            sheets_stats = self.sheets.get("/_emulator/stats")
            trello_stats = self.trello.get("/_emulator/stats")
            with open(record) as handle:
                handle.seek(offset)
                writes = [line.split() for line in handle.read().splitlines()]
            sheet_writes = {int(w[1]): float(w[2]) for w in writes if w[0] == "sheets"}
            received = self.received_at(path, list(sheet_writes))
            move_latencies = [(t - received[e]) * 1000 for e, t in sheet_writes.items()]
            span = (max(received.values()) - min(received.values())) if received else None
            values = self.sheets.get(f"/_emulator/state?spreadsheet_id={account.spreadsheet_id}&sheet={SHEET}")
            grid = values["spreadsheets"][0]["sheets"][0]["values"]
            wrong = sum(1 for i in moved if grid[leads[i]["row"] - 1][4] != move(i)[1])
            self.details["card_moves"] = {
                "moves": len(moved), "burst_seconds": r(burst_s, 3), "sheets_calls": sheets_stats["calls"],
                "sheets_total": sheets_stats["total"], "sheets_429": sheets_stats["rate_limited"],
                "trello_calls_after_burst_excluding_moves": trello_stats["total"] - len(moved),
                "events_applied": len(sheet_writes), "rows_not_updated": wrong,
                "webhooks_received_over_s": r(span, 3),
                "sheet_flushes": sheets_stats["calls"].get("values.batchUpdate", 0),
                "move_to_sheet_write_p50_ms": r(p(move_latencies, 50)),
                "move_to_sheet_write_max_ms": r(max(move_latencies)) if move_latencies else None}
            if wrong:
                raise RuntimeError(f"{wrong} moved cards did not reach the sheet")
            self.results["sheets_calls_per_100_card_moves"] = r(sheets_stats["total"] * 100 / len(moved), 2)
            self.results["move_propagation_p50_ms"] = r(p(move_latencies, 50))
        finally:
            if worker is not None:
                self.procs.stop(worker)
            self.procs.stop(web)
            self.dispose(app)

    def received_at(self, path: Path, event_ids: list[int]) -> dict[int, float]:
        if not event_ids:
            return {}
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute(f"SELECT id, received_at FROM events WHERE id IN ({','.join('?' * len(event_ids))})",
                                event_ids).fetchall()
        return {i: datetime.fromisoformat(v).replace(tzinfo=UTC).timestamp() for i, v in rows}

    def phase_bulk(self) -> None:
        """First sync of a pre-filled sheet onto an empty board, at Trello's (scaled) rate limit."""
        from server.extensions import db
        from server.models.sync import Lane
        from server.sync.queue import Waker, enqueue_command

        n = self.cfg["bulk_rows"]
        account = Account(self.trello, self.sheets, f"bulk{self.run_id}")
        account.create_sheet([sheet_row(lead_values(i), lead_id(0x6000, i)) for i in range(n)])
        url, path = self.new_sqlite("bulk")
        app = self.app(url)
        workspace_id, _secret = account.seed_workspace(app)
        self.trello.post("/_emulator/config", {"token_limit": [100_000, 1.0], "key_limit": [100_000, 1.0]})
        limits = {"TRELLO_TOKEN_LIMIT": "100/1", "TRELLO_KEY_LIMIT": "300/1"}
        web, port = self.start_web("web-bulk", url, **limits)
        worker = None
        tracker = PeakTracker()
        try:
            self.register_webhook(app, workspace_id, account.token, port)
            trace = self.tmp / "bulk-trello-calls.trace"
            worker, _record = self.start_worker("worker-bulk", url, port, trace=trace, **limits)
            self.trello.post("/_emulator/config", {"token_limit": [100, 1.0], "key_limit": [300, 1.0]})
            self.trello.delete("/_emulator/stats")
            self.sheets.delete("/_emulator/stats")
            time.sleep(1.05)  # the service's buckets (1 s windows) forget the start-up webhook check
            with app.app_context():
                enqueue_command(db.session, workspace_id, "reconcile", {"first_sync": True})
                Waker(db.engine).commit(db.session, Lane.JOB)  # as the dashboard's "Sync now" does
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                event_id = conn.execute("SELECT max(id) FROM events WHERE source = 'system'").fetchone()[0]
            cpu_start = self.cpu_by_process(worker.pid, web.pid)

            def sample() -> None:
                tracker.sample("worker", worker.pid)
                tracker.sample("web", web.pid, include_children=True)

            # The reconciliation job reads both sides and queues one bulk-lane event per card to
            # create; the first sync is over when the last of them is applied.
            deadline = time.monotonic() + max(120.0, n / 100 * 3)
            state = None
            while time.monotonic() < deadline:
                sample()
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                    state, received, processed, error = conn.execute(
                        "SELECT state, received_at, processed_at, last_error FROM events WHERE id = ?",
                        (event_id,)).fetchone()
                    left = conn.execute("SELECT count(*) FROM events WHERE lane = 1 AND state IN "
                                        "('pending', 'processing')").fetchone()[0]
                if state == "parked" or (state == "done" and not left):
                    break
                if not worker.alive():
                    raise RuntimeError(f"the worker died:\n{worker.tail()}")
                time.sleep(0.2)
            trello_stats = self.trello.get("/_emulator/stats")
            sheets_stats = self.sheets.get("/_emulator/stats")
            cpu_used = {k: v - cpu_start[k] for k, v in self.cpu_by_process(worker.pid, web.pid).items()}
            if state != "done":
                raise RuntimeError(f"the first sync ended {state!r}: {error}")
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                last = conn.execute("SELECT max(processed_at) FROM events WHERE lane = 1").fetchone()[0]
            finished = max(datetime.fromisoformat(processed), datetime.fromisoformat(last or processed))
            elapsed = (finished - datetime.fromisoformat(received)).total_seconds()
            calls = trello_stats["total"]
            bound = calls / 100.0
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                linked = conn.execute("SELECT count(*) FROM links WHERE card_id IS NOT NULL AND pending_op IS NULL"
                                      ).fetchone()[0]
            # the 'createCard' echoes the web tier stored meanwhile are applied next (all no-ops)
            drain_start = time.monotonic()
            drain_deadline = drain_start + self.cfg["drain_timeout"]
            drained = False
            while time.monotonic() < drain_deadline:
                sample()
                if self.count_events_sqlite(path, "state IN ('pending', 'processing')") == 0:
                    idle = self.trello.post("/_emulator/deliveries/wait", {"timeout": 0.01}).get("idle")
                    if idle and self.count_events_sqlite(path, "state IN ('pending', 'processing')") == 0:
                        drained = True
                        break
                time.sleep(0.25)
            sample()
            echo_calls = self.trello.get("/_emulator/stats")["total"] - calls
            self.details["bulk_trello_call_timing"] = self.trace_summary(trace)
            self.details["bulk"] = {
                "rows": n, "elapsed_s": r(elapsed, 3), "trello_calls": trello_stats["calls"], "trello_total": calls,
                "rate_bound_s": r(bound, 3), "trello_429": trello_stats["rate_limited"], "links_made": linked,
                "sheets_calls": sheets_stats["total"], "echo_events_drained": drained,
                "echo_drain_s": r(time.monotonic() - drain_start, 1), "trello_calls_during_echo_drain": echo_calls,
                "worker_peak_rss_mb": r(tracker.max("worker"), 1), "web_peak_rss_mb_per_process": {
                    str(pid): r(v, 1) for pid, v in (tracker.peaks.get("web") or {}).items()},
                "web_peak_rss_mb_total": r(tracker.total("web"), 1),
                "cpu_ms_per_card": {k: r(v * 1000 / n, 2) for k, v in cpu_used.items()}}
            if linked != n:
                raise RuntimeError(f"{linked} of {n} leads linked after the first sync")
            self.results["bulk_ratio_to_rate_bound"] = r(elapsed / bound, 3)
            self.results["bulk_429s"] = trello_stats["rate_limited"]
            self.results["bulk_elapsed_s"] = r(elapsed, 2)
            self.results["bulk_trello_calls"] = calls
            self.results["worker_rss_mb"] = r(tracker.max("worker"), 1)
            self.results["web_rss_mb"] = r(tracker.max("web"), 1)
        finally:
            self.trello.post("/_emulator/config", {"token_limit": [100, 10.0], "key_limit": [300, 10.0]})
            if worker is not None:
                self.procs.stop(worker)
            self.procs.stop(web)
            self.dispose(app)

    def cpu_by_process(self, worker_pid: int, web_pid: int) -> dict[str, float]:
        """CPU seconds used so far by the worker, the web tier and each emulator."""
        return {"worker": cpu_seconds(worker_pid), "web": group_cpu_seconds(web_pid),
                **{f"emulator_{k}": cpu_seconds(pid) for k, pid in self.emulator_pids.items()}}

    @staticmethod
    def trace_summary(trace: Path) -> dict[str, Any]:
        """How late each throttled Trello call left after its reserved slot, and how long it took."""
        late, rtt, outcomes, limited_at, failures = [], [], {}, [], []
        first = None
        calls: list[tuple[float, float, float]] = []
        for line in trace.read_text().splitlines():
            slot, granted, done, _method, outcome = line.split()[:5]
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if slot == "None" or granted == "None":
                continue
            slot_t, granted_t, done_t = float(slot), float(granted), float(done)
            calls.append((slot_t, granted_t, done_t))
            first = slot_t if first is None else first
            late.append((granted_t - slot_t) * 1000)
            rtt.append((done_t - granted_t) * 1000)
            if outcome != "ok":
                limited_at.append(round(slot_t - first, 2))
                k = len(calls) - 1
                if k >= 100:  # the call 100 earlier is the one the provider's window still counted
                    p_slot, p_granted, p_done = calls[k - 100]
                    failures.append({"at_s": round(slot_t - first, 2),
                                     "slot_gap_to_call_100_earlier_ms": round((slot_t - p_slot) * 1000, 1),
                                     "call_100_earlier_round_trip_ms": round((p_done - p_granted) * 1000, 1)})
        p = loadgen.percentile
        return {"calls": len(late), "outcomes": outcomes,
                "left_after_slot_ms": {"p50": r(p(late, 50)), "p99": r(p(late, 99)), "max": r(max(late) if late else None)},
                "round_trip_ms": {"p50": r(p(rtt, 50)), "p99": r(p(rtt, 99)), "max": r(max(rtt) if rtt else None)},
                "calls_later_than_margin_25ms": sum(1 for a, b in zip(late, rtt, strict=False) if a + b > 25),
                "failed_at_s_after_first_slot": limited_at[:20], "failed_calls": failures[:20]}

    def event_cost_run(self, small_url: str, large_url: str, tag: str) -> dict[str, Any]:
        out = self.tmp / f"eventcost-{tag}.json"
        cfg = self.cfg
        child = self.procs.start(f"eventcost-{tag}", [
            PYTHON, "-m", "bench.probe", "eventcost", "--out", str(out), "--small-url", small_url,
            "--large-url", large_url, "--small", str(cfg["cost_small"]), "--large", str(cfg["cost_large"]),
            "--events", str(cfg["cost_events"]), "--move-events", str(cfg["cost_moves"]),
            "--sheets-url", self.sheets.base_url],
            self.env(LOG_LEVEL="WARNING"))
        code = child.popen.wait(400)
        tail = child.tail()
        self.procs.stop(child)
        if code != 0 or not out.exists():
            raise RuntimeError(f"event cost probe failed ({code}):\n{tail}")
        return json.loads(out.read_text())

    def phase_event_cost(self) -> None:
        # The probe sends two row-locating reads per card-move event: lift the Sheets quota for it.
        self.sheets.post("/_emulator/config", {"read_limit": None, "write_limit": None})
        try:
            sqlite_cost = self.event_cost_run(self.new_sqlite("eventcost-small")[0],
                                              self.new_sqlite("eventcost-large")[0], "sqlite")
            self.details["event_cost_sqlite"] = sqlite_cost
            self.results["event_cost_ratio_100k_vs_1k_links"] = r(
                sqlite_cost["large"]["row_edit_median_ms"] / sqlite_cost["small"]["row_edit_median_ms"], 3)
            if sqlite_cost["small"]["card_move_median_ms"]:
                self.results["card_move_cost_ratio_100k_vs_1k_rows"] = r(
                    sqlite_cost["large"]["card_move_median_ms"] / sqlite_cost["small"]["card_move_median_ms"], 3)
            pg_cost = self.event_cost_run(self.new_pg("eventcost_small"), self.new_pg("eventcost_large"), "postgres")
            self.details["event_cost_postgres"] = pg_cost
            self.results["event_cost_ratio_100k_vs_1k_links_postgres"] = r(
                pg_cost["large"]["row_edit_median_ms"] / pg_cost["small"]["row_edit_median_ms"], 3)
        finally:
            self.sheets.post("/_emulator/config", {"read_limit": [60, 60.0], "write_limit": [60, 60.0]})

    def phase_reconcile_noop(self) -> None:
        from server.extensions import db

        n = self.cfg["noop_rows"]
        account = Account(self.trello, self.sheets, f"noop{self.run_id}")
        rows, cards, leads = synced_state(account, 0x7000, n)
        seed_start = time.monotonic()
        account.create_sheet(rows)
        card_ids = create_cards(self.trello, account.board_id, cards)
        del rows, cards
        url, _path = self.new_sqlite("noop")
        app = self.app(url)
        workspace_id, _secret = account.seed_workspace(app)
        with app.app_context():
            insert_links(db.engine, workspace_id, leads, card_ids)
        self.dispose(app)
        seeded_s = time.monotonic() - seed_start
        self.trello.post("/_emulator/config", {"token_limit": [100, 10.0], "key_limit": [300, 10.0]})
        self.trello.delete("/_emulator/stats")
        self.sheets.delete("/_emulator/stats")
        out = self.tmp / "reconcile-noop.json"
        child = self.procs.start("reconcile-noop", [PYTHON, "-m", "bench.probe", "reconcile", workspace_id,
                                                    "--out", str(out)], self.env(DATABASE_URL=url))
        code = child.popen.wait(300)
        tail = child.tail()
        self.procs.stop(child)
        if code != 0 or not out.exists():
            raise RuntimeError(f"reconcile probe failed ({code}):\n{tail}")
        report = json.loads(out.read_text())
        trello_stats = self.trello.get("/_emulator/stats")
        sheets_stats = self.sheets.get("/_emulator/stats")
        trello_writes = sum(v for k, v in trello_stats["calls"].items() if not k.startswith("GET "))
        writes = trello_writes + sheets_stats["writes"]
        self.details["reconcile_noop"] = {
            "rows": n, "cards": n, "links": n, "seeding_s": r(seeded_s, 1), "elapsed_s": r(report["elapsed_s"], 3),
            "plan": report["plan"], "nothing_to_do": report["nothing_to_do"], "plan_errors": report["errors"],
            "trello_calls": trello_stats["calls"], "trello_429": trello_stats["rate_limited"],
            "sheets_calls": {k: v for k, v in sheets_stats["calls"].items() if v}, "sheets_429": sheets_stats["rate_limited"],
            "trello_writes": trello_writes, "sheets_writes": sheets_stats["writes"],
            "process_peak_rss_mb": r(report["peak_rss_mb"], 1)}
        self.results["reconcile_noop_50k_s"] = r(report["elapsed_s"], 3)
        self.results["reconcile_noop_writes"] = writes
        self.results["reconcile_noop_rss_mb"] = r(report["peak_rss_mb"], 1)
        if writes or not report["nothing_to_do"]:
            log(f"WARNING: the no-op reconciliation changed something: {report['plan']} "
                f"(Trello writes {trello_writes}, Sheets writes {sheets_stats['writes']})")

    # ------------------------------------------------------------------ run and report

    PHASES = ("web_sqlite", "baseline", "web_postgres", "propagation", "bulk", "event_cost", "reconcile_noop",
              "single_edit", "steady_edit", "isolation", "isolation_postgres", "key_budget", "backlog", "fields")

    def run(self, only: list[str] | None = None) -> int:
        started = time.monotonic()
        self.details["host_load_1m_at_start"] = host_load()
        try:
            self.run_phase("setup", lambda: (self.start_emulators(), self.prepare_databases()))
            if "setup" not in self.errors:
                for name in self.PHASES:
                    if not only or name in only:
                        self.run_phase(name, getattr(self, f"phase_{name}"))
        finally:
            self.procs.stop_all()
            self.drop_databases()
            if self.keep_temp:
                log(f"temporary files kept in {self.tmp}")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        total = time.monotonic() - started
        self.report(total)
        if only:
            return 1 if self.errors else 0
        missing = [k for k in REQUIRED if not isinstance(self.results.get(k), (int, float))]
        return 1 if (self.errors or missing) else 0

    def report(self, total_s: float) -> None:
        rows = []
        for key, (label, unit, target, check) in TARGETS.items():
            value = self.results.get(key)
            verdict = "" if check is None else ("n/a" if value is None else ("pass" if check(value) else "miss"))
            if key in ("card_move_cost_ratio_100k_vs_1k_rows", "key_fair_share_max_ratio") and verdict:
                verdict = "info: " + verdict
            rows.append((key, label, "—" if value is None else f"{value:g}", unit, target, verdict))
        widths = [max(len(row[i]) for row in rows + [("figure", "what", "value", "unit", "target", "result")])
                  for i in range(6)]
        header = ("figure", "what", "value", "unit", "target", "result")
        mode = "quick (tiny sizes, not comparable to targets)" if self.quick else "full"
        print(f"\nLeads Sync benchmark — {mode}; {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"{total_s:.0f} s\n")
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for row in rows:
            print("  ".join(c.ljust(w) if i != 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if self.errors:
            print("\ncould not measure:")
            for phase, message in self.errors.items():
                print(f"  {phase}: {message.splitlines()[0][:300]}")
        print("\ndetails:")
        print(json.dumps(self.details, indent=1, sort_keys=True, default=str))
        line = dict(self.results)
        line.update({"cores": os.cpu_count(), "python": platform.python_version(),
                     "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
                     "git_commit": git_commit(), "quick": self.quick, "total_s": round(total_s, 1),
                     "host_load_1m_at_end": host_load(),
                     "errors": self.errors or None})
        print(json.dumps(line, separators=(",", ":")), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Leads Sync benchmark (see bench/README.md).")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1-2 s runs (smoke test, < 60 s)")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temporary directory (logs, databases)")
    parser.add_argument("--only", default="", help=f"comma-separated phases to run (of {', '.join(Bench.PHASES)})")
    args = parser.parse_args(argv)

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    bench = Bench(args.quick, args.keep_temp)
    try:
        only = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = set(only) - set(Bench.PHASES)
        if unknown:
            parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
        return bench.run(only)
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped")
        return 130


if __name__ == "__main__":
    sys.exit(main())
