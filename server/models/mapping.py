"""The typed form of ``Workspace.mapping``: which sheet column is which card field, and statuses ⇄ lists.

The stored JSON is the one every version wrote (each key optional)::

    {"title_column": "Name", "status_column": "Status", "description_columns": ["Email", ...],
     "due_column": null, "status_to_list": {"Won": "<list id>", ...}, "list_to_status": {"<list id>": "Won"},
     "default_status": "New", "list_names": {"<list id>": "Done"}, "board_name": "Sales",
     "start_column": null, "due_done_column": null, "card_url_column": null, "labels_column": null,
     "directions": {"Notes": "to_trello", "Phone": "to_sheet"},
     "custom_fields": {"Deal size": "<custom field id>"},
     "members_column": "Owner", "member_emails": {"ann@example.com": "<member id or username>"},
     "checklist_column": "Checklist", "comment_column": "Last comment"}

``start_column``, ``due_done_column``, ``card_url_column``, ``labels_column``, ``directions`` and
``custom_fields`` (a column per Trello custom field, by the field's id) came later: a mapping without them has
no such columns and every column two-way (``directions`` names only the
columns that are not; the status column is always two-way, and the card URL column is card →
sheet whatever it says). ``members_column`` (the card's members, by name), its ``member_emails``
(an email ⇄ board member table, for cells that name people by email), ``checklist_column``
(checklist progress, "3/5") and ``comment_column`` (the latest comment) came after them; the
checklist and comment columns are card → sheet whatever ``directions`` says.

``create_labels`` (true or false, default false): a name in the labels column that the board has no
label for is made as a label (no colour) instead of being reported and left off the card.

``row_filter`` and ``card_filter`` (which rows and cards sync, ``server/models/filters.py``) are
optional too: without them every row and every card of the mapped lists syncs.

``Mapping.from_json`` reads it, checking the type of every key (``MappingError`` says which key is
wrong and how; a missing or empty key takes its default), and ``Mapping.to_json`` writes it back,
keeping the keys this version does not know as they were.

In memory the synced columns are a list of ``FieldMap``: a column, its ``FieldKind`` and the
``Direction`` its changes travel. A new kind of field is a ``FieldKind`` member, its reading in
``_fields_from_json`` and its writing in ``_fields_to_json`` (mypy points at every ``match`` over
the kinds that lacks it), and the engine's handling of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, assert_never

from .boards import BoardRoute, Routing, RoutingError
from .enums import Direction, FieldKind
from .filters import CardFilter, RowFilter

if TYPE_CHECKING:
    from .workspace import Workspace

DEFAULT_TITLE_COLUMN = "Name"
DEFAULT_STATUS_COLUMN = "Status"
DEFAULT_LEAD_ID_COLUMN = "Lead ID"

_COLUMN_KEYS = ("title_column", "status_column", "description_columns", "due_column", "start_column",
                "due_done_column", "card_url_column", "labels_column", "members_column", "checklist_column",
                "comment_column")
_KNOWN_KEYS = frozenset({*_COLUMN_KEYS, "status_to_list", "list_to_status", "default_status", "list_names",
                         "board_name", "directions", "custom_fields", "member_emails", "row_filter", "card_filter",
                         "routing", "create_labels"})
#: the kinds that take one column, with the key that stores it
SINGLE_KINDS: dict[FieldKind, str] = {FieldKind.DUE: "due_column", FieldKind.START: "start_column",
                                      FieldKind.DUE_DONE: "due_done_column", FieldKind.CARD_URL: "card_url_column",
                                      FieldKind.LABELS: "labels_column", FieldKind.MEMBERS: "members_column",
                                      FieldKind.CHECKLIST: "checklist_column", FieldKind.COMMENT: "comment_column"}
#: the kinds whose direction is fixed: the status routes cards to lists (both ways), the URL is Trello's
FIXED_DIRECTIONS: dict[FieldKind, Direction] = {FieldKind.STATUS: Direction.BOTH,
                                                FieldKind.CARD_URL: Direction.TO_SHEET,
                                                FieldKind.CHECKLIST: Direction.TO_SHEET,
                                                FieldKind.COMMENT: Direction.TO_SHEET}


class MappingError(ValueError):
    """A stored mapping that cannot be read; the message names the key and what is wrong with it."""


def normalise_status(value: Any) -> str:
    """Statuses match ignoring case and surrounding spaces ("  WON " is "won")."""
    return " ".join(str(value or "").split()).casefold()


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One synced sheet column: what it is on the card, and which way its changes travel."""

    column: str
    kind: FieldKind
    direction: Direction = Direction.BOTH
    custom_field_id: str = ""  # the board's custom field (``FieldKind.CUSTOM_FIELD`` only)


