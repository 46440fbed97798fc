"""The row and card filters of a mapping: stored form, checks and what passes."""

from __future__ import annotations

import pytest

from server.models.filters import CardFilter, Condition, FilterOp, RowFilter
from server.models.mapping import Mapping, MappingError
from server.sync import filters

BASE = {"title_column": "Name", "status_column": "Status", "status_to_list": {"New": "l1", "Won": "l2", "Lost": "l2"},
        "list_to_status": {"l1": "New", "l2": "Won"}, "list_names": {"l1": "New", "l2": "Closed"}}


def test_a_mapping_without_filters_syncs_everything_and_is_written_back_unchanged():
    mapping = Mapping.from_json(BASE)
    assert not mapping.row_filter and not mapping.card_filter
    assert "row_filter" not in mapping.to_json() and "card_filter" not in mapping.to_json()
    assert filters.row_passes(mapping, {"Status": "Lost"})
    assert filters.card_takes(mapping, "l1", ["anything"]) and not filters.card_takes(mapping, "elsewhere", None)


def test_filters_round_trip():
    stored = {**BASE, "row_filter": [{"column": "Status", "op": "is_not", "value": "Lost"},
                                     {"column": "Email", "op": "is_not_empty"}],
              "card_filter": {"lists": ["l1"], "labels": ["Hot"]}}
    mapping = Mapping.from_json(stored)
    assert mapping.row_filter == RowFilter((Condition("Status", FilterOp.IS_NOT, "Lost"),
                                            Condition("Email", FilterOp.IS_NOT_EMPTY)))
    assert mapping.card_filter == CardFilter(("l1",), ("Hot",))
    assert Mapping.from_json(mapping.to_json()) == mapping
    assert mapping.to_json()["row_filter"] == stored["row_filter"]
    assert mapping.row_filter.words == "Status is not “Lost” and Email is not empty"
    assert mapping.card_filter.words(mapping.list_names) == "cards in “New”, labelled “Hot”"
    assert CardFilter().words({}) == "cards in every mapped list" and RowFilter().words == "every row"


@pytest.mark.parametrize("op, value, cell, holds", [
    ("is", "East", "  EAST ", True), ("is", "East", "West", False), ("is_not", "Lost", "lost", False),
    ("is_not", "Lost", "", True), ("is_empty", "", "  ", True), ("is_empty", "", "x", False),
    ("is_not_empty", "", "x", True), ("contains", "engine", "Difference  Engines", True),
    ("contains", "engine", "Looms", False),
])
def test_each_operator(op, value, cell, holds):
    condition = RowFilter.from_json([{"column": "C", "op": op, "value": value}]).conditions[0]
    assert condition.holds({"C": cell}) is holds
    assert condition.holds({}) is Condition("C", FilterOp(op), value).holds({"C": ""})  # a missing column is empty


@pytest.mark.parametrize("stored, words", [
    ("Status", "“row_filter” is text, not a list of conditions"),
    ([["Status"]], "condition 1 is a list, not an object"),
    ([{"op": "is", "value": "x"}], "condition 1 names no column"),
    ([{"column": "Status", "op": "equals", "value": "x"}], "the operator “equals”; it takes “is”, “is_not”"),
    ([{"column": "Status", "op": "is"}], "condition 1 (Status is …) has no value to compare with"),
    ([{"column": "Status", "op": "is", "value": 3}], "has a number for its value, not text"),
    ([{"column": "C", "op": "is_empty"}] * 11, "it takes at most 10"),
])
def test_a_malformed_row_filter_is_named(stored, words):
    with pytest.raises(MappingError) as caught:
        Mapping.from_json({**BASE, "row_filter": stored})
    assert words in str(caught.value)


