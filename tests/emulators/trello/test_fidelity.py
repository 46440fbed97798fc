"""The Trello emulator against REAL recorded Trello payloads, compared structurally.

The fixtures under ``fixtures/trello/`` are deliveries and REST answers recorded by others from
the real Trello (sources in ``fixtures/trello/SOURCES.md``). For each, the emulator makes the
same change over real HTTP and its delivery (or answer) must have the same keys at every level,
the same JSON types, the same ``display.translationKey`` and the same entity types.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from emulators.trello import TrelloEmulator
from server.trello.client import CARD_FIELDS
from tests.emulators.trello.http import KEY, Receiver
from tests.emulators.trello.shapes import World, entity_types, fixture, shape_diff


@pytest.fixture
def world(emu: TrelloEmulator, receiver: Receiver) -> World:
    return World(emu, receiver)


# --------------------------------------------------------------------------- deliveries


def test_a_whole_delivery_has_the_recorded_shape(world: World) -> None:
    """model, action and webhook of a list move, against a 2024 delivery (order included)."""
    real = fixture("webhook_updateCard_move_2024.json")
    card = world.card()
    world.emu.update_card(card["id"], idList=world.list_ids[1])
    body = world.bodies()[-1]
    assert list(body) == list(real)
    assert shape_diff(real, body) == []
    assert list(body["action"]) == list(real["action"])
    assert body["action"]["display"]["translationKey"] == "action_move_card_from_list_to_list"
    assert entity_types(body["action"]) == entity_types(real["action"])
    assert body["action"]["display"]["entities"]["listAfter"]["text"] == "Doing"
    assert body["webhook"]["id"] == world.hook["id"] and body["model"]["id"] == world.board_id


@pytest.mark.parametrize("name, make", [
    ("action_createCard_2020.json", lambda w: w.card("test item")),
    ("action_updateCard_rename_2022.json",
     lambda w: w.emu.update_card(w.card("Old name")["id"], name="New name")),
    ("action_updateCard_move_2022.json",
     lambda w: w.emu.update_card(w.card()["id"], idList=w.list_ids[2])),
])
def test_recorded_actions(world: World, name: str, make: Any) -> None:
    real = fixture(name)
    make(world)
    ours = world.last(real["type"])
    assert shape_diff(real, ours) == []
    assert ours["display"]["translationKey"] == real["display"]["translationKey"]
    assert entity_types(ours) == entity_types(real)


def test_comments_match_the_recorded_delivery_and_api_answer(world: World) -> None:
    """A delivered comment against a 2021 delivery (display, limits, memberCreator) and a
    2024 API answer (data with ``textData``, which the 2021 delivery did not carry)."""
    delivered, answered = (fixture("action_commentCard_2021.json"),
                           fixture("action_commentCard_2024_api.json"))
    card = world.card()
    world.emu.comment_card(card["id"], "A comment.")
    ours = world.last("commentCard")
    assert shape_diff({**delivered, "data": answered["data"]}, ours) == []
    assert ours["display"]["translationKey"] == "action_comment_on_card"
    assert entity_types(ours) == entity_types(delivered)
    assert ours["display"]["entities"]["contextOn"]["idContext"] == card["id"]


def test_due_date_change_has_the_recorded_data_and_display(world: World) -> None:
    real = fixture("action_updateCard_due_2017.json")
    card = world.card()
    world.emu.update_card(card["id"], due="2017-05-01T16:00:00.000Z")
    world.emu.update_card(card["id"], due="2017-12-12T17:00:00.000Z")
    ours = world.last("updateCard")
    assert shape_diff(real["data"], ours["data"]) == []
    assert shape_diff(real["display"], ours["display"]) == []
    assert ours["display"]["translationKey"] == "action_changed_a_due_date"
    assert ours["display"]["entities"]["date"] == {"type": "date",
                                                   "date": "2017-12-12T17:00:00.000Z"}


def _board_move(world: World, kind: str) -> dict[str, Any]:
    other = world.emu.add_board("Other board", world.member_id, ["Inbox"])
    if kind == "moveCardToBoard":  # the card arrives on the watched board
        card = world.emu.add_card(other["lists"][0]["id"], "Mover")
        world.emu.update_card(card["id"], idBoard=world.board_id, idList=world.list_ids[0])
    else:
        world.emu.update_card(world.card("Mover")["id"], idBoard=other["id"])
    return world.last(kind)


DATA_2015 = {
    "updateCard_desc": lambda w: w.emu.update_card(w.card()["id"], desc="new text"),
    "updateCard_closed": lambda w: w.emu.update_card(w.card()["id"], closed=True),
    "updateCard_due": lambda w: w.emu.update_card(w.card()["id"], due="2015-06-10T15:00:00Z"),
    "deleteCard": lambda w: w.client.delete_card(w.card()["id"]),
    "copyCard": lambda w: w.client.request("POST", "/cards", json={
        "idList": w.list_ids[1], "idCardSource": w.card("Source card")["id"], "name": "a copy"}),
    "moveCardFromBoard": lambda w: _board_move(w, "moveCardFromBoard"),
    "moveCardToBoard": lambda w: _board_move(w, "moveCardToBoard"),
    "emailCard": lambda w: w.emu.email_card(w.list_ids[0], "Invoice"),
}


@pytest.mark.parametrize("case", sorted(DATA_2015))
def test_action_data_matches_2015_recordings(world: World, case: str) -> None:
    """``data`` of each card action against fiatjaf/trello-webhooks recordings."""
    real = fixture("actions_data_2015.json")[case]
    DATA_2015[case](world)
    ours = world.last(case.split("_")[0])
    assert shape_diff(real, ours["data"]) == []


def test_every_translation_key_names_the_entities_of_trellos_sentence(world: World) -> None:
    """For every change the engine may see, the entities are exactly the placeholders of
    Trello's sentence for that key (plus nothing else), whatever the key."""
    sentences = fixture("translation_entities.json")
    emu, card = world.emu, world.card("Grace")
    other = emu.add_member(f"o{uuid.uuid4().hex[:8]}", "Other Person")
    emu.add_board_member(world.board_id, other["id"])
    label = world.client.request("GET", f"/boards/{world.board_id}/labels")[0]
    steps: list[tuple[dict[str, Any], str]] = [
        ({"idList": world.list_ids[1]}, "action_move_card_from_list_to_list"),
        ({"name": "Grace H."}, "action_renamed_card"),
        ({"desc": "notes"}, "action_changed_description_of_card"),
        ({"due": "2030-01-01T09:00:00Z"}, "action_added_a_due_date"),
        ({"due": "2030-02-01T09:00:00Z"}, "action_changed_a_due_date"),
        ({"dueComplete": True}, "action_marked_the_due_date_complete"),
        ({"dueComplete": False}, "action_marked_the_due_date_incomplete"),
        ({"due": None}, "action_removed_a_due_date"),
        ({"pos": 1.0}, "action_moved_card_higher"),
        ({"pos": 10_000_000.0}, "action_moved_card_lower"),
        ({"closed": True}, "action_archived_card"),
        ({"closed": False}, "action_sent_card_to_board"),
        ({"idLabels": [label["id"]]}, "action_add_label_to_card"),
        ({"idLabels": []}, "action_remove_label_from_card"),
        ({"idMembers": [other["id"]]}, "action_added_member_to_card"),
        ({"idMembers": []}, "action_removed_member_from_card"),
        ({"idMembers": [world.member_id]}, "action_member_joined_card"),
        ({"idMembers": []}, "action_member_left_card"),
    ]
    for changes, expected in steps:
        before = len(world.actions())
        emu.update_card(card["id"], **changes)
        [action] = world.actions()[before:]
        key = action["display"]["translationKey"]
        assert key == expected, changes
        assert sorted(action["display"]["entities"]) == sorted(sentences[key]), key
    emu.comment_card(card["id"], "hi")
    world.client.request("POST", "/cards", json={"idList": world.list_ids[0],
                                                 "idCardSource": card["id"]})
    emu.email_card(world.list_ids[0], "Mail")
    world.client.delete_card(card["id"])
    for action in world.actions():
        key = action["display"]["translationKey"]
        assert key in sentences, key
        assert sorted(action["display"]["entities"]) == sorted(sentences[key]), key
        assert action["display"]["entities"]["memberCreator"]["type"] == "member"


