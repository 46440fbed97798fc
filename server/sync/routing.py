"""Several boards per sheet, in the engine: which board a lead's card is on, and moves between boards.

The routing column is a synced column like the status: both are read off the card's list (a
list id tells its board, ``Mapping.route_for_list``) and both are written as the card's
``idList`` (``Mapping.list_for_row``: the status's list on the board the routing cell names).
So a routing cell edited in the sheet is one ``PUT /1/cards/{id}`` with ``idBoard`` and
``idList`` (``with_board``), merged with the lead's other changes like any field, and a card
moved between two of the workspace's boards in Trello (``moveCardFromBoard`` on one board,
``moveCardToBoard`` on the other) is a Trello change of the routing and status cells, not a card
leaving the board (``moved_between_boards``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..models import Workspace
from ..models.card_extra import CardExtra
from ..models.enums import HistoryAction, Outcome
from ..models.sync import IGNORED, LINKED
from . import cards
from .history import record
from .mapping import Mapping, cell_text
from .merge import Change, Landing, Side
from .observe import CLOCK_SKEW_MS, ECHO_WINDOW_MS, TrelloObservation, action_time_ms

if TYPE_CHECKING:
    from ..models import Event, Link
    from ..trello.client import TrelloClient
    from .leadwork import LeadWork

MOVES = frozenset({"moveCardFromBoard", "moveCardToBoard"})


def board_ids(workspace: Workspace, mapping: Mapping) -> list[str]:
    """Every board of the workspace, the primary first."""
    routed = [b.board_id for b in mapping.routing.boards] if mapping.routing else []
    return list(dict.fromkeys([workspace.trello_board_id, *routed]))


def board_of_list(workspace: Workspace, mapping: Mapping, list_id: str | None) -> str:
    """The board a list of the mapping is on (the primary board for its own lists and unknown ones)."""
    board = mapping.routing.board_of_list(list_id) if mapping.routing else None
    return board.board_id if board is not None else workspace.trello_board_id


def board_of_row(workspace: Workspace, mapping: Mapping, values: dict[str, Any]) -> str:
    """The board a row's routing cell sends its card to."""
    board = mapping.route_board(values)
    return board.board_id if board is not None else workspace.trello_board_id


def with_board(workspace: Workspace, mapping: Mapping, body: dict[str, Any]) -> dict[str, Any]:
    """A card PUT that sets ``idList`` also names the list's board: Trello moves a card to another
    board only with ``idBoard`` (and an ``idBoard`` equal to the card's own changes nothing)."""
    if mapping.routing is not None and body.get("idList"):
        body["idBoard"] = board_of_list(workspace, mapping, body["idList"])
    return body


def status_matches(mapping: Mapping, status: Any, values: dict[str, Any], list_id: str) -> bool:
    """Whether a card in ``list_id`` shows ``status`` for a row routed by ``values``' routing cell."""
    if mapping.routing is None:
        return mapping.status_matches_list(status, list_id)
    return mapping.list_for_row({**values, mapping.status_column: status}) == list_id


def same_status(mapping: Mapping, shadow: dict[str, Any] | None, a: str, b: str) -> bool:
    """Two statuses put a card in the same list of the board the lead's routing cell names (two
    statuses may share a list on one board and not on another)."""
    route = {mapping.route_column: (shadow or {}).get(mapping.route_column)} if mapping.route_column else {}
    return mapping.list_for_row({**route, mapping.status_column: a}) == \
        mapping.list_for_row({**route, mapping.status_column: b})


def same_board(mapping: Mapping, a: str, b: str) -> bool:
    """Two routing values put a card on the same board (what Trello can tell apart)."""
    return mapping.route_board({mapping.route_column or "": a}) is mapping.route_board({mapping.route_column or "": b})


def find_card_by_marker(trello: TrelloClient, workspace: Workspace, mapping: Mapping,
                        lead_id: str) -> dict[str, Any] | None:
    """``cards.find_card_by_marker`` on every board of the workspace."""
    for board_id in board_ids(workspace, mapping):
        card = cards.find_card_by_marker(trello, board_id, lead_id)
        if card is not None:
            return card
    return None


def note_unknown_route(work: LeadWork, event: Event, lead_id: str, values: dict[str, str],
                       changed: list[str] | None) -> None:
    """A routing value that names no board is said in the lead's history: its card goes to (or
    stays on) the primary board."""
    routing, column = work.mapping.routing, work.mapping.route_column
    if routing is None or column is None or column not in values or (changed is not None and column not in changed):
        return
    value = values[column]
    if routing.is_known_route(value):
        return
    link = work.link_by_lead(lead_id) if lead_id else None
    if link is not None and cell_text((link.shadow or {}).get(column)) == cell_text(value):
        return  # said when it was typed: a whole row sent again does not say it again
    record(work.session, work.workspace.id, side=Side.SHEETS, action=HistoryAction.UNKNOWN_ROUTE, lead_id=lead_id,
           event_id=event.id, outcome=Outcome.SKIPPED, changes={column: [value, None]},
           message=f"{column} {value!r} names none of the workspace's boards: the card is on the main board "
                   f"(“{work.mapping.board_name or work.workspace.trello_board_id}”)")


