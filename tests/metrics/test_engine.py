"""The engine's own calls move the counters: a real conflict and a parked event, end to end
against the emulators (one process: the default registry)."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from tests.conftest import make_app
from tests.sync.world import build_world


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app)
    yield w
    w.stop()


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_conflict_and_a_parked_event_are_counted(world):
    world.add_row(Name="Ada Lovelace", Status="New")
    world.settle()
    lead_id = world.rows()[-1]["Lead ID"]
    row, card_id = world.link(lead_id).row_number, world.link(lead_id).card_id
    conflicts = _value("leads_sync_conflicts_total")
    world.edit_row(row, Status="Qualified")  # both queued before the worker looks: the older one loses
    assert world.sheets.wait_for_events(timeout=10)
    time.sleep(0.05)
    world.person.update_card(card_id, idList=world.lists["Closed"])
    world.settle()
    assert _value("leads_sync_conflicts_total") == conflicts + 1

    parked = _value("leads_sync_events_parked_total", source="sheets")
    world.add_row(Name="Grace Hopper", Status="No such status")  # no list for it: retrying cannot help
    world.settle()
    assert _value("leads_sync_events_parked_total", source="sheets") == parked + 1
    assert [e.state for e in world.all_events() if e.state == "parked"] == ["parked"]
