"""Records of the Trello emulator: ids, dates, errors and the dataclasses behind the JSON."""

from __future__ import annotations

import random
import re
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

HEX_ID = re.compile(r"^[0-9a-f]{24}$")
SHORT_LINK = re.compile(r"^[A-Za-z0-9]{8}$")
NOT_FOUND = "The requested resource was not found."
UNAUTHORIZED = "unauthorized permission requested"
LABEL_COLORS = ("green", "yellow", "orange", "red", "purple", "blue")
POS_STEP = 16384.0
# The id of Trello's Custom Fields Power-Up (``idPlugin`` of a board's ``boardPlugins``).
CUSTOM_FIELDS_PLUGIN_ID = "56d5e249a98895a9797bebb9"
CUSTOM_FIELD_TYPES = ("checkbox", "date", "list", "number", "text")
UNSET: Any = object()

# A board's ``prefs`` as Trello sends them for a board with a plain colour background.
BOARD_PREFS: dict[str, Any] = {
    "permissionLevel": "private", "hideVotes": False, "voting": "disabled",
    "comments": "members", "invitations": "members", "selfJoin": True, "cardCovers": True,
    "cardCounts": False, "isTemplate": False, "cardAging": "regular",
    "calendarFeedEnabled": False, "hiddenPluginBoardButtons": [], "switcherViews": [],
    "background": "blue", "backgroundColor": "#0079BF", "backgroundImage": None,
    "backgroundTile": False, "backgroundBrightness": "dark", "backgroundImageScaled": None,
    "backgroundBottomColor": "#0079BF", "backgroundTopColor": "#0079BF", "canBePublic": True,
    "canBeEnterprise": True, "canBeOrg": True, "canBePrivate": True, "canInvite": True,
}
SWITCHER_VIEWS = tuple({"viewType": view, "enabled": view in ("Board", "Table")}
                       for view in ("Board", "Table", "Calendar", "Dashboard", "Timeline", "Map"))
_COLOURS = ("green", "yellow", "orange", "red", "purple", "blue", "sky", "lime", "pink", "black")
LABEL_NAME_KEYS = (*_COLOURS, *(c + "_dark" for c in _COLOURS), *(c + "_light" for c in _COLOURS))
# the colours a label may have (or none: null)
LABEL_COLOURS = frozenset(LABEL_NAME_KEYS)


class TrelloError(Exception):
    """An error answered as Trello does: a status and a plain-text message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def invalid(name: str) -> TrelloError:
    return TrelloError(400, f"invalid value for {name}")


# --------------------------------------------------------------------------- ids and times

_id_lock = threading.Lock()
_id_state = {"ts": 0, "counter": random.SystemRandom().randrange(1 << 32)}
_ID_MIDDLE = f"{random.SystemRandom().randrange(1 << 24):06x}"
_RNG = random.Random()
_ALPHABET = string.ascii_letters + string.digits


def random_short_link() -> str:
    """Eight letters and digits, like Trello's short links."""
    return "".join(_RNG.choices(_ALPHABET, k=8))


def new_id() -> str:
    """A Mongo-like ObjectId: 8 hex of unix seconds, 6 hex per process, 10 hex counter.

    Ids made by one process sort in creation order (time never goes backwards here).
    """
    with _id_lock:
        ts = max(int(time.time()), _id_state["ts"])
        _id_state["ts"] = ts
        _id_state["counter"] = (_id_state["counter"] + 1) % (1 << 40)
        return f"{ts:08x}{_ID_MIDDLE}{_id_state['counter']:010x}"


