"""Custom field columns in the stored mapping: ``"custom_fields": {"Column": "<custom field id>"}``."""

import pytest

from server.models.enums import Direction, FieldKind
from server.models.mapping import FieldMap, Mapping, MappingError
from server.sync import customfields

STORED = {
    "title_column": "Name",
    "status_column": "Status",
    "description_columns": ["Email"],
    "due_column": None,
    "custom_fields": {"Deal size": "cf-number", "Stage": "cf-list"},
    "directions": {"Stage": "to_sheet"},
    "status_to_list": {"New": "l-new"},
    "list_to_status": {"l-new": "New"},
    "default_status": "New",
    "list_names": {},
    "board_name": "",
}


def test_custom_field_columns_read_as_fields_and_write_back_unchanged():
    mapping = Mapping.from_json(STORED)
    assert mapping.fields[-2:] == (FieldMap("Deal size", FieldKind.CUSTOM_FIELD, Direction.BOTH, "cf-number"),
                                   FieldMap("Stage", FieldKind.CUSTOM_FIELD, Direction.TO_SHEET, "cf-list"))
    assert mapping.custom_fields == {"Deal size": "cf-number", "Stage": "cf-list"}
    assert mapping.synced_columns == ["Name", "Status", "Email", "Deal size", "Stage"]
    assert not mapping.takes_from_sheet("Stage") and mapping.takes_from_trello("Stage")
    assert mapping.to_json() == STORED
    assert Mapping.from_json(mapping.to_json()) == mapping


def test_a_mapping_without_custom_fields_writes_back_without_the_key():
    old = {k: v for k, v in STORED.items() if k not in ("custom_fields", "directions")}
    mapping = Mapping.from_json(old)
    assert mapping.custom_fields == {}
    assert mapping.to_json() == old


def test_a_custom_field_column_already_mapped_as_another_field_is_not_taken_twice():
    mapping = Mapping.from_json({**STORED, "custom_fields": {"Email": "cf-text", "Deal size": "cf-number"}})
    assert mapping.custom_fields == {"Deal size": "cf-number"}


def test_a_malformed_custom_fields_key_says_what_is_wrong():
    with pytest.raises(MappingError, match="custom_fields"):
        Mapping.from_json({**STORED, "custom_fields": ["Deal size"]})
    with pytest.raises(MappingError, match="custom_fields"):
        Mapping.from_json({**STORED, "custom_fields": {"Deal size": 3}})


LIST = {"id": "cf-list", "name": "Stage", "type": "list",
        "options": [{"id": "o1", "value": {"text": "Hot"}}, {"id": "o2", "value": {"text": "Cold"}}]}


@pytest.mark.parametrize(("definition", "cell", "item", "back"), [
    ({"id": "t", "name": "Note", "type": "text"}, "hello", {"value": {"text": "hello"}}, "hello"),
    ({"id": "n", "name": "Size", "type": "number"}, "2.50", {"value": {"number": "2.50"}}, "2.5"),
    ({"id": "n", "name": "Size", "type": "number"}, "3", {"value": {"number": "3"}}, "3"),
    ({"id": "d", "name": "Met", "type": "date"}, "2026-12-01", {"value": {"date": "2026-12-01T12:00:00.000Z"}},
     "2026-12-01"),
    ({"id": "c", "name": "VIP", "type": "checkbox"}, "yes", {"value": {"checked": "true"}}, "TRUE"),
    ({"id": "c", "name": "VIP", "type": "checkbox"}, "FALSE", {"value": {"checked": "false"}}, "FALSE"),
    (LIST, "hot", {"idValue": "o1"}, "Hot"),
])
def test_cell_values_of_each_type_go_to_trello_and_come_back(definition, cell, item, back):
    sent = customfields.to_item(definition, cell)
    assert {k: v for k, v in sent.items() if k != "idCustomField"} == item
    assert customfields.to_cell(definition, item) == back
    assert customfields.key(definition, back) == customfields.key(definition, cell)


@pytest.mark.parametrize(("definition", "cell", "words"), [
    ({"id": "n", "name": "Size", "type": "number"}, "lots", "not a number"),
    ({"id": "d", "name": "Met", "type": "date"}, "tomorrow", "not a date"),
    ({"id": "c", "name": "VIP", "type": "checkbox"}, "maybe", "neither checked nor unchecked"),
    (LIST, "Lukewarm", "not an option"),
])
def test_a_value_the_field_cannot_take_is_refused_in_plain_words(definition, cell, words):
    with pytest.raises(customfields.NotTaken, match=words):
        customfields.to_item(definition, cell)


def test_an_empty_cell_clears_and_a_missing_item_reads_empty():
    assert customfields.to_item(LIST, "")["idValue"] == ""
    assert customfields.to_item({"id": "t", "name": "Note", "type": "text"}, " ")["value"] == ""
    assert customfields.to_cell(LIST, None) == ""
    assert customfields.to_cell({"id": "c", "name": "VIP", "type": "checkbox"}, None) == "FALSE"
