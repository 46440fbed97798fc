"""RUN_WORKER_IN_PROCESS=1 under gunicorn: the web processes apply events themselves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from server.extensions import db
from server.models import Workspace
from server.trello.client import TrelloClient
from server.trello.webhooks import delete_board_webhook, register_board_webhook
from tests.conftest import make_app
from tests.sync.world import build_world

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 20.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_gunicorn_runs_an_in_process_worker(tmp_path):
    database = f"sqlite:///{tmp_path / 'app.db'}"
    world = build_world(database, make_app=make_app)
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database, "PORT": str(port), "PUBLIC_BASE_URL": public,
           "TRELLO_API_BASE_URL": world.trello.api_base_url, "GOOGLE_SHEETS_API_BASE_URL": world.sheets.api_base_url,
           "TRELLO_API_KEY": "emulator-key", "TRELLO_API_SECRET": "emulator-secret",
           "SECRET_KEY": "test-secret-key-0123456789", "RUN_WORKER_IN_PROCESS": "1", "WEB_CONCURRENCY": "2",
           "RATE_LIMITS_ENABLED": "0", "SHEET_WRITE_WINDOW_S": "0", "LOG_LEVEL": "WARNING"}
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "server:create_app()"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(public + "/health")
        with world.app.app_context():
            workspace = db.session.get(Workspace, world.workspace_id)
            client = TrelloClient("emulator-key", world.token, base_url=world.trello.api_base_url)
            delete_board_webhook(workspace, client)
            register_board_webhook(workspace, client, public)
            db.session.commit()
            secret = workspace.addon_secret
        world.sheets.install_addon(world.spreadsheet_id, "Leads", webhook_url=f"{public}/webhooks/sheets/{world.workspace_id}",
                                   secret=secret)
        world.add_row(Name="Ada", Status="New")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not world.cards():
            time.sleep(0.1)
        assert [c["name"] for c in world.cards()] == ["Ada"]
        card = world.cards()[0]
        world.person.update_card(card["id"], idList=world.lists["Qualified"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and world.rows()[0]["Status"] != "Qualified":
            time.sleep(0.1)
        assert world.rows()[0]["Status"] == "Qualified"
    finally:
        web.send_signal(signal.SIGTERM)
        assert web.wait(timeout=30) == 0
        world.stop()