def test_board_moves_use_trellos_keys(world: World) -> None:
    """moveCardFromBoard reads "transferred {card} to {board}", moveCardToBoard "... from"."""
    left = _board_move(world, "moveCardFromBoard")
    arrived = _board_move(world, "moveCardToBoard")
    assert left["display"]["translationKey"] == "action_move_card_from_board"
    assert arrived["display"]["translationKey"] == "action_move_card_to_board"
    assert left["display"]["entities"]["board"]["text"] == "Other board"
    assert arrived["display"]["entities"]["board"]["text"] == "Other board"


def test_rest_writes_name_the_app_and_ui_writes_do_not(world: World) -> None:
    """``appCreator``: ``{"id": app}`` for a change made with the app's API key, null for one
    made in Trello's own UI (the engine recognises its own writes by it)."""
    card = world.client.create_card(id_list=world.list_ids[0], name="By the API")
    world.emu.update_card(card["id"], name="By a person")
    by_api, by_person = [a for a in world.actions() if a["data"]["card"]["id"] == card["id"]]
    assert by_api["appCreator"] == {"id": world.emu.app_id}
    assert by_person["appCreator"] is None
    real = fixture("action_commentCard_2024_api.json")  # a comment an app made, read back
    world.client.request("POST", f"/cards/{card['id']}/actions/comments",
                         json={"text": "From the app"})
    [answered] = world.client.request("GET", f"/cards/{card['id']}/actions",
                                      params={"filter": "commentCard"})
    assert shape_diff(real, answered) == []
    assert answered["appCreator"] == {"id": world.emu.app_id}


