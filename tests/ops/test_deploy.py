"""The Procfile's processes, started the way a Heroku-style platform starts them, run a sync.

Against a fresh PostgreSQL database: ``release`` migrates, ``web`` (gunicorn with ``PORT``) and
``worker`` run as separate processes configured only through the environment, with both provider
emulators in this test process. A row added in the sheet becomes a card; the card moved in Trello
moves the row's status. SIGTERM stops both processes cleanly (exit status 0).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

from tests.sync.world import start_emulators

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SHEET = "Leads"


def procfile() -> dict[str, str]:
    """``{process type: command}`` from the Procfile, as the platform reads it."""
    processes: dict[str, str] = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        processes[name.strip()] = command.strip()
    return processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, what: str, processes: dict[str, Any] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, (proc, log) in (processes or {}).items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{Path(log).read_text()[-4000:]}")
        try:
            value = check()
        except Exception:  # noqa: BLE001 - keep polling
            value = None
        if value:
            return value
        time.sleep(0.2)
    logs = "\n".join(f"--- {name}\n{Path(log).read_text()[-3000:]}" for name, (_, log) in (processes or {}).items())
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def spawn(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Like the platform: ``sh -c`` with the Procfile command (``exec`` so signals reach it), own group."""
    handle = log.open("wb")
    return subprocess.Popen(["/bin/sh", "-c", "exec " + command], cwd=ROOT, env=env, stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGTERM to the process group (what the platform sends on shutdown), then wait."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def test_procfile_processes_sync_a_row_and_a_card(pg_url, tmp_path):
    processes = procfile()
    assert set(processes) >= {"web", "worker", "release"}
    assert "gunicorn" in processes["web"] and "gunicorn.conf.py" in processes["web"]

    from server.crypto import generate_key

    emulated = start_emulators(delivery_retry_delays=(0.2, 0.5, 1))
    trello, sheets, token = emulated.trello, emulated.sheets, emulated.token
    board, lists, spreadsheet_id = emulated.board, emulated.lists, emulated.spreadsheet_id

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "PORT": str(port),
        "DATABASE_URL": pg_url.replace("postgresql://", "postgres://", 1),  # the way Heroku spells it
        "APP_ENV": "production",
        "SECRET_KEY": "deploy-test-secret-key-0123456789abcdef",
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "PUBLIC_BASE_URL": base_url,
        # Loopback has no TLS proxy in front: production would redirect the emulators' http POSTs.
        "FORCE_HTTPS": "0",
        "TRELLO_API_KEY": "emulator-key",
        "TRELLO_API_SECRET": "emulator-secret",
        "TRELLO_API_BASE_URL": trello.api_base_url,
        "GOOGLE_SHEETS_API_BASE_URL": sheets.api_base_url,
        "SHEET_WRITE_WINDOW_S": "0",
        "RECONCILE_INTERVAL_S": "0",
        "WORKER_BACKOFF_BASE_S": "0.1",
        "WORKER_BACKOFF_MAX_S": "1",
        "WEB_CONCURRENCY": "2",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }
    running: dict[str, tuple[subprocess.Popen, Path]] = {}
    try:
        # release: the migration, run to completion before the new processes start
        release = subprocess.run(["/bin/sh", "-c", "exec " + processes["release"]], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert release.returncode == 0, release.stdout + release.stderr

        running["web"] = (spawn(processes["web"], env, tmp_path / "web.log"), tmp_path / "web.log")
        running["worker"] = (spawn(processes["worker"], env, tmp_path / "worker.log"), tmp_path / "worker.log")
        wait_for(lambda: requests.get(f"{base_url}/health", timeout=2).status_code == 200, 30, "gunicorn", running)
        # ready once the worker's loop has beaten (server/metrics/heartbeat.py)
        wait_for(lambda: requests.get(f"{base_url}/ready", timeout=5).status_code == 200, 30, "/ready", running)

        # Seed what the dashboard would have made: a user, accounts, a workspace, its webhook, the add-on.
        workspace_id, secret = seed(pg_url, env, token, spreadsheet_id, board["id"], lists, base_url)
        assert any(h["callbackURL"] == f"{base_url}/webhooks/trello/{workspace_id}" for h in trello.webhooks())
        sheets.install_addon(spreadsheet_id, SHEET, webhook_url=f"{base_url}/webhooks/sheets/{workspace_id}",
                             secret=secret)

        # A row added in the sheet: the add-on posts to gunicorn, the worker creates the card.
        sheets.user_append(spreadsheet_id, SHEET, {"Name": "Ada Lovelace", "Email": "ada@example.com",
                                                   "Company": "Analytical Engines", "Status": "New"})
        card = wait_for(lambda: next((c for c in trello.cards(board["id"]) if c["name"] == "Ada Lovelace"), None),
                        40, "the card", running)
        assert card["idList"] == lists["New"]
        assert "Email: ada@example.com" in card["desc"]

        # The card moved in Trello: Trello's webhook reaches gunicorn, the worker updates the row.
        from server.trello.client import TrelloClient

        person = TrelloClient("emulator-key", token, base_url=trello.api_base_url)
        person.update_card(card["id"], idList=lists["Qualified"])
        row = wait_for(lambda: next((r for r in sheets.rows_as_dicts(spreadsheet_id, SHEET)
                                     if r.get("Name") == "Ada Lovelace" and r.get("Status") == "Qualified"), None),
                       40, "the row to follow the card", running)
        assert row["Lead ID"]
        # The app logs one JSON object a line in production, and never the tokens or keys.
        web_log = (tmp_path / "web.log").read_text()
        worker_log = (tmp_path / "worker.log").read_text()
        json_lines = [line for line in (web_log + worker_log).splitlines() if line.startswith("{")]
        assert json_lines and all(isinstance(json.loads(line), dict) for line in json_lines)
        for log in (web_log, worker_log):
            assert token not in log and secret not in log and env["TOKEN_ENCRYPTION_KEY"] not in log
    finally:
        codes = {name: stop(proc) for name, (proc, _) in running.items()}
        trello.stop()
        sheets.stop()
    logs = {name: (tmp_path / f"{name}.log").read_text()[-3000:] for name in running}
    assert codes == {"web": 0, "worker": 0}, (codes, logs)


def test_app_json_describes_the_deploy():
    manifest = json.loads((ROOT / "app.json").read_text())
    assert manifest["addons"] == ["heroku-postgresql"]
    env = manifest["env"]
    for name in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "APP_ENV", "PUBLIC_BASE_URL", "TRELLO_API_KEY",
                 "TRELLO_API_SECRET", "TRELLO_POWERUP_ID", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"):
        assert env[name]["description"], name
    assert env["SECRET_KEY"]["generator"] == "secret"
    assert env["APP_ENV"]["value"] == "production"
    assert "keygen" in env["TOKEN_ENCRYPTION_KEY"]["description"]
    assert set(manifest["formation"]) == set(procfile()) - {"release"}
    assert "postdeploy" not in manifest.get("scripts", {})


def seed(pg_url: str, env: dict[str, str], token: str, spreadsheet_id: str, board_id: str,
         lists: dict[str, str], base_url: str) -> tuple[str, str]:
    from server import create_app
    from server.extensions import db
    from server.seed import demo_mapping, seed_workspace
    from server.trello.client import TrelloClient
    from server.trello.webhooks import register_board_webhook

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": pg_url, "APP_ENV": "production", "SECRET_KEY": env["SECRET_KEY"],
        "TOKEN_ENCRYPTION_KEY": env["TOKEN_ENCRYPTION_KEY"], "PUBLIC_BASE_URL": base_url,
        "TRELLO_API_KEY": "emulator-key", "TRELLO_API_SECRET": "emulator-secret", "LOG_LEVEL": "WARNING",
        "FORCE_HTTPS": False,
    })
    try:
        with app.app_context():
            workspace = seed_workspace(
                db.session, email="ann@example.com", trello_member_id="ann-member", trello_username="ann",
                trello_token=token, google_token="google-token-ann", spreadsheet_id=spreadsheet_id, sheet_name=SHEET,
                board_id=board_id, mapping=demo_mapping(lists))
            client = TrelloClient("emulator-key", token, base_url=env["TRELLO_API_BASE_URL"])
            register_board_webhook(workspace, client, base_url)  # Trello HEADs gunicorn first
            db.session.commit()
            return workspace.id, workspace.addon_secret
    finally:
        with app.app_context():
            db.engine.dispose()