def iso(ts: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds and Z, as Trello writes dates."""
    ts = time.time() if ts is None else ts
    second = int(ts // 1)
    if _iso_cache[0] != second:
        _iso_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        _iso_cache[0] = second
    return f"{_iso_cache[1]}{int((ts - second) * 1000):03d}Z"


def parse_date(value: Any, name: str) -> str | None:
    """Normalise a date parameter (ISO string, or null/empty to clear)."""
    if value is None or value == "" or value == "null":
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid(name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return iso(moment.timestamp())


_NON_SLUG = re.compile(r"[^a-z0-9]+")
_iso_cache: list[Any] = [-1, ""]


def slugify(text: str) -> str:
    return _NON_SLUG.sub("-", text.lower()).strip("-")[:128]


def check_id(value: str) -> None:
    """Raise ``400 invalid id`` unless ``value`` is an id or a short link."""
    if not (HEX_ID.match(value) or SHORT_LINK.match(value)):
        raise TrelloError(400, "invalid id")


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class Member:
    id: str
    username: str
    full_name: str
    board_ids: list[str] = field(default_factory=list)

    @property
    def initials(self) -> str:
        words = (self.full_name or self.username).split()
        return "".join(w[0] for w in words[:3]).upper()

    def ref(self) -> dict[str, Any]:
        """A member as ``GET /1/boards/{id}/members`` lists it (keys in Trello's order)."""
        return {"id": self.id, "fullName": self.full_name, "username": self.username}

    def creator(self) -> dict[str, Any]:
        """``memberCreator`` of an action, with the keys of real deliveries (no avatar here)."""
        return {"id": self.id, "activityBlocked": False, "avatarHash": None, "avatarUrl": None,
                "fullName": self.full_name, "idMemberReferrer": None, "initials": self.initials,
                "nonPublic": {}, "nonPublicAvailable": True, "username": self.username}

    def entity(self) -> dict[str, Any]:
        """The member as a ``display.entities`` entry."""
        return {"type": "member", "id": self.id, "username": self.username,
                "text": self.full_name}

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "fullName": self.full_name,
                "initials": self.initials, "avatarUrl": None, "confirmed": True,
                "url": f"https://trello.com/{self.username}", "idBoards": list(self.board_ids)}


@dataclass(slots=True)
class Token:
    value: str
    id: str
    member_id: str
    scope: tuple[str, ...] = ("read", "write", "account")
    expiration: str = "never"
    name: str = ""
    created: float = field(default_factory=time.time)
    expires_at: float | None = None

    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    def to_json(self) -> dict[str, Any]:
        perms = [{"idModel": "*", "modelType": kind, "read": "read" in self.scope,
                  "write": "write" in self.scope} for kind in ("Board", "Organization")]
        return {"id": self.id, "identifier": self.name, "idMember": self.member_id,
                "dateCreated": iso(self.created),
                "dateExpires": None if self.expires_at is None else iso(self.expires_at),
                "permissions": perms}


@dataclass(slots=True)
class Label:
    id: str
    board_id: str
    name: str
    color: str | None  # None: a label without colour
    uses: int = 0  # cards carrying the label, as Trello counts them

    def to_json(self) -> dict[str, Any]:
        """A label as a card carries it (with ``uses``)."""
        return {"id": self.id, "idBoard": self.board_id, "name": self.name, "color": self.color,
                "uses": self.uses}

    def board_json(self) -> dict[str, Any]:
        """A label as ``GET /1/boards/{id}/labels`` answers it by default (no ``uses``)."""
        return {"id": self.id, "idBoard": self.board_id, "name": self.name, "color": self.color}

    def ref(self) -> dict[str, Any]:
        """The label in an action's ``data``."""
        return {"id": self.id, "name": self.name, "color": self.color}


@dataclass(slots=True)
class Board:
    id: str
    name: str
    desc: str
    short_link: str
    member_ids: list[str]
    closed: bool = False
    date_last_activity: str = ""
    card_ids: list[str] = field(default_factory=list)  # sorted: paging by id
    list_ids: list[str] = field(default_factory=list)
    label_ids: list[str] = field(default_factory=list)
    next_short: int = 1
    # Custom Fields usable here (a paid plan, or the Custom Fields Power-Up enabled); the
    # emulator's control API switches it. Definitions stay readable when it is off.
    custom_fields_enabled: bool = False
    custom_field_ids: list[str] = field(default_factory=list)

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "shortLink": self.short_link}

    @property
    def url(self) -> str:
        return f"https://trello.com/b/{self.short_link}/{slugify(self.name)}"

    def to_json(self) -> dict[str, Any]:
        """Every board field the emulator knows (``fields=`` picks from these)."""
        return {**self.default_json(), "shortLink": self.short_link,
                "dateLastActivity": self.date_last_activity or None,
                "memberships": [{"id": mid[::-1], "idMember": mid,
                                 "memberType": "admin" if i == 0 else "normal"}
                                for i, mid in enumerate(self.member_ids)]}

    def default_json(self) -> dict[str, Any]:
        """``GET /1/boards/{id}`` without ``fields``, and the ``model`` of a board webhook."""
        return {"id": self.id, "name": self.name, "desc": self.desc, "descData": None,
                "closed": self.closed, "idOrganization": None, "idEnterprise": None,
                "pinned": False, "url": self.url,
                "shortUrl": f"https://trello.com/b/{self.short_link}",
                "prefs": dict(BOARD_PREFS, switcherViews=[dict(v) for v in SWITCHER_VIEWS]),
                "labelNames": dict.fromkeys(LABEL_NAME_KEYS, "")}


@dataclass(slots=True)
class TList:
    id: str
    board_id: str
    name: str
    pos: float
    closed: bool = False
    card_ids: set[str] = field(default_factory=set)
    max_pos: float = 0.0  # highest card pos ever placed here ("bottom" without a scan)

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "closed": self.closed, "pos": self.pos,
                "softLimit": None, "idBoard": self.board_id, "subscribed": False}


