"""Lead data, emulator control over HTTP, and fast seeding of synced state (cards, rows, links)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from server.seed import DEMO_HEADER, DEMO_LISTS, DEMO_STATUS_TO_LIST_NAME, demo_mapping
from server.sync import description
from server.sync.mapping import Mapping

SHEET = "Leads"
STATUSES = ["New", "Contacted", "Qualified", "Won"]
FIRST = ["Ada", "Grace", "Katherine", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Hedy", "Linus",
         "Margaret", "Niklaus", "Radia", "Tim", "Sophie", "John"]
LAST = ["Lovelace", "Hopper", "Johnson", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Lamarr",
        "Torvalds", "Hamilton", "Wirth", "Perlman", "Berners-Lee", "Wilson", "Backus"]
COMPANIES = ["Analytical Engines", "Navy Labs", "NASA", "Bletchley Ltd", "CLU Systems", "THE Works",
             "PTRAN Inc", "TeX Press", "Spread Spectrum", "Kernel Co", "Apollo Guidance", "Pascal AG"]


class Http:
    """JSON over HTTP to an emulator's control API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def call(self, method: str, path: str, body: Any = None, timeout: float = 120.0) -> Any:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


def lead_id(prefix: int, i: int) -> str:
    """Like the add-on's ids (``L-`` + 12 hex), distinct per seeding run."""
    return "L-%04x%08x" % (prefix & 0xFFFF, i)


def lead_values(i: int, status: str | None = None) -> dict[str, str]:
    return {
        "Name": f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]} {i}",
        "Email": f"lead{i}@example{i % 97}.com",
        "Phone": f"+1 555 {i % 10000:04d}",
        "Company": f"{COMPANIES[i % len(COMPANIES)]} {i % 13}",
        "Status": status or STATUSES[i % len(STATUSES)],
        "Notes": "" if i % 3 == 0 else f"Met at event {i % 31}; follow up",
    }


def sheet_row(values: dict[str, str], lid: str) -> list[str]:
    return [{**values, "Lead ID": lid}.get(column, "") for column in DEMO_HEADER]


# --------------------------------------------------------------------------- a seeded account


class Account:
    """One Trello member + token + board (demo lists) and one spreadsheet, in the emulators."""

    def __init__(self, trello: Http, sheets: Http, tag: str) -> None:
        self.trello, self.sheets, self.tag = trello, sheets, tag
        seeded = trello.post("/_emulator/seed", {"username": f"bench{tag}", "board": f"Leads {tag}",
                                                 "lists": list(DEMO_LISTS), "fullName": f"Bench {tag}"})
        self.member_id = seeded["member"]["id"]
        self.token = seeded["token"]
        self.board_id = seeded["board"]["id"]
        self.lists = {lst["name"]: lst["id"] for lst in seeded["lists"]}
        self.person_token = trello.post("/_emulator/tokens", {"member": self.member_id})["token"]
        self.google_token = f"google-token-{tag}-{uuid.uuid4().hex[:8]}"
        self.mapping = demo_mapping(self.lists)
        self.spreadsheet_id = ""

    def create_sheet(self, rows: list[list[str]]) -> str:
        """The spreadsheet (tab ``Leads``: header + ``rows``)."""
        self.spreadsheet_id = self.sheets.post("/_emulator/spreadsheets", {
            "title": f"Leads {self.tag}", "sheets": {SHEET: [list(DEMO_HEADER)] + rows}})["spreadsheet_id"]
        return self.spreadsheet_id

    def list_for_status(self, status: str) -> str:
        return self.lists[DEMO_STATUS_TO_LIST_NAME[status]]

    def seed_workspace(self, app: Any, name: str = "Bench leads") -> tuple[str, str]:
        """The workspace in the app's database; returns (workspace id, add-on secret)."""
        from server.extensions import db
        from server.seed import seed_workspace

        with app.app_context():
            workspace = seed_workspace(db.session, email=f"bench{self.tag}@example.com",
                                       trello_member_id=self.member_id, trello_username=f"bench{self.tag}",
                                       trello_token=self.token, google_token=self.google_token,
                                       spreadsheet_id=self.spreadsheet_id, sheet_name=SHEET,
                                       board_id=self.board_id, mapping=self.mapping, name=name)
            return workspace.id, workspace.addon_secret


def synced_state(account: Account, prefix: int, count: int) -> tuple[list[list[str]], list[tuple], list[dict]]:
    """Rows, cards and link shadows for ``count`` leads that are already in sync.

    Returns (sheet rows, cards as (list id, name, desc), leads as {lead_id, values, row}).
    """
    mapping = Mapping.from_json(account.mapping)
    rows, cards, leads = [], [], []
    for i in range(count):
        values = lead_values(i)
        lid = lead_id(prefix, i)
        rows.append(sheet_row(values, lid))
        desc = description.render({c: values.get(c, "") for c in mapping.description_columns},
                                  mapping.description_columns, lid, "")
        cards.append((account.list_for_status(values["Status"]), values["Name"], desc))
        leads.append({"lead_id": lid, "values": {c: values.get(c, "") for c in mapping.synced_columns},
                      "row": i + 2})
    return rows, cards, leads


def create_cards(trello: Http, board_id: str, cards: list[tuple], chunk: int = 10_000) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(cards), chunk):
        ids += trello.post("/_bench/cards", {"board_id": board_id, "cards": cards[start:start + chunk]})["ids"]
    return ids


def insert_links(engine: Any, workspace_id: str, leads: list[dict], card_ids: list[str | None],
                 batch: int = 5000) -> None:
    """Links rows straight into the table (as a finished first sync leaves them)."""
    from sqlalchemy import insert

    from server.models import Link

    now = datetime.now(UTC)
    with engine.begin() as connection:
        for start in range(0, len(leads), batch):
            connection.execute(insert(Link.__table__), [
                {"workspace_id": workspace_id, "lead_id": lead["lead_id"], "card_id": card_id, "status": "linked",
                 "shadow": lead["values"], "field_times": {}, "card_extra": {"preamble": ""},
                 "row_number": lead["row"], "pending_op": None, "sync_state": "synced", "last_error": "",
                 "last_synced_at": now, "created_at": now, "updated_at": now}
                for lead, card_id in zip(leads[start:start + batch], card_ids[start:start + batch], strict=True)])


# --------------------------------------------------------------------------- add-on webhooks


def addon_body(spreadsheet_id: str, lead: str, row: int, values: dict[str, str], changed: list[str]) -> bytes:
    """One add-on delivery for a one-row edit, exactly as the add-on builds it (compact JSON)."""
    now = int(time.time() * 1000)
    payload = {"event_id": uuid.uuid4().hex, "spreadsheet_id": spreadsheet_id, "sheet": SHEET, "sent_at": now,
               "rows": [{"lead_id": lead, "row": row, "values": {**values, "Lead ID": lead}, "changed": changed,
                         "edited_at": now}], "removed": []}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def addon_headers(secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Timestamp": timestamp, "X-Signature": signature}
