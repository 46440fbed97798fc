"""What sales teams keep on Trello cards, for ``TrelloClient``: custom fields, labels, members,
start/due dates, checklist progress and comments.

``CardFieldsMixin`` is a base of ``TrelloClient``: every method goes through
``TrelloClient.request`` (auth header, timeout, the shared rate limiter, 429 handling), one call
each. Custom fields need a paid Trello plan or the board's Custom Fields Power-Up: ask
``custom_fields_available`` before writing; a write Trello refuses for that reason raises
``CustomFieldsUnavailable`` (not an auth error: the token is fine).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .errors import TrelloAuthError, TrelloBadRequest

# The id of Trello's Custom Fields Power-Up, as ``idPlugin`` of a board's ``boardPlugins``.
CUSTOM_FIELDS_PLUGIN_ID = "56d5e249a98895a9797bebb9"
CUSTOM_FIELD_TYPES = ("text", "number", "date", "checkbox", "list")
# Card fields for reading a card's sales fields in one call (with ``customFieldItems=true``).
CARD_DETAIL_FIELDS = ("id,name,desc,idList,idBoard,closed,due,dueComplete,start,dateLastActivity,"
                      "url,shortUrl,labels,idLabels,idMembers,pos,badges")
# the key of a custom field item's ``value`` for each field type
_VALUE_KEYS = {"text": "text", "number": "number", "date": "date", "checkbox": "checked"}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class CustomFieldsUnavailable(TrelloBadRequest):
    """Trello refused a custom-field write: the board has no Custom Fields (a paid plan or the
    Custom Fields Power-Up is needed)."""


def custom_field_item(field: Mapping[str, Any], value: Any) -> dict[str, Any]:
    """One entry of ``PUT /1/cards/{id}/customFields`` setting ``field`` (a board custom field
    as Trello lists it) to ``value``; ``None`` or ``""`` clears it.

    text: any text; number: int, float, Decimal or numeric text; date: datetime (naive means
    UTC), date (midnight UTC) or ISO text; checkbox: bool (or "true"/"false"); list: an
    option's id or its text. Raises ``ValueError`` for a value the field cannot take.
    """
    field_id, field_type = str(field["id"]), field.get("type")
    if field_type not in CUSTOM_FIELD_TYPES:
        raise ValueError(f"unknown custom field type {field_type!r}")
    if value is None or value == "":
        return {"idCustomField": field_id, "idValue": ""} if field_type == "list" else \
            {"idCustomField": field_id, "value": ""}
    if field_type == "list":
        return {"idCustomField": field_id, "idValue": _option_id(field, value)}
    return {"idCustomField": field_id, "value": {_VALUE_KEYS[field_type]: _value_text(field_type, value)}}


def _option_id(field: Mapping[str, Any], value: Any) -> str:
    options = [o for o in field.get("options") or [] if isinstance(o, Mapping)]
    wanted = str(value)
    for match in (lambda o: o.get("id") == wanted,
                  lambda o: (o.get("value") or {}).get("text") == wanted,
                  lambda o: str((o.get("value") or {}).get("text", "")).casefold() == wanted.casefold()):
        found = [o for o in options if match(o)]
        if len(found) == 1:
            return str(found[0]["id"])
        if len(found) > 1:
            raise ValueError(f"{wanted!r} names several options of custom field {field.get('name')!r}")
    raise ValueError(f"{wanted!r} is not an option of custom field {field.get('name')!r}")


def _value_text(field_type: str, value: Any) -> str:
    if field_type == "text":
        return str(value)
    if field_type == "checkbox":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower()
        raise ValueError(f"{value!r} is not a checkbox value (true or false)")
    if field_type == "number":
        if isinstance(value, bool):
            raise ValueError("a checkbox value is not a number")
        if isinstance(value, (int, Decimal)):
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{value!r} is not a number Trello takes")
            return str(int(value)) if value.is_integer() else repr(value)
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a number Trello takes")
        return text
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00.000Z"
    text = str(value).strip()
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date") from None
    return text


def custom_field_value(field: Mapping[str, Any], item: Mapping[str, Any] | None) -> Any:
    """The Python value of a card's custom field item (as ``customFieldItems`` lists it):
    text, float (number), ISO text (date), bool (checkbox), the option's text (list); None when
    the card has no value."""
    if not item:
        return None
    field_type = field.get("type")
    if field_type == "list":
        option = next((o for o in field.get("options") or [] if o.get("id") == item.get("idValue")), None)
        return None if option is None else (option.get("value") or {}).get("text")
    raw = (item.get("value") or {}).get(_VALUE_KEYS.get(str(field_type), ""))
    if raw is None:
        return None
    if field_type == "number":
        return float(raw)
    if field_type == "checkbox":
        return str(raw).lower() == "true"
    return raw


class CardFieldsMixin:
    """Card fields methods of ``TrelloClient`` (each one Trello call through ``request``)."""

    if TYPE_CHECKING:  # provided by TrelloClient
        def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    json: dict[str, Any] | None = None) -> Any: ...

    # ------------------------------------------------------------------ custom fields

    def _custom_field_write(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        try:
            return self.request(method, path, json=json)
        except TrelloAuthError as exc:
            if exc.status == 403:
                raise CustomFieldsUnavailable(
                    "Custom Fields are not available on this Trello board (they need a paid plan "
                    "or the Custom Fields Power-Up)", 403) from exc
            raise

    def custom_fields_available(self, board_id: str) -> bool:
        """Whether the board can take custom field writes (its Custom Fields Power-Up is on)."""
        plugins = self.request("GET", f"/boards/{board_id}/boardPlugins")
        return any(isinstance(p, dict) and p.get("idPlugin") == CUSTOM_FIELDS_PLUGIN_ID for p in plugins or [])

    def board_custom_fields(self, board_id: str) -> list[dict[str, Any]]:
        """The board's custom field definitions (``id, name, type, options``…), in board order."""
        return self.request("GET", f"/boards/{board_id}/customFields")

    def create_custom_field(self, board_id: str, name: str, field_type: str, *, options: Sequence[str] = (),
                            pos: str | float = "bottom", card_front: bool = True) -> dict[str, Any]:
        """Define a custom field on the board (``options``: the choices of a list field)."""
        if field_type not in CUSTOM_FIELD_TYPES:
            raise ValueError(f"unknown custom field type {field_type!r}")
        body: dict[str, Any] = {"idModel": board_id, "modelType": "board", "name": name, "type": field_type,
                                "pos": pos, "display_cardFront": card_front}
        if field_type == "list":
            body["options"] = [{"value": {"text": text}, "color": "none", "pos": (i + 1) * 16384}
                               for i, text in enumerate(options)]
        return self._custom_field_write("POST", "/customFields", body)

    def add_custom_field_option(self, field_id: str, text: str, *, color: str = "none",
                                pos: str | float = "bottom") -> dict[str, Any]:
        """Add a choice to a list custom field."""
        return self._custom_field_write("POST", f"/customFields/{field_id}/options",
                                        {"value": {"text": text}, "color": color, "pos": pos})

    def card_custom_field_items(self, card_id: str) -> list[dict[str, Any]]:
        """The card's custom field items (``idCustomField`` with ``value`` or ``idValue``)."""
        return self.request("GET", f"/cards/{card_id}/customFieldItems")

    def set_card_custom_fields(self, card_id: str, items: Sequence[Mapping[str, Any]]) -> None:
        """Set (or clear) several custom fields of one card in one call (Trello's batch endpoint);
        build each item with ``custom_field_item``. Nothing is sent for no items."""
        if items:
            self._custom_field_write("PUT", f"/cards/{card_id}/customFields",
                                     {"customFieldItems": [dict(i) for i in items]})

    def set_card_custom_field(self, card_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
        """Set (or clear) one custom field of a card; ``item`` from ``custom_field_item``."""
        body = {k: v for k, v in item.items() if k != "idCustomField"}
        return self._custom_field_write("PUT", f"/cards/{card_id}/customField/{item['idCustomField']}/item", body)

    def get_card_details(self, card_id: str, *, fields: str = CARD_DETAIL_FIELDS, list: bool = False,
                         members: bool = False) -> dict[str, Any]:
        """A card with its dates, labels, members, badges (checklist progress, comments) and
        ``customFieldItems``, in one call (``list``, ``members``: with its list and its members' names)."""
        params = {"fields": fields, "customFieldItems": "true"}
        if list:
            params["list"] = "true"
        if members:
            params["members"] = "true"
        return self.request("GET", f"/cards/{card_id}", params=params)

    def iter_board_card_details(self, board_id: str, *, fields: str = CARD_DETAIL_FIELDS, filter: str = "open",
                                page_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """The board's cards as ``get_card_details`` reads them, in pages (ascending id)."""
        since: str | None = None
        while True:
            params: dict[str, Any] = {"fields": fields, "customFieldItems": "true", "limit": page_size}
            if since:
                params["since"] = since
            page = self.request("GET", f"/boards/{board_id}/cards/{filter}", params=params)
            if page:
                yield page
            if len(page) < page_size:
                return
            since = page[-1]["id"]

    # ------------------------------------------------------------------ labels

    def board_labels(self, board_id: str) -> list[dict[str, Any]]:
        """The board's labels: ``id, idBoard, name, color`` (at most 1000)."""
        return self.request("GET", f"/boards/{board_id}/labels", params={"limit": 1000})

    def create_label(self, board_id: str, name: str, color: str | None = None) -> dict[str, Any]:
        """A new label on the board (``color`` None: a label without colour)."""
        return self.request("POST", "/labels", json={"idBoard": board_id, "name": name, "color": color})

    def add_card_label(self, card_id: str, label_id: str) -> list[str]:
        """Put a board label on the card; returns the card's label ids."""
        return self.request("POST", f"/cards/{card_id}/idLabels", json={"value": label_id})

    def remove_card_label(self, card_id: str, label_id: str) -> None:
        self.request("DELETE", f"/cards/{card_id}/idLabels/{label_id}")

    # ------------------------------------------------------------------ members

    def board_members(self, board_id: str) -> list[dict[str, Any]]:
        """The board's members: ``id, fullName, username``."""
        return self.request("GET", f"/boards/{board_id}/members")

    def add_card_member(self, card_id: str, member_id: str) -> None:
        self.request("POST", f"/cards/{card_id}/idMembers", json={"value": member_id})

    def remove_card_member(self, card_id: str, member_id: str) -> None:
        self.request("DELETE", f"/cards/{card_id}/idMembers/{member_id}")

    # ------------------------------------------------------------------ dates

    def update_card_dates(self, card_id: str, *, start: str | None = UNSET, due: str | None = UNSET,
                          due_complete: bool = UNSET, **other: Any) -> dict[str, Any]:
        """Set the card's start and due dates and "done" (None clears a date), with any other
        Trello card fields in ``other``, in one ``PUT``; only the arguments given are sent."""
        body = dict(other)
        for name, value in (("start", start), ("due", due), ("dueComplete", due_complete)):
            if value is not UNSET:
                body[name] = value
        return self.request("PUT", f"/cards/{card_id}", json=body)

    # ------------------------------------------------------------------ checklists

    def checklist_progress(self, card_id: str) -> tuple[int, int]:
        """``(checked, total)`` check items over all the card's checklists."""
        card = self.request("GET", f"/cards/{card_id}", params={"fields": "badges"})
        badges = card.get("badges") or {}
        return int(badges.get("checkItemsChecked") or 0), int(badges.get("checkItems") or 0)

    def create_checklist(self, card_id: str, name: str = "Checklist") -> dict[str, Any]:
        return self.request("POST", f"/cards/{card_id}/checklists", json={"name": name})

    def add_check_item(self, checklist_id: str, name: str, *, checked: bool = False) -> dict[str, Any]:
        return self.request("POST", f"/checklists/{checklist_id}/checkItems", json={"name": name, "checked": checked})

    def set_check_item_state(self, card_id: str, check_item_id: str, complete: bool) -> dict[str, Any]:
        return self.request("PUT", f"/cards/{card_id}/checkItem/{check_item_id}",
                            json={"state": "complete" if complete else "incomplete"})

    # ------------------------------------------------------------------ comments

    def add_comment(self, card_id: str, text: str) -> dict[str, Any]:
        """Comment on the card; returns the commentCard action."""
        return self.request("POST", f"/cards/{card_id}/actions/comments", json={"text": text})

    def board_comments(self, board_id: str, *, before: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """The board's commentCard actions, newest first (``before``: older than that action id)."""
        params: dict[str, Any] = {"filter": "commentCard", "limit": limit}
        if before:
            params["before"] = before
        return self.request("GET", f"/boards/{board_id}/actions", params=params)

    def latest_comment(self, card_id: str) -> dict[str, Any] | None:
        """The card's newest commentCard action (``data.text``, ``date``, ``memberCreator``), or None."""
        actions = self.request("GET", f"/cards/{card_id}/actions", params={"filter": "commentCard", "limit": 1})
        return actions[0] if actions else None
