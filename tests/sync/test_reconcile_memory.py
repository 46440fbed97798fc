"""Reconciliation keeps only a chunk of links in the session, however many the workspace has."""

from __future__ import annotations

from typing import Any

from server.extensions import db
from server.models import Link, Workspace
from server.seed import DEMO_HEADER, DEMO_LISTS, DEMO_STATUS_TO_LIST_NAME, demo_mapping, seed_workspace
from server.sync import reconcile as reconcile_module
from server.sync.description import render
from server.sync.mapping import Mapping

LEADS = 300
CHUNK = 40


class FakeTab:
    def __init__(self, rows: list[list[str]]) -> None:
        self.rows = [list(DEMO_HEADER)] + rows
        self.writes: list[Any] = []
        self.sheet_id: int | None = None

    def header(self, header_row: int = 1) -> list[str]:
        return self.rows[header_row - 1]

    def grid_size(self) -> tuple[int, int]:
        return len(self.rows), len(DEMO_HEADER)

    def get(self, cells: str) -> list[list[str]]:
        first, last = (int("".join(filter(str.isdigit, end))) for end in cells.split(":"))
        return self.rows[first - 1:last]

    def write_cells(self, cells: list[tuple[int, int, Any]]) -> int:
        self.writes.append(("cells", cells))
        return len(cells)

    def append_rows(self, rows: list[list[Any]], header_row: int = 1) -> int:
        self.writes.append(("append", rows))
        return len(self.rows) + 1


class FakeTrello:
    def __init__(self, cards: list[dict[str, Any]]) -> None:
        self.cards = cards
        self.writes: list[Any] = []

    def iter_board_cards(self, board_id: str, **_: Any):  # type: ignore[no-untyped-def]
        for start in range(0, len(self.cards), 100):
            yield self.cards[start:start + 100]

    def update_card(self, card_id: str, **fields: Any) -> dict[str, Any]:
        self.writes.append(("update", card_id, fields))
        return {"id": card_id, **fields}

    def create_card(self, **fields: Any) -> dict[str, Any]:
        raise AssertionError("nothing to create")


class FakeProviders:
    def __init__(self, tab: FakeTab, trello: FakeTrello) -> None:
        self.tab, self.client = tab, trello

    def sheet(self, session: Any, workspace: Workspace) -> FakeTab:
        return self.tab

    def trello(self, session: Any, workspace: Workspace) -> FakeTrello:
        return self.client


def _synced_workspace(app: Any) -> tuple[str, FakeProviders]:
    """A workspace whose LEADS rows, cards and links agree."""
    lists = {name: f"list{k:020d}" for k, name in enumerate(DEMO_LISTS)}
    mapping = demo_mapping(lists)
    columns = Mapping.from_json(mapping).synced_columns
    rows, cards, links = [], [], []
    for i in range(LEADS):
        lead_id = f"L-{i:012x}"
        status = ["New", "Contacted", "Qualified", "Won"][i % 4]
        values = {"Name": f"Lead {i}", "Email": f"lead{i}@example.com", "Phone": f"555 {i:04d}",
                  "Company": f"Company {i % 7}", "Status": status, "Notes": "" if i % 3 else "note"}
        rows.append([{**values, "Lead ID": lead_id}.get(column, "") for column in DEMO_HEADER])
        card_id = f"card{i:020d}"
        cards.append({"id": card_id, "idList": lists[DEMO_STATUS_TO_LIST_NAME[status]], "name": values["Name"],
                      "desc": render(values, mapping["description_columns"], lead_id), "due": None, "closed": False})
        links.append(Link(lead_id=lead_id, card_id=card_id, shadow={c: values[c] for c in columns}, field_times={},
                          card_extra={"preamble": ""}, row_number=i + 2))
    with app.app_context():
        workspace = seed_workspace(db.session, email="owner@example.com", trello_member_id="m1",
                                   trello_username="owner", trello_token="t", google_token="g",
                                   spreadsheet_id="s1", sheet_name="Leads", board_id="b1", mapping=mapping)
        for link in links:
            link.workspace_id = workspace.id
        db.session.add_all(links)
        db.session.commit()
        return workspace.id, FakeProviders(FakeTab(rows), FakeTrello(cards))


def test_reconcile_streams_links_and_keeps_only_those_it_changes(app, monkeypatch):
    workspace_id, providers = _synced_workspace(app)
    providers.client.cards[7]["idList"] = providers.client.cards[6]["idList"]  # lead 7 moved to Qualified on the board
    monkeypatch.setattr(reconcile_module, "LINKS_PER_FETCH", CHUNK)
    seen: list[int] = []
    compare_pair = reconcile_module.Reconciler._compare_pair

    def counting(self, link, row, card):  # type: ignore[no-untyped-def]
        seen.append(len(self.session.identity_map))
        compare_pair(self, link, row, card)

    monkeypatch.setattr(reconcile_module.Reconciler, "_compare_pair", counting)
    with app.app_context():
        plan = reconcile_module.reconcile(db.session, db.session.get(Workspace, workspace_id), providers)
        assert len(seen) == LEADS
        # this chunk, the link being changed, the workspace and its accounts: never all the links
        assert max(seen) <= CHUNK + 10
        assert (plan.rows_to_update, plan.cards_to_update, plan.cards_to_create, plan.rows_to_append,
                plan.links_to_make, plan.removed, plan.conflicts, plan.errors) == (1, 0, 0, 0, 0, 0, [], [])
        assert providers.client.writes == []
        status_column = DEMO_HEADER.index("Status") + 1
        assert providers.tab.writes == [("cells", [(9, status_column, "Qualified")])]
        link = db.session.query(Link).filter_by(workspace_id=workspace_id, lead_id="L-000000000007").one()
        assert link.shadow["Status"] == "Qualified"
        # and a second pass finds nothing to do
        providers.tab.rows[8][DEMO_HEADER.index("Status")] = "Qualified"
        again = reconcile_module.reconcile(db.session, db.session.get(Workspace, workspace_id), providers)
        assert again.nothing_to_do and again.rows_read == LEADS and again.cards_read == LEADS
        assert len(providers.tab.writes) == 1 and providers.client.writes == []
