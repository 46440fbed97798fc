"""Labels, members, dates, checklists, comments and custom fields of the Trello emulator against
REAL recorded Trello payloads, compared structurally (as ``test_fidelity``): same keys at
every level, same JSON types, same ``display.translationKey`` and entity types.

Sources of the recordings: ``fixtures/trello/SOURCES.md``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from emulators.trello import TrelloEmulator
from tests.emulators.trello.http import Receiver
from tests.emulators.trello.shapes import World, entity_types, fixture, shape_diff


@pytest.fixture
def world(emu: TrelloEmulator, receiver: Receiver) -> World:
    made = World(emu, receiver)
    emu.set_custom_fields(made.board_id)
    return made


def same_action(real: dict[str, Any], ours: dict[str, Any]) -> None:
    assert shape_diff(real, ours) == []
    assert list(ours) == list(real)  # key order of the action, ``member`` included
    assert ours["display"]["translationKey"] == real["display"]["translationKey"]
    assert entity_types(ours) == entity_types(real)
    for name, entity in real["display"]["entities"].items():
        assert list(ours["display"]["entities"][name]) == list(entity), name


def orange_label(world: World) -> dict[str, Any]:
    labels = world.client.request("GET", f"/boards/{world.board_id}/labels")
    return next(label for label in labels if label["color"] == "orange")


# --------------------------------------------------------------------------- labels and members


def test_label_added_and_removed_match_2023_deliveries(world: World) -> None:
    card = world.card()
    label = orange_label(world)
    assert world.client.add_card_label(card["id"], label["id"]) == [label["id"]]
    world.client.remove_card_label(card["id"], label["id"])
    for kind in ("addLabelToCard", "removeLabelFromCard"):
        real, ours = fixture(f"action_{kind}_2023.json"), world.last(kind)
        same_action(real, ours)
        assert ours["data"]["value"] == "orange" and ours["data"]["label"]["id"] == label["id"]
        assert ours["display"]["entities"]["label"] == {"type": "label", "color": "orange", "text": ""}


def test_member_joining_and_leaving_match_2023_deliveries(world: World) -> None:
    """A member's own join / leave: ``data.idMember``, ``data.member`` and the action's top-level
    ``member`` (the whole member, as ``memberCreator``); leaving adds ``data.deactivated``."""
    card = world.card()
    world.client.add_card_member(card["id"], world.member_id)
    world.client.remove_card_member(card["id"], world.member_id)
    for kind in ("addMemberToCard", "removeMemberFromCard"):
        real, ours = fixture(f"action_{kind}_2023.json"), world.last(kind)
        same_action(real, ours)
        assert ours["member"]["id"] == ours["data"]["idMember"] == world.member_id


def test_someone_else_added_to_a_card_is_named_in_the_entities(world: World) -> None:
    """Adding another member: the same data and top-level ``member``, with the key of Trello's
    "added {member} to {card}" sentence and a member entity (shape as ``memberCreator``'s)."""
    real = fixture("action_addMemberToCard_2023.json")
    other = world.emu.add_member(f"o{uuid.uuid4().hex[:8]}", "Other Person")
    world.emu.add_board_member(world.board_id, other["id"])
    card = world.card()
    world.client.add_card_member(card["id"], other["id"])
    ours = world.last("addMemberToCard")
    assert shape_diff({**real, "display": ours["display"]}, ours) == []
    assert ours["display"]["translationKey"] == "action_added_member_to_card"
    assert ours["display"]["entities"]["member"] == {"type": "member", "id": other["id"],
                                                     "username": other["username"],
                                                     "text": "Other Person"}
    assert ours["member"]["id"] == other["id"]


def test_board_members_and_labels_answer_the_recorded_fields(world: World) -> None:
    members = world.client.board_members(world.board_id)
    real_members = fixture("resource_board_members_2023.json")
    assert [list(m) for m in members] == [list(real_members[0])]
    labels = world.client.request("GET", f"/boards/{world.board_id}/labels")
    real_labels = fixture("resource_board_labels_2023.json")
    assert all(list(label) == list(real_labels[0]) for label in labels)
    assert shape_diff(real_labels[0], labels[0]) == []


# --------------------------------------------------------------------------- dates


def test_start_date_and_done_match_2023_deliveries(world: World) -> None:
    card = world.card()
    world.client.update_card_dates(card["id"], start="2023-02-01T07:00:00Z")
    same_action(fixture("action_updateCard_start_2023.json"), world.last("updateCard"))
    world.client.update_card_dates(card["id"], due="2023-02-03T07:00:00Z")
    world.client.update_card_dates(card["id"], due_complete=True)
    ours = world.last("updateCard")
    same_action(fixture("action_updateCard_dueComplete_2023.json"), ours)
    assert ours["display"]["entities"]["card"]["dueComplete"] is True


# --------------------------------------------------------------------------- checklists


def test_checklist_actions_and_resources_match_2023(world: World) -> None:
    card = world.card()
    checklist = world.client.create_checklist(card["id"], "Checklist")
    item = world.client.add_check_item(checklist["id"], "Item")
    world.client.add_check_item(checklist["id"], "Another")
    world.client.set_check_item_state(card["id"], item["id"], True)
    same_action(fixture("action_addChecklistToCard_2023.json"), world.last("addChecklistToCard"))
    ours = world.last("updateCheckItemStateOnCard")
    same_action(fixture("action_updateCheckItemStateOnCard_2023.json"), ours)
    assert ours["display"]["entities"]["checkitem"]["state"] == "complete"
    real = fixture("resource_checklists_2023.json")
    read = world.client.request("GET", f"/cards/{card['id']}/checklists")
    assert shape_diff(real, read) == [] and list(read[0]) == list(real[0])
    assert list(read[0]["checkItems"][0]) == list(real[0]["checkItems"][0])
    world.client.set_check_item_state(card["id"], item["id"], False)
    assert world.last("updateCheckItemStateOnCard")["display"]["translationKey"] == \
        "action_marked_checkitem_incomplete"


# --------------------------------------------------------------------------- comments


def test_posting_a_comment_answers_the_recorded_2023_shape(world: World) -> None:
    """The answer of ``POST /1/cards/{id}/actions/comments`` carries ``entities`` as a list after
    ``display``; the delivered action does not."""
    real = fixture("answer_commentCard_2023.json")
    card = world.card()
    answer = world.client.add_comment(card["id"], "A comment")
    assert shape_diff(real, answer) == [] and list(answer) == list(real)
    assert [e["type"] for e in answer["entities"]] == [e["type"] for e in real["entities"]]
    delivered = world.last("commentCard")
    assert "entities" not in delivered and delivered["id"] == answer["id"]


# --------------------------------------------------------------------------- custom fields


def test_custom_field_definition_matches_a_2023_answer(world: World) -> None:
    real = fixture("resource_customField_list_2023.json")
    world.client.create_custom_field(world.board_id, "Stage", "list",
                                     options=["Option 24", "Option 25", "Option 26"])
    [ours] = world.client.board_custom_fields(world.board_id)
    assert shape_diff(real, ours) == [] and list(ours) == list(real)
    assert [o["value"]["text"] for o in ours["options"]] == ["Option 24", "Option 25", "Option 26"]
    assert {o["idCustomField"] for o in ours["options"]} == {ours["id"]}


def test_custom_field_item_update_matches_a_2024_delivery(world: World) -> None:
    """``data`` of updateCustomFieldItem (``old``, ``customField``, ``customFieldItem``, ``board``,
    ``card``) against fiatjaf/trello-webhooks' 2024 recording. That recording's ``data.card``
    also carries two objects shaped like display entities (``customFieldItem``, ``memberCreator``):
    they are checked against our ``display.entities``."""
    real = fixture("action_updateCustomFieldItem_2024.json")
    field = world.client.create_custom_field(world.board_id, "Occurrences", "number")
    card = world.card()
    world.client.set_card_custom_fields(card["id"], [{"idCustomField": field["id"], "value": {"number": "1232"}}])
    world.client.set_card_custom_fields(card["id"], [{"idCustomField": field["id"], "value": {"number": "1233"}}])
    ours = world.last("updateCustomFieldItem")
    real_data = {k: v for k, v in real["data"].items() if k != "card"}
    assert shape_diff(real_data, {k: v for k, v in ours["data"].items() if k != "card"}) == []
    assert list(ours["data"]) == list(real["data"])
    assert ours["data"]["old"] == {"value": {"number": "1232"}}
    assert ours["data"]["customFieldItem"]["value"] == {"number": "1233"}
    assert {"id", "name"} <= set(ours["data"]["card"])
    entities = ours["display"]["entities"]
    for name in ("customFieldItem", "memberCreator"):
        assert shape_diff(real["data"]["card"][name], entities[name]) == [], name
    assert entities["customFieldItem"] == {"type": "customFieldItem",
                                           "id": ours["data"]["customFieldItem"]["id"],
                                           "text": "Occurrences"}
    assert shape_diff(real["memberCreator"], {k: v for k, v in ours["memberCreator"].items()
                                              if k != "avatarUrl"}) == []
    assert ours["display"]["translationKey"] == "action_update_custom_field_item"
    read = world.client.card_custom_field_items(card["id"])
    assert shape_diff([real["data"]["customFieldItem"]], read) == []


# --------------------------------------------------------------------------- translation keys


def test_new_translation_keys_name_the_entities_of_trellos_sentences(world: World) -> None:
    """Every key these changes produce is one of Trello's, with exactly the placeholders of its
    sentence as entities (start-date keys, absent from the strings we have, aside: the added one
    is checked against the 2023 recording above; the others follow the due-date keys)."""
    sentences = fixture("translation_entities.json")
    client, emu = world.client, world.emu
    card = world.card()
    fields = {t: client.create_custom_field(world.board_id, f"F {t}", t,
                                            options=["A", "B"] if t == "list" else ())
              for t in ("text", "number", "date", "checkbox", "list")}
    client.request("PUT", f"/customFields/{fields['text']['id']}", json={"name": "Renamed"})
    client.request("PUT", f"/customFields/{fields['text']['id']}", json={"display/cardFront": False})
    for field_type, value in (("text", {"text": "x"}), ("number", {"number": "2"}),
                              ("date", {"date": "2030-01-01T00:00:00.000Z"}),
                              ("checkbox", {"checked": "true"})):
        client.request("PUT", f"/cards/{card['id']}/customField/{fields[field_type]['id']}/item",
                       json={"value": value})
    option = fields["list"]["options"][0]["id"]
    client.request("PUT", f"/cards/{card['id']}/customField/{fields['list']['id']}/item",
                   json={"idValue": option})
    client.request("PUT", f"/cards/{card['id']}/customField/{fields['text']['id']}/item", json={"value": ""})
    client.request("DELETE", f"/customFields/{fields['number']['id']}")
    checklist = client.create_checklist(card["id"])
    item = client.add_check_item(checklist["id"], "Call")
    client.set_check_item_state(card["id"], item["id"], True)
    client.set_check_item_state(card["id"], item["id"], False)
    client.request("PUT", f"/cards/{card['id']}/checkItem/{item['id']}", json={"name": "Call back"})
    for start in ("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z", None):
        client.update_card_dates(card["id"], start=start)
    emu.set_custom_field_item(card["id"], fields["checkbox"]["id"], {"checked": "false"})
    keys = set()
    for action in world.actions():
        key = action["display"]["translationKey"]
        keys.add(key)
        if action["type"] in ("createCheckItem", "createLabel"):
            assert key == "unknown"  # no sentence: like copyChecklist in a recorded delivery
            assert list(action["display"]["entities"]) == ["memberCreator"]
            continue
        if key.endswith("_start_date"):
            continue
        assert key in sentences, key
        assert sorted(action["display"]["entities"]) == sorted(sentences[key]), key
    assert {"action_update_custom_field_item", "action_create_custom_field",
            "action_rename_custom_field", "action_update_custom_field", "action_delete_custom_field",
            "action_add_checklist_to_card", "action_completed_checkitem",
            "action_marked_checkitem_incomplete", "action_renamed_checkitem",
            "action_added_a_start_date", "action_changed_a_start_date",
            "action_removed_a_start_date"} <= keys
