"""``Workspace.mapping`` read and written through its typed form (``server/models/mapping.py``)."""

import pytest

from server.models import User, Workspace
from server.models.enums import Direction, FieldKind
from server.models.mapping import FieldMap, Mapping, MappingError, column_fields

# A mapping as the wizard has stored it since the first version, with a key of a newer version.
STORED = {
    "title_column": "Name",
    "status_column": "Stage",
    "description_columns": ["Email", "Phone"],
    "due_column": "Follow up",
    "status_to_list": {"Won": "l-done", "Lost": "l-done", "New": "l-new"},
    "list_to_status": {"l-done": "Won", "l-new": "New"},
    "default_status": "New",
    "list_names": {"l-done": "Done", "l-new": "New"},
    "board_name": "Sales",
    "from_a_newer_version": {"kept": True},
}


def test_a_stored_mapping_reads_as_fields_with_kinds_and_writes_back_unchanged():
    mapping = Mapping.from_json(STORED, "Lead ID")
    assert mapping.fields == (FieldMap("Name", FieldKind.TITLE), FieldMap("Stage", FieldKind.STATUS),
                              FieldMap("Email", FieldKind.DESCRIPTION), FieldMap("Phone", FieldKind.DESCRIPTION),
                              FieldMap("Follow up", FieldKind.DUE))
    assert all(f.direction is Direction.BOTH for f in mapping.fields)
    assert (mapping.title_column, mapping.status_column, mapping.due_column) == ("Name", "Stage", "Follow up")
    assert mapping.description_columns == ("Email", "Phone")
    assert mapping.synced_columns == ["Name", "Stage", "Email", "Phone", "Follow up"]
    assert mapping.status_to_list == {"won": "l-done", "lost": "l-done", "new": "l-new"}
    assert mapping.statuses_as_written == {"Won": "l-done", "Lost": "l-done", "New": "l-new"}
    assert mapping.to_json() == STORED
    assert Mapping.from_json(mapping.to_json(), "Lead ID") == mapping


def test_a_missing_or_empty_mapping_is_the_default_one():
    for stored in (None, {}, {"title_column": "", "status_column": None, "due_column": "",
                              "description_columns": None}):
        mapping = Mapping.from_json(stored)
        assert mapping.synced_columns == ["Name", "Status"] and mapping.due_column is None
        assert mapping.list_for_status("Won") is None and mapping.default_status == ""


def test_the_default_status_is_the_first_mapped_one_when_none_is_stored():
    mapping = Mapping.from_json({"status_to_list": {"New": "l-new", "Won": "l-done"}})
    assert mapping.default_status == "New" and mapping.list_for_status("") == "l-new"


@pytest.mark.parametrize("stored, words", [
    (["Name", "Status"], "the stored mapping is a list, not an object"),
    ({"title_column": 3}, "“title_column” is a number, not text"),
    ({"description_columns": "Email"}, "“description_columns” is text, not a list of column names"),
    ({"description_columns": ["Email", None]}, "“description_columns” holds NoneType where a column name"),
    ({"status_to_list": {"Won": None}}, "“status_to_list” gives “Won” NoneType where text should be"),
    ({"list_names": ["Done"]}, "“list_names” is a list, not an object"),
])
def test_a_malformed_mapping_is_a_clear_error(stored, words):
    with pytest.raises(MappingError) as raised:
        Mapping.from_json(stored)
    assert words in str(raised.value)


def test_a_mapping_needs_one_title_and_one_status_column():
    with pytest.raises(MappingError, match="needs a title column and a status column"):
        Mapping(fields=(FieldMap("Name", FieldKind.TITLE),))
    with pytest.raises(MappingError, match="2 title columns"):
        Mapping(fields=(*column_fields("Name", "Status"), FieldMap("Company", FieldKind.TITLE)))


def test_pages_show_a_malformed_stored_mapping_as_the_default_one(app):
    from server.extensions import db

    with app.app_context():
        user = User(email="ann@example.com")
        db.session.add(user)
        db.session.flush()
        workspace = Workspace(name="W", owner_id=user.id, spreadsheet_id="s", sheet_name="Leads",
                              trello_board_id="b", lead_id_column="Lead", mapping={"title_column": ["Name"]})
        db.session.add(workspace)
        db.session.commit()
        with pytest.raises(MappingError):
            Mapping.of(workspace)
        shown = Mapping.of_or_default(workspace)
        assert shown.title_column == "Name" and shown.lead_id_column == "Lead"