def column_fields(title: str, status: str, description: Sequence[str] = (), due: str | None = None, *,
                  start: str | None = None, due_done: str | None = None, card_url: str | None = None,
                  labels: str | None = None, directions: dict[str, Direction] | None = None,
                  custom_fields: dict[str, str] | None = None, members: str | None = None,
                  checklist: str | None = None, comment: str | None = None) -> tuple[FieldMap, ...]:
    """The fields of a title, a status, description and (optionally) due date, start date, "done"
    card URL, labels, members, checklist, comment and custom field (``{column: custom field id}``)
    columns, in that order;
    ``directions`` gives a column's direction (else both ways, except where the kind fixes it)."""
    kinds = [(title, FieldKind.TITLE), (status, FieldKind.STATUS)]
    kinds.extend((column, FieldKind.DESCRIPTION) for column in description)
    for column, kind in ((due, FieldKind.DUE), (start, FieldKind.START), (due_done, FieldKind.DUE_DONE),
                         (card_url, FieldKind.CARD_URL), (labels, FieldKind.LABELS), (members, FieldKind.MEMBERS),
                         (checklist, FieldKind.CHECKLIST), (comment, FieldKind.COMMENT)):
        if column:
            kinds.append((column, kind))
    chosen = directions or {}
    out = [FieldMap(column, kind, FIXED_DIRECTIONS.get(kind, chosen.get(column, Direction.BOTH)))
           for column, kind in kinds]
    taken = {f.column for f in out}
    out.extend(FieldMap(column, FieldKind.CUSTOM_FIELD, chosen.get(column, Direction.BOTH), field_id)
               for column, field_id in (custom_fields or {}).items() if column and field_id and column not in taken)
    return tuple(out)


DEFAULT_FIELDS = column_fields(DEFAULT_TITLE_COLUMN, DEFAULT_STATUS_COLUMN)


