"""Lag soak: both sides keep editing the same fields while the worker is stopped, paused or lagging.

Two tenants share the deployment and two workers take turns; deliveries are held back and
released late (so they arrive out of order), doubled, and a card call now and then draws a 429.
The worker only runs when a step says so: everything else piles up in the inbox, as behind a
deploy or a backlog. Besides the title, the status and a description line, each workspace maps a
start date, "done" and two Trello custom fields (a number and a list), edited on both sides too.
After everything is delivered, drained and reconciled once, every field of every lead must hold
the value of its newest change (by the time it was made; the card's fields compared by meaning:
a date by its day, a number as a number, an option ignoring case), each lead has one card, nothing
is stuck, and where both sides changed a field while the worker was behind, the overruled change
is recorded as a conflict.

CI runs a bounded number of examples; ``SOAK_EXAMPLES=100 SOAK_STEPS=60 SOAK_RANDOM=1`` by hand.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from server.engine import build_worker
from server.extensions import db
from server.models import History, Workspace
from server.sync import customfields, description
from server.sync.mapping import Mapping, done_to_trello, due_from_trello, due_to_trello
from server.sync.reconcile import reconcile
from tests.conftest import make_app
from tests.sync.world import build_world

EXAMPLES = int(os.environ.get("SOAK_EXAMPLES", "5"))
STEPS = int(os.environ.get("SOAK_STEPS", "30"))
STATUSES = ["New", "Contacted", "Qualified", "Won", "Lost"]
LISTS = ["New", "Contacted", "Qualified", "Closed"]
NAMES = ["Ada", "Grace", "Hedy", "=SUM(1)", "Zoë"]
NOTES = ["call back", "Met at the fair\nPhone: 1\nEmail: x@y", "", "**vip**", "Lead ID: L-000000000000"]
LEADS_PER_TENANT = 2
# the card's own fields: columns after Lead ID; what people type in the sheet and set on the card
CARD_FIELDS = ["Start", "Done", "Deal", "Stage"]
CUSTOM = {"Deal": "number", "Stage": "list"}
OPTIONS = ("Hot", "Warm", "Cold")
SHEET_VALUES = {"Start": ["2026-12-01", "2027-01-15", ""], "Done": ["TRUE", "FALSE"], "Deal": ["7", "1200.5", ""],
                "Stage": ["Hot", "cold", ""]}
CARD_VALUES = {"Start": ["2026-11-20T12:00:00.000Z", "2027-03-01T12:00:00.000Z", None], "Deal": ["42", "3.25", None],
               "Stage": ["Warm", "Hot", None]}


def _tick() -> None:
    time.sleep(0.003)  # every change gets its own millisecond: the oracle orders them by when they were made


class LagSoak(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.world = build_world(f"sqlite:///{self.tmp.name}/soak.db", make_app=make_app,
                                 config={"WORKER_BACKOFF_BASE_S": 0.01, "WORKER_BACKOFF_MAX_S": 0.05})
        self.world.add_tenant("bob")
        self.fields = [_map_card_fields(self.world, tenant) for tenant in self.world.tenants]
        self.second = build_worker(self.world.app, worker_id="second-worker")
        self.mappings = [Mapping.from_json(tenant.workspace().mapping) for tenant in self.world.tenants]
        self.mapping = self.mappings[0]  # the columns are the same for both
        self.leads: list[tuple[int, str]] = []  # (tenant index, lead id)
        self.expected: dict[tuple[int, str], dict[str, str]] = {}
        # Since the worker last ran: the last value each side was given, per (tenant, lead, field).
        self.behind: dict[tuple[int, str, str], dict[str, str]] = {}
        self.contested: set[tuple[int, str, str]] = set()
        for t, tenant in enumerate(self.world.tenants):
            for i in range(LEADS_PER_TENANT):
                tenant.add_row(Name=f"Lead {t}{i}", Status="New", Notes="")
        self.world.settle()
        for t, tenant in enumerate(self.world.tenants):
            for row in tenant.rows():
                key = (t, row["Lead ID"])
                self.leads.append(key)
                self.expected[key] = {"Name": row["Name"], "list": self.mappings[t].list_for_status("New"),
                                      "Notes": "", **{f: self._meaning(t, f, "") for f in CARD_FIELDS}}
        self.sheets_held = self.trello_held = False

    # ------------------------------------------------------------------ people

    def _lead(self, index: int) -> tuple[int, str]:
        return self.leads[index % len(self.leads)]

    def _changed(self, key: tuple[int, str], field: str, side: str, value: str) -> None:
        if field == "Status":
            value = self.mappings[key[0]].list_for_status(value) if side == "sheets" else value
            field = "list"
        self.expected[key][field] = value
        self.behind.setdefault((key[0], key[1], field), {})[side] = value
        _tick()

    def _worked(self) -> None:
        """The worker ran: what it took in was seen. Where both sides had been given different
        values before it ran, whichever is older was overruled unseen: a conflict to record."""
        for mark, sides in self.behind.items():
            if len(set(sides.values())) == 2:
                self.contested.add(mark)
        self.behind.clear()

    @rule(index=st.integers(0, 20), field=st.sampled_from(["Name", "Status", "Notes"]), pick=st.integers(0, 20))
    def edit_in_the_sheet(self, index: int, field: str, pick: int) -> None:
        key = self._lead(index)
        tenant = self.world.tenants[key[0]]
        # (a person typing "=SUM(1)" in a sheet makes a formula; formulas come from Trello's side here)
        value = {"Name": [n for n in NAMES if not n.startswith("=")] + ["Ada Byron"], "Status": STATUSES,
                 "Notes": NOTES}[field][pick % 5]
        row = next(r for r in tenant.rows() if r["Lead ID"] == key[1])
        tenant.edit_row(row["_row"], **{field: value})
        if str(row.get(field, "")) != value:  # the same value again changes nothing
            self._changed(key, field, "sheets", value)

    @rule(index=st.integers(0, 20), to_list=st.sampled_from(LISTS))
    def move_the_card(self, index: int, to_list: str) -> None:
        key = self._lead(index)
        tenant = self.world.tenants[key[0]]
        card_id = tenant.link(key[1]).card_id
        before = self.world.trello.card(card_id)["idList"]
        self.world.trello.update_card(card_id, idList=tenant.lists[to_list])  # as in Trello's UI
        if before != tenant.lists[to_list]:  # a card dropped where it is makes no action
            self._changed(key, "Status", "trello", tenant.lists[to_list])

    @rule(index=st.integers(0, 20), name=st.sampled_from(NAMES))
    def rename_the_card(self, index: int, name: str) -> None:
        key = self._lead(index)
        tenant = self.world.tenants[key[0]]
        card_id = tenant.link(key[1]).card_id
        before = self.world.trello.card(card_id)["name"]
        self.world.trello.update_card(card_id, name=f"{name} (T)")
        if before != f"{name} (T)":
            self._changed(key, "Name", "trello", f"{name} (T)")

    @rule(index=st.integers(0, 20), pick=st.integers(0, 20))
    def edit_notes_on_the_card(self, index: int, pick: int) -> None:
        """A person edits the Notes line of the card's description (in the block we own)."""
        key = self._lead(index)
        tenant = self.world.tenants[key[0]]
        card = self.world.trello.card(tenant.link(key[1]).card_id)
        parsed = description.parse(card["desc"], self.mapping.description_columns)
        value = NOTES[(pick + 1) % 5] + " (T)"
        desc = description.render({**parsed.fields, "Notes": value}, self.mapping.description_columns,
                                  key[1], parsed.preamble)
        self.world.trello.update_card(card["id"], desc=desc)
        if parsed.fields.get("Notes") != value:
            self._changed(key, "Notes", "trello", value)

    def _meaning(self, tenant: int, field: str, value) -> object:
        """What a cell (or the card's value as the sheet shows it) means for the field."""
        if field == "Start":
            return due_from_trello(due_to_trello(value))
        if field == "Done":
            return bool(done_to_trello(value))
        return customfields.key(self.fields[tenant][field], value)

    @rule(index=st.integers(0, 20), picks=st.lists(st.tuples(st.sampled_from(CARD_FIELDS), st.integers(0, 20)),
                                                   min_size=1, max_size=3, unique_by=lambda p: p[0]))
    def edit_card_fields_in_the_sheet(self, index: int, picks: list[tuple[str, int]]) -> None:
        """Start date, "done" or custom field cells typed in the sheet, one edit (a value that means
        what the cell already says is not typed: whether it is a change is a matter of spelling)."""
        key = self._lead(index)
        tenant = self.world.tenants[key[0]]
        row = next(r for r in tenant.rows() if r["Lead ID"] == key[1])
        edits = {}
        for field, pick in picks:
            value = SHEET_VALUES[field][pick % len(SHEET_VALUES[field])]
            if self._meaning(key[0], field, value) != self._meaning(key[0], field, row.get(field, "")):
                edits[field] = value
        if edits:
            tenant.edit_row(row["_row"], **edits)
            for field, value in edits.items():
                self._changed(key, field, "sheets", self._meaning(key[0], field, value))

    @rule(index=st.integers(0, 20), picks=st.lists(st.tuples(st.sampled_from(CARD_FIELDS), st.integers(0, 20)),
                                                   min_size=1, max_size=3, unique_by=lambda p: p[0]))
    def set_card_fields_on_the_card(self, index: int, picks: list[tuple[str, int]]) -> None:
        """A person sets the card's start date, ticks "done" or sets custom fields in Trello."""
        key = self._lead(index)
        for field, pick in picks:
            self._set_on_the_card(key, field, pick)

    def _set_on_the_card(self, key: tuple[int, str], field: str, pick: int) -> None:
        tenant = self.world.tenants[key[0]]
        card = self.world.trello.card(tenant.link(key[1]).card_id)
        if field in ("Start", "Done"):
            if field == "Start":
                value = CARD_VALUES["Start"][pick % 3]
                changes, now = {"start": value}, due_from_trello(value)
                before = due_from_trello(card.get("start"))
            else:
                changes, now, before = {"dueComplete": not card["dueComplete"]}, not card["dueComplete"], None
            if now != before:
                self.world.trello.update_card(card["id"], **changes)  # as in Trello's UI
                self._changed(key, field, "trello", now)
            return
        definition = self.fields[key[0]][field]
        items = {i["idCustomField"]: i for i in tenant.person.card_custom_field_items(card["id"])}
        before = self._meaning(key[0], field, customfields.to_cell(definition, items.get(definition["id"])))
        value = CARD_VALUES[field][pick % 3]
        if self._meaning(key[0], field, value or "") == before:
            return
        if definition["type"] == "list":
            option = next((o["id"] for o in definition["options"] if o["value"]["text"] == value), None)
            self.world.trello.set_custom_field_item(card["id"], definition["id"], id_value=option)
        else:
            self.world.trello.set_custom_field_item(card["id"], definition["id"], {"number": value} if value else None)
        self._changed(key, field, "trello", self._meaning(key[0], field, value or ""))

    # ------------------------------------------------------------------ the worker and the deliveries

    @rule(batches=st.integers(1, 4), second=st.booleans())
    def worker_catches_up_a_little(self, batches: int, second: bool) -> None:
        for _ in range(batches):
            (self.second if second else self.world.worker).run_once()
        self._worked()

    @rule()
    def worker_catches_up(self) -> None:
        if not self.sheets_held and not self.trello_held:
            self.world.settle()
            self._worked()

    @rule(tenant=st.integers(0, 1), paused=st.booleans())
    def pause_or_resume_a_workspace(self, tenant: int, paused: bool) -> None:
        with self.world.app.app_context():
            workspace = db.session.get(Workspace, self.world.tenants[tenant].workspace_id)
            workspace.state = "paused" if paused else "active"
            db.session.commit()

    @precondition(lambda self: not self.sheets_held)
    @rule()
    def hold_sheet_deliveries(self) -> None:
        self.world.sheets.pause_events()
        self.sheets_held = True

    @precondition(lambda self: self.sheets_held)
    @rule()
    def release_sheet_deliveries(self) -> None:
        self.world.sheets.resume_events()
        self.sheets_held = False

    @precondition(lambda self: not self.trello_held)
    @rule()
    def hold_trello_deliveries(self) -> None:
        self.world.trello.pause_deliveries()
        self.trello_held = True

    @precondition(lambda self: self.trello_held)
    @rule()
    def release_trello_deliveries(self) -> None:
        self.world.trello.resume_deliveries()
        self.trello_held = False

    @rule(on=st.booleans())
    def double_deliveries(self, on: bool) -> None:
        self.world.trello.duplicate_deliveries = on
        self.world.sheets.duplicate_events = on

    @rule(index=st.integers(0, 20), times=st.integers(1, 3))
    def trello_answers_429(self, index: int, times: int) -> None:
        key = self._lead(index)
        card_id = self.world.tenants[key[0]].link(key[1]).card_id
        self.world.trello.faults.add(path=rf"^/1/cards/{card_id}(/customFields)?$", methods=["PUT"], status=429,
                                     times=times,
                                     headers={"Retry-After": "0.2"},
                                     body={"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"})

    # ------------------------------------------------------------------ the end state

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        world = self.world
        try:
            world.sheets.resume_events()
            world.trello.resume_deliveries()
            world.trello.duplicate_deliveries = world.sheets.duplicate_events = False
            with world.app.app_context():
                for tenant in world.tenants:
                    db.session.get(Workspace, tenant.workspace_id).state = "active"
                db.session.commit()
            world.settle(timeout=60)
            self._worked()
            world.trello.faults.clear()
            with world.app.app_context():
                for tenant in world.tenants:
                    reconcile(db.session, db.session.get(Workspace, tenant.workspace_id), world.worker.processor.providers)
            world.settle(timeout=60)
            self._check()
        finally:
            world.stop()
            self.tmp.cleanup()

    def _check(self) -> None:
        world = self.world
        events = world.all_events()
        assert not [(e.kind, e.state, e.last_error) for e in events if e.state in ("pending", "processing", "parked")]
        for t, tenant in enumerate(world.tenants):
            markers = Counter(description.find_lead_id(c["desc"]) for c in tenant.cards())
            assert all(n == 1 for n in markers.values()), markers
            rows = {r["Lead ID"]: r for r in tenant.rows()}
            assert len(rows) == LEADS_PER_TENANT
            assert set(rows) == {lead for tt, lead in self.expected if tt == t}, (rows, tenant.cards())
            for lead_id, row in rows.items():
                want = self.expected[(t, lead_id)]
                card = tenant.card_for(lead_id)
                notes = description.parse(card["desc"], self.mapping.description_columns).fields.get("Notes", "")
                items = {i["idCustomField"]: i for i in tenant.person.card_custom_field_items(card["id"])}
                got = {"Name": (row["Name"], card["name"]), "Notes": (str(row.get("Notes", "")), notes),
                       "list": (self.mappings[t].list_for_status(row["Status"]), card["idList"]),
                       "Start": (self._meaning(t, "Start", row.get("Start", "")), due_from_trello(card.get("start"))),
                       "Done": (self._meaning(t, "Done", row.get("Done", "")), bool(card.get("dueComplete"))),
                       **{f: (self._meaning(t, f, row.get(f, "")),
                              self._meaning(t, f, customfields.to_cell(d, items.get(d["id"]))))
                          for f, d in self.fields[t].items()}}
                for field, (in_sheet, on_card) in got.items():
                    assert in_sheet == want[field] and on_card == want[field], (t, lead_id, field, got, want)
            with world.app.app_context():
                conflicts = {(t, h.lead_id, "list" if "Status" in h.changes else next(iter(h.changes)))
                             for h in db.session.query(History).filter_by(workspace_id=tenant.workspace_id,
                                                                          action="conflict")}
            for mark in [m for m in self.contested if m[0] == t]:
                assert mark in conflicts, (mark, conflicts)