# --------------------------------------------------------------------------- resources


def test_get_card_with_our_fields_matches_the_rest_reference(world: World) -> None:
    real = fixture("resource_card_reference.json")
    label = world.client.request("GET", f"/boards/{world.board_id}/labels")[0]
    card = world.card()
    world.emu.update_card(card["id"], idLabels=[label["id"]], due="2030-01-01T09:00:00Z")
    ours = world.client.get_card(card["id"])
    fields = CARD_FIELDS.split(",")
    assert sorted(ours) == sorted({"id", *fields})
    assert shape_diff({k: real[k] for k in ours}, ours) == []
    assert ours["labels"][0]["uses"] == 1
    full = world.client.request("GET", f"/cards/{card['id']}")
    assert [k for k in full if k not in real] == []  # every default field is a real one


def test_board_cards_with_our_fields_match_the_rest_reference(world: World) -> None:
    real = fixture("resource_card_reference.json")
    world.card("One")
    world.card("Two", 1)
    [page] = list(world.client.iter_board_cards(world.board_id))
    assert len(page) == 2
    for card in page:
        assert shape_diff({k: real[k] for k in {"id", *CARD_FIELDS.split(",")}}, card) == []


def test_board_lists_match_a_recorded_answer(world: World) -> None:
    real = fixture("resource_board_lists_2021.json")
    ours = world.client.lists(world.board_id)
    assert [lst["name"] for lst in ours] == ["New", "Doing", "Won"]
    for lst in ours:
        assert shape_diff(real[0], lst) == []


def test_get_board_answers_trellos_default_fields_and_the_fields_asked(world: World) -> None:
    real_model = fixture("webhook_updateCard_move_2024.json")["model"]
    ours = world.client.request("GET", f"/boards/{world.board_id}")
    assert shape_diff(real_model, ours) == []
    assert world.client.board(world.board_id).keys() == {"id", "name", "url", "closed"}


def test_board_actions_answer_what_webhooks_deliver(world: World) -> None:
    real = fixture("action_createCard_2020.json")
    card = world.card("test item")
    resp = requests.get(f"{world.emu.api_base_url}/boards/{world.board_id}/actions",
                        params={"key": KEY, "token": world.client.token,
                                "filter": "createCard", "display": "true"}, timeout=5)
    assert resp.status_code == 200
    [action] = resp.json()
    assert action["data"]["card"]["id"] == card["id"]
    assert shape_diff(real, action) == []
    assert action == world.last("createCard")
    plain = world.client.request("GET", f"/boards/{world.board_id}/actions",
                                 params={"filter": "createCard"})
    assert plain == [{k: v for k, v in action.items() if k != "display"}]


def test_action_filters_with_a_field_keep_only_those_changes(world: World) -> None:
    """``filter=updateCard:idList`` answers list moves only, as Trello's ``type:field`` filters."""
    card = world.card()
    world.emu.update_card(card["id"], name="Renamed")
    world.emu.update_card(card["id"], idList=world.list_ids[1])

    def types(action_filter: str) -> list[str]:
        resp = requests.get(f"{world.emu.api_base_url}/cards/{card['id']}/actions",
                            params={"key": KEY, "token": world.client.token,
                                    "filter": action_filter, "display": "true"}, timeout=5)
        assert resp.status_code == 200, resp.text
        return [a["display"]["translationKey"] for a in resp.json()]

    assert types("updateCard:idList") == ["action_move_card_from_list_to_list"]
    assert types("updateCard:idList,updateCard") == ["action_move_card_from_list_to_list",
                                                     "action_renamed_card"]
    assert types("createCard,updateCard:name") == ["action_renamed_card", "action_create_card"]
