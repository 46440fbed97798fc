"""A whole running system for end-to-end tests: both emulators, the web app on loopback, a worker.

Everything talks over real HTTP: the emulators POST signed webhooks to the app, the worker calls
the emulators through ``requests`` and gspread. A world can hold several tenants (workspaces of
different people, each with its own board, sheet and tokens) sharing one deployment; the first
one's helpers are the world's own (``world.add_row`` is ``world.tenants[0].add_row``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from emulators.common import RunningServer, serve_in_thread
from emulators.sheets import SheetsEmulator
from emulators.trello import DEFAULT_APP_ID, TrelloEmulator
from server.engine import build_worker
from server.extensions import db
from server.models import Event, History, Link, Workspace
from server.seed import DEMO_HEADER, DEMO_LISTS, demo_mapping, seed_workspace
from server.sync.reconcile import Plan, reconcile
from server.sync.worker import Worker
from server.trello.client import TrelloClient
from server.trello.webhooks import register_board_webhook

SHEET = "Leads"
PERSON_KEY = "person-key"  # people work the board as in Trello's own UI: their actions name no app


@dataclass
class Tenant:
    """One workspace of the world, with the people who work its sheet and board."""

    world: World
    workspace_id: str
    board_id: str
    lists: dict[str, str]
    spreadsheet_id: str
    token: str
    person: TrelloClient  # a person working the board

    # ------------------------------------------------------------------ acting like people

    def add_row(self, **values: Any) -> int:
        return self.world.sheets.user_append(self.spreadsheet_id, SHEET, values)

    def paste_rows(self, rows: list[dict[str, Any]]) -> None:
        """Paste many rows below the table at once (one add-on delivery)."""
        first = len(self.rows()) + 2
        self.world.sheets.user_paste(self.spreadsheet_id, SHEET, first, rows)

    def edit_row(self, row: int, **values: Any) -> None:
        self.world.sheets.user_edit(self.spreadsheet_id, SHEET, row, values)

    def delete_row(self, row: int) -> None:
        self.world.sheets.user_delete_row(self.spreadsheet_id, SHEET, row)

    def rows(self) -> list[dict[str, Any]]:
        return self.world.sheets.rows_as_dicts(self.spreadsheet_id, SHEET)

    def row_for(self, lead_id: str) -> dict[str, Any]:
        return next(r for r in self.rows() if r.get("Lead ID") == lead_id)

    def cards(self, include_closed: bool = False) -> list[dict[str, Any]]:
        return self.world.trello.cards(self.board_id, include_closed=include_closed)

    def card_for(self, lead_id: str) -> dict[str, Any]:
        return self.world.trello.card(self.link(lead_id).card_id)

    def list_name(self, list_id: str) -> str:
        return next(name for name, lid in self.lists.items() if lid == list_id)

    def add_lead(self, **values: Any) -> tuple[int, str]:
        """A row a person adds (Ada Lovelace, ada@example.com, New, unless ``values`` say otherwise),
        synced: (its row, its lead id)."""
        self.add_row(**{"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", **values})
        self.world.settle()
        lead_id = self.rows()[-1]["Lead ID"]
        return self.link(lead_id).row_number or 0, lead_id

    def map_columns(self, mapping: dict[str, Any], columns: Sequence[str] = ()) -> None:
        """The workspace's mapping with ``mapping``'s keys set, and ``columns`` added to the sheet's
        header after Lead ID, as the sheet's owner would add them."""
        with self.world.app.app_context():
            workspace = db.session.get(Workspace, self.workspace_id)
            workspace.mapping = {**workspace.mapping, **mapping}
            db.session.commit()
        with self.world.sheets._lock:
            grid = self.world.sheets._sheet(self.spreadsheet_id, SHEET)[1]
            for offset, name in enumerate(columns):
                grid.set(1, len(DEMO_HEADER) + 1 + offset, name)

    # ------------------------------------------------------------------ database

    def link(self, lead_id: str) -> Link:
        with self.world.app.app_context():
            link = db.session.query(Link).filter_by(workspace_id=self.workspace_id, lead_id=lead_id).one()
            db.session.expunge(link)
            return link

    def links(self) -> list[Link]:
        with self.world.app.app_context():
            links = db.session.query(Link).filter_by(workspace_id=self.workspace_id).all()
            for link in links:
                db.session.expunge(link)
            return links

    def events(self, **filters: Any) -> list[Event]:
        with self.world.app.app_context():
            events = db.session.query(Event).filter_by(workspace_id=self.workspace_id, **filters).order_by(Event.id).all()
            for event in events:
                db.session.expunge(event)
            return events

    def history(self, **filters: Any) -> list[History]:
        """The workspace's history lines (``filters``: columns of ``History``), oldest first."""
        with self.world.app.app_context():
            lines = db.session.query(History).filter_by(workspace_id=self.workspace_id, **filters).order_by(History.id).all()
            for line in lines:
                db.session.expunge(line)
            return lines

    def reconcile(self, *, dry_run: bool = False) -> Plan:
        """A full sync of the workspace, run here (not queued)."""
        with self.world.app.app_context():
            return reconcile(db.session, db.session.get(Workspace, self.workspace_id),
                             self.world.worker.processor.providers, dry_run=dry_run)

    def workspace(self) -> Workspace:
        with self.world.app.app_context():
            workspace = db.session.get(Workspace, self.workspace_id)
            db.session.expunge(workspace)
            return workspace


