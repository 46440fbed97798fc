"""The mapping's newer keys: start date, "done", card URL columns and per-column directions."""

import pytest

from server.models.enums import Direction, FieldKind
from server.models.mapping import FieldMap, Mapping, MappingError
from server.sync import labels
from server.sync.mapping import done_from_trello, done_to_trello

STORED = {
    "title_column": "Name",
    "status_column": "Status",
    "description_columns": ["Email", "Notes"],
    "due_column": "Due",
    "start_column": "Start",
    "due_done_column": "Done",
    "card_url_column": "Card",
    "labels_column": "Tags",
    "directions": {"Notes": "to_trello", "Email": "to_sheet", "Start": "to_trello"},
    "status_to_list": {"New": "l-new"},
    "list_to_status": {"l-new": "New"},
    "default_status": "New",
    "list_names": {},
    "board_name": "",
}


def test_the_new_keys_read_as_fields_and_write_back_unchanged():
    mapping = Mapping.from_json(STORED)
    assert mapping.fields == (
        FieldMap("Name", FieldKind.TITLE), FieldMap("Status", FieldKind.STATUS),
        FieldMap("Email", FieldKind.DESCRIPTION, Direction.TO_SHEET),
        FieldMap("Notes", FieldKind.DESCRIPTION, Direction.TO_TRELLO),
        FieldMap("Due", FieldKind.DUE), FieldMap("Start", FieldKind.START, Direction.TO_TRELLO),
        FieldMap("Done", FieldKind.DUE_DONE), FieldMap("Card", FieldKind.CARD_URL, Direction.TO_SHEET),
        FieldMap("Tags", FieldKind.LABELS))
    assert (mapping.start_column, mapping.due_done_column, mapping.card_url_column) == ("Start", "Done", "Card")
    assert mapping.labels_column == "Tags"
    assert mapping.synced_columns == ["Name", "Status", "Email", "Notes", "Due", "Start", "Done", "Card", "Tags"]
    assert mapping.to_json() == STORED
    assert Mapping.from_json(mapping.to_json()) == mapping
    assert not mapping.takes_from_sheet("Email") and mapping.takes_from_trello("Email")
    assert mapping.takes_from_sheet("Notes") and not mapping.takes_from_trello("Notes")
    assert mapping.takes_from_sheet("Name") and mapping.takes_from_trello("Name")


def test_a_mapping_stored_before_the_new_keys_loads_and_writes_back_as_it_was():
    old = {k: v for k, v in STORED.items() if k not in ("start_column", "due_done_column", "card_url_column",
                                                          "labels_column", "directions")}
    mapping = Mapping.from_json(old)
    assert all(f.direction is Direction.BOTH for f in mapping.fields)
    assert (mapping.start_column, mapping.due_done_column, mapping.card_url_column) == (None, None, None)
    assert mapping.to_json() == old  # no new key is added to a mapping that does not use it


def test_the_status_is_always_two_way_and_the_card_url_always_comes_from_trello():
    mapping = Mapping.from_json({**STORED, "directions": {"Status": "to_sheet", "Card": "to_trello"}})
    assert mapping.direction("Status") is Direction.BOTH
    assert mapping.direction("Card") is Direction.TO_SHEET
    assert "directions" not in mapping.to_json()  # nothing one-way that the mapping lets be chosen


def test_a_direction_that_is_not_one_is_a_clear_error():
    with pytest.raises(MappingError, match="“directions” gives “Notes” “sideways”"):
        Mapping.from_json({**STORED, "directions": {"Notes": "sideways"}})
    with pytest.raises(MappingError, match="“directions” is a list"):
        Mapping.from_json({**STORED, "directions": ["Notes"]})


def test_making_missing_labels_is_a_flag_written_only_when_set():
    assert Mapping.from_json(STORED).create_labels is False and "create_labels" not in Mapping.from_json(
        STORED).to_json()
    allowed = Mapping.from_json({**STORED, "create_labels": True})
    assert allowed.create_labels is True and allowed.to_json()["create_labels"] is True
    with pytest.raises(MappingError, match="“create_labels” is text, not true or false"):
        Mapping.from_json({**STORED, "create_labels": "yes"})


@pytest.mark.parametrize("cell, done", [
    (True, True), ("TRUE", True), ("yes", True), ("Done", True), ("✓", True), ("x", True),
    (False, False), ("FALSE", False), ("no", False), ("", False), (None, False), ("maybe", None),
])
def test_a_checkbox_like_cell_reads_as_done_or_not(cell, done):
    assert done_to_trello(cell) is done


def test_done_is_written_back_as_a_sheets_checkbox_stores_it():
    assert (done_from_trello(True), done_from_trello(False), done_from_trello(None)) == ("TRUE", "FALSE", "FALSE")


def test_label_names_in_a_cell():
    assert labels.names(" Hot ,hot, Referral,, ") == ["Hot", "Referral"]
    assert labels.key("Hot, Referral") == labels.key("referral ,HOT")
    assert labels.with_label("Hot, Referral", "hot", False) == "Referral"
    assert labels.with_label("Referral", "Cold", True) == "Referral, Cold"
    assert labels.of_card({"labels": [{"name": "Hot"}, {"name": ""}, {"name": "A, B"}]}) == "Hot, A B"
