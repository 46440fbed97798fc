"""What sales teams keep on Trello cards: labels and members one at a time, checklists, and
custom fields (definitions on the board, items on the cards).

``CardFeatures`` is a part of ``TrelloState`` (``trello_model``): every change records the
action Trello records for it, with the data and display shapes of recorded deliveries where
one was found (see ``tests/emulators/fixtures/trello/SOURCES.md``).
"""

from __future__ import annotations

import json
import math
import secrets
from typing import TYPE_CHECKING, Any, Iterable

from .trello_records import (
    CUSTOM_FIELD_TYPES,
    CUSTOM_FIELDS_PLUGIN_ID,
    LABEL_COLOURS,
    UNSET,
    Board,
    Card,
    CheckItem,
    Checklist,
    CustomField,
    CustomFieldItem,
    CustomFieldOption,
    Label,
    Member,
    TrelloError,
    invalid,
    new_id,
    parse_date,
)

if TYPE_CHECKING:  # pragma: no cover
    from .trello_model import TrelloState

# Answer to a custom-field write on a board without Custom Fields (status and text inferred:
# no recorded answer was found; Trello's errors are mostly plain text like this one).
CUSTOM_FIELDS_DISABLED = "Custom Fields are not enabled on this board"
BAD_ITEM_VALUE = "Invalid custom field item value."
# the key of ``value`` each custom field type takes
VALUE_KEYS = {"text": "text", "number": "number", "date": "date", "checkbox": "checked"}


def label_data(card: Card, board: Board, label: Label) -> dict[str, Any]:
    """``data`` of addLabelToCard / removeLabelFromCard (a 2023 delivery's keys)."""
    return {"value": label.color, "text": label.name, "card": card.ref(), "board": board.ref(),
            "label": label.ref()}


def member_data(card: Card, board: Board, subject: Member, removed: bool = False
                ) -> dict[str, Any]:
    """``data`` of addMemberToCard / removeMemberFromCard (2023 deliveries' keys)."""
    data: dict[str, Any] = {"idMember": subject.id}
    if removed:
        data["deactivated"] = False
    data.update({"card": card.ref(), "board": board.ref(),
                 "member": {"id": subject.id, "name": subject.full_name}})
    return data


def label_colour(value: Any) -> str | None:
    """A label colour parameter: one of Trello's colours, or none ("", "null", None)."""
    if value in (None, "", "null", "none"):
        return None
    if not isinstance(value, str) or value not in LABEL_COLOURS:
        raise invalid("color")
    return value


