"""State of the Trello emulator: members, tokens, boards, lists, labels, cards, actions, webhooks.

Nothing here is thread-safe on its own: ``TrelloEmulator`` holds one lock around every call.
Every card change records a Trello action and hands it to ``on_action`` (still under the lock),
which queues the webhook deliveries in action order.
"""

from __future__ import annotations

import bisect
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any, Callable, Iterable

from .trello_display import display
from .trello_fields import CardFeatures, label_data, member_data
from .trello_records import (
    HEX_ID,
    LABEL_COLORS,
    NOT_FOUND,
    POS_STEP,
    UNAUTHORIZED,
    UNSET,
    Board,
    Card,
    CheckItem,
    Checklist,
    CustomField,
    Label,
    Member,
    TList,
    Token,
    TrelloError,
    Webhook,
    check_id,
    invalid,
    iso,
    new_id,
    random_short_link,
)

# ``limits`` of a comment action as Trello sends it (other card actions carry null)
_COMMENT_LIMITS = {"reactions": {"perAction": {"status": "ok", "disableAt": 1000, "warnAt": 900},
                                 "uniquePerAction": {"status": "ok", "disableAt": 17,
                                                     "warnAt": 16}}}

# on_action(action, action_json, board, card): called under the lock for every action
ActionHook = Callable[[dict[str, Any], str, Board, "Card | None"], None]


# --------------------------------------------------------------------------- the state


