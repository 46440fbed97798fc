"""A whole running system for end-to-end tests: both emulators, the web app on loopback, a worker.

Everything talks over real HTTP: the emulators POST signed webhooks to the app, the worker calls
the emulators through ``requests`` and gspread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from emulators.common import RunningServer, serve_in_thread
from emulators.sheets import SheetsEmulator
from emulators.trello import TrelloEmulator
from server.engine import build_worker
from server.extensions import db
from server.models import Event, Link, Workspace
from server.seed import DEMO_HEADER, DEMO_LISTS, demo_mapping, seed_workspace
from server.sync.worker import Worker
from server.trello.client import TrelloClient
from server.trello.webhooks import register_board_webhook

SHEET = "Leads"


@dataclass
class World:
    app: Any
    web: RunningServer
    trello: TrelloEmulator
    sheets: SheetsEmulator
    workspace_id: str
    board_id: str
    lists: dict[str, str]
    spreadsheet_id: str
    token: str
    person: TrelloClient  # a person working the board through Trello's API
    worker: Worker
    extra_workers: list[Worker] = field(default_factory=list)

    # ------------------------------------------------------------------ acting like people

    def add_row(self, **values: Any) -> int:
        return self.sheets.user_append(self.spreadsheet_id, SHEET, values)

    def edit_row(self, row: int, **values: Any) -> None:
        self.sheets.user_edit(self.spreadsheet_id, SHEET, row, values)

    def delete_row(self, row: int) -> None:
        self.sheets.user_delete_row(self.spreadsheet_id, SHEET, row)

    def rows(self) -> list[dict[str, Any]]:
        return self.sheets.rows_as_dicts(self.spreadsheet_id, SHEET)

    def row_for(self, lead_id: str) -> dict[str, Any]:
        return next(r for r in self.rows() if r.get("Lead ID") == lead_id)

    def cards(self, include_closed: bool = False) -> list[dict[str, Any]]:
        return self.trello.cards(self.board_id, include_closed=include_closed)

    def card_for(self, lead_id: str) -> dict[str, Any]:
        link = self.link(lead_id)
        return self.trello.card(link.card_id)

    def list_name(self, list_id: str) -> str:
        return next(name for name, lid in self.lists.items() if lid == list_id)

    # ------------------------------------------------------------------ database

    def link(self, lead_id: str) -> Link:
        with self.app.app_context():
            link = db.session.query(Link).filter_by(workspace_id=self.workspace_id, lead_id=lead_id).one()
            db.session.expunge(link)
            return link

    def links(self) -> list[Link]:
        with self.app.app_context():
            links = db.session.query(Link).filter_by(workspace_id=self.workspace_id).all()
            for link in links:
                db.session.expunge(link)
            return links

    def events(self, **filters: Any) -> list[Event]:
        with self.app.app_context():
            events = db.session.query(Event).filter_by(workspace_id=self.workspace_id, **filters).order_by(Event.id).all()
            for event in events:
                db.session.expunge(event)
            return events

    def workspace(self) -> Workspace:
        with self.app.app_context():
            workspace = db.session.get(Workspace, self.workspace_id)
            db.session.expunge(workspace)
            return workspace

    # ------------------------------------------------------------------ waiting

    def settle(self, timeout: float = 20.0) -> None:
        """Deliver every webhook and apply every event, until nothing moves any more."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            assert self.trello.wait_for_deliveries(timeout=10)
            assert self.sheets.wait_for_events(timeout=10)
            before = len(self.events())
            self.worker.drain(timeout_s=max(1.0, deadline - time.monotonic()))
            if len(self.events()) == before:
                quiet += 1
                if quiet >= 2:
                    return
            else:
                quiet = 0
        raise TimeoutError("the system did not settle")

    def stop(self) -> None:
        self.web.stop()
        self.trello.stop()
        self.sheets.stop()
        with self.app.app_context():
            db.engine.dispose()


@dataclass
class Emulated:
    """Both emulators started, with Ann's Trello member, token, board and an empty lead sheet."""

    trello: TrelloEmulator
    sheets: SheetsEmulator
    member: dict[str, Any]
    token: str
    board: dict[str, Any]
    lists: dict[str, str]
    spreadsheet_id: str


def start_emulators(delivery_retry_delays: tuple[float, ...] = (0.05, 0.1)) -> Emulated:
    trello = TrelloEmulator(api_key="emulator-key", api_secret="emulator-secret",
                            delivery_retry_delays=delivery_retry_delays)
    trello.start()
    sheets = SheetsEmulator(read_limit=None, write_limit=None)
    sheets.start()
    member = trello.add_member("ann", "Ann Example")
    token = trello.issue_token(member["id"])
    board = trello.add_board("Leads", member["id"], lists=DEMO_LISTS)
    lists = {lst["name"]: lst["id"] for lst in trello.lists(board["id"])}
    spreadsheet_id = sheets.create_spreadsheet("Leads", {SHEET: [DEMO_HEADER]})
    return Emulated(trello, sheets, member, token, board, lists, spreadsheet_id)


def build_world(database_url: str, *, make_app, config: dict[str, Any] | None = None,
                workspace_fields: dict[str, Any] | None = None) -> World:
    emulated = start_emulators()
    trello, sheets, member, token = emulated.trello, emulated.sheets, emulated.member, emulated.token
    board, lists, spreadsheet_id = emulated.board, emulated.lists, emulated.spreadsheet_id
    overrides = {
        "TRELLO_API_BASE_URL": trello.api_base_url,
        "GOOGLE_SHEETS_API_BASE_URL": sheets.api_base_url,
        "RATE_LIMITS_ENABLED": False,
        "SHEET_WRITE_WINDOW_S": 0.0,
        "WORKER_BACKOFF_BASE_S": 0.05,
        "WORKER_BACKOFF_MAX_S": 0.5,
        "RECONCILE_INTERVAL_S": 0,
    }
    overrides.update(config or {})
    app = make_app(database_url, **overrides)
    web = serve_in_thread(app)
    app.config["PUBLIC_BASE_URL"] = web.base_url
    with app.app_context():
        workspace = seed_workspace(
            db.session, email="ann@example.com", trello_member_id=member["id"], trello_username="ann",
            trello_token=token, google_token="google-token-ann", spreadsheet_id=spreadsheet_id, sheet_name=SHEET,
            board_id=board["id"], mapping=demo_mapping(lists), **(workspace_fields or {}))
        client = TrelloClient("emulator-key", token, base_url=trello.api_base_url)
        register_board_webhook(workspace, client, web.base_url)
        db.session.commit()
        workspace_id = workspace.id
        secret = workspace.addon_secret
    sheets.install_addon(spreadsheet_id, SHEET, webhook_url=f"{web.base_url}/webhooks/sheets/{workspace_id}",
                         secret=secret)
    worker = build_worker(app, worker_id="test-worker")
    person = TrelloClient("emulator-key", token, base_url=trello.api_base_url)
    return World(app=app, web=web, trello=trello, sheets=sheets, workspace_id=workspace_id, board_id=board["id"],
                 lists=lists, spreadsheet_id=spreadsheet_id, token=token, person=person, worker=worker)