def _move_is_ours(work: LeadWork, link: Link, list_id: str, at: float) -> bool:
    """Where provenance cannot tell (no ``TRELLO_APP_ID``): an unused write of ours in the link's
    ledger that moved the card to this list (``idBoard`` and ``idList``) shortly before; the entry
    is then used up. A move's actions carry no ``data.old`` for ``observe.ledger_match`` to compare."""
    if work.ctx.settings.trello_app_id and work.ctx.trello_member:
        return False  # provenance decided already
    extra = CardExtra.of(link)
    entries = list(extra.ledger)
    for index, entry in enumerate(entries):
        body = entry.get("body") or {}
        in_window = entry.get("at", 0) - CLOCK_SKEW_MS <= at <= entry.get("end", 0) + ECHO_WINDOW_MS
        if in_window and not entry.get("echoed") and "idBoard" in body and body.get("idList") == list_id:
            entries[index] = {**entry, "echoed": True}
            link.card_extra = replace(extra, ledger=tuple(entries)).to_json()
            return True
    return False


def route_follows_list(mapping: Mapping, action: dict[str, Any], link: Link, observed: TrelloObservation, *,
                       ours: bool, event_id: int | None) -> None:
    """An ``updateCard`` that put the card in a list of another board than its routing cell names
    (its move between boards was not delivered, or came late): the routing cell follows the list."""
    data = action.get("data") or {}
    if mapping.route_column is None or ("idList" not in (data.get("old") or {}) and not data.get("listAfter")):
        return
    list_id = (data.get("listAfter") or {}).get("id") or (data.get("card") or {}).get("idList")
    current = cell_text((link.shadow or {}).get(mapping.route_column))
    route = mapping.route_for_list(list_id, current)
    if route is None or route == current:
        return
    at = action_time_ms(action)
    if ours:
        observed.landings.append(Landing(mapping.route_column, route, at, Side.TRELLO))
    else:
        observed.changes.append(Change(mapping.route_column, route, at, Side.TRELLO, event_id))


def moved_between_boards(work: LeadWork, event: Event, action: dict[str, Any], link: Link | None, *,
                         ours: bool, at: float) -> bool:
    """A card moved from one of the workspace's boards to another: the routing and status cells
    follow it (True: handled); so does a linked card that left for a board outside the workspace and
    comes back onto any of its boards. Anything else (no routing, a move off the workspace's boards,
    a card without a link) is left to the usual handling: a card leaving, or appearing."""
    mapping = work.mapping
    if mapping.routing is None or mapping.route_column is None or link is None:
        return False
    data = action.get("data") or {}
    boards = board_ids(work.workspace, mapping)
    if event.kind == "moveCardFromBoard":
        if (data.get("boardTarget") or {}).get("id") not in boards:
            return False  # moved off the workspace's boards: the removal policy
        work.done(event, "moved to another of the workspace's boards (its moveCardToBoard updates the row)", IGNORED)
        return True
    if (data.get("board") or {}).get("id") not in boards:
        return False  # not onto one of the workspace's boards
    list_id = (data.get("list") or {}).get("id")
    if not isinstance(list_id, str):
        work.done(event, "the move names no list", IGNORED)
        return True
    if link.status != LINKED:
        if not cards.removed_from_board(link) or ours:
            work.done(event, f"the link is {link.status}", IGNORED)
            return True
        work.card_reopened(link, list_id, at, event)  # it left for a board outside, and is back on one of ours
    shadow = link.shadow or {}
    status = cards.status_for_list(mapping, list_id, *work.sheet_statuses, cell_text(shadow.get(mapping.status_column)))
    if status is None:
        from .outcomes import SyncError

        name = (data.get("list") or {}).get("name") or list_id
        raise SyncError(f"Trello list {name!r} has no status in this workspace's mapping; the row was not changed")
    route = mapping.route_for_list(list_id, cell_text(shadow.get(mapping.route_column))) or ""
    found = [(mapping.route_column, route), (mapping.status_column, status)]
    if ours or _move_is_ours(work, link, list_id, at):
        work.add_changes(event, [], [Landing(name, value, at, Side.TRELLO) for name, value in found])
    else:
        work.add_changes(event, [Change(name, value, at, Side.TRELLO, event.id) for name, value in found])
    return True
