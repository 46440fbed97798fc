"""Convergence soak: random edits on both sides, duplicate and dropped deliveries, partial processing.

The mapping has the card's own fields too: a start date, "done", a labels column, an owner column
(the card's members, named by username, full name or an email of the workspace's table) and one
Trello custom field column of each type (text, number, date, checkbox, list), edited in the sheet and on
the card while the worker lags (``process_some`` runs it only now and then). After the workers
drain and one reconciliation, the sheet and the board must agree on every mapped field, every
linked lead must have exactly one open card (and every open card one row), no event may be left
unprocessed, a dry-run reconciliation must find nothing left to do, and the emulators' write
counts must stay still once settled (no echo loop). CI runs a bounded number of examples; set SOAK_EXAMPLES and
SOAK_STEPS for a longer run by hand, e.g. ``SOAK_EXAMPLES=200 SOAK_STEPS=60 pytest tests/sync/test_soak.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from server.extensions import db
from server.models import Workspace
from server.sync import customfields, description, members
from server.sync.mapping import Mapping, done_to_trello, due_from_trello, due_to_trello
from server.sync.reconcile import reconcile
from server.trello.cardfields import custom_field_item
from tests.conftest import make_app
from tests.sync.soak_rules import DeliverySoak
from tests.sync.world import build_world

STATUSES = ["New", "Contacted", "Qualified", "Won", "Lost"]
NAMES = st.sampled_from(["Ada", "Grace", "Hedy", "Katherine", "Margaret", "Radia", "=SUM(1)", "Zoë"])
LISTS = ["New", "Contacted", "Qualified", "Closed"]
# the card's own fields: columns after Lead ID, and one custom field of each type
CUSTOM = {"Note": "text", "Deal": "number", "Met": "date", "VIP": "checkbox", "Stage": "list"}
EXTRA_COLUMNS = ["Start", "Done", "Tags", "Owner", *CUSTOM]
# the board's other members: (username, full name); the email table names Cara
MEMBERS = [("bob", "Bob Builder"), ("cara", "Cara Dune")]
MEMBER_EMAILS = {"cara@example.com": "cara"}
LABELS = ["Hot", "Cold", "Referral"]
OPTIONS = ("Hot", "Warm", "Cold")
# what a person types in the sheet (each value one the field can take), and sets on the card
SHEET_VALUES = {"Start": ["2026-12-01", "2027-01-15", ""], "Done": ["TRUE", "FALSE", "yes"],
                "Tags": ["Hot", "Cold, Referral", "", "hot, cold"],
                "Owner": ["Bob Builder", "@cara", "", "bob, cara@example.com", "CARA DUNE"], "Note": ["met at the fair", "", "call: 9am"],
                "Deal": ["7", "1200.5", ""], "Met": ["2026-12-01", "", "2027-02-28"], "VIP": ["TRUE", "FALSE"],
                "Stage": ["Hot", "cold", ""]}
CARD_VALUES = {"text": ["from the card", ""], "number": ["42", "3.25", ""],
               "date": ["2026-11-20T12:00:00.000Z", ""], "checkbox": [True, False], "list": ["Warm", "Hot", ""]}
STARTS = ["2026-11-20T12:00:00.000Z", "2027-03-01T12:00:00.000Z", None]
EXAMPLES = int(os.environ.get("SOAK_EXAMPLES", "8"))
STEPS = int(os.environ.get("SOAK_STEPS", "30"))


class SyncSoak(DeliverySoak):
    @initialize(leads=st.lists(st.tuples(NAMES, st.sampled_from(STATUSES)), min_size=2, max_size=6),
                cards=st.lists(st.tuples(NAMES, st.sampled_from(LISTS)), max_size=3))
    def start(self, leads: list[tuple[str, str]], cards: list[tuple[str, str]]) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.world = build_world(f"sqlite:///{self.tmp.name}/soak.db", make_app=make_app,
                                 config={"WORKER_BACKOFF_BASE_S": 0.01, "WORKER_BACKOFF_MAX_S": 0.05})
        self.field_ids, self.label_ids, self.member_ids = _map_card_fields(self.world)
        for name, status in leads:
            self.add_row(name, status)
        for name, target in cards:
            self.create_card(name, target)
        self.world.settle()

    # ------------------------------------------------------------------ sheet side

    @rule(name=NAMES, status=st.sampled_from(STATUSES))
    def add_row(self, name: str, status: str) -> None:
        self.world.add_row(Name=name, Status=status, Email=f"{name.lower()}@example.com")

    @rule(index=st.integers(0, 50), column=st.sampled_from(EXTRA_COLUMNS), pick=st.integers(0, 9))
    def edit_card_field_in_the_sheet(self, index: int, column: str, pick: int) -> None:
        """A start date, "done", labels, owner or a custom field column typed in the sheet."""
        rows = self.world.rows()
        if rows:
            values = SHEET_VALUES[column]
            self.world.edit_row(rows[index % len(rows)]["_row"], **{column: values[pick % len(values)]})

    @rule(index=st.integers(0, 50), pick=st.integers(0, 9))
    def edit_owner_in_the_sheet(self, index: int, pick: int) -> None:
        """The owner column typed in the sheet (a rule of its own, so that every run has some)."""
        self.edit_card_field_in_the_sheet(index, "Owner", pick)

    @rule(index=st.integers(0, 50), column=st.sampled_from(["Name", "Notes", "Status", "Phone"]),
          value=st.sampled_from(STATUSES + ["call back", "555-0100", "Ada B.", ""]))
    def edit_row(self, index: int, column: str, value: str) -> None:
        rows = self.world.rows()
        if not rows:
            return
        if column == "Status" and value not in STATUSES:
            value = "Qualified"
        if column == "Name" and not value:
            value = "Nameless"
        self.world.edit_row(rows[index % len(rows)]["_row"], **{column: value})

    @rule(index=st.integers(0, 50))
    def delete_row(self, index: int) -> None:
        rows = self.world.rows()
        if rows:
            self.world.delete_row(rows[index % len(rows)]["_row"])

    @rule(column=st.sampled_from(["Name", "Status"]), reverse=st.booleans())
    def sort_rows(self, column: str, reverse: bool) -> None:
        if self.world.rows():
            self.world.sheets.user_sort(self.world.spreadsheet_id, "Leads", column, reverse=reverse)

    # ------------------------------------------------------------------ board side

    def _card(self, index: int):
        cards = self.world.cards()
        return cards[index % len(cards)] if cards else None

    @rule(index=st.integers(0, 50), target_list=st.sampled_from(LISTS))
    def move_card(self, index: int, target_list: str) -> None:
        card = self._card(index)
        if card:
            self.world.person.update_card(card["id"], idList=self.world.lists[target_list])

    @rule(index=st.integers(0, 50), name=NAMES)
    def rename_card(self, index: int, name: str) -> None:
        card = self._card(index)
        if card:
            self.world.person.update_card(card["id"], name=name + " (renamed)")

    @rule(index=st.integers(0, 50))
    def archive_card(self, index: int) -> None:
        card = self._card(index)
        if card:
            self.world.person.archive_card(card["id"])

    @rule(index=st.integers(0, 50), start=st.sampled_from(STARTS), done=st.booleans())
    def set_dates_on_the_card(self, index: int, start: str | None, done: bool) -> None:
        card = self._card(index)
        if card:
            self.world.person.update_card(card["id"], start=start, dueComplete=done)

    @rule(index=st.integers(0, 50), label=st.sampled_from(LABELS))
    def toggle_a_label_on_the_card(self, index: int, label: str) -> None:
        card = self._card(index)
        if card:
            label_id = self.label_ids[label]
            if label_id in card["idLabels"]:
                self.world.person.remove_card_label(card["id"], label_id)
            else:
                self.world.person.add_card_label(card["id"], label_id)

    @rule(index=st.integers(0, 50), member=st.sampled_from([m for m, _ in MEMBERS]))
    def toggle_a_member_on_the_card(self, index: int, member: str) -> None:
        card = self._card(index)
        if card:
            member_id = self.member_ids[member]
            if member_id in card["idMembers"]:
                self.world.person.remove_card_member(card["id"], member_id)
            else:
                self.world.person.add_card_member(card["id"], member_id)

    @rule(index=st.integers(0, 50), column=st.sampled_from(list(CUSTOM)), pick=st.integers(0, 9))
    def set_a_custom_field_on_the_card(self, index: int, column: str, pick: int) -> None:
        card = self._card(index)
        if card:
            definition = self.field_ids[column]
            values = CARD_VALUES[definition["type"]]
            self.world.person.set_card_custom_field(card["id"],
                                                    custom_field_item(definition, values[pick % len(values)]))

    @rule(name=NAMES, target_list=st.sampled_from(LISTS))
    def create_card(self, name: str, target_list: str) -> None:
        self.world.person.create_card(id_list=self.world.lists[target_list], name=name + " (from Trello)")

    # ------------------------------------------------------------------ the end state

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        world = self.world
        try:
            world.trello.duplicate_deliveries = False
            world.sheets.duplicate_events = False
            world.settle(timeout=60)
            with world.app.app_context():
                reconcile(db.session, db.session.get(Workspace, world.workspace_id), world.worker.processor.providers)
            world.settle(timeout=60)
            self._check_converged()
            self._check_still()
        finally:
            world.stop()
            self.tmp.cleanup()

    def _check_converged(self) -> None:
        world = self.world
        assert not [e for e in world.events() if e.state in ("pending", "processing")]
        parked = [(e.kind, e.last_error) for e in world.events() if e.state == "parked"]
        assert not parked, parked
        with world.app.app_context():
            mapping = Mapping.from_json(db.session.get(Workspace, world.workspace_id).mapping)
        rows = {r["Lead ID"]: r for r in world.rows()}
        assert all(rows), "every row has a lead id"
        assert len(rows) == len(world.rows()), "no lead has two rows"
        cards = {c["id"]: c for c in world.cards()}
        linked = [link for link in world.links() if link.status == "linked"]
        linked_cards = Counter(link.card_id for link in linked)
        assert all(n == 1 for n in linked_cards.values())
        for link in linked:
            assert link.lead_id in rows, f"linked lead {link.lead_id} has no row"
            assert link.card_id in cards, f"linked lead {link.lead_id} has no open card"
            row, card = rows[link.lead_id], cards[link.card_id]
            assert card["name"] == row["Name"]
            assert mapping.status_matches_list(row["Status"], card["idList"]), (row["Status"], card["idList"])
            parsed = description.parse(card["desc"], mapping.description_columns)
            assert parsed.lead_id == link.lead_id
            for column in mapping.description_columns:
                assert parsed.fields.get(column, "") == str(row.get(column, "")), column
            self._check_card_fields(row, card)
        # every open card belongs to exactly one row, and every row to at most one card
        assert set(cards) == set(linked_cards), (set(cards) ^ set(linked_cards))
        links = {link.lead_id: link for link in world.links()}
        for lead_id, row in rows.items():
            link = links.get(lead_id)
            assert link is not None, f"row {row} has no link"
            if link.status == "card_removed":  # its card was archived/deleted: the row says so
                assert row["Status"] == "Archived", row
            else:
                assert link.status == "linked", (link.status, row)


    def _check_card_fields(self, row: dict, card: dict) -> None:
        """Start, "done", labels, owner and each custom field say the same in the row and on the card."""
        assert due_from_trello(card.get("start")) == due_from_trello(due_to_trello(row.get("Start"))), (row, card)
        assert bool(card.get("dueComplete")) == bool(done_to_trello(row.get("Done"))), (row, card)
        tags = {t.strip().casefold() for t in str(row.get("Tags", "")).split(",") if t.strip()}
        assert tags == {label["name"].casefold() for label in card["labels"]}, (row, card)
        owners = {self._member_id(n) for n in members.names(row.get("Owner", ""))}
        assert owners == set(card["idMembers"]), (row, card)
        items = {i["idCustomField"]: i for i in self.world.person.card_custom_field_items(card["id"])}
        for column, definition in self.field_ids.items():
            on_card = customfields.to_cell(definition, items.get(definition["id"]))
            in_row = row.get(column, "")
            if definition["type"] == "checkbox":  # an empty cell and an unset box both read unchecked
                assert bool(done_to_trello(in_row)) == bool(done_to_trello(on_card)), (column, row, on_card)
            else:
                assert customfields.key(definition, in_row) == customfields.key(definition, on_card), (
                    column, row, on_card)

    def _member_id(self, name: str) -> str:
        """The member a cell's name means (the soak's sheet values all name one)."""
        wanted = name.casefold().removeprefix("@")
        for username, full_name in MEMBERS:
            if wanted in (username, full_name.casefold()) or MEMBER_EMAILS.get(wanted) == username:
                return self.member_ids[username]
        raise AssertionError(f"the soak wrote a name no member answers to: {name!r}")

    def _check_still(self) -> None:
        """Nothing is left to do, and nothing keeps writing (an echo loop would)."""
        world = self.world
        with world.app.app_context():
            plan = reconcile(db.session, db.session.get(Workspace, world.workspace_id),
                             world.worker.processor.providers, dry_run=True)
        assert plan.nothing_to_do and not plan.errors, (plan.as_dict(), plan.errors)
        before = (_writes(world), world.sheets.stats()["writes"])
        world.settle(timeout=30)
        world.worker.run_once()
        assert (_writes(world), world.sheets.stats()["writes"]) == before


def _writes(world) -> dict[str, int]:
    return {k: v for k, v in world.trello.stats()["calls"].items() if v and not k.startswith("GET")}


def _map_card_fields(world) -> tuple[dict[str, dict], dict[str, str], dict[str, str]]:
    """Custom Fields on the board with one field of each type, three labels, two more members, the
    columns after Lead ID, and the mapping of start, "done", labels, owner and the custom fields;
    returns ({column: the field's definition}, {label name: id}, {username: member id})."""
    world.trello.set_custom_fields(world.board_id, True)
    made = {column: world.trello.add_custom_field(world.board_id, column, kind, OPTIONS if kind == "list" else ())
            for column, kind in CUSTOM.items()}
    labels = {name: world.person.create_label(world.board_id, name, "green")["id"] for name in LABELS}
    member_ids = {}
    for username, full_name in MEMBERS:
        member_ids[username] = world.trello.add_member(f"{username}", full_name)["id"]
        world.trello.add_board_member(world.board_id, member_ids[username])
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.mapping = {**workspace.mapping, "start_column": "Start", "due_done_column": "Done",
                             "labels_column": "Tags", "members_column": "Owner", "member_emails": MEMBER_EMAILS,
                             "custom_fields": {c: f["id"] for c, f in made.items()}}
        db.session.commit()
    customfields.forget(world.workspace_id)
    members.forget(world.workspace_id)
    with world.sheets._lock:  # the columns after Lead ID, as the sheet's owner would add them
        grid = world.sheets._sheet(world.spreadsheet_id, "Leads")[1]
        for offset, name in enumerate(EXTRA_COLUMNS):
            grid.set(1, 8 + offset, name)
    return made, labels, member_ids


SyncSoak.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                                      derandomize=os.environ.get("SOAK_RANDOM") != "1")
test_sync_converges = SyncSoak.TestCase
