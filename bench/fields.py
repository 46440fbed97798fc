"""The ``fields`` phase (issue 17): Trello calls per row edit with the card's other fields mapped.

A board with labels, members and Custom Fields (five fields, one of each type), a sheet whose
columns map to the title, status, description lines, due, start, "done", labels, members (owner),
the card's URL, checklist progress and the custom fields. The worker makes the cards (the rows are
pasted into the sheet), a person puts a checklist on the cards to be edited, then a person edits
rows in the sheet, one edit at a time with the system quiet in between, of three kinds:

- ``multi``: several card fields of one row at once (name, due, start, done, labels, owner, a
  description column): one ``PUT /1/cards/{id}`` expected;
- ``custom``: only custom field columns (three): one ``PUT /1/cards/{id}/customFields`` expected;
- ``mixed``: both at once: those two calls expected.

Emulator stats are reset before each edit and read once it has settled (the edit applied, its
webhook echoes delivered and applied, the sheet outbox empty), so every call is credited to the
edit that caused it. ``FieldsPhase`` is mixed into ``bench.run.Bench``; see bench/README.md.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.data import SHEET, Account, lead_id
from bench.scheduling import PERSON_KEY
from server.seed import DEMO_HEADER
from server.sync import customfields
from server.trello.client import TrelloClient

# webhook checks and token reads: the worker's own housekeeping, not caused by an edit
HOUSEKEEPING = ("GET /1/webhooks", "GET /1/tokens")
# the board's custom fields: sheet column -> (Trello type, options of a list field)
CUSTOM = {"Deal size": ("number", ()), "Next step": ("text", ()), "Met on": ("date", ()),
          "Key account": ("checkbox", ()), "Stage": ("list", ("Hot", "Warm", "Cold"))}
EXTRA = ["Due", "Start", "Done", "Labels", "Owner", "Card", "Checklist", *CUSTOM]
HEADER = [*DEMO_HEADER, *EXTRA]
LABELS = {"Hot": "red", "Warm": "orange", "Cold": "blue", "Follow-up": "green", "Referral": "purple"}
PEOPLE = (("bob", "Bob Builder"), ("cara", "Cara Dune"), ("dan", "Dan Abbott"))
KINDS = ("multi", "custom", "mixed")
EXPECTED = {"multi": {"PUT /1/cards/{id}": 1}, "custom": {"PUT /1/cards/{id}/customFields": 1},
            "mixed": {"PUT /1/cards/{id}": 1, "PUT /1/cards/{id}/customFields": 1}}
FIGURES = {"multi": "trello_calls_per_multi_field_edit", "custom": "trello_calls_per_custom_field_edit",
           "mixed": "trello_calls_per_mixed_edit"}


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _date(year: int, k: int) -> str:
    return f"{year}-{(k // 28) % 12 + 1:02d}-{k % 28 + 1:02d}"


def edit_values(kind: str, k: int, people: list[str]) -> dict[str, str]:
    """What a person types into the row of lead ``k`` for an edit of ``kind`` (every value differs
    from what the row held before: the initial values, or the previous kind's)."""
    if kind == "multi":
        return {"Name": f"Lead {k} renamed", "Due": _date(2027, k), "Start": _date(2026, k), "Done": "TRUE",
                "Labels": "Warm, Follow-up", "Owner": f"{people[1]}, {people[2]}", "Notes": f"edit {k}: wants a quote"}
    if kind == "custom":
        return {"Deal size": f"{2000 + k}.5", "Stage": "Hot", "Key account": "TRUE"}
    return {"Name": f"Lead {k} mixed", "Due": _date(2028, k), "Done": "FALSE", "Labels": "Cold, Referral",
            "Owner": people[0], "Notes": f"edit {k}: signed", "Deal size": f"{3000 + k}", "Next step": f"send contract {k}",
            "Stage": "Cold"}


class FieldsPhase:
    """Phase ``fields`` (mixed into ``Bench``)."""

    # provided by Bench
    cfg: dict[str, Any]
    quick: bool
    results: dict[str, Any]
    details: dict[str, Any]
    trello: Any
    sheets: Any
    procs: Any
    tmp: Path
    run_id: str

    def phase_fields(self) -> None:
        bench: Any = self
        cfg = self.cfg
        n, edits = cfg["fields_leads"], cfg["fields_edits"]
        if edits > n:
            raise ValueError("fields_edits > fields_leads")
        phase_start = time.monotonic()
        tag = f"fields{self.run_id}"
        account = Account(self.trello, self.sheets, tag)
        board = account.board_id
        person = TrelloClient(PERSON_KEY, account.person_token, base_url=self.trello.base_url + "/1")

        # ---- the board: Custom Fields on (no REST call: the plan/Power-Up), members, labels, fields
        self.trello.post(f"/_emulator/boards/{board}", {"customFields": True})
        people, member_ids = [], {}
        for username, full_name in PEOPLE:
            member = self.trello.post(f"/_emulator/boards/{board}/members",
                                      {"username": f"{username}{tag}", "fullName": full_name})
            people.append(full_name)
            member_ids[full_name] = member["id"]
        for name, colour in LABELS.items():  # as a person (or the wizard) makes them: POST /1/labels
            person.create_label(board, name, colour)
        field_ids = {column: person.create_custom_field(board, column, kind, options=options)["id"]
                     for column, (kind, options) in CUSTOM.items()}  # POST /1/customFields

        # ---- the sheet and the workspace
        mapping = {**account.mapping, "due_column": "Due", "start_column": "Start", "due_done_column": "Done",
                   "labels_column": "Labels", "members_column": "Owner", "card_url_column": "Card",
                   "checklist_column": "Checklist", "custom_fields": field_ids}
        account.mapping = mapping
        account.spreadsheet_id = self.sheets.post("/_emulator/spreadsheets", {
            "title": f"Leads {tag}", "sheets": {SHEET: [HEADER]}})["spreadsheet_id"]
        url, path = bench.new_sqlite("fields")
        app = bench.app(url)
        workspace_id, secret = account.seed_workspace(app)
        # quotas are not what this phase measures
        self.trello.post("/_emulator/config", {"token_limit": [100_000, 1.0], "key_limit": [100_000, 1.0]})
        self.sheets.post("/_emulator/config", {"read_limit": None, "write_limit": None})
        web, port = bench.start_web("web-fields", url)
        worker = None
        try:
            bench.connect_workspace(app, workspace_id, account.token, account.spreadsheet_id, secret, port)
            worker, _record = bench.start_worker("worker-fields", url, port)

            # ---- first sync: a person pastes the rows; the worker makes their cards
            leads = [lead_id(0xF1E1, k) for k in range(n)]
            rows = [{"Name": f"Lead {k}", "Email": f"lead{k}@example.com", "Phone": f"+1 555 {k:04d}",
                     "Company": f"Company {k % 7}", "Status": "New", "Notes": "", "Lead ID": leads[k],
                     "Due": _date(2026, k), "Start": "", "Done": "FALSE", "Labels": "Hot", "Owner": people[0],
                     "Deal size": "1000", "Next step": "call back", "Met on": "2026-11-02", "Key account": "FALSE",
                     "Stage": "Warm"} for k in range(n)]
            setup_s = time.monotonic() - phase_start
            first_sync = time.monotonic()
            deliveries = self.fields_addon_deliveries(account.spreadsheet_id)
            self.trello.delete("/_emulator/stats")
            self.sheets.post("/_emulator/user/paste", {"spreadsheet_id": account.spreadsheet_id, "sheet": SHEET,
                                                       "first_row": 2, "rows": rows})
            self.fields_settle(path, account.spreadsheet_id, deliveries, timeout=max(30.0, n * 0.5))
            with bench_conn(path) as conn:
                card_ids = dict(conn.execute("SELECT lead_id, card_id FROM links WHERE workspace_id = ? "
                                             "AND card_id IS NOT NULL", (workspace_id,)).fetchall())
            if len(card_ids) != n:
                raise RuntimeError(f"{len(card_ids)} of {n} rows got a card in the first sync")
            first_sync_s = time.monotonic() - first_sync
            # what the first sync asked of Trello: the board reads the edits below find cached
            first_sync_calls = {c: v for c, v in self.trello.get("/_emulator/stats")["calls"].items() if v}

            # ---- a checklist on each card to be edited (a person, in Trello): "1/2" in the sheet
            checklists = time.monotonic()
            for k in range(edits):
                checklist = person.create_checklist(card_ids[leads[k]], "Onboarding")
                person.add_check_item(checklist["id"], "Send deck", checked=True)
                person.add_check_item(checklist["id"], "Book demo")
            self.fields_settle(path, account.spreadsheet_id, None, timeout=30.0)
            grid = self.fields_grid(account.spreadsheet_id)
            checklists_s = time.monotonic() - checklists
            not_shown = [k for k in range(edits) if grid[k + 1][HEADER.index("Checklist")] != "1/2"]
            no_url = [k for k in range(n) if not str(grid[k + 1][HEADER.index("Card")]).startswith("http")]
            if not_shown or no_url:
                raise RuntimeError(f"set-up did not reach the sheet: checklist progress missing on rows of leads "
                                   f"{not_shown[:5]}, card URL missing on {no_url[:5]}")

            # ---- the edits, one at a time, each settled before the next; stats per edit
            edits_start = time.monotonic()
            per_kind: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
            reads: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
            excluded: Counter[str] = Counter()
            sheets_calls: Counter[str] = Counter()
            unexpected: list[dict[str, Any]] = []
            trello_429 = 0
            settle_ms: dict[str, list[float]] = {kind: [] for kind in KINDS}
            expected = {leads[k]: dict(rows[k]) for k in range(n)}
            for k in range(edits):
                for kind in KINDS:
                    values = edit_values(kind, k, people)
                    deliveries = self.fields_addon_deliveries(account.spreadsheet_id)
                    self.trello.delete("/_emulator/stats")
                    self.sheets.delete("/_emulator/stats")
                    started = time.monotonic()
                    self.sheets.post("/_emulator/user/edit", {"spreadsheet_id": account.spreadsheet_id, "sheet": SHEET,
                                                              "row": k + 2, "values": values})
                    self.fields_settle(path, account.spreadsheet_id, deliveries, timeout=15.0)
                    settle_ms[kind].append((time.monotonic() - started) * 1000)
                    stats = self.trello.get("/_emulator/stats")
                    trello_429 += stats["rate_limited"]
                    calls = {c: v for c, v in stats["calls"].items() if v}
                    for call, count in calls.items():
                        if call.startswith(HOUSEKEEPING):
                            excluded[call] += count
                        elif call.startswith("GET "):
                            reads[kind][call] += count
                        else:
                            per_kind[kind][call] += count
                    made = {c: v for c, v in calls.items() if not c.startswith(HOUSEKEEPING)}
                    if made != EXPECTED[kind] and len(unexpected) < 10:
                        unexpected.append({"lead": k, "kind": kind, "calls": made})
                    sheets_calls.update({c: v for c, v in self.sheets.get("/_emulator/stats")["calls"].items() if v})
                    expected[leads[k]].update(values)
            edits_s = time.monotonic() - edits_start

            # ---- every edited value is on the card (and still in the sheet)
            definitions = {d["id"]: d for d in person.board_custom_fields(board)}
            grid = self.fields_grid(account.spreadsheet_id)
            wrong: list[str] = []
            for k in range(edits):
                want = expected[leads[k]]
                card = person.get_card_details(card_ids[leads[k]])
                items = {i["idCustomField"]: i for i in card.get("customFieldItems") or []}
                label_names = sorted(str(label.get("name")) for label in card.get("labels") or [] if label.get("name"))
                got = {"Name": card["name"], "Due": (card.get("due") or "")[:10], "Start": (card.get("start") or "")[:10],
                       "Done": "TRUE" if card.get("dueComplete") else "FALSE",
                       "Labels": ", ".join(label_names), "Owner": sorted(card.get("idMembers") or []),
                       **{column: customfields.to_cell(definitions[fid], items.get(fid))
                          for column, fid in field_ids.items()}}
                wanted = {**{c: want[c] for c in got if c not in ("Labels", "Owner")},
                          "Labels": ", ".join(sorted(x.strip() for x in want["Labels"].split(","))),
                          "Owner": sorted(member_ids[x.strip()] for x in want["Owner"].split(","))}
                for column, value in wanted.items():
                    if got[column] != value:
                        wrong.append(f"lead {k} card {column}: {got[column]!r}, expected {value!r}")
                if f"Notes: {want['Notes']}" not in card.get("desc", ""):
                    wrong.append(f"lead {k} card description lacks 'Notes: {want['Notes']}'")
                row = dict(zip(HEADER, grid[k + 1], strict=False))
                for column in (*edit_values("multi", k, people), *edit_values("custom", k, people),
                               *edit_values("mixed", k, people)):
                    if str(row.get(column, "")) != want[column]:
                        wrong.append(f"lead {k} sheet {column}: {row.get(column)!r}, expected {want[column]!r}")
            with bench_conn(path) as conn:
                history = dict(conn.execute("SELECT action, count(*) FROM history WHERE workspace_id = ? "
                                            "GROUP BY action", (workspace_id,)).fetchall())
            p = loadgen.percentile
            self.details["fields"] = {
                "leads": n, "edits_per_kind": edits,
                "seconds": {"board_sheet_web_worker_setup": _r(setup_s, 2), "first_sync": _r(first_sync_s, 2),
                            "checklists": _r(checklists_s, 2), "edits": _r(edits_s, 2)},
                "trello_calls_by_kind": {kind: dict(per_kind[kind]) for kind in KINDS},
                "trello_reads_by_kind": {kind: dict(reads[kind]) for kind in KINDS},
                "trello_calls_excluded": dict(excluded), "trello_429": trello_429,
                "first_sync_trello_calls": first_sync_calls,
                "edits_off_expected_calls": unexpected,
                "sheets_calls_during_edits": dict(sheets_calls),
                "edit_to_quiet_ms_p50": {kind: _r(p(settle_ms[kind], 50)) for kind in KINDS},
                "history_actions": history, "values_wrong": wrong[:20], "values_wrong_count": len(wrong),
                "edited_columns": {kind: sorted(edit_values(kind, 0, people)) for kind in KINDS}}
            for kind in KINDS:
                self.results[FIGURES[kind]] = _r(sum(per_kind[kind].values()) / edits, 3)
            self.results["trello_reads_per_field_edit"] = _r(sum(sum(c.values()) for c in reads.values())
                                                             / (edits * len(KINDS)), 3)
            if wrong:
                raise RuntimeError(f"{len(wrong)} edited values did not arrive: " + "; ".join(wrong[:5]))
        finally:
            self.sheets.post("/_emulator/config", {"read_limit": [60, 60.0], "write_limit": [60, 60.0]})
            if worker is not None:
                self.procs.stop(worker)
            self.procs.stop(web)
            bench.dispose(app)

    # ------------------------------------------------------------------ helpers

    def fields_addon_deliveries(self, spreadsheet_id: str) -> int:
        """How many add-on POSTs the Sheets emulator has made so far (all spreadsheets)."""
        state = self.sheets.get(f"/_emulator/state?spreadsheet_id={spreadsheet_id}&sheet={SHEET}&max_rows=1")
        return int(state["addon_deliveries"])

    def fields_grid(self, spreadsheet_id: str) -> list[list[Any]]:
        state = self.sheets.get(f"/_emulator/state?spreadsheet_id={spreadsheet_id}&sheet={SHEET}")
        width = len(HEADER)
        return [[*row, *[""] * (width - len(row))] for row in state["spreadsheets"][0]["sheets"][0]["values"]]

    def fields_settle(self, path: Path, spreadsheet_id: str, before_deliveries: int | None, *, timeout: float) -> None:
        """Until the add-on's POST of the edit is made (more deliveries than ``before_deliveries``),
        then until nothing moves: Trello's webhooks delivered, the inbox empty, the sheet outbox
        written, twice in a row with no new event between."""
        bench: Any = self
        deadline = time.monotonic() + timeout
        if before_deliveries is not None:
            while self.fields_addon_deliveries(spreadsheet_id) <= before_deliveries:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the add-on did not deliver the edit within {timeout:g} s")
                time.sleep(0.005)
        last = -1
        while True:
            bench.wait_quiet(path, max(1.0, deadline - time.monotonic()))
            events = bench.count_events_sqlite(path)
            if events == last and self.trello.post("/_emulator/deliveries/wait", {"timeout": 0.01}).get("idle"):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the system did not settle within {timeout:g} s")
            last = events
            time.sleep(0.05)


def bench_conn(path: Path) -> Any:
    return closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30))
