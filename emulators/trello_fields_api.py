"""The ``/1`` endpoints of card labels, members, checklists and custom fields (Trello emulator).

``FIELD_RULES`` join ``trello_api.URL_MAP``; ``CardFeaturesApi`` is a part of ``TrelloApi``
(handlers ``h_<endpoint>``, called under the emulator's lock with a ``Ctx``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.routing import Rule

from .trello_records import (
    HEX_ID,
    NOT_FOUND,
    UNSET,
    Card,
    CheckItem,
    TrelloError,
    invalid,
)

if TYPE_CHECKING:  # pragma: no cover
    from .trello_api import Ctx
    from .trello_model import TrelloState

R = Rule
FIELD_RULES = [
    R("/1/boards/<bid>/labels", endpoint="board_label_create", methods=["POST"]),
    R("/1/boards/<bid>/customFields", endpoint="board_custom_fields", methods=["GET"]),
    R("/1/boards/<bid>/boardPlugins", endpoint="board_plugins", methods=["GET"]),
    R("/1/labels", endpoint="label_create", methods=["POST"]),
    R("/1/labels/<lid>", endpoint="label_get", methods=["GET"]),
    R("/1/customFields", endpoint="custom_field_create", methods=["POST"]),
    R("/1/customFields/<fid>", endpoint="custom_field_get", methods=["GET"]),
    R("/1/customFields/<fid>", endpoint="custom_field_update", methods=["PUT"]),
    R("/1/customFields/<fid>", endpoint="custom_field_delete", methods=["DELETE"]),
    R("/1/customFields/<fid>/options", endpoint="custom_field_options", methods=["GET"]),
    R("/1/customFields/<fid>/options", endpoint="custom_field_option_create", methods=["POST"]),
    R("/1/customFields/<fid>/options/<oid>", endpoint="custom_field_option_get",
      methods=["GET"]),
    R("/1/customFields/<fid>/options/<oid>", endpoint="custom_field_option_delete",
      methods=["DELETE"]),
    R("/1/cards/<cid>/customFieldItems", endpoint="card_custom_field_items", methods=["GET"]),
    R("/1/cards/<cid>/customField/<fid>/item", endpoint="card_custom_field_item",
      methods=["PUT"]),
    R("/1/cards/<cid>/customFields", endpoint="card_custom_fields", methods=["PUT"]),
    R("/1/cards/<cid>/idLabels", endpoint="card_label_add", methods=["POST"]),
    R("/1/cards/<cid>/idLabels/<lid>", endpoint="card_label_remove", methods=["DELETE"]),
    R("/1/cards/<cid>/idMembers", endpoint="card_member_add", methods=["POST"]),
    R("/1/cards/<cid>/idMembers/<mid>", endpoint="card_member_remove", methods=["DELETE"]),
    R("/1/cards/<cid>/checklists", endpoint="card_checklists", methods=["GET"]),
    R("/1/cards/<cid>/checklists", endpoint="card_checklist_create", methods=["POST"]),
    R("/1/cards/<cid>/checkItem/<iid>", endpoint="card_check_item_get", methods=["GET"]),
    R("/1/cards/<cid>/checkItem/<iid>", endpoint="card_check_item_update", methods=["PUT"]),
    R("/1/checklists", endpoint="checklist_create", methods=["POST"]),
    R("/1/checklists/<clid>", endpoint="checklist_get", methods=["GET"]),
    R("/1/checklists/<clid>/checkItems", endpoint="checklist_items", methods=["GET"]),
    R("/1/checklists/<clid>/checkItems", endpoint="checklist_item_create", methods=["POST"]),
    R("/1/checklists/<clid>", endpoint="checklist_delete", methods=["DELETE"]),
    R("/1/checklists/<clid>/checkItems/<iid>", endpoint="checklist_item_delete", methods=["DELETE"]),
    R("/1/cards/<cid>/checkItem/<iid>", endpoint="card_check_item_delete", methods=["DELETE"]),
]

# a label's fields as GET /1/boards/{id}/labels answers them without ``fields``
LABEL_DEFAULT_FIELDS = ("id", "idBoard", "name", "color")


def _hex(value: str, name: str = "id") -> str:
    if not HEX_ID.match(value):
        raise TrelloError(400, f"invalid {name}" if name == "id" else f"invalid value for {name}")
    return value


class CardFeaturesApi:
    """Handlers of ``FIELD_RULES``, and the pieces card reads share with them."""

    state: TrelloState

    # ---------------------------------------------------------------- labels

    def h_board_label_create(self, ctx: Ctx, bid: str) -> Any:
        board = self.state.board(bid, ctx.member)
        return self.state.create_label(ctx.member, board, ctx.text("name", "") or "",
                                       ctx.get("color")).board_json()

    def h_label_create(self, ctx: Ctx) -> Any:
        board_id = ctx.text("idBoard", None)
        if not board_id or not HEX_ID.match(board_id):
            raise invalid("idBoard")
        return self.h_board_label_create(ctx, board_id)

    def h_label_get(self, ctx: Ctx, lid: str) -> Any:
        label = self.state.labels.get(_hex(lid))
        if label is None:
            raise TrelloError(404, NOT_FOUND)
        self.state.board(label.board_id, ctx.member)
        return _fields(label.to_json(), ctx.fields(LABEL_DEFAULT_FIELDS))

    def h_card_label_add(self, ctx: Ctx, cid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        self.state.add_card_label(ctx.member, card, ctx.get("value"))
        return list(card.id_labels)

    def h_card_label_remove(self, ctx: Ctx, cid: str, lid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        self.state.remove_card_label(ctx.member, card, _hex(lid, "idLabel"))
        return list(card.id_labels)

    # ---------------------------------------------------------------- members

    def _card_members(self, card: Card) -> list[dict[str, Any]]:
        return [self.state.members[m].creator() for m in card.id_members]

    def h_card_member_add(self, ctx: Ctx, cid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        self.state.add_card_member(ctx.member, card, ctx.get("value"))
        return self._card_members(card)

    def h_card_member_remove(self, ctx: Ctx, cid: str, mid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        self.state.remove_card_member(ctx.member, card, _hex(mid, "idMember"))
        return self._card_members(card)

    # ---------------------------------------------------------------- checklists

    def _checklist_source(self, ctx: Ctx) -> Any:
        source_id = ctx.text("idChecklistSource", None)
        return self.state.checklist(_hex(source_id, "idChecklistSource"), ctx.member) \
            if source_id else None

    def h_card_checklists(self, ctx: Ctx, cid: str) -> Any:
        return self.state.card_checklists(self.state.card(cid, ctx.member))

    def h_card_checklist_create(self, ctx: Ctx, cid: str) -> Any:
        card = self.state.card(cid, ctx.member)
        checklist = self.state.create_checklist(ctx.member, card, ctx.text("name", "") or "",
                                                ctx.get("pos", "bottom"),
                                                self._checklist_source(ctx))
        return self.state.checklist_json(checklist)

    def h_checklist_create(self, ctx: Ctx) -> Any:
        card_id = ctx.text("idCard", None)
        if not card_id or not HEX_ID.match(card_id):
            raise invalid("idCard")
        return self.h_card_checklist_create(ctx, card_id)

    def h_checklist_get(self, ctx: Ctx, clid: str) -> Any:
        return self.state.checklist_json(self.state.checklist(_hex(clid), ctx.member))

    def h_checklist_items(self, ctx: Ctx, clid: str) -> Any:
        return self.state.checklist_json(self.state.checklist(_hex(clid), ctx.member))["checkItems"]

    def h_checklist_item_create(self, ctx: Ctx, clid: str) -> Any:
        checklist = self.state.checklist(_hex(clid), ctx.member)
        item = self.state.add_check_item(ctx.member, checklist, ctx.text("name", "") or "",
                                         ctx.get("pos", "bottom"), bool(ctx.flag("checked", False)))
        return item.to_json()

    def h_checklist_delete(self, ctx: Ctx, clid: str) -> Any:
        self.state.delete_checklist(ctx.member, self.state.checklist(_hex(clid), ctx.member))
        return {"limits": {}}

    def h_checklist_item_delete(self, ctx: Ctx, clid: str, iid: str) -> Any:
        checklist = self.state.checklist(_hex(clid), ctx.member)
        item = self.state.check_items.get(_hex(iid))
        if item is None or item.checklist_id != checklist.id:
            raise TrelloError(404, NOT_FOUND)
        self.state.delete_check_item(ctx.member, item)
        return {"limits": {}}

    def h_card_check_item_delete(self, ctx: Ctx, cid: str, iid: str) -> Any:
        self.state.delete_check_item(ctx.member, self._check_item(ctx, cid, iid)[1])
        return {"limits": {}}

    def _check_item(self, ctx: Ctx, cid: str, iid: str) -> tuple[Card, CheckItem]:
        card = self.state.card(cid, ctx.member)
        item = self.state.check_items.get(_hex(iid))
        if item is None or self.state.checklists[item.checklist_id].card_id != card.id:
            raise TrelloError(404, NOT_FOUND)
        return card, item

    def h_card_check_item_get(self, ctx: Ctx, cid: str, iid: str) -> Any:
        return self._check_item(ctx, cid, iid)[1].to_json()

    def h_card_check_item_update(self, ctx: Ctx, cid: str, iid: str) -> Any:
        card, item = self._check_item(ctx, cid, iid)
        return self.state.update_check_item(ctx.member, card, item, state=ctx.get("state", UNSET),
                                            name=ctx.text("name"),
                                            pos=ctx.get("pos", UNSET)).to_json()

    # ---------------------------------------------------------------- custom fields

    def h_board_custom_fields(self, ctx: Ctx, bid: str) -> Any:
        board = self.state.board(bid, ctx.member)
        return [f.to_json() for f in self.state.board_custom_fields(board)]

    def h_board_plugins(self, ctx: Ctx, bid: str) -> Any:
        return self.state.board_plugins(self.state.board(bid, ctx.member))

    @staticmethod
    def _card_front(ctx: Ctx) -> Any:
        display = ctx.get("display")
        if isinstance(display, dict) and "cardFront" in display:
            return bool(display["cardFront"])
        for name in ("display_cardFront", "display/cardFront"):
            if name in ctx.params:
                return ctx.flag(name)
        return UNSET

    def h_custom_field_create(self, ctx: Ctx) -> Any:
        board_id = ctx.text("idModel", None)
        if not board_id or not HEX_ID.match(board_id):
            raise invalid("idModel")
        if ctx.text("modelType", "board") != "board":
            raise invalid("modelType")
        board = self.state.board(board_id, ctx.member)
        options = ctx.get("options") or []
        if not isinstance(options, list):
            raise invalid("options")
        card_front = self._card_front(ctx)
        field = self.state.create_custom_field(
            ctx.member, board, ctx.text("name", "") or "", ctx.text("type", "") or "",
            options=options, pos=ctx.get("pos", "bottom"),
            card_front=True if card_front is UNSET else card_front)
        return field.to_json()

    def h_custom_field_get(self, ctx: Ctx, fid: str) -> Any:
        return self.state.custom_field(_hex(fid), ctx.member).to_json()

    def h_custom_field_update(self, ctx: Ctx, fid: str) -> Any:
        field = self.state.custom_field(_hex(fid), ctx.member)
        return self.state.update_custom_field(ctx.member, field, name=ctx.text("name"),
                                              pos=ctx.get("pos", UNSET),
                                              card_front=self._card_front(ctx)).to_json()

    def h_custom_field_delete(self, ctx: Ctx, fid: str) -> Any:
        self.state.delete_custom_field(ctx.member, self.state.custom_field(_hex(fid), ctx.member))
        return {}

    def h_custom_field_options(self, ctx: Ctx, fid: str) -> Any:
        return self.state.custom_field(_hex(fid), ctx.member).to_json().get("options", [])

    def h_custom_field_option_create(self, ctx: Ctx, fid: str) -> Any:
        field = self.state.custom_field(_hex(fid), ctx.member)
        value = ctx.get("value")
        text = value.get("text") if isinstance(value, dict) else value
        return self.state.add_custom_field_option(field, text, ctx.get("color"),
                                                  ctx.get("pos", "bottom")).to_json()

    def h_custom_field_option_get(self, ctx: Ctx, fid: str, oid: str) -> Any:
        option = self.state.custom_field(_hex(fid), ctx.member).option(oid)
        if option is None:
            raise TrelloError(404, NOT_FOUND)
        return option.to_json()

    def h_custom_field_option_delete(self, ctx: Ctx, fid: str, oid: str) -> Any:
        field = self.state.custom_field(_hex(fid), ctx.member)
        self.state.delete_custom_field_option(field, oid)
        return {}

    def h_card_custom_field_items(self, ctx: Ctx, cid: str) -> Any:
        return self.state.custom_items_json(self.state.card(cid, ctx.member))

    def h_card_custom_field_item(self, ctx: Ctx, cid: str, fid: str) -> Any:
        """``PUT /1/cards/{idCard}/customField/{idCustomField}/item``: the item written."""
        card = self.state.card(cid, ctx.member)
        self.state.require_custom_fields(self.state.boards[card.board_id])
        change = self.state.custom_item_change(card, fid, ctx.params)
        [item] = self.state.set_custom_items(ctx.member, card, [change])
        return item.to_json()

    def h_card_custom_fields(self, ctx: Ctx, cid: str) -> Any:
        """``PUT /1/cards/{idCard}/customFields`` with ``{"customFieldItems": [...]}``: every
        item is checked before any is written."""
        card = self.state.card(cid, ctx.member)
        self.state.require_custom_fields(self.state.boards[card.board_id])
        items = ctx.get("customFieldItems")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise invalid("customFieldItems")
        changes = [self.state.custom_item_change(card, i.get("idCustomField"), i) for i in items]
        if len({field.id for field, _, _ in changes}) != len(changes):
            raise invalid("customFieldItems")
        self.state.set_custom_items(ctx.member, card, changes)
        return {}


def _fields(data: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    if fields is None:
        return data
    return {k: data[k] for k in ("id", *fields) if k in data}


def comment_answer(action: dict[str, Any]) -> dict[str, Any]:
    """``POST /1/cards/{id}/actions/comments`` answers the action with, after ``display``, its
    ``entities`` as a list (a recorded 2023 answer); deliveries and reads do not carry it."""
    entities = action["display"]["entities"]
    card = entities["card"]
    listed = [entities["memberCreator"],
              {"type": "text", "text": "on", "hideIfContext": True, "idContext": card["id"]},
              card, entities["comment"]]
    out = {k: v for k, v in action.items() if k != "memberCreator"}
    out["entities"] = listed
    out["memberCreator"] = action["memberCreator"]
    return out
