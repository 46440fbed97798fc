"""Convergence soak for several boards per sheet and the row and card filters, together.

A Region column routes each row to one of the workspace's two boards (US, empty or unknown values:
the main board; "EU"/"Europe": a second board with its own lists), and the row filter is "Status is
not Lost". The second machine adds a card filter taking the New, Contacted and Qualified lists of
both boards (so Won and Lost rows, and cards in either board's Closed, are outside). Rules edit both
sides while the worker lags (``process_some`` runs it only now and then): rows added with a region
and a status, routing cells edited (to each board's value, an unknown one, empty), statuses in and
out of the filter, cards moved between the two boards by a person (one PUT with ``idBoard`` and
``idList``) or between lists, renamed, archived, made on either board; deliveries doubled and lost.

Never two open cards for one lead across both boards (after every step). At the end, after the
workers drain and one reconciliation: no event left pending or parked; every row has exactly one
link; a linked lead's card is on the board its Region names, in the list its status maps to on that
board, named as its row; a lead outside the filters has no open card inside them (the world's
policies: ``archive`` for a row leaving, ``set_status`` "Archived" for a card leaving); every open
card the filters take is linked to a row; a dry-run reconciliation finds nothing to do; the
emulators' write counts stay still once settled. CI runs a bounded number of examples; for a longer
run by hand: ``SOAK_RANDOM=1 SOAK_EXAMPLES=100 SOAK_STEPS=50 pytest tests/sync/test_routing_soak.py``
(``SOAK_LEDGER=1``: our own writes' echoes known by the write ledger, without ``TRELLO_APP_ID``;
``SOAK_NO_SHRINK=1``: report a failure as found, without shrinking it).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from server.extensions import db
from server.models import Workspace
from server.models.mapping import Mapping
from server.seed import DEMO_LIST_TO_STATUS, DEMO_LISTS, DEMO_STATUS_TO_LIST_NAME
from server.sync import description, filters
from server.trello import board_webhooks
from server.trello.client import TrelloClient
from tests.conftest import make_app
from tests.sync.soak_rules import DeliverySoak
from tests.sync.world import build_world

STATUSES = ["New", "Contacted", "Qualified", "Won", "Lost"]
REGIONS = ["US", "EU", "europe", "Mars", ""]
NAMES = st.sampled_from(["Ada", "Grace", "Hedy", "Katherine", "Radia", "Zoë"])
BOARDS = ["main", "eu"]
IN_FILTER = ("New", "Contacted", "Qualified")  # the card filter's lists, on each board
EXAMPLES = int(os.environ.get("SOAK_EXAMPLES", "6"))
STEPS = int(os.environ.get("SOAK_STEPS", "30"))
NOT_LOST = [{"column": "Status", "op": "is_not", "value": "Lost"}]


class RoutingSoak(DeliverySoak):
    """Routing by Region, and the row filter "Status is not Lost"."""

    CARD_FILTER = False

    @initialize(leads=st.lists(st.tuples(NAMES, st.sampled_from(STATUSES), st.sampled_from(REGIONS)),
                               min_size=2, max_size=5),
                cards=st.lists(st.tuples(NAMES, st.sampled_from(BOARDS), st.sampled_from(DEMO_LISTS)), max_size=2))
    def start(self, leads: list[tuple[str, str, str]], cards: list[tuple[str, str, str]]) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.world = build_world(f"sqlite:///{self.tmp.name}/soak.db", make_app=make_app,
                                 config={"WORKER_BACKOFF_BASE_S": 0.01, "WORKER_BACKOFF_MAX_S": 0.05,
                                         **({"TRELLO_APP_ID": ""} if os.environ.get("SOAK_LEDGER") == "1" else {})})
        # the person's quick work shares the token with the sync: Trello's own limits are not what this soaks
        self.world.trello.set_limits(token_limit=(100_000, 10.0), key_limit=(100_000, 10.0))
        self.boards = _route(self.world, card_filter=self.CARD_FILTER)
        for name, status, region in leads:
            self.add_row(name, status, region)
        for name, board, target in cards:
            self.create_card(name, board, target)
        self.world.settle()

    # ------------------------------------------------------------------ sheet side

    @rule(name=NAMES, status=st.sampled_from(STATUSES), region=st.sampled_from(REGIONS))
    def add_row(self, name: str, status: str, region: str) -> None:
        self.world.add_row(Name=name, Status=status, Region=region, Email=f"{name.lower()}@example.com")

    def _edit(self, index: int, **values: str) -> None:
        rows = self.world.rows()
        if rows:
            self.world.edit_row(rows[index % len(rows)]["_row"], **values)

    @rule(index=st.integers(0, 50), region=st.sampled_from(REGIONS))
    def edit_region(self, index: int, region: str) -> None:
        self._edit(index, Region=region)

    @rule(index=st.integers(0, 50), status=st.sampled_from(STATUSES))
    def edit_status(self, index: int, status: str) -> None:
        """Into and out of the filter ("Lost"; with the card filter "Won" too)."""
        self._edit(index, Status=status)

    @rule(index=st.integers(0, 50), status=st.sampled_from(STATUSES), region=st.sampled_from(REGIONS))
    def edit_status_and_region(self, index: int, status: str, region: str) -> None:
        self._edit(index, Status=status, Region=region)

    @rule(index=st.integers(0, 50), column=st.sampled_from(["Name", "Notes"]),
          value=st.sampled_from(["Ada B.", "call back", "Nameless"]))
    def edit_row(self, index: int, column: str, value: str) -> None:
        self._edit(index, **{column: value})

    @rule(index=st.integers(0, 50))
    def delete_row(self, index: int) -> None:
        rows = self.world.rows()
        if rows:
            self.world.delete_row(rows[index % len(rows)]["_row"])

    # ------------------------------------------------------------------ board side

    def open_cards(self) -> list[dict]:  # on both boards
        return [c for board_id in self._board_ids() for c in self.world.trello.cards(board_id)]

    def _board_ids(self) -> list[str]:
        return [self.world.board_id, self.boards["board_id"]]

    def _lists(self, board: str) -> dict[str, str]:
        return self.world.lists if board == "main" else self.boards["lists"]

    def _card(self, index: int):
        cards = self.open_cards()
        return cards[index % len(cards)] if cards else None

    @rule(index=st.integers(0, 50), board=st.sampled_from(BOARDS), target_list=st.sampled_from(DEMO_LISTS))
    def move_card_to_a_board(self, index: int, board: str, target_list: str) -> None:
        """A person moves a card to a list of either board (one PUT with idBoard and idList, as
        Trello's own UI does; on its own board, a list move)."""
        card = self._card(index)
        if card:
            board_id = self.world.board_id if board == "main" else self.boards["board_id"]
            self.world.person.update_card(card["id"], idBoard=board_id, idList=self._lists(board)[target_list])

    @rule(index=st.integers(0, 50), target_list=st.sampled_from(DEMO_LISTS))
    def move_card_on_its_board(self, index: int, target_list: str) -> None:
        card = self._card(index)
        if card:
            board = "main" if card["idBoard"] == self.world.board_id else "eu"
            self.world.person.update_card(card["id"], idList=self._lists(board)[target_list])

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

    @rule(name=NAMES, board=st.sampled_from(BOARDS), target_list=st.sampled_from(DEMO_LISTS))
    def create_card(self, name: str, board: str, target_list: str) -> None:
        self.world.person.create_card(id_list=self._lists(board)[target_list], name=name + " (from Trello)")

    # ------------------------------------------------------------------ the end state

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        world = self.world
        try:
            world.trello.duplicate_deliveries = False
            world.sheets.duplicate_events = False
            world.settle(timeout=60)
            world.reconcile()
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
        mapping = Mapping.of(world.workspace())
        rows = {r["Lead ID"]: r for r in world.rows()}
        assert all(rows), "every row has a lead id"
        assert len(rows) == len(world.rows()), "no lead has two rows"
        cards = {c["id"]: c for c in self.open_cards()}
        self.never_two_open_cards_for_one_lead()
        links = {link.lead_id: link for link in world.links()}
        linked = [link for link in links.values() if link.status == "linked"]
        assert all(n == 1 for n in Counter(link.card_id for link in linked).values())
        for lead_id, row in rows.items():
            link = links.get(lead_id)
            outside = filters.row_refusal(mapping, row)
            if link is None:  # a row outside the filters from the start gets no card, and so no link
                assert outside, f"row {row} has no link"
                assert not [c for c in cards.values() if description.find_lead_id(c["desc"]) == lead_id]
                continue
            if link.status == "linked":
                assert not outside, (outside, row)
                assert link.card_id in cards, f"linked lead {lead_id} has no open card"
                card = cards[link.card_id]
                board = mapping.route_board(row)
                assert card["idBoard"] == (board.board_id if board else world.board_id), (row, card["idBoard"])
                assert card["idList"] == mapping.list_for_row(row), (row, card["idList"])
                assert card["name"] == row["Name"], (row, card["name"])
                assert description.parse(card["desc"], mapping.description_columns).lead_id == lead_id
            elif link.status == "card_removed":  # its card was archived, or moved out of the card filter:
                # the row says so, unless a status outside the filter was typed since (no card comes back)
                assert row["Status"] == "Archived" or outside, (row, link.status)
            else:  # its row left the filter: the row-removed policy is "archive"
                assert link.status == "row_removed" and outside, (row, link.status, link.card_extra)
            if link.status != "linked":  # no open card the filters take carries its marker
                held = [c for c in cards.values() if description.find_lead_id(c["desc"]) == lead_id
                        and self._card_taken(mapping, c)]
                assert not held, (row, link.status, [self._brief(c) for c in held])
        # every open card the filters take is a linked lead's, whose row is there
        linked_cards = {link.card_id: link.lead_id for link in linked}
        for card in cards.values():
            if self._card_taken(mapping, card):
                assert card["id"] in linked_cards, (card["name"], card["idList"], card["desc"])
                assert linked_cards[card["id"]] in rows
            else:
                assert card["id"] not in linked_cards, card

    def _brief(self, card: dict) -> tuple:
        board = "main" if card["idBoard"] == self.world.board_id else "eu"
        names = {lid: n for n, lid in self._lists(board).items()}
        return card["id"], card["name"], board, names.get(card["idList"]), card["closed"]

    def _card_taken(self, mapping: Mapping, card: dict) -> bool:
        """Whether the card filter takes a card (without one, every card of the mapped lists)."""
        lists = mapping.card_filter.lists
        return lists is None or card["idList"] in lists

    def _check_still(self) -> None:
        """Nothing is left to do, and nothing keeps writing (an echo loop would)."""
        world = self.world
        plan = world.reconcile(dry_run=True)
        assert plan.nothing_to_do and not plan.errors, (plan.as_dict(), plan.errors)
        before = (world.trello_writes(), world.sheets.stats()["writes"])
        world.settle(timeout=30)
        world.worker.run_once()
        assert (world.trello_writes(), world.sheets.stats()["writes"]) == before


class FilteredRoutingSoak(RoutingSoak):
    """The same, with a card filter taking the New, Contacted and Qualified lists of both boards."""

    CARD_FILTER = True


def _route(world, *, card_filter: bool) -> dict:
    """A second board ("EU leads") for the same person, routed by Region ("EU", "Europe"; "US" is the
    main board's), the row filter, and the card filter if asked; returns the board's id and lists."""
    owner = world.person.request("GET", f"/boards/{world.board_id}/members")[0]["id"]
    board = world.trello.add_board("EU leads", owner, lists=DEMO_LISTS)
    lists = {lst["name"]: lst["id"] for lst in board["lists"]}
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        mapping = {**workspace.mapping, "row_filter": NOT_LOST, "routing": {
            "column": "Region", "primary_routes": ["US"],
            "boards": [{"board_id": board["id"], "board_name": "EU leads", "routes": ["EU", "Europe"],
                        "status_to_list": {s: lists[n] for s, n in DEMO_STATUS_TO_LIST_NAME.items()},
                        "list_to_status": {lists[n]: s for n, s in DEMO_LIST_TO_STATUS.items()},
                        "list_names": {lid: n for n, lid in lists.items()}}]}}
        if card_filter:
            mapping["card_filter"] = {"lists": [*(world.lists[n] for n in IN_FILTER), *(lists[n] for n in IN_FILTER)]}
        workspace.mapping = mapping
        client = TrelloClient("emulator-key", world.token, base_url=world.trello.api_base_url)
        board_webhooks.connect(db.session, workspace, Mapping.of(workspace), client, world.web.base_url)
        db.session.commit()
    with world.sheets._lock:  # the routing column after Lead ID, as the sheet's owner would add it
        world.sheets._sheet(world.spreadsheet_id, "Leads")[1].set(1, 8, "Region")
    return {"board_id": board["id"], "lists": lists}


_SETTINGS = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                     derandomize=os.environ.get("SOAK_RANDOM") != "1",
                     phases=[p for p in Phase if p is not Phase.shrink or not os.environ.get("SOAK_NO_SHRINK")])
RoutingSoak.TestCase.settings = _SETTINGS
FilteredRoutingSoak.TestCase.settings = _SETTINGS
test_routing_converges = RoutingSoak.TestCase
test_routing_with_a_card_filter_converges = FilteredRoutingSoak.TestCase
