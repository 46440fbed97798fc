"""The ``display`` of a Trello action: its ``translationKey`` and the ``entities`` it names.

Trello's web app renders an action from ``display``: a sentence chosen by ``translationKey``
(``"{memberCreator} moved {card} from {listBefore} to {listAfter}"``) whose placeholders are
the keys of ``entities``. Keys and entity shapes follow recorded deliveries and Trello's own
action strings (see ``tests/emulators/fixtures/trello/SOURCES.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .trello_records import Member

Data = dict[str, Any]
Entities = dict[str, dict[str, Any]]

# action type -> translation key, for the types whose key does not depend on the data
_FIXED_KEYS = {
    "createCard": "action_create_card", "emailCard": "action_email_card",
    "copyCard": "action_copy_card", "deleteCard": "action_delete_card",
    "commentCard": "action_comment_on_card",
    # moveCardFromBoard is recorded on the board the card left: "transferred {card} to {board}"
    "moveCardFromBoard": "action_move_card_from_board",
    "moveCardToBoard": "action_move_card_to_board",
    "addLabelToCard": "action_add_label_to_card",
    "removeLabelFromCard": "action_remove_label_from_card",
    "createList": "action_added_list_to_board",
    "addChecklistToCard": "action_add_checklist_to_card",
    "updateCustomFieldItem": "action_update_custom_field_item",
    "createCustomField": "action_create_custom_field",
    "deleteCustomField": "action_delete_custom_field",
}

# card fields a changed-card entity repeats (recorded for idList, due, start and dueComplete)
_ENTITY_FIELDS = ("idList", "due", "start", "closed", "dueComplete")


def card_entity(card: Data, **extra: Any) -> dict[str, Any]:
    return {"type": "card", **extra, "id": card["id"], "shortLink": card.get("shortLink", ""),
            "text": card.get("name", "")}


def list_entity(lst: Data) -> dict[str, Any]:
    return {"type": "list", "id": lst["id"], "text": lst.get("name", "")}


def board_entity(board: Data) -> dict[str, Any]:
    return {"type": "board", "id": board["id"], "text": board.get("name", "")}


def _update_card_key(data: Data) -> str:
    old, card = data.get("old", {}), data["card"]
    if "idList" in old:
        return "action_move_card_from_list_to_list"
    if "closed" in old:
        return "action_archived_card" if card.get("closed") else "action_sent_card_to_board"
    if "name" in old:
        return "action_renamed_card"
    if "desc" in old:
        return "action_changed_description_of_card"
    for date in ("due", "start"):
        if date in old:
            if old[date] is None:
                return f"action_added_a_{date}_date"
            return f"action_removed_a_{date}_date" if card.get(date) is None else \
                f"action_changed_a_{date}_date"
    if "dueComplete" in old:
        return "action_marked_the_due_date_complete" if card.get("dueComplete") else \
            "action_marked_the_due_date_incomplete"
    if "pos" in old:
        return "action_moved_card_lower" if card.get("pos", 0) > old["pos"] else \
            "action_moved_card_higher"
    return "action_update_card"


def _update_list_key(data: Data) -> str:
    old, lst = data.get("old", {}), data["list"]
    if "name" in old:
        return "action_renamed_list"
    if "closed" in old:
        return "action_archived_list" if lst.get("closed") else "action_sent_list_to_board"
    return "action_moved_list_right" if lst.get("pos", 0) > old.get("pos", 0) else \
        "action_moved_list_left"


def translation_key(action_type: str, data: Data, member_id: str) -> str:
    """The ``display.translationKey`` Trello gives this action."""
    if action_type == "updateCard":
        return _update_card_key(data)
    if action_type == "updateList":
        return _update_list_key(data)
    if action_type == "updateCheckItemStateOnCard":
        return "action_completed_checkitem" if data["checkItem"].get("state") == "complete" \
            else "action_marked_checkitem_incomplete"
    if action_type == "updateCheckItem":
        return "action_renamed_checkitem" if "name" in data.get("old", {}) else "unknown"
    if action_type == "updateCustomField":
        return "action_rename_custom_field" if "name" in data.get("old", {}) else \
            "action_update_custom_field"
    if action_type in ("addMemberToCard", "removeMemberFromCard"):
        self_change = data.get("idMember") == member_id
        if action_type == "addMemberToCard":
            return "action_member_joined_card" if self_change else "action_added_member_to_card"
        return "action_member_left_card" if self_change else "action_removed_member_from_card"
    return _FIXED_KEYS.get(action_type, "unknown")


# --------------------------------------------------------------------------- entities per key


def _card_list(data: Data) -> Entities:
    return {"card": card_entity(data["card"]), "list": list_entity(data["list"])}


def _copy(data: Data) -> Entities:
    return {"card": card_entity(data["card"]), "cardSource": card_entity(data["cardSource"]),
            "list": list_entity(data["list"])}


def _delete(data: Data) -> Entities:
    return {"idCard": {"type": "text", "text": str(data["card"].get("idShort", ""))},
            "list": list_entity(data["list"])}


def _comment(data: Data) -> Entities:
    card_id = data["card"]["id"]
    return {"contextOn": {"type": "translatable", "translationKey": "action_on",
                          "hideIfContext": True, "idContext": card_id},
            "card": card_entity(data["card"], hideIfContext=True),
            "comment": {"type": "comment", "text": data.get("text", "")}}


def _changed_card(data: Data) -> Entities:
    card = data["card"]
    extra = {k: card[k] for k in _ENTITY_FIELDS if k in data.get("old", {}) and k in card}
    return {"card": card_entity(card, **extra)}


def _move_list(data: Data) -> Entities:
    return {**_changed_card(data), "listBefore": list_entity(data["listBefore"]),
            "listAfter": list_entity(data["listAfter"])}


def _rename(data: Data) -> Entities:
    return {**_changed_card(data), "name": {"type": "text", "text": data["old"]["name"]}}


def _dated(field: str) -> Callable[[Data], Entities]:
    def build(data: Data) -> Entities:
        return {**_changed_card(data), "date": {"type": "date", "date": data["card"][field]}}
    return build


def _board_move(other: str) -> Callable[[Data], Entities]:
    def build(data: Data) -> Entities:
        return {"card": card_entity(data["card"]), "board": board_entity(data[other])}
    return build


def _label(data: Data) -> Entities:
    label = data["label"]  # the recorded entity names the colour and the text, not the id
    return {"label": {"type": "label", "color": label.get("color"), "text": label.get("name", "")},
            "card": card_entity(data["card"])}


def _checklist(data: Data) -> Entities:
    checklist = data["checklist"]
    return {"checklist": {"type": "checklist", "id": checklist["id"],
                          "text": checklist.get("name", "")},
            "card": card_entity(data["card"])}


def _checkitem_entity(item: Data) -> dict[str, Any]:
    return {"type": "checkItem", "nameHtml": item.get("name", ""), "id": item["id"],
            "state": item.get("state"), "textData": {"emoji": {}}, "text": item.get("name", "")}


def _checkitem(data: Data) -> Entities:
    return {"checkitem": _checkitem_entity(data["checkItem"]), "card": card_entity(data["card"])}


def _checkitem_renamed(data: Data) -> Entities:
    return {"checkitem": _checkitem_entity(data["checkItem"]),
            "name": {"type": "text", "text": data["old"]["name"]}}


def _custom_field_item(data: Data) -> Entities:
    return {"card": card_entity(data["card"]),
            "customFieldItem": {"type": "customFieldItem", "id": data["customFieldItem"]["id"],
                                "text": data["customField"].get("name", "")}}


def _custom_field_entity(data: Data) -> dict[str, Any]:
    field = data["customField"]
    return {"type": "customField", "id": field["id"], "text": field.get("name", "")}


def _custom_field(data: Data) -> Entities:
    return {"customField": _custom_field_entity(data), "board": board_entity(data["board"])}


def _custom_field_renamed(data: Data) -> Entities:
    return {**_custom_field(data), "name": {"type": "text", "text": data["old"]["name"]}}


def _member(data: Data) -> Entities:
    member = data["member"]
    return {"member": {"type": "member", "id": member["id"],
                       "username": member.get("username", ""), "text": member.get("name", "")},
            "card": card_entity(data["card"])}


def _self_member(data: Data) -> Entities:
    return {"card": card_entity(data["card"])}


def _list_board(data: Data) -> Entities:
    return {"list": list_entity(data["list"]), "board": board_entity(data["board"])}


def _list_renamed(data: Data) -> Entities:
    return {"list": list_entity(data["list"]), "name": {"type": "text",
                                                        "text": data["old"]["name"]}}


def _list_only(data: Data) -> Entities:
    return {"list": list_entity(data["list"])}


_ENTITIES: dict[str, Callable[[Data], Entities]] = {
    "action_create_card": _card_list, "action_email_card": _card_list,
    "action_copy_card": _copy, "action_delete_card": _delete,
    "action_comment_on_card": _comment,
    "action_move_card_from_list_to_list": _move_list,
    "action_renamed_card": _rename,
    "action_added_a_due_date": _dated("due"), "action_changed_a_due_date": _dated("due"),
    "action_removed_a_due_date": _changed_card,
    "action_added_a_start_date": _dated("start"), "action_changed_a_start_date": _dated("start"),
    "action_removed_a_start_date": _changed_card,
    "action_changed_description_of_card": _changed_card,
    "action_archived_card": _changed_card, "action_sent_card_to_board": _changed_card,
    "action_marked_the_due_date_complete": _changed_card,
    "action_marked_the_due_date_incomplete": _changed_card,
    "action_moved_card_higher": _changed_card, "action_moved_card_lower": _changed_card,
    "action_update_card": _changed_card,
    "action_move_card_from_board": _board_move("boardTarget"),
    "action_move_card_to_board": _board_move("boardSource"),
    "action_add_label_to_card": _label, "action_remove_label_from_card": _label,
    "action_added_member_to_card": _member, "action_removed_member_from_card": _member,
    "action_member_joined_card": _self_member, "action_member_left_card": _self_member,
    "action_added_list_to_board": _list_board, "action_renamed_list": _list_renamed,
    "action_archived_list": _list_only, "action_sent_list_to_board": _list_only,
    "action_moved_list_left": _list_board, "action_moved_list_right": _list_board,
    "action_add_checklist_to_card": _checklist,
    "action_completed_checkitem": _checkitem, "action_marked_checkitem_incomplete": _checkitem,
    "action_renamed_checkitem": _checkitem_renamed,
    "action_update_custom_field_item": _custom_field_item,
    "action_create_custom_field": _custom_field, "action_update_custom_field": _custom_field,
    "action_delete_custom_field": _custom_field,
    "action_rename_custom_field": _custom_field_renamed,
}


def display(action_type: str, data: Data, member: Member,
            subject: Member | None = None) -> dict[str, Any]:
    """``{"translationKey": ..., "entities": {...}}`` for an action made by ``member``
    (``subject``: the member a member action is about)."""
    key = translation_key(action_type, data, member.id)
    build = _ENTITIES.get(key)
    entities = build(data) if build is not None else {}
    if subject is not None and "member" in entities:
        entities["member"] = subject.entity()
    entities["memberCreator"] = member.entity()
    return {"translationKey": key, "entities": entities}