@dataclass
class World:
    app: Any
    web: RunningServer
    trello: TrelloEmulator
    sheets: SheetsEmulator
    worker: Worker
    tenants: list[Tenant] = field(default_factory=list)
    extra_workers: list[Worker] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not self.__dict__.get("tenants"):
            raise AttributeError(name)
        return getattr(self.tenants[0], name)

    def add_tenant(self, username: str) -> Tenant:
        """Another person's workspace on the same deployment: own member, token, board and sheet."""
        member = self.trello.add_member(username, username.title())
        token = self.trello.issue_token(member["id"])
        board = self.trello.add_board(f"{username} leads", member["id"], lists=DEMO_LISTS)
        lists = {lst["name"]: lst["id"] for lst in self.trello.lists(board["id"])}
        spreadsheet_id = self.sheets.create_spreadsheet(f"{username} leads", {SHEET: [DEMO_HEADER]})
        tenant = _seed_tenant(self, member, token, board, lists, spreadsheet_id, f"{username}@example.com")
        self.tenants.append(tenant)
        return tenant

    # ------------------------------------------------------------------ the worker

    def start_worker(self, worker: Worker | None = None) -> Worker:
        """Run a worker's loop in a thread (as ``flask worker`` does), until ``stop``."""
        worker = worker or self.worker
        thread = threading.Thread(target=worker.run_forever, name=f"worker-{worker.worker_id}", daemon=True)
        thread.start()
        self._threads.append(thread)
        if worker is not self.worker and worker not in self.extra_workers:
            self.extra_workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        for worker in [self.worker, *self.extra_workers]:
            worker.stop()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads.clear()

    # ------------------------------------------------------------------ waiting

    def all_events(self) -> list[Event]:
        with self.app.app_context():
            events = db.session.query(Event).order_by(Event.id).all()
            for event in events:
                db.session.expunge(event)
            return events

    def settle(self, timeout: float = 20.0) -> None:
        """Deliver every webhook and apply every event, until nothing moves any more."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            assert self.trello.wait_for_deliveries(timeout=10)
            assert self.sheets.wait_for_events(timeout=10)
            before = len(self.all_events())
            self.worker.drain(timeout_s=max(1.0, deadline - time.monotonic()))
            if len(self.all_events()) == before:
                quiet += 1
                if quiet >= 2:
                    return
            else:
                quiet = 0
        raise TimeoutError("the system did not settle")

    def delivered(self) -> None:
        """Every webhook and add-on delivery made so far has reached the app (the worker may lag)."""
        assert self.trello.wait_for_deliveries(timeout=10)
        assert self.sheets.wait_for_events(timeout=10)

    def trello_writes(self) -> dict[str, int]:
        """Calls to Trello other than reads, by method and path, since the stats were last reset."""
        return {k: v for k, v in self.trello.stats()["calls"].items() if v and not k.startswith("GET")}

    def wait_until(self, predicate: Any, timeout: float = 20.0, interval: float = 0.02) -> float:
        """Poll ``predicate`` until true; returns the seconds it took (raises on timeout)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if predicate():
                return time.monotonic() - start
            time.sleep(interval)
        raise TimeoutError(f"not true within {timeout} s: {getattr(predicate, '__name__', predicate)}")

    def stop(self) -> None:
        self.stop_workers()
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
    trello.add_api_key(PERSON_KEY)
    trello.start()
    sheets = SheetsEmulator(read_limit=None, write_limit=None)
    sheets.start()
    member = trello.add_member("ann", "Ann Example")
    token = trello.issue_token(member["id"])
    board = trello.add_board("Leads", member["id"], lists=DEMO_LISTS)
    lists = {lst["name"]: lst["id"] for lst in trello.lists(board["id"])}
    spreadsheet_id = sheets.create_spreadsheet("Leads", {SHEET: [DEMO_HEADER]})
    return Emulated(trello, sheets, member, token, board, lists, spreadsheet_id)