class CardFeatures:
    """Labels, members, checklists and custom fields of cards (mixed into ``TrelloState``)."""

    # ---------------------------------------------------------------- labels

    def create_label(self: TrelloState, member: Member | None, board: Board, name: str,
                     color: Any) -> Label:
        label = Label(new_id(), board.id, name or "", label_colour(color))
        self.labels[label.id] = label
        board.label_ids.append(label.id)
        if member is not None:
            self._emit(member, "createLabel", board, None,
                       {"label": label.ref(), "board": board.ref()})
        return label

    def _board_label(self: TrelloState, card: Card, label_id: Any) -> Label:
        label = self.labels.get(label_id) if isinstance(label_id, str) else None
        if label is None or label.board_id != card.board_id:
            raise invalid("value")
        return label

    def add_card_label(self: TrelloState, member: Member, card: Card, label_id: Any) -> None:
        """``POST /1/cards/{id}/idLabels``: one label more (an addLabelToCard action)."""
        label = self._board_label(card, label_id)
        if label.id in card.id_labels:
            raise TrelloError(400, "that label is already on the card")
        board = self.boards[card.board_id]
        self._set_labels(card, [*card.id_labels, label.id])
        touched = self._touch(card, board)
        self._emit(member, "addLabelToCard", board, card, label_data(card, board, label),
                   date=touched)

    def remove_card_label(self: TrelloState, member: Member, card: Card, label_id: str) -> None:
        """``DELETE /1/cards/{id}/idLabels/{idLabel}`` (a removeLabelFromCard action)."""
        if label_id not in card.id_labels:
            raise invalid("idLabel")
        board = self.boards[card.board_id]
        label = self.labels[label_id]
        self._set_labels(card, [i for i in card.id_labels if i != label_id])
        touched = self._touch(card, board)
        self._emit(member, "removeLabelFromCard", board, card, label_data(card, board, label),
                   date=touched)

    # ---------------------------------------------------------------- members

    def add_card_member(self: TrelloState, member: Member, card: Card, member_id: Any) -> None:
        """``POST /1/cards/{id}/idMembers``: one member more (an addMemberToCard action)."""
        board = self.boards[card.board_id]
        if not isinstance(member_id, str) or member_id not in board.member_ids:
            raise invalid("value")
        if member_id in card.id_members:
            raise TrelloError(400, "member is already on the card")
        subject = self.members[member_id]
        card.id_members = [*card.id_members, member_id]
        touched = self._touch(card, board)
        self._emit(member, "addMemberToCard", board, card, member_data(card, board, subject),
                   date=touched, subject=subject)

    def remove_card_member(self: TrelloState, member: Member, card: Card, member_id: str) -> None:
        """``DELETE /1/cards/{id}/idMembers/{idMember}`` (a removeMemberFromCard action)."""
        if member_id not in card.id_members:
            raise invalid("idMember")
        board = self.boards[card.board_id]
        subject = self.members[member_id]
        card.id_members = [m for m in card.id_members if m != member_id]
        touched = self._touch(card, board)
        self._emit(member, "removeMemberFromCard", board, card,
                   member_data(card, board, subject, removed=True), date=touched, subject=subject)

    # ---------------------------------------------------------------- checklists

    def checklist(self: TrelloState, checklist_id: str, member: Member | None = None) -> Checklist:
        checklist = self.checklists.get(checklist_id)
        if checklist is None:
            raise TrelloError(404, "The requested resource was not found.")
        if member is not None:
            self.board(checklist.board_id, member)
        return checklist

    def checklist_json(self: TrelloState, checklist: Checklist) -> dict[str, Any]:
        items = sorted((self.check_items[i] for i in checklist.item_ids), key=lambda i: i.pos)
        return {"id": checklist.id, "name": checklist.name, "idBoard": checklist.board_id,
                "idCard": checklist.card_id, "pos": checklist.pos,
                "checkItems": [i.to_json() for i in items]}

    def card_checklists(self: TrelloState, card: Card) -> list[dict[str, Any]]:
        checklists = sorted((self.checklists[i] for i in card.checklist_ids), key=lambda c: c.pos)
        return [self.checklist_json(c) for c in checklists]

    def badges(self: TrelloState, card: Card) -> dict[str, Any]:
        """``badges`` of a card (checklist progress, comments, dates; no attachments here)."""
        total = checked = 0
        for checklist_id in card.checklist_ids:
            for item_id in self.checklists[checklist_id].item_ids:
                total += 1
                checked += self.check_items[item_id].state == "complete"
        return {"attachmentsByType": {"trello": {"board": 0, "card": 0}}, "location": False,
                "votes": 0, "viewingMemberVoted": False, "subscribed": False,
                "dueComplete": card.due_complete, "due": card.due,
                "description": bool(card.desc), "attachments": 0,
                "comments": card.comment_count, "checkItemsChecked": checked,
                "checkItems": total, "fogbugz": "", "checkItemsEarliestDue": None,
                "start": card.start}

    def create_checklist(self: TrelloState, member: Member, card: Card, name: str = "",
                         pos: Any = "bottom", source: Checklist | None = None) -> Checklist:
        """``POST /1/cards/{id}/checklists`` (an addChecklistToCard action); ``source``: copy
        its items (``idChecklistSource``)."""
        board = self.boards[card.board_id]
        others = [self.checklists[i].pos for i in card.checklist_ids]
        checklist = Checklist(new_id(), board.id, card.id,
                              name or (source.name if source else "Checklist"),
                              self._position(pos, others))
        self.checklists[checklist.id] = checklist
        card.checklist_ids.append(checklist.id)
        if source is not None:
            for item_id in source.item_ids:
                item = self.check_items[item_id]
                self._new_check_item(checklist, item.name, item.pos, item.state)
        touched = self._touch(card, board)
        self._emit(member, "addChecklistToCard", board, card,
                   {"card": card.ref(), "checklist": checklist.ref(), "board": board.ref()},
                   date=touched)
        return checklist

    def _new_check_item(self: TrelloState, checklist: Checklist, name: str, pos: float,
                        state: str = "incomplete") -> CheckItem:
        item = CheckItem(new_id(), checklist.id, name, pos, state)
        self.check_items[item.id] = item
        checklist.item_ids.append(item.id)
        return item

    def add_check_item(self: TrelloState, member: Member, checklist: Checklist, name: str,
                       pos: Any = "bottom", checked: bool = False) -> CheckItem:
        """``POST /1/checklists/{id}/checkItems`` (a createCheckItem action)."""
        if not name:
            raise invalid("name")
        card = self.cards[checklist.card_id]
        board = self.boards[card.board_id]
        others = [self.check_items[i].pos for i in checklist.item_ids]
        item = self._new_check_item(checklist, name, self._position(pos, others),
                                    "complete" if checked else "incomplete")
        touched = self._touch(card, board)
        self._emit(member, "createCheckItem", board, card,
                   {"checkItem": item.ref(), "card": card.ref(), "checklist": checklist.ref(),
                    "board": board.ref()}, date=touched)
        return item

    def update_check_item(self: TrelloState, member: Member, card: Card, item: CheckItem, *,
                          state: Any = UNSET, name: Any = UNSET, pos: Any = UNSET) -> CheckItem:
        """``PUT /1/cards/{idCard}/checkItem/{idCheckItem}``: a new ``state`` makes an
        updateCheckItemStateOnCard action, a new ``name`` an updateCheckItem."""
        checklist = self.checklists[item.checklist_id]
        if checklist.card_id != card.id:
            raise TrelloError(404, "The requested resource was not found.")
        board = self.boards[card.board_id]
        if state is not UNSET:
            state = {"true": "complete", "false": "incomplete"}.get(str(state).lower(), state)
            if state not in ("complete", "incomplete"):
                raise invalid("state")
        if name is not UNSET and not name:
            raise invalid("name")
        if pos is not UNSET:
            item.pos = self._position(pos, [self.check_items[i].pos for i in checklist.item_ids
                                            if i != item.id])
        renamed = name is not UNSET and name != item.name
        restated = state is not UNSET and state != item.state
        if not (renamed or restated):
            return item
        touched = self._touch(card, board)
        if renamed:
            old_name, item.name = item.name, name
            self._emit(member, "updateCheckItem", board, card,
                       {"checkItem": item.ref(), "checklist": checklist.ref(), "card": card.ref(),
                        "board": board.ref(), "old": {"name": old_name}}, date=touched)
        if restated:
            item.state = state
            self._emit(member, "updateCheckItemStateOnCard", board, card,
                       {"board": board.ref(), "card": card.ref(), "checklist": checklist.ref(),
                        "checkItem": item.ref()}, date=touched)
        return item

    def delete_checklist(self: TrelloState, member: Member, checklist: Checklist) -> None:
        """``DELETE /1/checklists/{id}`` (a removeChecklistFromCard action; no recording was
        found: its ``data`` follows addChecklistToCard's)."""
        card = self.cards[checklist.card_id]
        board = self.boards[card.board_id]
        for item_id in checklist.item_ids:
            self.check_items.pop(item_id, None)
        del self.checklists[checklist.id]
        card.checklist_ids = [i for i in card.checklist_ids if i != checklist.id]
        touched = self._touch(card, board)
        self._emit(member, "removeChecklistFromCard", board, card,
                   {"card": card.ref(), "checklist": checklist.ref(), "board": board.ref()},
                   date=touched)

    def delete_check_item(self: TrelloState, member: Member, item: CheckItem) -> None:
        """``DELETE /1/checklists/{id}/checkItems/{idCheckItem}`` (a deleteCheckItem action; no
        recording was found: its ``data`` follows createCheckItem's)."""
        checklist = self.checklists[item.checklist_id]
        card = self.cards[checklist.card_id]
        board = self.boards[card.board_id]
        checklist.item_ids = [i for i in checklist.item_ids if i != item.id]
        self.check_items.pop(item.id, None)
        touched = self._touch(card, board)
        self._emit(member, "deleteCheckItem", board, card,
                   {"checkItem": item.ref(), "card": card.ref(), "checklist": checklist.ref(),
                    "board": board.ref()}, date=touched)

    def copy_checklists(self: TrelloState, source: Card, card: Card) -> None:
        for checklist_id in source.checklist_ids:
            old = self.checklists[checklist_id]
            checklist = Checklist(new_id(), card.board_id, card.id, old.name, old.pos)
            self.checklists[checklist.id] = checklist
            card.checklist_ids.append(checklist.id)
            for item_id in old.item_ids:
                item = self.check_items[item_id]
                self._new_check_item(checklist, item.name, item.pos, item.state)

    def drop_checklists(self: TrelloState, card: Card) -> None:
        for checklist_id in card.checklist_ids:
            for item_id in self.checklists.pop(checklist_id).item_ids:
                self.check_items.pop(item_id, None)
        card.checklist_ids = []

    # ---------------------------------------------------------------- custom fields

    def set_custom_fields(self: TrelloState, board: Board, enabled: bool) -> None:
        """Custom Fields usable on the board (a paid plan / the Power-Up) or not."""
        board.custom_fields_enabled = bool(enabled)

    def board_plugins(self: TrelloState, board: Board) -> list[dict[str, Any]]:
        """``GET /1/boards/{id}/boardPlugins``: the Custom Fields Power-Up when enabled."""
        if not board.custom_fields_enabled:
            return []
        return [{"id": board.id[:16] + "cf00cf00", "idBoard": board.id,
                 "idPlugin": CUSTOM_FIELDS_PLUGIN_ID}]

    def require_custom_fields(self: TrelloState, board: Board) -> None:
        if not board.custom_fields_enabled:
            raise TrelloError(403, CUSTOM_FIELDS_DISABLED)

    def custom_field(self: TrelloState, field_id: str, member: Member | None = None) -> CustomField:
        found = self.custom_fields.get(field_id)
        if found is None:
            raise TrelloError(404, "The requested resource was not found.")
        if member is not None:
            self.board(found.board_id, member)
        return found

    def board_custom_fields(self: TrelloState, board: Board) -> list[CustomField]:
        return sorted((self.custom_fields[i] for i in board.custom_field_ids),
                      key=lambda f: (f.pos, f.id))

    def create_custom_field(self: TrelloState, member: Member | None, board: Board, name: str,
                            field_type: str, *, options: Iterable[Any] = (), pos: Any = "bottom",
                            card_front: bool = True) -> CustomField:
        """``POST /1/customFields`` (a createCustomField action). ``options`` of a list field:
        texts or ``{"value": {"text"}, "color", "pos"}``."""
        self.require_custom_fields(board)
        if not name:
            raise invalid("name")
        if field_type not in CUSTOM_FIELD_TYPES:
            raise invalid("type")
        others = [self.custom_fields[i].pos for i in board.custom_field_ids]
        field = CustomField(new_id(), board.id, name, field_type, self._position(pos, others),
                            secrets.token_hex(32), card_front=bool(card_front))
        self.custom_fields[field.id] = field
        board.custom_field_ids.append(field.id)
        if field_type == "list":
            for option in options:
                if isinstance(option, dict):
                    text = (option.get("value") or {}).get("text") if isinstance(
                        option.get("value"), dict) else option.get("value")
                    self._new_option(field, text, option.get("color"), option.get("pos"))
                else:
                    self._new_option(field, option, None, None)
        if member is not None:
            self._emit(member, "createCustomField", board, None,
                       {"customField": field.ref(), "board": board.ref()})
        return field

    def update_custom_field(self: TrelloState, member: Member | None, field: CustomField, *,
                            name: Any = UNSET, pos: Any = UNSET,
                            card_front: Any = UNSET) -> CustomField:
        """``PUT /1/customFields/{id}`` (an updateCustomField action with ``old``)."""
        board = self.boards[field.board_id]
        self.require_custom_fields(board)
        old: dict[str, Any] = {}
        if name is not UNSET and name != field.name:
            if not name:
                raise invalid("name")
            old["name"], field.name = field.name, name
        if pos is not UNSET:
            others = [self.custom_fields[i].pos for i in board.custom_field_ids if i != field.id]
            new_pos = self._position(pos, others)
            if new_pos != field.pos:
                old["pos"], field.pos = field.pos, new_pos
        if card_front is not UNSET and bool(card_front) != field.card_front:
            old["display"] = {"cardFront": field.card_front}
            field.card_front = bool(card_front)
        if old and member is not None:
            changed = {k: getattr(field, k) for k in ("name", "pos") if k in old}
            if "display" in old:
                changed["display"] = {"cardFront": field.card_front}
            self._emit(member, "updateCustomField", board, None,
                       {"customField": {**field.ref(), **changed}, "board": board.ref(),
                        "old": old})
        return field

    def delete_custom_field(self: TrelloState, member: Member | None, field: CustomField) -> None:
        """``DELETE /1/customFields/{id}``: the field and every card's item of it go."""
        board = self.boards[field.board_id]
        self.require_custom_fields(board)
        for card_id in board.card_ids:
            self.cards[card_id].custom_items.pop(field.id, None)
        board.custom_field_ids.remove(field.id)
        del self.custom_fields[field.id]
        if member is not None:
            self._emit(member, "deleteCustomField", board, None,
                       {"customField": field.ref(), "board": board.ref()})

    def _new_option(self: TrelloState, field: CustomField, text: Any, color: Any,
                    pos: Any) -> CustomFieldOption:
        if not isinstance(text, str) or not text:
            raise invalid("value")
        color = "none" if color in (None, "", "none") else color
        if color != "none" and color not in LABEL_COLOURS:
            raise invalid("color")
        option = CustomFieldOption(new_id(), field.id, text, color,
                                   self._position(pos, [o.pos for o in field.options]))
        field.options.append(option)
        return option

    def add_custom_field_option(self: TrelloState, field: CustomField, text: Any, color: Any = None,
                                pos: Any = "bottom") -> CustomFieldOption:
        """``POST /1/customFields/{id}/options`` (list fields only)."""
        self.require_custom_fields(self.boards[field.board_id])
        if field.type != "list":
            raise invalid("idCustomField")
        return self._new_option(field, text, color, pos)

    def delete_custom_field_option(self: TrelloState, field: CustomField, option_id: str) -> None:
        """``DELETE /1/customFields/{id}/options/{idOption}``: cards that chose it lose it."""
        board = self.boards[field.board_id]
        self.require_custom_fields(board)
        option = field.option(option_id)
        if option is None:
            raise TrelloError(404, "The requested resource was not found.")
        field.options.remove(option)
        for card_id in board.card_ids:
            item = self.cards[card_id].custom_items.get(field.id)
            if item is not None and item.id_value == option_id:
                del self.cards[card_id].custom_items[field.id]

    def custom_items_json(self: TrelloState, card: Card) -> list[dict[str, Any]]:
        items = [i for i in card.custom_items.values() if i.field_id in self.custom_fields]
        items.sort(key=lambda i: (self.custom_fields[i.field_id].pos, i.field_id))
        return [i.to_json() for i in items]

    def custom_item_change(self: TrelloState, card: Card, field_id: Any, body: dict[str, Any]
                           ) -> tuple[CustomField, dict[str, str] | None, str | None]:
        """Check one item write (``{"value": {...}}``, ``{"idValue": ...}``, or empty to
        clear) against the field's type; returns (field, value, idValue), both None to clear."""
        field = self.custom_fields.get(field_id) if isinstance(field_id, str) else None
        if field is None or field.board_id != card.board_id:
            raise invalid("idCustomField")
        value, id_value = body.get("value"), body.get("idValue")
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)  # a form-encoded JSON object
            except ValueError:
                raise TrelloError(400, BAD_ITEM_VALUE) from None
        if field.type == "list":
            if value not in (None, "", {}):
                raise TrelloError(400, BAD_ITEM_VALUE)
            if id_value in (None, ""):
                return field, None, None
            if field.option(id_value) is None:
                raise invalid("idValue")
            return field, None, id_value
        if id_value not in (None, ""):
            raise TrelloError(400, BAD_ITEM_VALUE)
        if value in (None, "", {}):
            return field, None, None
        key = VALUE_KEYS[field.type]
        if not isinstance(value, dict) or list(value) != [key]:
            raise TrelloError(400, BAD_ITEM_VALUE)
        raw = value[key]
        if field.type == "text":
            text = "" if raw is None else str(raw)
            return field, ({"text": text} if text else None), None
        if field.type == "number":
            text = "" if raw is None or isinstance(raw, bool) else str(raw).strip()
            if not text:
                return field, None, None
            try:
                number = float(text)
            except ValueError:
                raise TrelloError(400, BAD_ITEM_VALUE) from None
            if not math.isfinite(number):
                raise TrelloError(400, BAD_ITEM_VALUE)
            return field, {"number": text}, None
        if field.type == "date":
            try:
                date = parse_date(raw, "value")
            except TrelloError:
                raise TrelloError(400, BAD_ITEM_VALUE) from None
            return field, (None if date is None else {"date": date}), None
        if isinstance(raw, bool):
            return field, {"checked": "true" if raw else "false"}, None
        if not isinstance(raw, str) or raw.lower() not in ("true", "false"):
            raise TrelloError(400, BAD_ITEM_VALUE)
        return field, {"checked": raw.lower()}, None

    def set_custom_items(self: TrelloState, member: Member, card: Card,
                         changes: list[tuple[CustomField, dict[str, str] | None, str | None]]
                         ) -> list[CustomFieldItem]:
        """Apply checked item writes in order; each change of a value makes one
        updateCustomFieldItem action (data ``old``, ``customField``, ``customFieldItem``,
        ``board``, ``card``). Returns the items written (a cleared one with no value)."""
        board = self.boards[card.board_id]
        self.require_custom_fields(board)
        out = []
        for field, value, id_value in changes:
            item = card.custom_items.get(field.id)
            before = (None, None) if item is None else (item.value, item.id_value)
            if item is None:
                item = CustomFieldItem(new_id(), field.id, card.id)
            out.append(item)
            if before == (value, id_value):
                continue
            item.value, item.id_value = value, id_value
            if value is None and id_value is None:
                card.custom_items.pop(field.id, None)
            else:
                card.custom_items[field.id] = item
            old = {"idValue": before[1]} if field.type == "list" else {"value": before[0]}
            touched = self._touch(card, board)
            self._emit(member, "updateCustomFieldItem", board, card,
                       {"old": old, "customField": field.ref(), "customFieldItem": item.to_json(),
                        "board": board.ref(), "card": card.ref()}, date=touched)
        return out

    def copy_custom_items(self: TrelloState, source: Card, card: Card) -> None:
        for field_id, item in source.custom_items.items():
            card.custom_items[field_id] = CustomFieldItem(
                new_id(), field_id, card.id, None if item.value is None else dict(item.value),
                item.id_value)
