"""The pure parts of the engine: shadows and timestamps, descriptions, mapping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.sync import description
from server.sync.mapping import Mapping, due_from_trello, due_to_trello, normalise_status
from server.sync.rules import Incoming, decide


def test_echo_is_dropped_and_confirms_time():
    decision = decide({"Status": "Won"}, {"Status": {"t": 100, "s": "sheets"}},
                      [Incoming("Status", "Won", True)], 200, "trello")
    assert decision.applied == {} and decision.times["Status"] == {"t": 200, "s": "trello"}


def test_genuine_change_is_applied():
    decision = decide({"Status": "Won"}, {"Status": {"t": 100, "s": "sheets"}},
                      [Incoming("Status", "Lost", False)], 200, "trello")
    assert decision.applied == {"Status": ("Won", "Lost")} and decision.shadow["Status"] == "Lost"


def test_older_change_from_other_side_is_a_conflict():
    decision = decide({"Status": "Lost"}, {"Status": {"t": 300, "s": "trello"}},
                      [Incoming("Status", "Won", False)], 200, "sheets")
    assert decision.applied == {} and decision.shadow["Status"] == "Lost"
    assert decision.conflicts["Status"]["kept_side"] == "trello"


def test_older_change_from_same_side_is_stale_not_conflict():
    decision = decide({"Name": "B"}, {"Name": {"t": 300, "s": "trello"}}, [Incoming("Name", "A", False)], 200, "trello")
    assert decision.stale == {"Name": "A"} and not decision.conflicts and decision.shadow["Name"] == "B"


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 1000), st.sampled_from(["sheets", "trello"])),
                min_size=1, max_size=30, unique_by=lambda e: e[1]), st.randoms())
def test_newest_change_wins_whatever_the_arrival_order(changes, rnd):
    """Late, early, duplicated: applied in any order, the field ends on the newest change's value."""
    order = list(changes) + [rnd.choice(changes)]  # a redelivery too
    rnd.shuffle(order)
    shadow, times = {"f": "start"}, {}
    for value, at, side in order:
        decision = decide(shadow, times, [Incoming("f", value, value == shadow["f"])], at, side)
        shadow, times = decision.shadow, decision.times
    assert shadow["f"] == max(changes, key=lambda e: e[1])[0]


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
    mapping = Mapping.from_dict({"status_to_list": {"Won": "done", "Lost": "done", "New": "new"},
                                 "list_to_status": {"done": "Won", "new": "New"}, "default_status": "New"})
    assert normalise_status("  WON ") == "won"
    assert mapping.list_for_status(" lost") == "done" and mapping.list_for_status("") == "new"
    assert mapping.list_for_status("Maybe") is None
    assert mapping.status_matches_list("LOST", "done") and mapping.status_for_list("done") == "Won"


def test_due_dates_convert_both_ways():
    assert due_to_trello("2026-12-01") == "2026-12-01T12:00:00.000Z"
    assert due_to_trello("") is None and due_to_trello("soon") is None
    assert due_from_trello("2026-12-01T12:00:00.000Z") == "2026-12-01" and due_from_trello(None) == ""