class TrelloState(CardFeatures):
    """All emulated Trello data and the operations that change it (labels, members, checklists
    and custom fields of cards in ``trello_fields.CardFeatures``)."""

    def __init__(self, on_action: ActionHook | None = None) -> None:
        self.on_action = on_action
        # The app whose API key made the current call (set by the REST layer under the lock);
        # None for changes made as in Trello's web UI (the emulator's control API).
        self.acting_app: str | None = None
        self.members: dict[str, Member] = {}
        self.usernames: dict[str, str] = {}
        self.tokens: dict[str, Token] = {}
        self.boards: dict[str, Board] = {}
        self.board_links: dict[str, str] = {}
        self.lists: dict[str, TList] = {}
        self.labels: dict[str, Label] = {}
        self.cards: dict[str, Card] = {}
        self.card_links: dict[str, str] = {}
        self.custom_fields: dict[str, CustomField] = {}
        self.checklists: dict[str, Checklist] = {}
        self.check_items: dict[str, CheckItem] = {}
        self.webhooks: dict[str, Webhook] = {}
        # action id -> (type, JSON text): strings keep 50k actions cheap for the GC
        self.actions: dict[str, tuple[str, str]] = {}
        self.model_actions: dict[str, list[str]] = {}  # board or card id -> action ids

    # ---------------------------------------------------------------- look-ups

    def member(self, member_id: str) -> Member:
        found = self.members.get(member_id) or self.members.get(self.usernames.get(member_id, ""))
        if found is None:
            raise TrelloError(404, NOT_FOUND)
        return found

    def board(self, board_id: str, member: Member | None = None) -> Board:
        check_id(board_id)
        board = self.boards.get(board_id) or self.boards.get(self.board_links.get(board_id, ""))
        if board is None:
            raise TrelloError(404, NOT_FOUND)
        if member is not None and member.id not in board.member_ids:
            raise TrelloError(401, UNAUTHORIZED)
        return board

    def list(self, list_id: str, member: Member | None = None) -> TList:
        if not HEX_ID.match(list_id):
            raise TrelloError(400, "invalid id")
        lst = self.lists.get(list_id)
        if lst is None:
            raise TrelloError(404, NOT_FOUND)
        if member is not None:
            self.board(lst.board_id, member)
        return lst

    def card(self, card_id: str, member: Member | None = None) -> Card:
        check_id(card_id)
        card = self.cards.get(card_id) or self.cards.get(self.card_links.get(card_id, ""))
        if card is None:
            raise TrelloError(404, NOT_FOUND)
        if member is not None:
            self.board(card.board_id, member)
        return card

    def _short_link(self, taken: dict[str, str]) -> str:
        while True:
            link = random_short_link()
            if link not in taken:
                return link

    # ---------------------------------------------------------------- serialisation

    def card_json(self, card: Card, fields: Iterable[str] | None = None, *,
                  custom_field_items: bool = False) -> dict[str, Any]:
        """The card as ``GET /1/cards/{id}`` answers it (``fields``: only those, with ``id``;
        ``custom_field_items``: with ``customFieldItems``, as ``customFieldItems=true`` asks)."""
        wanted = None if fields is None else set(fields)
        data: dict[str, Any] = {"id": card.id}
        if wanted is None or "badges" in wanted:
            data["badges"] = self.badges(card)
        data.update({
            "closed": card.closed, "dateLastActivity": card.date_last_activity,
            "desc": card.desc, "due": card.due, "dueComplete": card.due_complete,
            "start": card.start, "idBoard": card.board_id,
            "idChecklists": list(card.checklist_ids), "idLabels": list(card.id_labels),
            "idList": card.list_id, "idMembers": list(card.id_members), "idShort": card.id_short,
            "labels": [self.labels[i].to_json() for i in card.id_labels if i in self.labels],
            "name": card.name, "pos": card.pos, "shortLink": card.short_link,
            "shortUrl": f"https://trello.com/c/{card.short_link}", "url": card.url,
            "subscribed": False,
        })
        if wanted is not None:
            data = {k: v for k, v in data.items() if k == "id" or k in wanted}
        if custom_field_items:
            data["customFieldItems"] = self.custom_items_json(card)
        return data

    # ---------------------------------------------------------------- members, tokens, boards

    def add_member(self, username: str, full_name: str = "") -> Member:
        if username in self.usernames:
            raise TrelloError(400, "Username is taken")
        member = Member(new_id(), username, full_name or username)
        self.members[member.id] = member
        self.usernames[username] = member.id
        return member

    def issue_token(self, member_id: str, *, scope: Iterable[str] = ("read", "write", "account"),
                    expiration: str = "never", name: str = "") -> Token:
        member = self.member(member_id)
        value = "ATTA" + secrets.token_hex(36)
        seconds = {"1hour": 3600, "1day": 86400, "30days": 30 * 86400}.get(expiration)
        token = Token(value, new_id(), member.id, tuple(scope), expiration, name,
                      expires_at=None if seconds is None else time.time() + seconds)
        self.tokens[value] = token
        return token

    def revoke_token(self, value: str) -> list[str]:
        """Forget the token and delete its webhooks; returns the deleted webhook ids."""
        self.tokens.pop(value, None)
        gone = [w.id for w in self.webhooks.values() if w.token == value]
        for webhook_id in gone:
            del self.webhooks[webhook_id]
        return gone

    def add_board(self, name: str, member_id: str,
                  lists: Iterable[str] = ("To Do", "Doing", "Done"), desc: str = "") -> Board:
        member = self.member(member_id)
        board = Board(new_id(), name, desc, self._short_link(self.board_links), [member.id],
                      date_last_activity=iso())
        self.boards[board.id] = board
        self.board_links[board.short_link] = board.id
        member.board_ids.append(board.id)
        for color in LABEL_COLORS:
            label = Label(new_id(), board.id, "", color)
            self.labels[label.id] = label
            board.label_ids.append(label.id)
        for list_name in lists:
            self.add_list(board, list_name, None)
        return board

    def add_board_member(self, board: Board, member: Member) -> None:
        if member.id not in board.member_ids:
            board.member_ids.append(member.id)
            member.board_ids.append(board.id)

    def add_list(self, board: Board, name: str, member: Member | None,
                 pos: Any = "bottom") -> TList:
        if not name:
            raise invalid("name")
        positions = [self.lists[i].pos for i in board.list_ids]
        lst = TList(new_id(), board.id, name, self._position(pos, positions))
        self.lists[lst.id] = lst
        board.list_ids.append(lst.id)
        if member is not None:
            self._emit(member, "createList", board, None,
                       {"list": lst.ref(), "board": board.ref()})
        return lst

    def update_list(self, member: Member, lst: TList, *, name: Any = UNSET, closed: Any = UNSET,
                    pos: Any = UNSET) -> TList:
        board = self.boards[lst.board_id]
        old: dict[str, Any] = {}
        if name is not UNSET and name != lst.name:
            if not name:
                raise invalid("name")
            old["name"], lst.name = lst.name, name
        if closed is not UNSET and closed != lst.closed:
            old["closed"], lst.closed = lst.closed, closed
        if pos is not UNSET:
            others = [self.lists[i].pos for i in board.list_ids if i != lst.id]
            new_pos = self._position(pos, others)
            if new_pos != lst.pos:
                old["pos"], lst.pos = lst.pos, new_pos
        if old:
            data = {"list": {**lst.ref(), **{k: getattr(lst, k) for k in old}},
                    "board": board.ref(), "old": old}
            self._emit(member, "updateList", board, None, data)
        return lst

    def _card_pos(self, lst: TList, pos: Any, exclude: str | None = None) -> float:
        """A card position in ``lst``: a number, "top" or "bottom" (the default)."""
        if pos in (None, "", "bottom", UNSET):
            value = lst.max_pos + POS_STEP
        elif pos == "top":
            value = self._position("top", [self.cards[i].pos for i in lst.card_ids
                                           if i != exclude])
        else:
            value = self._position(pos, [])
        lst.max_pos = max(lst.max_pos, value)
        return value

    @staticmethod
    def _position(pos: Any, others: list[float]) -> float:
        if pos in (None, "", "bottom", UNSET):
            return (max(others) if others else 0.0) + POS_STEP
        if pos == "top":
            return (min(others) / 2.0) if others else POS_STEP
        try:
            value = float(pos)
        except (TypeError, ValueError):
            raise invalid("pos") from None
        if value < 0:
            raise invalid("pos")
        return value

    # ---------------------------------------------------------------- cards

    def create_card(self, member: Member, lst: TList, name: str = "", desc: str = "", *,
                    pos: Any = "bottom", due: str | None = None, due_complete: bool = False,
                    id_members: Iterable[str] = (), id_labels: Iterable[str] = (),
                    action_type: str = "createCard", start: str | None = None) -> Card:
        """``action_type``: ``emailCard`` for a card that arrived by email (same data)."""
        board = self.boards[lst.board_id]
        card = Card(new_id(), board.id, lst.id, board.next_short,
                    self._short_link(self.card_links), name, desc,
                    self._card_pos(lst, pos), due, due_complete,
                    id_members=self._check_members(board, id_members), start=start)
        self._set_labels(card, self._check_labels(board, id_labels))
        touched = self._place(card, board, lst)
        self._emit(member, action_type, board, card,
                   {"card": card.ref(), "list": lst.ref(), "board": board.ref()}, date=touched)
        return card

    def _place(self, card: Card, board: Board, lst: TList) -> str:
        """Put a new card on ``board`` in ``lst``; returns its dateLastActivity (the action's date)."""
        board.next_short += 1
        touched = self._touch(card, board)
        self.cards[card.id] = card
        self.card_links[card.short_link] = card.id
        bisect.insort(board.card_ids, card.id)
        lst.card_ids.add(card.id)
        return touched

    def copy_card(self, member: Member, source: Card, lst: TList, name: str | None = None, *,
                  pos: Any = "bottom", keep: Iterable[str] = ()) -> Card:
        """``POST /1/cards`` with ``idCardSource``: a copyCard action (``keep``: the
        ``keepFromSource`` parts copied: due, start, checklists; labels, members and custom
        fields only within the source's board)."""
        board = self.boards[lst.board_id]
        keep = set(keep)
        same_board = source.board_id == board.id
        card = Card(new_id(), board.id, lst.id, board.next_short,
                    self._short_link(self.card_links), source.name if name is None else name,
                    source.desc, self._card_pos(lst, pos),
                    source.due if "due" in keep or "all" in keep else None,
                    source.due_complete if "due" in keep or "all" in keep else False,
                    id_members=list(source.id_members) if same_board and (
                        "members" in keep or "all" in keep) else [])
        if same_board and ("labels" in keep or "all" in keep):
            self._set_labels(card, list(source.id_labels))
        if "start" in keep or "all" in keep:
            card.start = source.start
        if "checklists" in keep or "all" in keep:
            self.copy_checklists(source, card)
        if same_board and ("customFields" in keep or "all" in keep):
            self.copy_custom_items(source, card)
        touched = self._place(card, board, lst)
        self._emit(member, "copyCard", board, card,
                   {"cardSource": source.ref(), "board": board.ref(), "list": lst.ref(),
                    "card": card.ref()}, date=touched)
        return card

    def _set_labels(self, card: Card, ids: Sequence[str]) -> None:
        """Give ``card`` these labels, keeping each label's ``uses`` count."""
        for lid in card.id_labels:
            if lid in self.labels:
                self.labels[lid].uses -= 1
        for lid in ids:
            self.labels[lid].uses += 1
        card.id_labels = [*ids]

    def _check_labels(self, board: Board, ids: Iterable[str]) -> list[str]:
        ids = [i for i in ids if i]
        if any(self.labels.get(i) is None or self.labels[i].board_id != board.id for i in ids):
            raise invalid("idLabels")
        return list(dict.fromkeys(ids))

    def _check_members(self, board: Board, ids: Iterable[str]) -> list[str]:
        ids = [i for i in ids if i]
        if any(i not in board.member_ids for i in ids):
            raise invalid("idMembers")
        return list(dict.fromkeys(ids))

    def _touch(self, card: Card, board: Board) -> str:
        card.date_last_activity = board.date_last_activity = iso()
        card.changed_at = time.monotonic()
        return card.date_last_activity

    def update_card(self, member: Member, card: Card, changes: dict[str, Any]) -> Card:
        """Apply a ``PUT /1/cards/{id}``: ``changes`` holds parsed values by Trello field name.

        A board move emits moveCardFromBoard + moveCardToBoard; the other tracked fields
        changed in one call make one updateCard (with listBefore/listAfter on a list move).
        """
        changes = dict(changes)
        target_board_id = changes.pop("idBoard", None)
        if target_board_id is not None and target_board_id != card.board_id:
            target = self.board(target_board_id, member)
            list_id = changes.pop("idList", None)
            if list_id is None:
                open_lists = [i for i in target.list_ids if not self.lists[i].closed]
                if not open_lists:
                    raise invalid("idList")
                list_id = open_lists[0]
            lst = self.lists.get(list_id)
            if lst is None or lst.board_id != target.id:
                raise invalid("idList")
            self._move_to_board(member, card, target, lst, changes.pop("pos", UNSET))
        board = self.boards[card.board_id]
        old: dict[str, Any] = {}
        new_list: TList | None = None
        if "idList" in changes and changes["idList"] != card.list_id:
            new_list = self.lists.get(changes["idList"])
            if new_list is None or new_list.board_id != card.board_id:
                raise invalid("idList")
        labels = (self._check_labels(board, changes["idLabels"])
                  if "idLabels" in changes else None)
        members = (self._check_members(board, changes["idMembers"])
                   if "idMembers" in changes else None)
        for key, attr in (("name", "name"), ("desc", "desc"), ("closed", "closed"),
                          ("due", "due"), ("start", "start"), ("dueComplete", "due_complete")):
            if key in changes and changes[key] != getattr(card, attr):
                old[key] = getattr(card, attr)
                setattr(card, attr, changes[key])
        list_before = self.lists[card.list_id]
        if new_list is not None:
            old["idList"] = card.list_id
            list_before.card_ids.discard(card.id)
            new_list.card_ids.add(card.id)
            new_list.max_pos = max(new_list.max_pos, card.pos)
            card.list_id = new_list.id
        if "pos" in changes:
            new_pos = self._card_pos(self.lists[card.list_id], changes["pos"], card.id)
            if new_pos != card.pos:
                old["pos"], card.pos = card.pos, new_pos
        side_actions = self._label_member_changes(member, card, board, labels, members)
        touched = self._touch(card, board) if old or side_actions else None
        if old:
            data: dict[str, Any] = {"card": {**card.ref(), **{k: self._card_value(card, k)
                                                               for k in old}},
                                    "old": old, "board": board.ref()}
            if new_list is not None:
                data["listBefore"] = list_before.ref()
                data["listAfter"] = new_list.ref()
            else:
                data["list"] = self.lists[card.list_id].ref()
            self._emit(member, "updateCard", board, card, data, date=touched)
        for action_type, data, subject in side_actions:
            self._emit(member, action_type, board, card, data, date=touched, subject=subject)
        return card

    @staticmethod
    def _card_value(card: Card, key: str) -> Any:
        return {"name": card.name, "desc": card.desc, "closed": card.closed, "due": card.due,
                "start": card.start, "dueComplete": card.due_complete, "idList": card.list_id,
                "pos": card.pos}[key]

    def _label_member_changes(self, member: Member, card: Card, board: Board,
                              labels: list[str] | None, members: list[str] | None
                              ) -> list[tuple[str, dict[str, Any], Member | None]]:
        """The label and member actions of a ``PUT`` with ``idLabels`` / ``idMembers``, with
        the member each member action is about (its top-level ``member``)."""
        out: list[tuple[str, dict[str, Any], Member | None]] = []
        if labels is not None:
            for lid in labels:
                if lid not in card.id_labels:
                    out.append(("addLabelToCard", label_data(card, board, self.labels[lid]), None))
            for lid in card.id_labels:
                if lid not in labels:
                    out.append(("removeLabelFromCard", label_data(card, board, self.labels[lid]),
                                None))
            self._set_labels(card, labels)
        if members is not None:
            for mid in members:
                if mid not in card.id_members:
                    subject = self.members[mid]
                    out.append(("addMemberToCard", member_data(card, board, subject), subject))
            for mid in card.id_members:
                if mid not in members:
                    subject = self.members[mid]
                    out.append(("removeMemberFromCard",
                                member_data(card, board, subject, removed=True), subject))
            card.id_members = members
        return out

    def _move_to_board(self, member: Member, card: Card, target: Board, lst: TList,
                       pos: Any) -> None:
        source = self.boards[card.board_id]
        source_list = self.lists[card.list_id]
        index = bisect.bisect_left(source.card_ids, card.id)
        if index < len(source.card_ids) and source.card_ids[index] == card.id:
            del source.card_ids[index]
        source_list.card_ids.discard(card.id)
        card.board_id, card.list_id = target.id, lst.id
        card.id_short = target.next_short
        target.next_short += 1
        self._set_labels(card, [])
        card.id_members = [m for m in card.id_members if m in target.member_ids]
        card.custom_items.clear()  # the fields are the source board's
        for checklist_id in card.checklist_ids:
            self.checklists[checklist_id].board_id = target.id
        card.pos = self._card_pos(lst, pos)
        bisect.insort(target.card_ids, card.id)
        lst.card_ids.add(card.id)
        self._touch(card, target)
        self._emit(member, "moveCardFromBoard", source, card,
                   {"member": {"name": member.full_name, "id": member.id},
                    "list": source_list.ref(),
                    "boardTarget": {"name": target.name, "id": target.id},
                    "board": source.ref(), "card": {"name": card.name, "id": card.id}})
        self._emit(member, "moveCardToBoard", target, card,
                   {"list": lst.ref(), "boardSource": {"name": source.name, "id": source.id},
                    "board": target.ref(), "card": card.ref()})

    def delete_card(self, member: Member, card: Card) -> None:
        board = self.boards[card.board_id]
        lst = self.lists[card.list_id]
        index = bisect.bisect_left(board.card_ids, card.id)
        if index < len(board.card_ids) and board.card_ids[index] == card.id:
            del board.card_ids[index]
        lst.card_ids.discard(card.id)
        self._set_labels(card, [])
        self.drop_checklists(card)
        del self.cards[card.id]
        self.card_links.pop(card.short_link, None)
        board.date_last_activity = iso()
        self._emit(member, "deleteCard", board, card,
                   {"board": board.ref(), "list": lst.ref(),
                    "card": {"idShort": card.id_short, "id": card.id}})
        for webhook_id in [w.id for w in self.webhooks.values() if w.id_model == card.id]:
            del self.webhooks[webhook_id]

    def comment(self, member: Member, card: Card, text: str) -> dict[str, Any]:
        if not text:
            raise invalid("text")
        board = self.boards[card.board_id]
        self._touch(card, board)
        card.comment_count += 1
        return self._emit(member, "commentCard", board, card,
                          {"text": text, "textData": {"emoji": {}}, "card": card.ref(),
                           "board": board.ref(), "list": self.lists[card.list_id].ref()})

    # ---------------------------------------------------------------- board listing

    def board_cards(self, board: Board, card_filter: str = "open", *, since: str | None = None,
                    before: str | None = None, limit: int | None = None) -> list[Card]:
        """The board's cards sorted by id, filtered, after ``since`` / before ``before``."""
        ids = board.card_ids
        start = bisect.bisect_right(ids, since) if since else 0
        stop = bisect.bisect_left(ids, before) if before else len(ids)

        def keep(card: Card) -> bool:
            return (card_filter in ("all", "visible") or (card_filter == "open") != card.closed)

        if since or not before:
            out = []
            for i in range(start, stop):
                card = self.cards[ids[i]]
                if keep(card):
                    out.append(card)
                    if limit is not None and len(out) >= limit:
                        break
            return out
        out = []
        for i in range(stop - 1, start - 1, -1):
            card = self.cards[ids[i]]
            if keep(card):
                out.append(card)
                if limit is not None and len(out) >= limit:
                    break
        out.reverse()
        return out

    # ---------------------------------------------------------------- actions

    def _emit(self, member: Member, action_type: str, board: Board, card: Card | None,
              data: dict[str, Any], date: str | None = None,
              subject: Member | None = None) -> dict[str, Any]:
        """Record an action; ``date`` is the card's new dateLastActivity when the change touched
        it (Trello dates the action and the card's activity alike); ``subject``: the member a
        member action is about (recorded ones carry it whole as ``member``)."""
        action_id = new_id()
        action: dict[str, Any] = {
            "id": action_id, "idMemberCreator": member.id, "data": data,
            "appCreator": {"id": self.acting_app} if self.acting_app else None,
            "type": action_type, "date": date or iso(),
            "limits": _COMMENT_LIMITS if action_type == "commentCard" else None,
            "display": display(action_type, data, member, subject),
        }
        if subject is not None:
            action["member"] = subject.creator()
        action["memberCreator"] = member.creator()
        text = json.dumps(action, separators=(",", ":"))
        self.actions[action_id] = (action_type, text)
        self.model_actions.setdefault(board.id, []).append(action_id)
        if card is not None:
            self.model_actions.setdefault(card.id, []).append(action_id)
        if self.on_action is not None:
            self.on_action(action, text, board, card)
        return action

    def model_action_list(self, model_id: str, types: dict[str, set[str]] | None, limit: int,
                          since: str | None = None, before: str | None = None
                          ) -> list[dict[str, Any]]:
        """Actions on a board or card, newest first. ``types``: action type -> the changed
        fields asked for (Trello's ``updateCard:idList`` filter; an empty set takes all)."""
        out = []
        for action_id in reversed(self.model_actions.get(model_id, [])):
            if before and action_id >= before:
                continue
            if since and action_id <= since:
                break
            action_type, text = self.actions[action_id]
            if types is not None and action_type not in types:
                continue
            action = json.loads(text)
            fields = types[action_type] if types is not None else set()
            if fields and not fields & set(action["data"].get("old", {})):
                continue
            out.append(action)
            if len(out) >= limit:
                break
        return out
