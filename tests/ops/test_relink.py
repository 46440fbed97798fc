"""``flask relink``: links rebuilt from the lead ids after a lost database, on the emulators."""

from __future__ import annotations

from typing import Any

import pytest

from server.extensions import db
from server.models import History, Link
from tests.conftest import make_app
from tests.sync.world import World, build_world


@pytest.fixture(params=["sqlite", "postgresql"])
def synced(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """A workspace whose sheet and board are in sync: rows made in the sheet, a card made on the board."""
    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    world = build_world(url, make_app=make_app)
    for i in range(5):
        world.add_row(Name=f"Lead {i}", Email=f"l{i}@example.com", Status="New")
    world.person.create_card(id_list=world.lists["Qualified"], name="Made on the board",
                             desc="Met at the fair.")
    world.settle()
    yield world
    world.stop()


def _links(world: World) -> dict[str, tuple[str | None, dict[str, Any]]]:
    return {link.lead_id: (link.card_id, link.shadow) for link in world.links()}


def _drop_links(world: World) -> None:
    """The database lost its links (and with them the shadows)."""
    with world.app.app_context():
        db.session.query(Link).filter_by(workspace_id=world.workspace_id).delete()
        db.session.commit()


def _writes(world: World) -> dict[str, int]:
    trello = {call: n for call, n in world.trello.stats()["calls"].items() if not call.startswith("GET") and n}
    return {"trello": sum(trello.values()), "sheets": world.sheets.stats()["writes"]}


def test_relink_restores_the_links_with_no_provider_write(synced: World) -> None:
    world = synced
    before = _links(world)
    assert len(before) == 6 and all(card for card, _ in before.values())
    cards, rows = len(world.cards()), len(world.rows())
    _drop_links(world)
    world.trello.reset_stats()
    world.sheets.reset_stats()
    runner = world.app.test_cli_runner()

    dry = runner.invoke(args=["relink", world.workspace_id, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "relink plan (dry run, nothing changed):" in dry.output and "  linked: 6" in dry.output
    assert world.links() == [] and _writes(world) == {"trello": 0, "sheets": 0}

    real = runner.invoke(args=["relink", world.workspace_id])
    assert real.exit_code == 0, real.output
    assert "  linked: 6" in real.output and "  cards to update: 0" in real.output and "  problems: 0" in real.output
    assert _links(world) == before
    assert _writes(world) == {"trello": 0, "sheets": 0}
    assert len(world.cards()) == cards and len(world.rows()) == rows

    again = runner.invoke(args=["sync", world.workspace_id])  # the next reconciliation finds nothing to do
    assert again.exit_code == 0, again.output
    for line in ("cards to create: 0", "rows to append: 0", "links to make: 0", "cards to update: 0",
                 "rows to update: 0"):
        assert line in again.output
    assert len(world.cards()) == cards and len(world.rows()) == rows


def test_relink_reports_one_sided_leads_and_a_lead_on_two_cards(tmp_path: Any) -> None:
    world = build_world(f"sqlite:///{tmp_path / 'app.db'}", make_app=make_app)
    try:
        for i in range(4):
            world.add_row(Name=f"Lead {i}", Email=f"l{i}@example.com", Status="New")
        world.settle()
        ids = [row["Lead ID"] for row in world.rows()]
        copied, gone_card, gone_row, renamed = ids
        card_of = {lead: world.card_for(lead) for lead in ids}
        _drop_links(world)
        world.trello.pause_deliveries()
        world.sheets.pause_events()
        copy = world.person.create_card(id_list=world.lists["New"], name="Lead 0 (copy)",
                                        desc=card_of[copied]["desc"])
        world.person.delete_card(card_of[gone_card]["id"])
        world.delete_row(next(i for i, r in enumerate(world.rows(), start=2) if r["Lead ID"] == gone_row))
        world.person.update_card(card_of[renamed]["id"], name="Renamed on the board")
        world.trello.reset_stats()
        world.sheets.reset_stats()

        result = world.app.test_cli_runner().invoke(args=["relink", world.workspace_id])
        assert result.exit_code == 1, result.output
        ids_on_two = sorted([card_of[copied]["id"], copy["id"]])
        assert (f"  problem: lead {copied} is on 2 cards ({', '.join(ids_on_two)}): not linked; archive the copies, "
                "then run relink again") in result.output
        assert f"  only in the sheet (reconciliation will create its card): {gone_card}" in result.output
        assert f"  only on the board (reconciliation will add its row): {gone_row}" in result.output
        assert "  linked: 1" in result.output and "  cards to update: 1" in result.output
        assert {link.lead_id: link.card_id for link in world.links()} == {renamed: card_of[renamed]["id"]}
        # the one write: the renamed card gets the sheet's name back (the sheet wins, as in a first sync)
        assert _writes(world) == {"trello": 1, "sheets": 0}
        assert world.trello.card(card_of[renamed]["id"])["name"] == "Lead 3"
        with world.app.app_context():
            relinks = db.session.query(History).filter_by(workspace_id=world.workspace_id, action="relink").all()
            assert [h.outcome for h in relinks] == ["error"]
    finally:
        world.stop()


def test_a_restored_link_naming_another_card_is_moved_to_the_marked_card(tmp_path: Any) -> None:
    """A backup older than the board: a stored link names a card that is gone; the marker decides."""
    world = build_world(f"sqlite:///{tmp_path / 'app.db'}", make_app=make_app)
    try:
        world.add_row(Name="Ann", Email="ann@example.com", Status="New")
        world.add_row(Name="Bob", Email="bob@example.com", Status="New")
        world.settle()
        before = _links(world)
        moved = world.rows()[0]["Lead ID"]
        with world.app.app_context():
            link = db.session.query(Link).filter_by(workspace_id=world.workspace_id, lead_id=moved).one()
            link.card_id, link.shadow = "5f0000000000000000000001", {}
            db.session.commit()
        world.trello.reset_stats()
        world.sheets.reset_stats()
        result = world.app.test_cli_runner().invoke(args=["relink", world.workspace_id])
        assert result.exit_code == 0, result.output
        assert "  relinked: 1" in result.output and "  kept: 1" in result.output and "  linked: 0" in result.output
        assert _links(world) == before
        assert _writes(world) == {"trello": 0, "sheets": 0}
    finally:
        world.stop()


def test_the_report_names_the_first_leads_and_counts_the_rest() -> None:
    from server.sync.relink import SHOWN, RelinkPlan

    plan = RelinkPlan(sheet_only=[f"L{i}" for i in range(SHOWN + 3)], dry_run=True)
    lines = plan.lines()
    assert lines[0] == "relink plan (dry run, nothing changed):"
    named = [line for line in lines if line.startswith("  only in the sheet")]
    assert len(named) == SHOWN + 1 and named[-1].endswith(": ... and 3 more")
