"""Local demo: the service, its worker and the Google and Trello emulators, with a seeded workspace.

Run through ``bash scripts/demo.sh``. Everything is on loopback and SQLite; no credentials.
Open the printed demo page: the emulated sheet with the add-on's sidebar, and the emulated board
with the Power-Up. Edit a row, add one, or move a card, and watch the other side follow.
Connect Google and Connect Trello on the dashboard go to the emulators' consent pages. Ctrl-C
stops everything. The emulators keep their data in memory, so every run starts afresh.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .world import DemoWorld

PORT_FLAGS = (("port", "--port"), ("trello_port", "--trello-port"), ("sheets_port", "--sheets-port"),
              ("google_port", "--google-port"), ("mail_port", "--mail-port"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo",
                                     description="Run the local demo (service + worker + emulators).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")),
                        help="the service and its demo page (default 5000, or $PORT)")
    parser.add_argument("--trello-port", type=int, default=5101, help="the Trello emulator (default 5101)")
    parser.add_argument("--sheets-port", type=int, default=5102, help="the Google Sheets emulator (default 5102)")
    parser.add_argument("--google-port", type=int, default=5103,
                        help="the Google sign-in emulator (default 5103)")
    parser.add_argument("--mail-port", type=int, default=5104,
                        help="the demo's mailbox, an SMTP server that receives the alerts (default 5104)")
    return parser.parse_args(argv)


def taken_port(args: argparse.Namespace) -> tuple[int, str] | None:
    """The first port (and its option) that another process holds, or None."""
    seen: set[int] = set()
    for attribute, flag in PORT_FLAGS:
        port = getattr(args, attribute)
        if port in seen:
            return port, flag
        seen.add(port)
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return port, flag
    return None


def port_message(port: int, flag: str) -> str:
    return f"demo: port {port} is already in use; stop what uses it or choose another port with {flag} <port>"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    taken = taken_port(args)
    if taken:
        print(port_message(*taken), file=sys.stderr)
        return 2

    from .world import DemoWorld

    public = f"http://127.0.0.1:{args.port}"
    world = DemoWorld(public)
    try:
        world.start(args.trello_port, args.sheets_port, args.google_port, args.mail_port)
    except OSError as exc:  # taken between the check and the start
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"demo: a port is already in use ({exc}); choose others with --port, --trello-port, "
              "--sheets-port, --google-port and --mail-port", file=sys.stderr)
        return 2
    try:
        running = _run(world, args, public)
    except OSError as exc:
        world.stop()
        if exc.errno != errno.EADDRINUSE:
            raise
        print(port_message(args.port, "--port"), file=sys.stderr)
        return 2
    _wait_for_signal()
    print("stopping...", flush=True)
    running.stop()
    world.stop()
    return 0


class _Running:
    """The web server and the worker of a demo run."""

    def __init__(self, worker: Any, web: Any) -> None:
        self.worker, self.web = worker, web

    def stop(self) -> None:
        self.worker.stop()
        self.web.stop()


def _run(world: DemoWorld, args: argparse.Namespace, public: str) -> _Running:
    """Seed the emulators, build and serve the app, seed its workspace, start the worker."""
    from flask_migrate import upgrade

    from emulators.common import serve_in_thread
    from server import create_app
    from server.engine import start_in_process_worker
    from server.extensions import db, db_session
    from server.models import ProviderAccount
    from server.models.enums import Command
    from server.seed import DEMO_LISTS, demo_mapping, seed_workspace
    from server.sync.queue import enqueue_command
    from server.trello.client import TrelloClient
    from server.trello.webhooks import register_board_webhook

    from . import web as demo_web
    from .world import DEMO_EMAIL, DEMO_USERNAME, SAMPLE_LEADS, sheet_rows

    trello, sheets = world.trello, world.sheets
    member = world.member
    token = trello.issue_token(member["id"])
    board = trello.add_board("Leads", member["id"], lists=DEMO_LISTS)
    lists = world.list_ids(board["id"])
    spreadsheet_id = sheets.create_spreadsheet("Leads", {"Leads": sheet_rows(SAMPLE_LEADS)})
    world.make_template()

    instance = Path(os.environ.get("INSTANCE_PATH") or Path(__file__).resolve().parent.parent / "instance")
    instance.mkdir(exist_ok=True)
    database = instance / "demo.db"
    # The emulators keep their data in memory: a database from an earlier run would point at
    # spreadsheets and boards that no longer exist, so every run starts with a new one.
    for suffix in ("", "-wal", "-shm"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    (instance / "ratelimits.sqlite").unlink(missing_ok=True)
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "PUBLIC_BASE_URL": public,
        **world.app_settings(),
        "SHEET_WRITE_WINDOW_S": 0.2,
        "RECONCILE_INTERVAL_S": 300,
        "DEV_LOGIN_ENABLED": True,  # sign in by email on /auth/dev-login, or with the emulated Google
    })
    with app.app_context():
        upgrade()
    sheet_url = world.sheet_ui_url(spreadsheet_id)
    board_url = world.board_ui_url(board["id"])
    demo_web.install(app, world, sheet_url, board_url)
    web = serve_in_thread(app, port=args.port)

    mapping = {**demo_mapping(lists), "board_name": board["name"], "list_names": {v: k for k, v in lists.items()}}
    grant = world.google.issue_grant(DEMO_EMAIL)  # what the demo user's Google consent would have given
    with app.app_context():
        workspace = seed_workspace(db_session(), email=DEMO_EMAIL, trello_member_id=member["id"],
                                   trello_username=DEMO_USERNAME, trello_token=token,
                                   google_token=grant["access_token"], spreadsheet_id=spreadsheet_id,
                                   sheet_name="Leads", board_id=board["id"],
                                   sheet_gid=sheets.sheet_id(spreadsheet_id, "Leads"), mapping=mapping,
                                   name="Demo leads")
        google = db.session.query(ProviderAccount).filter_by(id=workspace.google_account_id).one()
        google.provider_user_id = world.google_sub  # the emulated Google's account: connecting it again updates it
        google.refresh_token = grant.get("refresh_token")
        google.token_expires_at = datetime.now(UTC) + timedelta(seconds=int(grant["expires_in"]))
        register_board_webhook(workspace, TrelloClient(trello.api_key, token, base_url=trello.api_base_url), public)
        enqueue_command(db_session(), workspace.id, Command.RECONCILE, {"first_sync": True})  # the sample rows → cards
        db.session.commit()
        workspace_id, secret, name = workspace.id, workspace.addon_secret, workspace.name
    sheets.install_addon(spreadsheet_id, "Leads", webhook_url=f"{public}/webhooks/sheets/{workspace_id}",
                         secret=secret, assign_ids=True)
    world.sidebar.connect(spreadsheet_id, "Leads", server_url=public, workspace_id=workspace_id,
                          workspace_name=name, secret=secret)
    world.sidebar.default_server_url = public
    worker = start_in_process_worker(app)

    print(f"""
Leads Sync demo is running.
  demo page (sheet with its sidebar, board with the Power-Up): {public}/demo
  emulated Google Sheet:                     {sheet_url}
  emulated Trello board:                     {board_url}
  dashboard (sign in as {DEMO_EMAIL}):   {public}/auth/dev-login
  service health:                            {public}/health
Edit a row, add one, or move a card, and watch the other side follow. Ctrl-C stops everything.
""", flush=True)
    return _Running(worker, web)


def _wait_for_signal() -> None:
    stop = threading.Event()
    # SIGINT too, explicitly: started in the background by a non-interactive shell, a process
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
