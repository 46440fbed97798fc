"""The demo's stand-ins for Google and Trello: the emulators, their UIs' add-ons, and seed data.

:class:`DemoWorld` starts the Trello, Sheets and Google sign-in emulators on the given ports,
enables the Power-Up on the Trello emulator's boards (``emulators.trello_powerup``), puts the
add-on's sidebar beside the emulated sheet (``emulators.sheets_sidebar``), and gives the app the
settings that point every Google and Trello endpoint at them (:meth:`DemoWorld.app_settings`).
It also makes more spreadsheets and boards on demand, so that the setup wizard can be tried.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from emulators.google_oauth import GoogleOAuthEmulator
from emulators.sheets import SheetsEmulator
from emulators.sheets_sidebar import SidebarBridge
from emulators.trello import TrelloEmulator
from emulators.trello_powerup import KEYS_PATH, LIBRARY_PATH, PowerUp, PowerUpHost
from server.seed import DEMO_HEADER, DEMO_LISTS

from .mail import DemoMailbox

DEMO_EMAIL = "demo@example.com"
DEMO_USERNAME = "demo"
DEMO_FULL_NAME = "Demo Seller"
TRELLO_KEY, TRELLO_SECRET = "demo-key", "demo-secret"
GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET = "demo-client.apps.googleusercontent.com", "demo-client-secret"

SAMPLE_LEADS = [
    {"Name": "Ada Lovelace", "Email": "ada@example.com", "Phone": "555-0100", "Company": "Analytical Engines",
     "Status": "New", "Notes": "Asked for a demo"},
    {"Name": "Grace Hopper", "Email": "grace@example.com", "Phone": "555-0101", "Company": "Navy Labs",
     "Status": "Contacted", "Notes": ""},
    {"Name": "Katherine Johnson", "Email": "katherine@example.com", "Phone": "555-0102", "Company": "NASA",
     "Status": "Qualified", "Notes": "Budget approved"},
]
# The first lead of each spreadsheet made with "New spreadsheet", so the wizard has a row to show.
EXTRA_LEAD = {"Name": "Mary Jackson", "Email": "mary@example.com", "Phone": "555-0103", "Company": "Langley",
              "Status": "New", "Notes": "Made for trying the setup wizard"}


@dataclass(frozen=True)
class Made:
    """A spreadsheet or board the demo made: what a person needs to find it."""

    kind: str  # "spreadsheet" or "board"
    id: str
    name: str
    ui_url: str
    wizard_value: str  # what to give the wizard: the spreadsheet's URL, or the board's name


def sheet_rows(leads: list[dict[str, str]]) -> list[list[str]]:
    """The header and one row per lead, in ``DEMO_HEADER`` order."""
    return [list(DEMO_HEADER)] + [[lead.get(column, "") for column in DEMO_HEADER] for lead in leads]


class DemoWorld:
    """The emulators of one demo run and what the demo made in them."""

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.trello = TrelloEmulator(api_key=TRELLO_KEY, api_secret=TRELLO_SECRET)
        self.sheets = SheetsEmulator()
        self.google = GoogleOAuthEmulator(GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET,
                                          [f"{self.public_url}/auth/google/callback"], sheets=self.sheets)
        self.powerup_host = PowerUpHost(self.trello, PowerUp(
            id=self.trello.app_id or "", name="Leads Sync", connector_url=f"{self.public_url}/powerup/index.html"))
        self.trello.wsgi_app = self.powerup_host.wrap(self.trello.wsgi_app)
        self.mailbox = DemoMailbox()
        self.sidebar = SidebarBridge(self.sheets)
        self.sheets.wsgi_app = self.sidebar.wrap(self.sheets.wsgi_app)
        self._lock = threading.Lock()
        self.made: list[Made] = []
        self.member: dict[str, Any] = {}
        self.google_sub = ""
        self.template_id = ""

    # ---------------------------------------------------------------- lifecycle

    def start(self, trello_port: int, sheets_port: int, google_port: int, mail_port: int) -> None:
        """Start the three emulators and the mailbox (``OSError`` when a port is taken; nothing is left
        running then)."""
        started: list[Any] = []
        try:
            self.mailbox.start(mail_port)
            started.append(self.mailbox)
            self.trello.start(port=trello_port)
            started.append(self.trello)
            self.sheets.start(port=sheets_port)
            started.append(self.sheets)
            self.google.start(port=google_port)
            started.append(self.google)
        except OSError:
            for emulator in started:
                emulator.stop()
            raise
        self.google_sub = self.google.add_user(DEMO_EMAIL, DEMO_FULL_NAME)
        self.member = self.trello.add_member(DEMO_USERNAME, DEMO_FULL_NAME)

    def stop(self) -> None:
        for emulator in (self.trello, self.sheets, self.google, self.mailbox):
            emulator.stop()

    # ---------------------------------------------------------------- settings for the app

    def app_settings(self) -> dict[str, Any]:
        """Every Google and Trello endpoint of the app pointed at the emulators."""
        trello = self.trello.base_url
        return {
            "TRELLO_API_KEY": TRELLO_KEY, "TRELLO_API_SECRET": TRELLO_SECRET,
            "TRELLO_APP_ID": self.trello.app_id or "",  # our own writes' echoes known by their provenance
            "TRELLO_API_BASE_URL": self.trello.api_base_url,
            "TRELLO_OAUTH_BASE_URL": f"{trello}/1",
            "TRELLO_POWERUP_ID": self.trello.app_id or "",
            "TRELLO_JWT_KEYS_URL": f"{trello}{KEYS_PATH}",
            "TRELLO_POWERUP_LIBRARY_URL": f"{trello}{LIBRARY_PATH}",
            # The board frames the Power-Up's pages, and the demo page frames the board.
            "POWERUP_FRAME_ANCESTORS": f"{trello} {self.public_url}",
            "POWERUP_ALLOWED_ORIGINS": trello,
            "GOOGLE_CLIENT_ID": GOOGLE_CLIENT_ID, "GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT_SECRET,
            "GOOGLE_SERVER_METADATA_URL": self.google.metadata_url,
            "GOOGLE_TOKEN_URI": self.google.token_endpoint,
            "GOOGLE_SHEETS_API_BASE_URL": self.sheets.api_base_url,
            "GOOGLE_DRIVE_API_BASE_URL": self.sheets.drive_base_url,
            "GOOGLE_TEMPLATE_SPREADSHEET_ID": self.template_id,
            "DEMO_FRAME_ORIGINS": f"{self.sheets.base_url} {trello}",
            **self.mailbox.app_settings(),  # alerts go to the demo's mailbox, shown on /demo
        }

    # ---------------------------------------------------------------- things to sync

    def sheet_ui_url(self, spreadsheet_id: str, sheet: str = "Leads", sidebar: bool = True) -> str:
        return (f"{self.sheets.base_url}/_emulator/ui/spreadsheets/{spreadsheet_id}/{sheet}"
                + ("?sidebar=1" if sidebar else ""))

    def board_ui_url(self, board_id: str) -> str:
        return f"{self.trello.base_url}/_emulator/ui/boards/{board_id}"

    def make_template(self) -> str:
        """The spreadsheet "Create a synced sheet" copies on the dashboard (Drive files.copy on the Sheets
        emulator; ``GOOGLE_TEMPLATE_SPREADSHEET_ID`` in :meth:`app_settings`)."""
        self.template_id = self.sheets.create_spreadsheet("Leads template", {"Leads": sheet_rows([])})
        return self.template_id

    def new_spreadsheet(self, title: str | None = None, leads: list[dict[str, str]] | None = None) -> Made:
        """A spreadsheet with a "Leads" tab (header and sample rows) that the demo user can open."""
        with self._lock:
            title = title or f"Leads {self._count('spreadsheet') + 2}"
            spreadsheet_id = self.sheets.create_spreadsheet(title, {"Leads": sheet_rows(leads or [EXTRA_LEAD])})
            made = Made("spreadsheet", spreadsheet_id, title, self.sheet_ui_url(spreadsheet_id),
                        f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit")
            self.made.append(made)
            return made

    def new_board(self, name: str | None = None) -> Made:
        """A board of the demo member's with the demo's lists."""
        with self._lock:
            name = name or f"Leads {self._count('board') + 2}"
            board = self.trello.add_board(name, self.member["id"], lists=DEMO_LISTS)
            made = Made("board", board["id"], name, self.board_ui_url(board["id"]), name)
            self.made.append(made)
            return made

    def _count(self, kind: str) -> int:
        return sum(1 for made in self.made if made.kind == kind)

    def list_ids(self, board_id: str) -> dict[str, str]:
        """The board's list ids by name."""
        return {lst["name"]: lst["id"] for lst in self.trello.lists(board_id)}


__all__ = ["DEMO_EMAIL", "SAMPLE_LEADS", "DemoWorld", "Made", "sheet_rows"]
