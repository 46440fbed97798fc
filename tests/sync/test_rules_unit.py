"""The pure parts of the engine: descriptions and mapping (the merge: test_merge.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.sync import description
from server.sync.mapping import Mapping, due_from_trello, due_to_trello, normalise_status


def test_description_roundtrip_keeps_preamble_and_marker():
    columns = ["Email", "Phone", "Notes"]
    text = description.render({"Email": "a@b.c", "Phone": "", "Notes": "line 1\nline 2"}, columns, "L-1",
                              "Free text from a person")
    parsed = description.parse(text, columns)
    assert parsed.lead_id == "L-1" and parsed.preamble == "Free text from a person"
    assert parsed.fields == {"Email": "a@b.c", "Phone": "", "Notes": "line 1\nline 2"}


def test_description_missing_lines_are_not_cleared():
    parsed = description.parse("Email: a@b.c\n\nLead ID: L-9", ["Email", "Phone"])
    assert parsed.fields == {"Email": "a@b.c"} and parsed.lead_id == "L-9"


@given(st.dictionaries(st.sampled_from(["Email", "Phone", "Company"]),
                       st.text(alphabet=st.characters(blacklist_characters="\r\n:", blacklist_categories=("Cs", "Zl", "Zp", "Cc")), max_size=30)
                       .map(str.strip)))
def test_description_roundtrip_property(values):
    columns = ["Email", "Phone", "Company"]
    parsed = description.parse(description.render(values, columns, "L-42"), columns)
    assert parsed.lead_id == "L-42"
    assert {c: parsed.fields[c] for c in columns} == {c: values.get(c, "") for c in columns}


def test_status_matching_ignores_case_and_spaces_and_allows_many_to_one():
    mapping = Mapping.from_json({"status_to_list": {"Won": "done", "Lost": "done", "New": "new"},
                                 "list_to_status": {"done": "Won", "new": "New"}, "default_status": "New"})
    assert normalise_status("  WON ") == "won"
    assert mapping.list_for_status(" lost") == "done" and mapping.list_for_status("") == "new"
    assert mapping.list_for_status("Maybe") is None
    assert mapping.status_matches_list("LOST", "done") and mapping.status_for_list("done") == "Won"


def test_due_dates_convert_both_ways():
    assert due_to_trello("2026-12-01") == "2026-12-01T12:00:00.000Z"
    assert due_to_trello("") is None and due_to_trello("soon") is None
    assert due_from_trello("2026-12-01T12:00:00.000Z") == "2026-12-01" and due_from_trello(None) == ""
