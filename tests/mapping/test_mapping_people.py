"""Members, checklist and comment columns in the mapping, and matching a cell's names to board members."""

from __future__ import annotations

import pytest

from server.models.card_extra import CardExtra
from server.models.enums import Direction, FieldKind
from server.models.mapping import FieldMap, Mapping, MappingError
from server.sync import members
from server.sync.cards import checklist_progress, comment_text

STORED = {
    "title_column": "Name",
    "status_column": "Status",
    "description_columns": ["Email"],
    "due_column": None,
    "members_column": "Owner",
    "checklist_column": "Checklist",
    "comment_column": "Last comment",
    "member_emails": {"cara@example.com": "cara"},
    "directions": {"Owner": "to_trello"},
    "status_to_list": {"New": "l-new"},
    "list_to_status": {"l-new": "New"},
    "default_status": "New",
    "list_names": {},
    "board_name": "",
}


def test_the_people_keys_read_as_fields_and_write_back_unchanged():
    mapping = Mapping.from_json(STORED)
    assert mapping.fields[-3:] == (FieldMap("Owner", FieldKind.MEMBERS, Direction.TO_TRELLO),
                                   FieldMap("Checklist", FieldKind.CHECKLIST, Direction.TO_SHEET),
                                   FieldMap("Last comment", FieldKind.COMMENT, Direction.TO_SHEET))
    assert (mapping.members_column, mapping.checklist_column, mapping.comment_column) == (
        "Owner", "Checklist", "Last comment")
    assert mapping.member_emails == {"cara@example.com": "cara"}
    assert mapping.to_json() == STORED


def test_checklist_and_comment_columns_are_card_to_sheet_whatever_directions_say():
    mapping = Mapping.from_json({**STORED, "directions": {"Checklist": "both", "Last comment": "to_trello"}})
    assert mapping.direction("Checklist") is Direction.TO_SHEET
    assert mapping.direction("Last comment") is Direction.TO_SHEET
    assert not mapping.takes_from_sheet("Checklist") and mapping.takes_from_trello("Last comment")
    assert "directions" not in mapping.to_json()  # a fixed direction is not stored


def test_a_mapping_without_them_stays_as_stored_and_a_bad_email_table_is_named():
    plain = {k: v for k, v in STORED.items() if k not in ("members_column", "checklist_column", "comment_column",
                                                          "member_emails", "directions")}
    mapping = Mapping.from_json(plain)
    assert mapping.members_column is None and mapping.member_emails == {}
    assert mapping.to_json() == plain
    with pytest.raises(MappingError, match="member_emails"):
        Mapping.from_json({**STORED, "member_emails": ["ann@example.com"]})


BOARD = members.Board({m.id: m for m in (
    members.Member("m-ann", "ann", "Ann Example"), members.Member("m-bob", "bob", "Bob Builder"),
    members.Member("m-cara", "cara", "Cara Dune"), members.Member("m-dan1", "dan1", "Dan Twin"),
    members.Member("m-dan2", "dan2", "Dan Twin"), members.Member("m-nameless", "solo", ""))})


@pytest.mark.parametrize(("name", "expected"), [
    ("bob", "m-bob"), ("@Bob", "m-bob"), ("  BOB  ", "m-bob"),  # username, with or without @, any case
    ("bob builder", "m-bob"), ("Bob   Builder", "m-bob"),  # full name, spaces folded
    ("cara@example.com", "m-cara"), ("CARA@example.com", "m-cara"),  # the email table (to a username)
    ("ann@example.com", "m-ann"),  # the email table (to a member id)
    ("Dan Twin", None),  # a full name two members share: not guessed
    ("dan2", "m-dan2"),  # their usernames still tell them apart
    ("Zed", None), ("", None), ("unknown@example.com", None),
])
def test_a_name_matches_by_email_then_username_then_full_name(name, expected):
    emails = {"cara@example.com": "cara", "ann@example.com": "m-ann"}
    assert BOARD.match(name, emails) == expected


def test_a_member_shows_by_full_name_else_username():
    assert BOARD.display("m-bob") == "Bob Builder"
    assert BOARD.display("m-nameless") == "solo"
    assert BOARD.display("m-gone", "fallback") == "fallback"
    assert members.names("Ann, bob ,, ann") == ["Ann", "bob"]
    assert members.key("Bob, ann") == members.key("ANN,bob")


class _Trello:
    def __init__(self):
        self.reads = 0

    def board_members(self, board_id):
        self.reads += 1
        return [{"id": m.id, "username": m.username, "fullName": m.full_name} for m in BOARD.members.values()]


def test_the_resolver_reads_the_board_once_and_keeps_the_cells_own_words():
    trello = _Trello()
    members.forget("ws-people")
    resolver = members.Resolver(trello, "ws-people", "b1", {"cara@example.com": "cara"})  # type: ignore[arg-type]
    assert resolver.resolve("bob, Zed, cara@example.com, Bob Builder") == (["m-bob", "m-cara"], ["Zed"])
    assert resolver.key("bob, cara@example.com") == resolver.key("Cara Dune, @bob") == {"m-bob", "m-cara"}
    assert resolver.of_ids(["m-cara", "m-nameless"]) == "Cara Dune, solo"
    # added at the end by full name; taken out whichever way the cell named them
    assert resolver.with_member("bob, Zed", "m-ann", "Ann Example", True) == "bob, Zed, Ann Example"
    assert resolver.with_member("bob, cara@example.com", "m-cara", "Cara Dune", False) == "bob"
    assert resolver.with_member("@bob", "m-bob", "Bob Builder", True) == "@bob"  # named already
    reads = trello.reads
    assert reads <= 2  # the first read, and one more for "Zed" (someone may have just joined)
    resolver.key("bob")
    assert trello.reads == reads  # cached
    members.forget("ws-people")


def test_checklist_progress_comment_text_and_colour_labels_in_the_link():
    assert checklist_progress({"badges": {"checkItems": 5, "checkItemsChecked": 3}}) == "3/5"
    assert checklist_progress({"badges": {"checkItems": 0, "checkItemsChecked": 0}}) == ""
    assert checklist_progress({}) == ""
    assert comment_text({"data": {"text": "  hello  "}}) == "hello" and comment_text(None) == ""
    assert len(comment_text({"data": {"text": "x" * 60_000}})) == 49_000
    extra = CardExtra.from_json({"colour_labels": ["l1", 3, "l2"]})
    assert extra.colour_labels == ("l1", "l2") and extra.to_json() == {"colour_labels": ["l1", "l2"]}
    assert CardExtra.from_json({"colour_labels": "l1"}).colour_labels == ()


def test_the_power_up_card_back_lists_the_people_columns_in_mapping_order():
    from types import SimpleNamespace

    from server.models.mapping import Mapping
    from server.powerup.leads import lead_fields

    workspace = SimpleNamespace(mapping=STORED, lead_id_column="Lead ID")
    link = SimpleNamespace(shadow={"Name": "Ada", "Status": "New", "Email": "ada@example.com", "Owner": "Ann Example",
                                   "Checklist": "3/5", "Last comment": "called", "Lead ID": "L-1"})
    fields, status = lead_fields(workspace, Mapping.from_json(STORED), link)  # type: ignore[arg-type]
    assert list(fields) == ["Name", "Email", "Owner", "Checklist", "Last comment"] and status == "New"
    assert fields["Checklist"] == "3/5" and fields["Owner"] == "Ann Example"