@dataclass(frozen=True)
class Mapping:
    """Column ⇄ field and status ⇄ list mapping of one workspace.

    ``statuses_as_written`` maps statuses, spelled as the person wrote them, to lists; several
    may share a list (Qualified and Lost → Done). ``status_to_list`` is the same table keyed by
    ``normalise_status``, for lookups. ``list_to_status`` gives each list the status written back
    when a card lands in it. ``list_names`` and ``board_name`` are the names last read from
    Trello, for pages. ``lead_id_column`` comes from the workspace, not from the JSON.

    ``title_column``, ``status_column``, ``description_columns``, ``due_column`` and
    ``synced_columns`` are read off ``fields`` once, when the mapping is made.
    """

    fields: tuple[FieldMap, ...] = DEFAULT_FIELDS
    statuses_as_written: dict[str, str] = field(default_factory=dict)
    list_to_status: dict[str, str] = field(default_factory=dict)
    default_status: str = ""
    lead_id_column: str = DEFAULT_LEAD_ID_COLUMN
    list_names: dict[str, str] = field(default_factory=dict)
    board_name: str = ""
    member_emails: dict[str, str] = field(default_factory=dict)  # email -> board member id or username
    unknown: dict[str, Any] = field(default_factory=dict)  # stored keys this version does not know
    row_filter: RowFilter = RowFilter()  # which rows sync (``server/models/filters.py``)
    card_filter: CardFilter = CardFilter()  # which cards sync
    routing: Routing | None = None  # several boards per sheet (``server/models/boards.py``)
    create_labels: bool = False  # a label name the board lacks is made, not reported

    status_to_list: dict[str, str] = field(init=False, repr=False, compare=False)
    title_column: str = field(init=False, repr=False, compare=False)
    status_column: str = field(init=False, repr=False, compare=False)
    description_columns: tuple[str, ...] = field(init=False, repr=False, compare=False)
    due_column: str | None = field(init=False, repr=False, compare=False)
    start_column: str | None = field(init=False, repr=False, compare=False)
    due_done_column: str | None = field(init=False, repr=False, compare=False)
    card_url_column: str | None = field(init=False, repr=False, compare=False)
    labels_column: str | None = field(init=False, repr=False, compare=False)
    members_column: str | None = field(init=False, repr=False, compare=False)
    checklist_column: str | None = field(init=False, repr=False, compare=False)
    comment_column: str | None = field(init=False, repr=False, compare=False)
    custom_fields: dict[str, str] = field(init=False, repr=False, compare=False)  # column -> custom field id
    _synced: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _directions: dict[str, Direction] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        title, status = self._one(FieldKind.TITLE), self._one(FieldKind.STATUS)
        if title is None or status is None:
            raise MappingError("a mapping needs a title column and a status column")
        derived = {
            "status_to_list": {normalise_status(k): v for k, v in self.statuses_as_written.items()},
            "title_column": title,
            "status_column": status,
            "description_columns": tuple(f.column for f in self.fields if f.kind == FieldKind.DESCRIPTION),
            "due_column": self._one(FieldKind.DUE),
            "start_column": self._one(FieldKind.START),
            "due_done_column": self._one(FieldKind.DUE_DONE),
            "card_url_column": self._one(FieldKind.CARD_URL),
            "labels_column": self._one(FieldKind.LABELS),
            "members_column": self._one(FieldKind.MEMBERS),
            "checklist_column": self._one(FieldKind.CHECKLIST),
            "comment_column": self._one(FieldKind.COMMENT),
            "custom_fields": {f.column: f.custom_field_id for f in self.fields if f.kind == FieldKind.CUSTOM_FIELD},
            "_synced": tuple(dict.fromkeys([*(f.column for f in self.fields),
                                            *([self.routing.column] if self.routing else [])])),
            "_directions": {f.column: f.direction for f in self.fields},
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def _one(self, kind: FieldKind) -> str | None:
        columns = [f.column for f in self.fields if f.kind == kind]
        if len(columns) > 1:
            raise MappingError(f"the mapping has {len(columns)} {kind} columns ({', '.join(columns)}); it takes one")
        return columns[0] if columns else None

    # ------------------------------------------------------------------ stored form

    @classmethod
    def from_json(cls, data: Any, lead_id_column: str = DEFAULT_LEAD_ID_COLUMN) -> Mapping:
        """Read a stored mapping (None or ``{}``: the default one); ``MappingError`` if it is malformed."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise MappingError(f"the stored mapping is {_what(data)}, not an object")
        statuses = _table(data, "status_to_list")
        try:
            routing = Routing.from_json(data.get("routing"))
        except RoutingError as exc:
            raise MappingError(str(exc)) from None
        return cls(routing=routing, fields=_fields_from_json(data), statuses_as_written=statuses,
                   list_to_status=_table(data, "list_to_status"),
                   default_status=_text(data, "default_status") or next(iter(statuses), ""),
                   lead_id_column=lead_id_column, list_names=_table(data, "list_names"),
                   board_name=_text(data, "board_name"), member_emails=_table(data, "member_emails"),
                   create_labels=_flag(data, "create_labels"),
                   unknown={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
                   row_filter=RowFilter.from_json(data.get("row_filter")),
                   card_filter=CardFilter.from_json(data.get("card_filter")))

    def to_json(self) -> dict[str, Any]:
        """The mapping as ``Workspace.mapping`` stores it (``from_json`` reads it back unchanged)."""
        emails = {"member_emails": dict(self.member_emails)} if self.member_emails else {}
        out = {**self.unknown, **_fields_to_json(self.fields), **emails,
               "status_to_list": dict(self.statuses_as_written), "list_to_status": dict(self.list_to_status),
               "default_status": self.default_status, "list_names": dict(self.list_names),
               "board_name": self.board_name}
        if self.row_filter:  # written only when set: older mappings stay as they were stored
            out["row_filter"] = self.row_filter.to_json()
        if self.card_filter:
            out["card_filter"] = self.card_filter.to_json()
        if self.routing:
            out["routing"] = self.routing.to_json()
        if self.create_labels:
            out["create_labels"] = True
        return out

    @classmethod
    def of(cls, workspace: Workspace) -> Mapping:
        """The workspace's mapping; ``MappingError`` if what is stored is malformed."""
        return cls.from_json(workspace.mapping, workspace.lead_id_column)

    @classmethod
    def of_or_default(cls, workspace: Workspace) -> Mapping:
        """The workspace's mapping for a page: a malformed one shows as the default mapping (the
        worker parks the workspace's events with ``MappingError``'s words, and the mapping editor
        says what is wrong)."""
        try:
            return cls.of(workspace)
        except MappingError:
            return cls(lead_id_column=workspace.lead_id_column)

    # ------------------------------------------------------------------ reading it

    @property
    def synced_columns(self) -> list[str]:
        """Every column the sync keeps a shadow of, in a stable order (the fields' order)."""
        return list(self._synced)

    def direction(self, column: str) -> Direction:
        """Which way ``column``'s changes travel (a column not synced: both, for what it is worth)."""
        return self._directions.get(column, Direction.BOTH)

    def takes_from_sheet(self, column: str) -> bool:
        """Whether a change made in the sheet's ``column`` is passed on to the card."""
        return self.direction(column) is not Direction.TO_SHEET

    def takes_from_trello(self, column: str) -> bool:
        """Whether a change of ``column``'s field made on the card is taken into the sheet."""
        return self.direction(column) is not Direction.TO_TRELLO

    def list_for_status(self, status: Any) -> str | None:
        """The list a status maps to; an empty status goes to the default status's list."""
        key = normalise_status(status) or normalise_status(self.default_status)
        return self.status_to_list.get(key)

    def status_for_list(self, list_id: str) -> str | None:
        found = self.list_to_status.get(list_id)
        return found if found is not None or self.routing is None else self.routing.status_for_list(list_id)

    # ------------------------------------------------------------------ routing (``boards.py``)

    @property
    def route_column(self) -> str | None:
        return self.routing.column if self.routing else None

    def route_board(self, values: dict[str, Any]) -> BoardRoute | None:
        """The further board a row's routing cell sends it to; None: the primary board."""
        return self.routing.board_for_route(values.get(self.routing.column)) if self.routing else None

    def list_for_row(self, values: dict[str, Any]) -> str | None:
        """The list of a row's card: its status's list on the board its routing cell names (a status
        that board does not map: the primary board's list)."""
        status = values.get(self.status_column, "")
        board = self.route_board(values)
        found = board.list_for_status(normalise_status(status) or self.default_status) if board else None
        return found or self.list_for_status(status)

    def route_for_list(self, list_id: str | None, *preferred: Any) -> str | None:
        """The routing cell of a card in ``list_id`` (None without routing)."""
        if self.routing is None:
            return None
        return self.routing.route_for_board(self.routing.board_of_list(list_id), *preferred)

    def status_matches_list(self, status: Any, list_id: str) -> bool:
        return self.list_for_status(status) == list_id

    @property
    def mapped_lists(self) -> tuple[str, ...]:
        """Every list the mapping gives a status or sends a status to, on every board its rows are
        routed to (the card filter's default)."""
        further = [list_id for board in (self.routing.boards if self.routing else ())
                   for list_id in (*board.list_to_status, *board.statuses_as_written.values())]
        return tuple(dict.fromkeys([*self.list_to_status, *self.statuses_as_written.values(), *further]))


# --------------------------------------------------------------------------- the JSON keys


def _fields_from_json(data: dict[str, Any]) -> tuple[FieldMap, ...]:
    """The synced columns of a stored mapping, each with its kind and direction."""
    return column_fields(_text(data, "title_column") or DEFAULT_TITLE_COLUMN,
                         _text(data, "status_column") or DEFAULT_STATUS_COLUMN,
                         _texts(data, "description_columns"), _text(data, "due_column") or None,
                         start=_text(data, "start_column") or None, due_done=_text(data, "due_done_column") or None,
                         card_url=_text(data, "card_url_column") or None, labels=_text(data, "labels_column") or None,
                         directions=_directions(data), custom_fields=_table(data, "custom_fields"),
                         members=_text(data, "members_column") or None,
                         checklist=_text(data, "checklist_column") or None,
                         comment=_text(data, "comment_column") or None)


def _fields_to_json(fields: tuple[FieldMap, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"title_column": "", "status_column": "", "description_columns": [], "due_column": None}
    directions: dict[str, str] = {}
    for f in fields:
        if f.direction is not Direction.BOTH and f.kind not in FIXED_DIRECTIONS:
            directions[f.column] = f.direction.value
        match f.kind:
            case FieldKind.TITLE:
                out["title_column"] = f.column
            case FieldKind.STATUS:
                out["status_column"] = f.column
            case FieldKind.DESCRIPTION:
                out["description_columns"].append(f.column)
            case (FieldKind.DUE | FieldKind.START | FieldKind.DUE_DONE | FieldKind.CARD_URL | FieldKind.LABELS
                  | FieldKind.MEMBERS | FieldKind.CHECKLIST | FieldKind.COMMENT):
                out[SINGLE_KINDS[f.kind]] = f.column
            case FieldKind.CUSTOM_FIELD:  # written only when there are some: older mappings stay as stored
                out.setdefault("custom_fields", {})[f.column] = f.custom_field_id
            case _:
                assert_never(f.kind)
    if directions:  # written only when some column is one-way: older mappings stay as they were stored
        out["directions"] = directions
    return out


def _directions(data: dict[str, Any]) -> dict[str, Direction]:
    table = _table(data, "directions")
    out: dict[str, Direction] = {}
    for column, value in table.items():
        try:
            out[column] = Direction(value)
        except ValueError:
            choices = ", ".join(f"“{d.value}”" for d in Direction)
            raise MappingError(f"the mapping's “directions” gives “{column}” “{value}”; it takes {choices}") from None
    return out


def _what(value: Any) -> str:
    names = {list: "a list", dict: "an object", str: "text", bool: "true or false", int: "a number",
             float: "a number"}
    return names.get(type(value), type(value).__name__)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MappingError(f"the mapping's “{key}” is {_what(value)}, not text")
    return value


def _texts(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise MappingError(f"the mapping's “{key}” is {_what(value)}, not a list of column names")
    for item in value:
        if not isinstance(item, str):
            raise MappingError(f"the mapping's “{key}” holds {_what(item)} where a column name should be")
    return tuple(value)


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MappingError(f"the mapping's “{key}” is {_what(value)}, not true or false")
    return value


def _table(data: dict[str, Any], key: str) -> dict[str, str]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError(f"the mapping's “{key}” is {_what(value)}, not an object")
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise MappingError(f"the mapping's “{key}” gives “{name}” {_what(item)} where text should be")
    return dict(value)


__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_LEAD_ID_COLUMN",
    "DEFAULT_STATUS_COLUMN",
    "DEFAULT_TITLE_COLUMN",
    "Direction",
    "FieldKind",
    "FieldMap",
    "Mapping",
    "MappingError",
    "SINGLE_KINDS",
    "column_fields",
    "normalise_status",
]
