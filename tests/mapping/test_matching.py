"""Status ⇄ list matching, the reverse table's rule, and the mapping form's checks (no Flask)."""

from __future__ import annotations

from server.sync.mapping_form import (
    check_columns,
    check_policies,
    check_statuses,
    status_pairs,
)
from server.sync.matching import best_match, match_key, match_statuses, reverse_table

LISTS = [("l-inbox", "Inbox"), ("l-contacted", "Contacted"), ("l-demo", "Demo"), ("l-closed", "Closed won"),
         ("l-lost", "Lost")]


def test_keys_ignore_case_spacing_punctuation_and_accents():
    assert match_key("  Demo-booked!! ") == "demo booked"
    assert match_key("CLOSED   won") == match_key("closed_won") == "closed won"
    assert match_key("Réunion") == "reunion"
    assert match_key("") == ""


def test_best_match_exact_then_close_spelling_then_nothing():
    assert best_match("contacted", LISTS) == "l-contacted"
    assert best_match("Closed-Won", LISTS) == "l-closed"
    assert best_match("Contaced", LISTS) == "l-contacted"  # a typo
    assert best_match("lost.", LISTS) == "l-lost"
    assert best_match("won", LISTS) is None  # never the first list by default
    assert best_match("Demo booked", LISTS) is None
    assert best_match("", LISTS) is None


def test_match_statuses_flags_what_it_cannot_match():
    result = match_statuses(["New", "won", "Lost", "Demo booked", "contacted", "  "], LISTS)
    assert result.status_to_list == {"New": None, "won": None, "Lost": "l-lost", "Demo booked": None,
                                     "contacted": "l-contacted"}
    assert result.unmatched == ["New", "won", "Demo booked"]
    # a person's earlier choice wins over the name match
    saved = match_statuses(["won", "Lost"], LISTS, saved={"WON": "l-closed", "lost": "l-closed"})
    assert saved.status_to_list == {"won": "l-closed", "Lost": "l-closed"} and not saved.unmatched


def test_reverse_table_follows_the_forward_table_but_keeps_valid_choices():
    forward = {"Demo booked": "l-demo", "Won": "l-closed", "Lost": "l-closed", "New": None}
    assert reverse_table(LISTS, forward) == {"l-inbox": "Inbox", "l-contacted": "Contacted", "l-demo": "Demo booked",
                                             "l-closed": "Won", "l-lost": "Lost"}
    # a saved "Lost" for Closed leads back to Closed: kept; a saved "Won" for Lost does not: replaced
    reverse = reverse_table(LISTS, forward, saved={"l-closed": "Lost", "l-lost": "Won", "l-inbox": "Fresh"})
    assert reverse["l-closed"] == "Lost" and reverse["l-lost"] == "Lost" and reverse["l-inbox"] == "Fresh"


def test_check_statuses_accepts_a_complete_mapping():
    pairs = [("Won", "l-closed"), ("Lost", "l-lost"), (" demo  booked ", "l-demo"), ("", "l-inbox")]
    reverse = {"l-inbox": "New", "l-contacted": "Contacted", "l-demo": "Demo booked", "l-closed": "Won",
               "l-lost": "Lost"}
    answer = check_statuses(pairs, reverse, "New", LISTS)
    assert answer.problems == []
    assert answer.status_to_list == {"Won": "l-closed", "Lost": "l-lost", "demo booked": "l-demo", "New": "l-inbox",
                                     "Contacted": "l-contacted"}
    assert answer.list_to_status["l-demo"] == "Demo booked" and answer.default_status == "New"


def test_check_statuses_says_what_is_wrong_in_words():
    reverse = {"l-inbox": "New", "l-contacted": "", "l-demo": "Won", "l-closed": "Won", "l-lost": "Lost"}
    answer = check_statuses([("Won", "l-closed"), ("Demo booked", ""), ("won", "l-lost"), ("Lost", "l-nope")],
                            reverse, "Unheard", LISTS)
    problems = "\n".join(answer.problems)
    assert "Choose a list for the status “Demo booked”" in problems
    assert "Choose a list for the status “Lost”" in problems  # a list that is not on the board
    assert "“won” is given two different lists" in problems
    assert "Give the status a row takes when its card moves to “Contacted”" in problems
    assert "“Won” is the status for cards moved to “Demo”, but that status is mapped to another list (“Closed won”)" in problems
    assert "(“Unheard”) is not mapped to a list" in problems


def test_status_pairs_reads_both_kinds_of_rows_in_order():
    form = {"status_name_0": "Won", "status_list_0": "a", "status_name_1": "Lost", "status_list_1": "b",
            "extra_status_0": "New", "extra_list_0": "c", "extra_status_1": "", "extra_list_1": ""}
    assert status_pairs(form.get) == [("Won", "a"), ("Lost", "b"), ("New", "c"), ("", "")]


def test_check_columns_and_policies():
    columns = ["Name", "Email", "Status", "Due"]
    ok = check_columns(columns, "Name", "Status", "Due", ["Email", "Status", "Email"])
    assert ok.problems == [] and ok.description_columns == ["Email"] and ok.due_column == "Due"
    bad = check_columns(columns, "Status", "Status", "Status", ["Phone"])
    assert "The title and the status must be different columns." in bad.problems
    assert "The due date column must be another column (or none)." in bad.problems
    assert "The sheet has no column “Phone” for the card description." in bad.problems
    assert check_columns(columns, "Nope", "Status", None, []).problems == ["Choose the column that becomes the card title."]
    assert check_policies("archive", "set_status", "Archived").problems == []
    policies = check_policies("explode", "set_status", " ")
    assert len(policies.problems) == 2 and policies.row_removed_policy == "archive"
