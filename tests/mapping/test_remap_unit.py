"""Reading parked events' mapping gaps back, and whether a new mapping clears them (no Flask)."""

from __future__ import annotations

import json

from server.models import Event
from server.sync.mapping import Mapping
from server.sync.remap import Gap, GapKind, clears, gap_words, mapping_gap


def parked(reason: str, payload: dict | None = None) -> Event:
    return Event(last_error=reason, payload=json.dumps(payload or {}))


def test_mapping_gaps_are_read_from_the_parked_reason():
    status = parked(f"Status {'Demo booked'!r} has no Trello list in this workspace's mapping; the card was not created")
    assert mapping_gap(status) == Gap(GapKind.STATUS, "Demo booked")
    name = "O'Brien call"
    quoted = parked(f"Status {name!r} has no Trello list in this workspace's mapping; add it")
    assert mapping_gap(quoted) == Gap(GapKind.STATUS, "O'Brien call")
    moved = parked("Trello list 'Demo' has no status in this workspace's mapping; the row was not changed",
                   {"id": "a1", "type": "updateCard", "data": {"listAfter": {"id": "l-demo", "name": "Demo"}}})
    assert mapping_gap(moved) == Gap(GapKind.LIST, "Demo", "l-demo")
    created = parked("the card's Trello list has no status in this workspace's mapping; no row was added",
                     {"card_id": "c1"})
    assert mapping_gap(created) == Gap(GapKind.LIST, "", None)
    assert mapping_gap(parked("Google Sheets refused the write: the sheet 'Leads' is protected.")) is None
    assert mapping_gap(parked("Status 'x' has no Trello list", {})) is None  # another message: not ours
    assert gap_words(Gap(GapKind.LIST, "")) == "a card's list"


def test_a_new_mapping_clears_what_it_maps():
    new = Mapping.from_json({"status_to_list": {"Demo booked": "l-demo", "New": "l-new"},
                             "list_to_status": {"l-demo": "Demo booked", "l-new": "New"}})
    assert clears(Gap(GapKind.STATUS, "  demo BOOKED "), new, {})
    assert not clears(Gap(GapKind.STATUS, "Won"), new, {})
    assert clears(Gap(GapKind.LIST, "Demo", "l-demo"), new, {})
    assert clears(Gap(GapKind.LIST, "Demo"), new, {"demo": "l-demo"})  # found by its name
    assert not clears(Gap(GapKind.LIST, "Lost", "l-lost"), new, {})
    assert clears(Gap(GapKind.LIST, ""), new, {})  # unknown list: every list now has a status
