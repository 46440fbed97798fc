"""Several boards per sheet: a routing column sends each row to one of the workspace's boards.

The workspace's own board (``Workspace.trello_board_id``, its lists in the mapping's
``status_to_list``) is the *primary* board: the default route, for a row whose routing cell is
empty or names no board. Each further board has its route values and its own status ⇄ list
tables. That part is read with the mapping (``Workspace.mapping["routing"]``, typed here as
``Routing``) so the engine reads a workspace's whole mapping in one piece; what belongs to the
board's connection (its webhook, the webhook's health) is a row of ``workspace_boards``
(``WorkspaceBoard``), which the intake looks up per delivery. Stored JSON::

    "routing": {"column": "Region", "primary_routes": ["US"],
                "boards": [{"board_id": "...", "board_name": "EU leads", "routes": ["EU", "Europe"],
                            "status_to_list": {"New": "<list id>", ...}, "list_to_status": {...},
                            "list_names": {...}}]}

Route values match like statuses: ignoring case and surrounding spaces. Trello list ids are
unique across boards, so a list tells its board, and a card's list tells both its status and its
route.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


def normalise_route(value: Any) -> str:
    """Route values match ignoring case and surrounding spaces ("  eu " is "EU")."""
    return " ".join(str(value or "").split()).casefold()


class RoutingError(ValueError):
    """A stored routing that cannot be read (``Mapping.from_json`` turns it into a ``MappingError``)."""


@dataclass(frozen=True)
class BoardRoute:
    """One further board of a workspace: the route values that send a row to it, and its lists."""

    board_id: str
    routes: tuple[str, ...] = ()
    statuses_as_written: dict[str, str] = field(default_factory=dict)
    list_to_status: dict[str, str] = field(default_factory=dict)
    list_names: dict[str, str] = field(default_factory=dict)
    board_name: str = ""

    def list_for_status(self, status: Any) -> str | None:
        wanted = normalise_route(status)
        return next((lid for s, lid in self.statuses_as_written.items() if normalise_route(s) == wanted), None)

    def holds_list(self, list_id: str | None) -> bool:
        return bool(list_id) and (list_id in self.list_to_status or list_id in self.statuses_as_written.values()
                                  or list_id in self.list_names)

    def to_json(self) -> dict[str, Any]:
        return {"board_id": self.board_id, "board_name": self.board_name, "routes": list(self.routes),
                "status_to_list": dict(self.statuses_as_written), "list_to_status": dict(self.list_to_status),
                "list_names": dict(self.list_names)}


@dataclass(frozen=True)
class Routing:
    """The routing column, the primary board's own route values, and the further boards."""

    column: str
    primary_routes: tuple[str, ...] = ()
    boards: tuple[BoardRoute, ...] = ()

    # ------------------------------------------------------------------ stored form

    @classmethod
    def from_json(cls, data: Any) -> Routing | None:
        """None for no routing (absent, null, or no column); ``RoutingError`` naming what is wrong."""
        if data is None:
            return None
        if not isinstance(data, dict):
            raise RoutingError("the mapping's “routing” is not an object")
        column = data.get("column") or ""
        if not isinstance(column, str):
            raise RoutingError("the mapping's “routing.column” is not text")
        if not column.strip():
            return None
        boards_raw = data.get("boards")
        if boards_raw is None:
            boards_raw = []
        if not isinstance(boards_raw, list):
            raise RoutingError("the mapping's “routing.boards” is not a list")
        boards = []
        for index, raw in enumerate(boards_raw):
            where = f"routing.boards[{index}]"
            if not isinstance(raw, dict) or not isinstance(raw.get("board_id"), str) or not raw["board_id"]:
                raise RoutingError(f"the mapping's “{where}” has no board id")
            boards.append(BoardRoute(board_id=raw["board_id"], routes=_texts(raw, "routes", where),
                                     statuses_as_written=_table(raw, "status_to_list", where),
                                     list_to_status=_table(raw, "list_to_status", where),
                                     list_names=_table(raw, "list_names", where),
                                     board_name=str(raw.get("board_name") or "")))
        return cls(column=column, primary_routes=_texts(data, "primary_routes", "routing"), boards=tuple(boards))

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "primary_routes": list(self.primary_routes),
                "boards": [b.to_json() for b in self.boards]}

    # ------------------------------------------------------------------ reading it

    def board_for_route(self, value: Any) -> BoardRoute | None:
        """The further board a routing cell sends its row to; None: the primary board."""
        wanted = normalise_route(value)
        if not wanted:
            return None
        return next((b for b in self.boards if any(normalise_route(r) == wanted for r in b.routes)), None)

    def is_known_route(self, value: Any) -> bool:
        """Empty (the default route), one of the primary board's values, or one of a further board's."""
        wanted = normalise_route(value)
        return (not wanted or any(normalise_route(r) == wanted for r in self.primary_routes)
                or self.board_for_route(value) is not None)

    def board_of_list(self, list_id: str | None) -> BoardRoute | None:
        """The further board a list is on; None for the primary board's (or an unknown) list."""
        return next((b for b in self.boards if b.holds_list(list_id)), None)

    def board(self, board_id: str | None) -> BoardRoute | None:
        return next((b for b in self.boards if b.board_id == board_id), None)

    def route_for_board(self, board: BoardRoute | None, *preferred: Any) -> str:
        """The routing cell of a card on ``board`` (None: the primary): the first of ``preferred``
        that already routes there (a row saying "Europe" keeps it on a board of "EU, Europe"),
        else the board's first route value (the primary's, or empty)."""
        for value in preferred:
            text = str(value or "")
            if board is None and self.board_for_route(text) is None:
                return text  # empty, unknown, or the primary's own value: the primary board
            if board is not None and self.board_for_route(text) is board:
                return text
        if board is None:
            return self.primary_routes[0] if self.primary_routes else ""
        return board.routes[0] if board.routes else ""

    def status_for_list(self, list_id: str) -> str | None:
        for board in self.boards:
            if list_id in board.list_to_status:
                return board.list_to_status[list_id]
        return None


def _texts(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RoutingError(f"the mapping's “{where}.{key}” is not a list of text")
    return tuple(v for v in value if v.strip())


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, str]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise RoutingError(f"the mapping's “{where}.{key}” is not an object of text")
    return dict(value)


class WorkspaceBoard(Base):
    """A further board of a workspace (the primary board's webhook stays on ``workspaces``): its
    Trello webhook, the exact callback URL it was registered with (what Trello signs), and what the
    worker's last look at that webhook found."""

    __tablename__ = "workspace_boards"
    __table_args__ = (UniqueConstraint("workspace_id", "board_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    board_id: Mapped[str] = mapped_column(String(32), index=True)
    webhook_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    webhook_callback: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    webhook_active: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    webhook_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    webhook_detail: Mapped[str] = mapped_column(Text, default="", server_default="")
    webhook_reregistered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