CARD_FIELDS = ("id", "closed", "dateLastActivity", "desc", "due", "dueComplete", "start",
               "idBoard", "idChecklists", "idLabels", "idList", "idMembers", "idShort",
               "labels", "name", "pos", "shortLink", "shortUrl", "url", "subscribed")


@dataclass(slots=True)
class Card:
    id: str
    board_id: str
    list_id: str
    id_short: int
    short_link: str
    name: str
    desc: str = ""
    pos: float = POS_STEP
    due: str | None = None
    due_complete: bool = False
    closed: bool = False
    id_labels: list[str] = field(default_factory=list)
    id_members: list[str] = field(default_factory=list)
    date_last_activity: str = ""
    changed_at: float = 0.0  # monotonic; search lag
    start: str | None = None
    checklist_ids: list[str] = field(default_factory=list)
    custom_items: dict[str, "CustomFieldItem"] = field(default_factory=dict)  # by field id
    comment_count: int = 0

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "idShort": self.id_short,
                "shortLink": self.short_link}

    @property
    def url(self) -> str:
        return f"https://trello.com/c/{self.short_link}/{self.id_short}-{slugify(self.name)}"


@dataclass(slots=True)
class CustomFieldOption:
    """One choice of a ``list`` custom field."""

    id: str
    field_id: str
    text: str
    color: str = "none"
    pos: float = POS_STEP

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "idCustomField": self.field_id, "value": {"text": self.text},
                "color": self.color, "pos": self.pos}


# ``limits`` of a list custom field, as a recorded answer carries them
_OPTION_LIMITS = {"customFieldOptions": {"perField": {"status": "ok", "disableAt": 50,
                                                      "warnAt": 40}}}


@dataclass(slots=True)
class CustomField:
    """A custom field defined on a board (text, number, date, checkbox or list)."""

    id: str
    board_id: str
    name: str
    type: str
    pos: float
    field_group: str
    card_front: bool = True
    options: list[CustomFieldOption] = field(default_factory=list)

    def ref(self) -> dict[str, Any]:
        """The field in an action's ``data``."""
        return {"id": self.id, "name": self.name, "type": self.type}

    def option(self, option_id: Any) -> CustomFieldOption | None:
        return next((o for o in self.options if o.id == option_id), None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "idModel": self.board_id, "modelType": "board",
                                "fieldGroup": self.field_group,
                                "display": {"cardFront": self.card_front}, "name": self.name,
                                "pos": self.pos}
        if self.type == "list":
            data["options"] = [o.to_json() for o in sorted(self.options, key=lambda o: o.pos)]
        data["type"] = self.type
        if self.type == "list":
            data["limits"] = {k: {p: dict(v) for p, v in per.items()}
                              for k, per in _OPTION_LIMITS.items()}
        data["isSuggestedField"] = False
        return data


@dataclass(slots=True)
class CustomFieldItem:
    """A card's value of one custom field: ``value`` (``{"text": ...}``, ``{"number": "42"}``,
    ``{"date": ...}``, ``{"checked": "true"}``) or, for a list field, the option id ``id_value``."""

    id: str
    field_id: str
    card_id: str
    value: dict[str, str] | None = None
    id_value: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "value": None if self.value is None else dict(self.value),
                "idValue": self.id_value, "idCustomField": self.field_id, "idModel": self.card_id,
                "modelType": "card"}


@dataclass(slots=True)
class CheckItem:
    id: str
    checklist_id: str
    name: str
    pos: float
    state: str = "incomplete"  # or "complete"

    def ref(self) -> dict[str, Any]:
        """The item in an action's ``data``."""
        return {"id": self.id, "name": self.name, "state": self.state,
                "textData": {"emoji": {}}}

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "nameData": {"emoji": {}}, "pos": self.pos,
                "due": None, "dueReminder": None, "idMember": None,
                "idChecklist": self.checklist_id, "state": self.state}


@dataclass(slots=True)
class Checklist:
    id: str
    board_id: str
    card_id: str
    name: str
    pos: float
    item_ids: list[str] = field(default_factory=list)

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(slots=True)
class Webhook:
    id: str
    token: str
    callback_url: str
    id_model: str
    description: str = ""
    active: bool = True
    consecutive_failures: int = 0
    first_fail_date: str | None = None

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "idModel": self.id_model,
                "callbackURL": self.callback_url}

    def to_json(self) -> dict[str, Any]:
        return {**self.ref(), "active": self.active,
                "consecutiveFailures": self.consecutive_failures,
                "firstConsecutiveFailDate": self.first_fail_date}