def _map_card_fields(world, tenant) -> dict[str, dict]:
    """Custom Fields on the tenant's board with a number and a list field, the columns after Lead ID,
    and start, "done" and the custom fields mapped; returns {column: the custom field's definition}."""
    world.trello.set_custom_fields(tenant.board_id, True)
    made = {column: world.trello.add_custom_field(tenant.board_id, column, kind, OPTIONS if kind == "list" else ())
            for column, kind in CUSTOM.items()}
    with world.app.app_context():
        workspace = db.session.get(Workspace, tenant.workspace_id)
        workspace.mapping = {**workspace.mapping, "start_column": "Start", "due_done_column": "Done",
                             "custom_fields": {c: f["id"] for c, f in made.items()}}
        db.session.commit()
    customfields.forget(tenant.workspace_id)
    with world.sheets._lock:  # the columns after Lead ID, as the sheet's owner would add them
        grid = world.sheets._sheet(tenant.spreadsheet_id, "Leads")[1]
        for offset, name in enumerate(CARD_FIELDS):
            grid.set(1, 8 + offset, name)
    return made


LagSoak.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                                     derandomize=os.environ.get("SOAK_RANDOM") != "1",
                                     phases=[Phase.explicit, Phase.reuse, Phase.generate]
                                     + ([] if os.environ.get("SOAK_NO_SHRINK") else [Phase.shrink]))
test_newest_change_wins_under_lag = LagSoak.TestCase
