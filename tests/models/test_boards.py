"""The mapping's ``routing`` (several boards per sheet): read, written back, and what it answers."""

from __future__ import annotations

import pytest

from server.models.mapping import Mapping, MappingError

BASE = {"title_column": "Name", "status_column": "Status", "description_columns": ["Email"],
        "status_to_list": {"New": "us-new", "Won": "us-closed", "Lost": "us-closed"},
        "list_to_status": {"us-new": "New", "us-closed": "Won"}}
ROUTING = {"column": "Region", "primary_routes": ["US"],
           "boards": [{"board_id": "eu", "board_name": "EU leads", "routes": ["EU", "Europe"],
                       "status_to_list": {"New": "eu-new", "Won": "eu-closed"},
                       "list_to_status": {"eu-new": "New", "eu-closed": "Won"},
                       "list_names": {"eu-new": "New", "eu-closed": "Closed"}}]}


def test_a_mapping_without_routing_is_written_back_unchanged():
    mapping = Mapping.from_json(BASE)
    assert mapping.routing is None and mapping.route_column is None and "routing" not in mapping.to_json()
    assert mapping.list_for_row({"Status": "won"}) == "us-closed"
    assert mapping.route_for_list("us-new") is None


def test_routing_is_read_written_back_and_answers_by_board():
    mapping = Mapping.from_json({**BASE, "routing": ROUTING})
    assert Mapping.from_json(mapping.to_json()).to_json() == mapping.to_json()
    assert mapping.to_json()["routing"]["boards"][0]["routes"] == ["EU", "Europe"]
    assert mapping.synced_columns[-1] == "Region" and mapping.route_column == "Region"
    # sheet -> Trello: the status's list on the board the cell names (ignoring case and spaces)
    assert mapping.list_for_row({"Status": "Won", "Region": "  europe "}) == "eu-closed"
    assert mapping.list_for_row({"Status": "Won", "Region": "US"}) == "us-closed"
    assert mapping.list_for_row({"Status": "Won", "Region": "Mars"}) == "us-closed"  # unknown: the main board
    assert mapping.list_for_row({"Status": "Won", "Region": ""}) == "us-closed"
    assert mapping.list_for_row({"Status": "Lost", "Region": "EU"}) == "us-closed"  # not on that board: main
    # Trello -> sheet: a list tells its status and its board
    assert mapping.status_for_list("eu-closed") == "Won"
    assert mapping.route_for_list("eu-new") == "EU"
    assert mapping.route_for_list("eu-new", "Europe") == "Europe"  # the row's value, when it routes there
    assert mapping.route_for_list("us-new", "Europe") == "US"
    assert mapping.route_for_list("us-new", "Mars") == "Mars"  # unknown values are the main board's
    assert mapping.route_for_list("us-new", "") == ""
    assert mapping.routing is not None and mapping.routing.is_known_route("") and \
        not mapping.routing.is_known_route("Mars")


@pytest.mark.parametrize("routing, words", [
    ("Region", "“routing” is not an object"),
    ({"column": "Region", "boards": [{"routes": ["EU"]}]}, "“routing.boards[0]” has no board id"),
    ({"column": "Region", "boards": [{"board_id": "eu", "routes": [1]}]}, "“routing.boards[0].routes” is not"),
    ({"column": "Region", "boards": [{"board_id": "eu", "status_to_list": []}]}, "status_to_list"),
])
def test_a_malformed_routing_is_a_mapping_error_naming_the_key(routing, words):
    with pytest.raises(MappingError, match=words.replace("[", r"\[").replace("]", r"\]")):
        Mapping.from_json({**BASE, "routing": routing})


def test_a_routing_without_a_column_is_no_routing():
    assert Mapping.from_json({**BASE, "routing": {"column": "", "boards": []}}).routing is None
