"""Local demo: the service, its worker and both provider emulators, with a seeded workspace.

Run through ``bash scripts/demo.sh``. Everything is on loopback and SQLite; no credentials.
Open the printed demo page: the emulated sheet and board side by side. Edit a row, add one, or
move a card, and watch the other side follow. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

SAMPLE_LEADS = [
    {"Name": "Ada Lovelace", "Email": "ada@example.com", "Phone": "555-0100", "Company": "Analytical Engines",
     "Status": "New", "Notes": "Asked for a demo"},
    {"Name": "Grace Hopper", "Email": "grace@example.com", "Phone": "555-0101", "Company": "Navy Labs",
     "Status": "Contacted", "Notes": ""},
    {"Name": "Katherine Johnson", "Email": "katherine@example.com", "Phone": "555-0102", "Company": "NASA",
     "Status": "Qualified", "Notes": "Budget approved"},
]

DEMO_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Leads Sync demo</title>
<style>body{{margin:0;font:14px system-ui,sans-serif;background:#f4f5f7}}header{{padding:8px 14px;background:#172b4d;color:#fff}}
header a{{color:#9fd0ff}}main{{display:flex;flex-direction:column;gap:8px;padding:8px;height:calc(100vh - 70px)}}
iframe{{flex:1;border:1px solid #ccd;background:#fff;border-radius:6px}}</style></head><body>
<header><b>Leads Sync demo</b> — top: the Google Sheet (emulated), bottom: the Trello board (emulated).
Edit a cell, add a row, or move a card; the other side follows within a second or two.
<a href="{sheet}" target="_blank">sheet</a> · <a href="{board}" target="_blank">board</a> ·
<a href="/health">health</a></header>
<main><iframe src="{sheet}" title="Sheet"></iframe><iframe src="{board}" title="Board"></iframe></main></body></html>"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local demo (service + worker + emulators).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--trello-port", type=int, default=5101)
    parser.add_argument("--sheets-port", type=int, default=5102)
    parser.add_argument("--keep-data", action="store_true", help="keep the previous demo database")
    args = parser.parse_args(argv)

    from flask_migrate import upgrade

    from emulators.common import serve_in_thread
    from emulators.sheets import SheetsEmulator
    from emulators.trello import TrelloEmulator
    from server import create_app
    from server.engine import start_in_process_worker
    from server.extensions import db
    from server.seed import DEMO_HEADER, DEMO_LISTS, demo_mapping, seed_workspace
    from server.sync.queue import enqueue_command
    from server.trello.client import TrelloClient
    from server.trello.webhooks import register_board_webhook

    trello = TrelloEmulator(api_key="demo-key", api_secret="demo-secret")
    trello.start(port=args.trello_port)
    sheets = SheetsEmulator()
    sheets.start(port=args.sheets_port)
    member = trello.add_member("demo", "Demo Seller")
    token = trello.issue_token(member["id"])
    board = trello.add_board("Leads", member["id"], lists=DEMO_LISTS)
    lists = {lst["name"]: lst["id"] for lst in trello.lists(board["id"])}
    rows = [DEMO_HEADER] + [[lead.get(column, "") for column in DEMO_HEADER] for lead in SAMPLE_LEADS]
    spreadsheet_id = sheets.create_spreadsheet("Leads", {"Leads": rows})

    instance = Path(os.environ.get("INSTANCE_PATH") or Path(__file__).resolve().parent.parent / "instance")
    instance.mkdir(exist_ok=True)
    database = instance / "demo.db"
    if not args.keep_data:
        for suffix in ("", "-wal", "-shm"):
            Path(str(database) + suffix).unlink(missing_ok=True)
        (instance / "ratelimits.sqlite").unlink(missing_ok=True)
    public = f"http://127.0.0.1:{args.port}"
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
        "PUBLIC_BASE_URL": public,
        "TRELLO_API_KEY": "demo-key", "TRELLO_API_SECRET": "demo-secret",
        "TRELLO_APP_ID": trello.app_id or "",  # our own writes' echoes known by their provenance
        "TRELLO_API_BASE_URL": trello.api_base_url,
        "GOOGLE_SHEETS_API_BASE_URL": sheets.api_base_url,
        "SHEET_WRITE_WINDOW_S": 0.2,
        "RECONCILE_INTERVAL_S": 300,
        "DEV_LOGIN_ENABLED": True,  # the demo has no Google: sign in by email on /auth/dev-login
    })
    with app.app_context():
        upgrade()
    sheet_url = f"{sheets.base_url}/_emulator/ui/spreadsheets/{spreadsheet_id}/Leads"
    board_url = f"{trello.base_url}/_emulator/ui/boards/{board['id']}"
    app.add_url_rule("/demo", "demo", lambda: DEMO_PAGE.format(sheet=sheet_url, board=board_url))
    web = serve_in_thread(app, port=args.port)

    with app.app_context():
        workspace = seed_workspace(db.session, email="demo@example.com", trello_member_id=member["id"],
                                   trello_username="demo", trello_token=token, google_token="demo-google-token",
                                   spreadsheet_id=spreadsheet_id, sheet_name="Leads", board_id=board["id"],
                                   sheet_gid=sheets.sheet_id(spreadsheet_id, "Leads"),
                                   mapping=demo_mapping(lists), name="Demo leads")
        register_board_webhook(workspace, TrelloClient("demo-key", token, base_url=trello.api_base_url), public)
        enqueue_command(db.session, workspace.id, "reconcile", {"first_sync": True})  # the sample rows → cards
        db.session.commit()
        workspace_id, secret = workspace.id, workspace.addon_secret
    sheets.install_addon(spreadsheet_id, "Leads", webhook_url=f"{public}/webhooks/sheets/{workspace_id}",
                         secret=secret, assign_ids=True)
    worker = start_in_process_worker(app)

    print(f"""
Leads Sync demo is running.
  demo page (sheet and board side by side): {public}/demo
  emulated Google Sheet:                     {sheet_url}
  emulated Trello board:                     {board_url}
  dashboard (sign in as demo@example.com):   {public}/auth/dev-login
  service health:                            {public}/health
Edit a row, add one, or move a card, and watch the other side follow. Ctrl-C stops everything.
""", flush=True)
    stop = threading.Event()
    # SIGINT too, explicitly: started in the background by a non-interactive shell, a process
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    print("stopping...", flush=True)
    worker.stop()
    web.stop()
    trello.stop()
    sheets.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
