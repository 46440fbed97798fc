"""``Link.card_extra`` read and written through its typed form (``server/models/card_extra.py``)."""

from __future__ import annotations

from types import SimpleNamespace

from server.models.card_extra import CardExtra
from server.models.sync import CARD_REMOVED, LINKED, UNLINKED
from server.sync.cards import LEDGER_HORIZON_MS, LEDGER_SIZE, note_write, removed_from_board


def test_a_stored_card_extra_reads_typed_and_writes_back_what_it_read():
    stored = {"preamble": "Met at the fair.", "removed": "archived",
              "ledger": [{"at": 1000.0, "end": 1200.0, "body": {"name": "Ada"}, "echoed": True}],
              "pending_event": 42, "create_attempted_at": 1500.0, "from_a_newer_version": [1]}
    extra = CardExtra.from_json(stored)
    assert (extra.preamble, extra.removed, extra.pending_event, extra.create_attempted_at) == (
        "Met at the fair.", "archived", 42, 1500.0)
    assert extra.ledger == ({"at": 1000.0, "end": 1200.0, "body": {"name": "Ada"}, "echoed": True},)
    assert extra.to_json() == stored
    assert CardExtra().to_json() == {} and CardExtra(removed="").to_json() == {"removed": ""}


def test_malformed_keys_read_as_absent_and_bad_ledger_entries_are_dropped():
    for stored in (None, [], "x", {"preamble": 3, "pending_event": [42], "create_attempted_at": True,
                                   "ledger": {"at": 1}}):
        extra = CardExtra.from_json(stored)
        assert (extra.preamble, extra.removed, extra.ledger, extra.pending_event) == ("", None, (), None)
        assert extra.create_attempted_at is None
    # a creation a reconciliation queued is known by the name it gave the event
    assert CardExtra.from_json({"pending_event": "create_card:ab12"}).pending_event == "create_card:ab12"
    extra = CardExtra.from_json({"removed": None, "ledger": ["x", {"at": "soon", "body": 5}, {"at": 7, "end": 8}]})
    assert extra.removed == ""  # the card left the board, for a reason not recorded
    assert extra.ledger == ({"at": 0.0, "end": 0.0, "body": {}}, {"at": 7.0, "end": 8.0, "body": {}})


def test_the_ledger_keeps_the_recent_writes_only():
    link = SimpleNamespace(card_extra={"preamble": "p", "ledger": [{"at": 0.0, "end": 1.0, "body": {"name": "old"}}]})
    now = LEDGER_HORIZON_MS + 10_000.0
    for index in range(LEDGER_SIZE + 2):
        note_write(link, {"name": f"n{index}"}, now + index, now + index + 1)
    extra = CardExtra.of(link)
    assert extra.preamble == "p" and len(extra.ledger) == LEDGER_SIZE
    assert [e["body"]["name"] for e in extra.ledger][-1] == f"n{LEDGER_SIZE + 1}"
    assert "old" not in [e["body"]["name"] for e in extra.ledger]


def test_a_card_removed_from_the_board_is_told_by_the_removed_key():
    assert removed_from_board(SimpleNamespace(status=CARD_REMOVED, card_extra={}))
    assert removed_from_board(SimpleNamespace(status=UNLINKED, card_extra={"removed": "deleted"}))
    assert not removed_from_board(SimpleNamespace(status=UNLINKED, card_extra={}))
    assert not removed_from_board(SimpleNamespace(status=LINKED, card_extra={"preamble": "x"}))