def _seed_tenant(world: World, member: dict[str, Any], token: str, board: dict[str, Any], lists: dict[str, str],
                 spreadsheet_id: str, email: str, workspace_fields: dict[str, Any] | None = None) -> Tenant:
    with world.app.app_context():
        workspace = seed_workspace(
            db.session, email=email, trello_member_id=member["id"], trello_username=member["username"],
            trello_token=token, google_token=f"google-token-{member['username']}", spreadsheet_id=spreadsheet_id,
            sheet_name=SHEET, board_id=board["id"], mapping=demo_mapping(lists), **(workspace_fields or {}))
        client = TrelloClient("emulator-key", token, base_url=world.trello.api_base_url)
        register_board_webhook(workspace, client, world.web.base_url)
        db.session.commit()
        workspace_id = workspace.id
        secret = workspace.addon_secret
    world.sheets.install_addon(spreadsheet_id, SHEET, webhook_url=f"{world.web.base_url}/webhooks/sheets/{workspace_id}",
                               secret=secret)
    person = TrelloClient(PERSON_KEY, token, base_url=world.trello.api_base_url)
    return Tenant(world=world, workspace_id=workspace_id, board_id=board["id"], lists=lists,
                  spreadsheet_id=spreadsheet_id, token=token, person=person)


def build_world(database_url: str, *, make_app, config: dict[str, Any] | None = None,
                workspace_fields: dict[str, Any] | None = None) -> World:
    emulated = start_emulators()
    overrides = {
        "TRELLO_API_BASE_URL": emulated.trello.api_base_url,
        "GOOGLE_SHEETS_API_BASE_URL": emulated.sheets.api_base_url,
        "RATE_LIMITS_ENABLED": False,
        "SHEET_WRITE_WINDOW_S": 0.0,
        "WORKER_BACKOFF_BASE_S": 0.05,
        "WORKER_BACKOFF_MAX_S": 0.5,
        "RECONCILE_INTERVAL_S": 0,
        "TRELLO_APP_ID": DEFAULT_APP_ID,
    }
    overrides.update(config or {})
    app = make_app(database_url, **overrides)
    web = serve_in_thread(app)
    app.config["PUBLIC_BASE_URL"] = web.base_url
    world = World(app=app, web=web, trello=emulated.trello, sheets=emulated.sheets,
                  worker=build_worker(app, worker_id="test-worker"))
    world.tenants.append(_seed_tenant(world, emulated.member, emulated.token, emulated.board, emulated.lists,
                                      emulated.spreadsheet_id, "ann@example.com", workspace_fields))
    return world
