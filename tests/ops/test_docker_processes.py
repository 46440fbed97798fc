"""What the Docker image runs, run here directly: ``docker/entrypoint.sh`` web, worker, release, demo.

``web`` is real gunicorn with two processes and ``worker`` a real ``flask worker``, sharing a
``PROMETHEUS_MULTIPROC_DIR`` as docker-compose has them share a volume; a row and a card are
synced through them against the emulators, and ``/metrics`` is scraped and parsed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import requests
from prometheus_client.parser import text_string_to_metric_families

from emulators.trello import DEFAULT_APP_ID
from server.extensions import db
from server.models import Workspace
from server.trello.client import TrelloClient
from server.trello.webhooks import delete_board_webhook, register_board_webhook
from tests.conftest import make_app, migrations_head
from tests.sync.world import build_world

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
VENV_BIN = str(Path(sys.executable).parent)
TOKEN = "metrics-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(tmp_path),
           "LANG": "C.UTF-8", "LOG_LEVEL": "WARNING", "INSTANCE_PATH": str(tmp_path / "instance")}
    env.update(extra)
    return env


def _spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(ENTRYPOINT), command], cwd="/", env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The entrypoint with ``args``, to completion (from another directory: it finds the app itself)."""
    return subprocess.run([str(ENTRYPOINT), *args], cwd="/", env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _stop(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def _wait(predicate: Callable[[], Any], what: str, logs: list[Path], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.RequestException, OSError):
            value = None
        if value:
            return value
        time.sleep(0.1)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def _scrape(base_url: str) -> dict[str, dict[tuple, float]]:
    """``{sample name: {sorted label items: value}}`` of one scrape."""
    answer = requests.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _get(samples: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for key, v in samples.get(name, {}).items() if set(labels.items()) <= set(key))


def test_web_and_worker_sync_and_are_scraped_under_gunicorn(tmp_path):
    database = f"sqlite:///{tmp_path / 'app.db'}"
    world = build_world(database, make_app=make_app)  # emulators, a migrated database, Ann's workspace
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    metrics_dir = tmp_path / "metrics"
    env = _base_env(tmp_path, DATABASE_URL=database, PORT=str(port), PUBLIC_BASE_URL=public,
                    TRELLO_API_BASE_URL=world.trello.api_base_url,
                    GOOGLE_SHEETS_API_BASE_URL=world.sheets.api_base_url, TRELLO_API_KEY="emulator-key",
                    TRELLO_API_SECRET="emulator-secret", TRELLO_APP_ID=DEFAULT_APP_ID,
                    SECRET_KEY="test-secret-key-0123456789", WEB_CONCURRENCY="2", RATE_LIMITS_ENABLED="1",
                    SHEET_WRITE_WINDOW_S="0", RECONCILE_INTERVAL_S="0", METRICS_ENABLED="1",
                    METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    logs = [tmp_path / "web.log", tmp_path / "worker.log"]
    web = _spawn("web", env, logs[0])
    worker = _spawn("worker", env, logs[1])
    try:
        _wait(lambda: requests.get(f"{public}/health", timeout=2).status_code == 200, "gunicorn", logs)
        _wait(lambda: requests.get(f"{public}/ready", timeout=2).status_code == 200, "the worker's heartbeat", logs)
        assert metrics_dir.is_dir()  # made by the entrypoint

        with world.app.app_context():  # Trello's webhook and the add-on now deliver to gunicorn
            workspace = db.session.get(Workspace, world.workspace_id)
            client = TrelloClient("emulator-key", world.token, base_url=world.trello.api_base_url)
            delete_board_webhook(workspace, client)
            register_board_webhook(workspace, client, public)
            db.session.commit()
            secret = workspace.addon_secret
        world.sheets.install_addon(world.spreadsheet_id, "Leads", secret=secret,
                                   webhook_url=f"{public}/webhooks/sheets/{world.workspace_id}")

        world.add_row(Name="Ada", Status="New")
        card = _wait(lambda: next(iter(world.cards()), None), "the card", logs)
        assert card["name"] == "Ada"
        world.person.update_card(card["id"], idList=world.lists["Qualified"])
        _wait(lambda: world.rows()[0]["Status"] == "Qualified", "the row to follow the card", logs)

        samples = _scrape(public)
        # the worker process's counters, summed into the web's scrape
        assert _get(samples, "leads_sync_outbound_requests_total", provider="trello", status="200") >= 2
        assert _get(samples, "leads_sync_outbound_requests_total", provider="sheets", status="200") >= 1
        assert _get(samples, "leads_sync_propagation_seconds_count", direction="sheet_to_trello") >= 1
        assert _get(samples, "leads_sync_propagation_seconds_count", direction="trello_to_sheet") >= 1
        assert 0 < _get(samples, "leads_sync_propagation_seconds_sum") < 60
        assert _get(samples, "leads_sync_limiter_wait_seconds_count", limit="trello") >= 2
        assert _get(samples, "leads_sync_rate_limited_total") == 0
        # the web processes' counters: the webhook deliveries they answered
        assert _get(samples, "leads_sync_http_requests_total", route="/webhooks/trello/<workspace_id>") >= 1
        assert _get(samples, "leads_sync_http_requests_total", route="/webhooks/sheets/<workspace_id>") >= 1
        # the database's gauges: the worker's two event loops alive (WORKER_CONCURRENCY's default), nothing waiting
        assert _get(samples, "leads_sync_workers_alive") == 2
        assert len(samples["leads_sync_worker_last_seen_timestamp_seconds"]) == 2
        assert _get(samples, "leads_sync_events", state="pending") == 0

        # Whichever gunicorn process answers, a scrape sums them all: ten probes count ten.
        before = _get(samples, "leads_sync_http_requests_total", route="/health", status="200")
        for _ in range(10):  # a new connection each: gunicorn's processes take turns accepting them
            assert requests.get(f"{public}/health", headers={"Connection": "close"}, timeout=5).ok
        for _ in range(4):  # several scrapes, likely answered by both web processes
            assert _get(_scrape(public), "leads_sync_http_requests_total", route="/health", status="200") == before + 10

        # SIGTERM stops the worker cleanly; it is no longer heard from, its counts stay.
        assert _stop(worker) == 0
        answer = requests.get(f"{public}/ready", timeout=5)
        assert answer.status_code == 503
        assert answer.json()["reason"] == "no sync worker has been heard from"
        after = _scrape(public)
        assert _get(after, "leads_sync_workers_alive") == 0
        assert _get(after, "leads_sync_outbound_requests_total", provider="trello", status="200") >= 2
    finally:
        codes = [_stop(worker), _stop(web)]
        world.stop()
    assert codes == [0, 0], [log.read_text()[-2000:] for log in logs]


def test_release_migrates_a_fresh_postgres_database(pg_url, tmp_path):
    from server.crypto import generate_key

    env = _base_env(tmp_path, DATABASE_URL=pg_url, APP_ENV="production",
                    SECRET_KEY="release-test-secret-key-0123456789", TOKEN_ENCRYPTION_KEY=generate_key())
    done = _run(env, "release")
    assert done.returncode == 0, done.stdout + done.stderr
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone()[0] == migrations_head()
        assert connection.execute("SELECT count(*) FROM worker_heartbeats").fetchone()[0] == 0
    again = _run(env, "release")
    assert again.returncode == 0, again.stderr  # a second release changes nothing


def test_release_refuses_production_without_secrets(pg_url, tmp_path):
    env = _base_env(tmp_path, DATABASE_URL=pg_url, APP_ENV="production")
    done = _run(env, "release")
    assert done.returncode == 1
    assert "configuration error: SECRET_KEY" in done.stderr + done.stdout


def test_demo_and_any_other_command(tmp_path):
    env = _base_env(tmp_path)
    demo = _run(env, "demo", "--help")
    assert demo.returncode == 0, demo.stderr
    assert "Run the local demo" in demo.stdout
    key = _run(env, "flask", "--app", "server", "keygen")
    assert key.returncode == 0, key.stderr
    assert len(key.stdout.strip()) == 44  # a Fernet key
