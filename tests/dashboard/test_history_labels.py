"""The history's plain words: every action the sync records has a label, full-sync counters read as
a sentence, field changes as lines, event references never like sheet rows (no Flask, no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.dashboard import history_labels as labels
from server.models.enums import HistoryAction
from server.sync.inbox import TRELLO_CARD_ACTIONS
from server.sync.queue import Command

SERVER = Path(__file__).resolve().parents[2] / "server"


def _recorded_actions() -> tuple[set[str], set[str]]:
    """The ``HistoryAction`` members and the plain strings the server writes as a history entry's
    action (``record(...)``, ``History(...)``)."""
    members: set[str] = set()
    literals: set[str] = set()
    for path in SERVER.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "record(" not in text and "History(" not in text:
            continue
        members.update(re.findall(r'\bHistoryAction\.([A-Z_]+)', text))
        literals.update(re.findall(r'\baction="([a-z_]+)"', text))
        literals.update(re.findall(r'action, message = "([a-z_]+)"', text))
    return members, literals


def test_every_recorded_action_has_plain_words():
    members, literals = _recorded_actions()
    assert {"CREATE_CARD", "APPEND_ROW", "UPDATE_ROW", "CONFLICT", "RECONCILE", "NEEDS_REAUTH",
            "ARCHIVE_CARD"} <= members  # the scan finds them
    assert literals == set()  # ``record`` takes a HistoryAction (mypy checks every call)
    assert {HistoryAction[name] for name in members} - set(labels.ACTION_LABELS) == set()
    assert set(labels.ACTION_LABELS) == set(HistoryAction)
    assert set(labels.ACTION_CHOICES) == set(labels.ACTION_LABELS)


def test_every_queued_event_kind_has_plain_words():
    for kind in TRELLO_CARD_ACTIONS:
        assert ("trello", kind) in labels.EVENT_LABELS
    for command in Command:
        assert ("system", command.value) in labels.EVENT_LABELS
    assert labels.event_label("sheets", "row") == "Row change from the sheet"
    assert labels.event_label("trello", "updateCard") == "Card changed in Trello"
    assert labels.event_label("trello", "someNewAction") == "Change in Trello"
    assert labels.event_label("elsewhere", "oddThing") == "Odd thing"


@pytest.mark.parametrize("action, side, outcome, message, words", [
    ("create_card", "sheets", "ok", "", "Card created in Trello"),
    ("update_row", "trello", "ok", "", "Row updated in the sheet"),
    ("update_row", "trello", "error", "the lead's row was not found", "Row could not be updated in the sheet"),
    ("update_card", "sheets", "ok", "", "Card updated in Trello"),
    ("append_row", "trello", "ok", "", "Row added to the sheet"),
    ("conflict", "trello", "conflict", "", "Conflict: kept the sheet's value"),
    ("conflict", "sheets", "conflict", "", "Conflict: kept Trello's value"),
    ("conflict", "reconcile", "conflict", "", "Conflict: kept the sheet's value"),
    ("needs_reauth", "system", "error", "Google refused to refresh the access token: invalid_grant",
     "Needs you to reconnect Google"),
    ("needs_reauth", "system", "error", "Trello refused the token: invalid token", "Needs you to reconnect Trello"),
    ("needs_reauth", "system", "error", "no Google account is connected to this workspace",
     "Needs you to reconnect Google"),
    ("needs_reauth", "system", "error", "", "Needs you to reconnect an account"),
    ("error", "trello", "error", "boom", "A change from Trello could not be applied"),
    ("error", "sheets", "error", "boom", "A change from the sheet could not be applied"),
    ("error", "reconcile", "error", "boom", "The full sync could not do everything"),
    ("error", "system", "error", "writing to the sheet failed", "Sync stopped on an error"),
    ("card_removed", "trello", "ok", "", "Card archived or deleted in Trello"),
    ("card_removed", "reconcile", "ok", "", "Card no longer on the board"),
    ("reconcile", "reconcile", "ok", "", "Sheet and board compared"),
    ("brand_new_thing", "system", "ok", "", "Brand new thing"),
])
def test_action_labels(action, side, outcome, message, words):
    assert labels.action_label(action, side, outcome, message) == words


def test_sides_and_outcomes_never_repeat_the_label():
    assert [labels.side_label(s) for s in ("sheets", "trello", "reconcile", "system")] == [
        "Sheet", "Trello", "Full sync", "System"]
    assert labels.side_label("carrier_pigeon") == "Carrier pigeon"
    assert labels.outcome_label("ok", "update_card") == ""
    assert labels.outcome_label("skipped", "update_card") == "Skipped"
    assert labels.outcome_label("error", "update_row") == "Failed"
    # "error error", "conflict conflict": the label says it already
    assert labels.outcome_label("error", "error") == "" and labels.outcome_label("error", "needs_reauth") == ""
    assert labels.outcome_label("conflict", "conflict") == ""


@pytest.mark.parametrize("counts, sentence", [
    ({"links_to_make": 12, "cards_to_create": 3, "rows_to_append": 0, "cards_to_update": 0, "rows_to_update": 0,
      "removed": 0, "conflicts": 0, "errors": 0}, "Linked 12 leads, created 3 cards, nothing else changed"),
    ({"links_to_make": 1, "cards_to_create": 1}, "Linked 1 lead, created 1 card, nothing else changed"),
    ({"rows_to_append": 2, "cards_to_update": 1, "rows_to_update": 4, "removed": 1, "conflicts": 2},
     ("Added 2 rows to the sheet, updated 1 card, updated 4 rows, found 1 lead removed on one side, "
     "settled 2 conflicts (the sheet's value kept), nothing else changed")),
    ({"links_to_make": 0, "rows_read": 40, "cards_read": 1}, "Nothing needed to change (read 40 rows and 1 card)"),
    ({"links_to_make": 1, "cards_to_create": 1, "rows_to_append": 1, "cards_to_update": 1, "rows_to_update": 1,
      "removed": 1, "conflicts": 1, "errors": 1},
     ("Linked 1 lead, created 1 card, added 1 row to the sheet, updated 1 card, updated 1 row, found 1 lead "
     "removed on one side, settled 1 conflict (the sheet's value kept), could not handle 1 lead")),
    ({"links_to_make": "7", "cards_to_create": "not a number", "removed": -3}, "Linked 7 leads, nothing else changed"),
    ({}, "Nothing needed to change"),
])
def test_full_sync_sentence(counts, sentence):
    assert labels.full_sync_sentence(counts) == sentence


def test_relink_sentence():
    counts = {"linked": 3, "relinked": 1, "kept": 40, "cards_to_update": 2, "sheet_only": 0, "trello_only": 1,
              "problems": 0, "rows_without_id": 0, "cards_without_marker": 0}
    assert labels.change_lines("relink", "reconcile", counts) == [
        ("Linked 3 leads by their lead ids, moved 1 link to the card with the lead's id, updated 2 cards, "
        "found 1 lead only in Trello, nothing else changed")]
    assert labels.relink_sentence({"kept": 12}) == "Nothing needed to change"
    assert labels.action_label("relink", "reconcile") == "Links rebuilt from the lead ids"
    assert labels.shown_message("relink", "relinked from the lead ids: 3 new links") == ""
    assert labels.action_label("comment", "trello") == "Comment on the card"
    assert labels.event_label("trello", "commentCard") == "Comment added in Trello"


def test_change_lines():
    assert labels.change_lines("update_card", "sheets", {"Status": ["New", "Won"]}) == ["Status: “New” → “Won”"]
    assert labels.change_lines("update_card", "sheets", {"Notes": ["Call", ""]}) == ["Notes: “Call” → (empty)"]
    assert labels.change_lines("create_card", "sheets", {"Name": [None, "Ada"]}) == ["Name: “Ada”"]
    assert labels.change_lines("conflict", "trello", {"Status": ["Lost", "Won"]}) == [
        "Status: kept “Won”; Trello's “Lost” was not applied"]
    assert labels.change_lines("conflict", "sheets", {"Status": ["Lost", "Won"]}) == [
        "Status: kept “Won”; the sheet's “Lost” was not applied"]
    assert labels.change_lines("stale", "trello", {"Status": ["Lost", None]}) == [
        "Status: “Lost” arrived late and was not applied"]
    assert labels.change_lines("reconcile", "reconcile", {"links_to_make": 2}) == [
        "Linked 2 leads, nothing else changed"]
    long = labels.change_lines("update_card", "sheets", {"Notes": ["", "x" * 100]})[0]
    assert long.endswith("…”") and len(long) < 80
    assert labels.change_lines("update_card", "sheets", None) == []
    assert labels.change_lines("update_card", "sheets", {"Odd": 5}) == ["Odd: 5"]


def test_messages_that_repeat_the_lines_are_not_shown():
    assert labels.shown_message("reconcile", "created 0 cards, appended 0 rows") == ""
    assert labels.shown_message("conflict", "Notes: kept 'x' from sheets") == ""
    assert labels.shown_message("unlink", "card deleted in Trello: lead unlinked, row kept") == (
        "card deleted in Trello: lead unlinked, row kept")


def test_event_states():
    assert labels.event_state_label("parked") == "Parked: failed, needs you"
    assert labels.event_state_label("pending") == "Waiting to be applied"
    assert labels.event_state_label("on_hold") == "On hold"


def test_event_references_never_read_like_sheet_rows():
    assert labels.event_reference(20) == "event 20"
    assert "#" not in labels.event_reference(20)
    assert labels.event_reference(None) == ""


def test_row_and_card_links():
    assert labels.row_url("abc", 77, 20) == "https://docs.google.com/spreadsheets/d/abc/edit#gid=77&range=A20"
    assert labels.row_url("abc", None, 3) == "https://docs.google.com/spreadsheets/d/abc/edit#gid=0&range=A3"
    assert labels.row_url("abc", 77, None) is None and labels.row_url("abc", 77, 0) is None
    assert labels.card_url("5f0c") == "https://trello.com/c/5f0c"
    assert labels.card_url(None) is None