@pytest.mark.parametrize("stored, words", [
    (["l1"], "“card_filter” is a list, not an object"),
    ({"lists": "l1"}, "“lists” must be a list of Trello list ids"),
    ({"labels": [""]}, "“labels” must be a list of label names"),
    ({"list": ["l1"]}, "has “list”; it takes “lists” and “labels”"),
])
def test_a_malformed_card_filter_is_named(stored, words):
    with pytest.raises(MappingError) as caught:
        Mapping.from_json({**BASE, "card_filter": stored})
    assert words in str(caught.value)


def test_a_status_whose_list_the_card_filter_leaves_out_takes_the_row_out():
    mapping = Mapping.from_json({**BASE, "card_filter": {"lists": ["l1"]}})
    assert filters.row_passes(mapping, {"Status": "new"})
    why = filters.row_refusal(mapping, {"Status": "Won"})
    assert why == "its status “Won” goes to the list “Closed”, which the card filter leaves out"
    assert filters.row_passes(mapping, {"Status": "Maybe"})  # no list at all: the engine's own error, not a filter
    assert filters.card_refusal(mapping, "l2", None) == "the card is in “Closed”, a list the card filter leaves out"


def test_labels_match_ignoring_case_and_any_one_will_do():
    card_filter = CardFilter(None, ("Hot", "Warm"))
    assert card_filter.takes_labels(["cold", "HOT"]) and not card_filter.takes_labels(["Cold"])
    assert not card_filter.takes_labels([]) and CardFilter().takes_labels([])
    assert card_filter.takes_list("l1", ["l1"]) and not card_filter.takes_list("l3", ["l1"])
    assert not CardFilter(()).takes_list("l1", ["l1"])  # no list chosen: no card


def test_the_effect_of_a_new_filter_counts_rows_and_cards_in_and_out():
    from server.sync import filter_form

    old = Mapping.from_json({**BASE, "row_filter": [{"column": "Region", "op": "is", "value": "East"}]})
    new = Mapping.from_json({**BASE, "row_filter": [{"column": "Status", "op": "is_not", "value": "Lost"}],
                             "card_filter": {"labels": ["Hot"]}})
    rows = [{"Name": "Ada", "Status": "New", "Region": "East"}, {"Name": "Bob", "Status": "Lost", "Region": "East"},
            {"Name": "Cy", "Status": "Won", "Region": "West"}]
    cards = [{"name": "Hot one", "idList": "l1", "labels": [{"name": "hot"}]}, {"name": "Plain", "idList": "l2"}]
    effect = filter_form.filter_effect(old, new, rows, cards)
    assert (effect.rows_in, effect.rows_out, effect.cards_in, effect.cards_out) == (1, 1, 0, 1)
    assert effect.samples == {"rows_out": ["“Bob”"], "rows_in": ["“Cy”"], "cards_out": ["“Plain”"]}
    assert filter_form.words(new) == ("rows where Status is not “Lost”", "cards in every mapped list, labelled “Hot”")


def test_the_form_reads_conditions_and_lists_and_names_its_problems():
    from server.sync import filter_form

    form = {"filter_column_0": "Status", "filter_op_0": "is_not", "filter_value_0": " Lost ", "filter_column_1": "",
            "filter_op_1": "is", "filter_column_2": "Email", "filter_op_2": "is_empty", "filter_value_2": "ignored",
            "card_lists_mode": "some", "card_labels": "Hot, , Warm"}
    row_filter, problems = filter_form.row_filter_from_form(form.get, ["Status", "Email"])
    assert problems == [] and row_filter.to_json() == [{"column": "Status", "op": "is_not", "value": "Lost"},
                                                       {"column": "Email", "op": "is_empty"}]
    card_filter, problems = filter_form.card_filter_from_form(form.get, lambda name: ["l1", "nope"],
                                                              [("l1", "New"), ("l2", "Closed")])
    assert problems == [] and card_filter == CardFilter(("l1",), ("Hot", "Warm"))
    _, problems = filter_form.card_filter_from_form(form.get, lambda name: [], [("l1", "New")])
    assert problems == ["The card filter syncs only some lists: tick at least one list (or choose every list)."]
