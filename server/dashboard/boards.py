"""Several boards per sheet, in the dashboard (``/app/workspaces/<id>/boards``).

A person picks the routing column (and the values that mean the workspace's own board), adds a
board from the Trello account's boards (as the wizard lists them) with the values that send a
row to it, and maps each of the workspace's statuses to one of that board's lists. Saving stores
the routing in the mapping (``server/models/boards.py``), registers the new board's webhook (or
deletes a removed board's), and queues a full sync so rows already in the sheet go to their
board. Bad answers are shown in words and change nothing. The mapping editor keeps the routing as
it is when it saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..auth.session import login_required
from ..config import current_settings
from ..extensions import db, db_session
from ..models import ProviderAccount, Workspace
from ..models.boards import BoardRoute, Routing, normalise_route
from ..models.enums import HistoryAction, HistorySide
from ..models.mapping import Mapping, normalise_status
from ..models.workspace import ACTIVE
from ..sheets.errors import SheetsError
from ..sync import mapping_form as form_checks
from ..sync.history import record
from ..sync.matching import best_match, reverse_table
from ..sync.queue import RECONCILE, enqueue_command
from ..trello import board_webhooks
from ..trello.errors import TrelloError, trello_error_message
from .blueprint import bp
from .google import sheet_tab
from .helpers import is_draft, user, wake_worker, workspace_or_404, workspace_trello

log = structlog.get_logger(__name__)

LIST_FILTER_WORDS = ("The card filter takes only some of the main board's lists, and rows going to several boards "
                     "would leave every card of the other boards out. Choose “every list” in the mapping's card "
                     "filter first (a row filter on the status keeps rows out on every board).")
CUSTOM_FIELDS_WORDS = ("Custom fields belong to one board: while columns are mapped to custom fields, rows cannot "
                       "be routed to other boards. Unmap the custom field columns in the mapping first.")


@dataclass
class Page:
    """What the page shows besides the saved routing: the sheet's columns, the account's other
    boards, and a board being added (its lists and the suggested status → list table)."""

    columns: list[str]
    boards: list[tuple[str, str]] = field(default_factory=list)  # (id, name) the account can add
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    adding: dict[str, Any] | None = None


def _values(text: str) -> tuple[str, ...]:
    """Route values typed comma-separated ("EU, Europe"), each cleaned, the same value once."""
    out: dict[str, str] = {}
    for part in text.split(","):
        value = form_checks.clean(part)
        if value and normalise_route(value) not in out:
            out[normalise_route(value)] = value[:100]
    return tuple(out.values())


def _columns(ws: Workspace, mapping: Mapping, page_notes: list[str]) -> list[str]:
    account = db.session.get(ProviderAccount, ws.google_account_id) if ws.google_account_id else None
    try:
        header = sheet_tab(current_app, account, ws.spreadsheet_id, ws.sheet_name).header(ws.header_row)
        return list(dict.fromkeys(h for h in header if h and h != ws.lead_id_column))
    except SheetsError:
        page_notes.append("The sheet could not be read; the columns shown are the saved ones.")
        return mapping.synced_columns


def _other_boards(ws: Workspace, mapping: Mapping, client: Any, page: Page) -> None:
    if client is None:
        page.notes.append("The workspace has no Trello account, so no board can be added.")
        return
    taken = {ws.trello_board_id, *(b.board_id for b in (mapping.routing.boards if mapping.routing else ()))}
    try:
        boards = client.boards()
    except TrelloError as exc:
        page.notes.append(f"The Trello account's boards could not be read ({trello_error_message(exc)}).")
        return
    page.boards = sorted(((str(b["id"]), str(b.get("name") or b["id"])[:100]) for b in boards
                          if isinstance(b, dict) and b.get("id") and b["id"] not in taken and not b.get("closed")),
                         key=lambda pair: pair[1].casefold())


def _statuses(mapping: Mapping) -> list[str]:
    """The workspace's statuses (as written), each once: every board maps all of them."""
    seen: dict[str, str] = {}
    for status in mapping.statuses_as_written:
        seen.setdefault(normalise_status(status), status)
    return list(seen.values())


def _render(ws: Workspace, mapping: Mapping, page: Page, *, status: int = 200) -> Response:
    rows = {r.board_id: r for r in board_webhooks.rows_of(db_session(), ws.id)}
    for board in mapping.routing.boards if mapping.routing else ():
        missing = [s for s in _statuses(mapping) if board.list_for_status(s) is None]
        if missing:
            page.notes.append(f"“{board.board_name or board.board_id}” has no list for "
                              + ", ".join(f"“{s}”" for s in missing) + ": its rows with that status go to the "
                              "main board's list until you choose one below.")
    html = render_template("dashboard/boards.html", ws=ws, mapping=mapping, routing=mapping.routing, page=page,
                           statuses=_statuses(mapping), webhook_rows=rows,
                           custom_fields_blocked=bool(mapping.custom_fields))
    return current_app.make_response((html, status))


@bp.route("/workspaces/<workspace_id>/boards", methods=["GET", "POST"])
@login_required
def edit_boards(workspace_id: str) -> Response:
    ws = workspace_or_404(workspace_id)
    if is_draft(ws):
        flash("This workspace is a draft: start it first, then add boards.", "info")
        return redirect(url_for("dashboard.setup", workspace_id=ws.id))
    mapping = Mapping.of_or_default(ws)
    page = Page(columns=[])
    page.columns = _columns(ws, mapping, page.notes)
    client = workspace_trello(ws)
    _other_boards(ws, mapping, client, page)
    if request.method == "GET":
        return _render(ws, mapping, page)
    action = request.form.get("action", "")
    if action == "routing":
        routing, problems = _routing_answer(ws, mapping, page)
    elif action == "choose_board":
        return _choose_board(ws, mapping, page, client)
    elif action == "save_board":
        routing, problems = _board_answer(ws, mapping, page, client)
    elif action == "remove_board":
        routing, problems = _remove_answer(mapping)
    else:
        routing, problems = mapping.routing, ["Choose what to do."]
    if problems:
        page.problems = problems
        return _render(ws, mapping, page, status=400)
    return _save(ws, mapping, routing, client)


def _routing_answer(ws: Workspace, mapping: Mapping, page: Page) -> tuple[Routing | None, list[str]]:
    column = form_checks.clean(request.form.get("routing_column", ""))
    primary = _values(request.form.get("primary_routes", ""))
    if not column:
        if mapping.routing and mapping.routing.boards:
            return mapping.routing, ["Remove the other boards first: without a routing column every row goes to "
                                     f"“{mapping.board_name or ws.trello_board_id}”."]
        return None, []
    if column not in page.columns:
        return mapping.routing, [f"“{column}” is not a column of the sheet's header row."]
    if column in [f.column for f in mapping.fields]:
        return mapping.routing, [f"“{column}” is already synced as a card field; choose a column of its own."]
    taken = {normalise_route(r) for b in (mapping.routing.boards if mapping.routing else ()) for r in b.routes}
    clash = [v for v in primary if normalise_route(v) in taken]
    if clash:
        return mapping.routing, [f"“{clash[0]}” already sends rows to another board."]
    boards = mapping.routing.boards if mapping.routing else ()
    return Routing(column=column, primary_routes=primary, boards=boards), []


def _board_lists(client: Any, board_id: str) -> list[tuple[str, str]]:
    lists = client.lists(board_id)
    return [(str(lst["id"]), str(lst.get("name") or "")[:100]) for lst in lists if not lst.get("closed")][:60]


def _choose_board(ws: Workspace, mapping: Mapping, page: Page, client: Any) -> Response:
    """A board picked to add: its lists, with each status's list suggested by name, to check and save."""
    board_id = request.form.get("board_id", "")
    names = dict(page.boards)
    problems = []
    if mapping.routing is None:
        problems.append("Choose the routing column first.")
    if mapping.custom_fields:
        problems.append(CUSTOM_FIELDS_WORDS)
    if mapping.card_filter.lists is not None:
        problems.append(LIST_FILTER_WORDS)
    if board_id not in names:
        problems.append("Choose one of your Trello boards to add.")
    lists: list[tuple[str, str]] = []
    if not problems:
        try:
            lists = _board_lists(client, board_id)
        except TrelloError as exc:
            problems.append(f"The board's lists could not be read ({trello_error_message(exc)}).")
    if problems:
        page.problems = problems
        return _render(ws, mapping, page, status=400)
    page.adding = {"board_id": board_id, "board_name": names[board_id], "lists": lists,
                   "routes": ", ".join(_values(request.form.get("routes", ""))),
                   "rows": [{"status": s, "list_id": best_match(s, lists) or ""} for s in _statuses(mapping)]}
    return _render(ws, mapping, page)


def _board_answer(ws: Workspace, mapping: Mapping, page: Page, client: Any) -> tuple[Routing | None, list[str]]:
    """A board's route values and status → list table, checked; the routing with it added or replaced."""
    routing = mapping.routing
    board_id = request.form.get("board_id", "")
    existing = routing.board(board_id) if routing else None
    if routing is None:
        return routing, ["Choose the routing column first."]
    if mapping.custom_fields:
        return routing, [CUSTOM_FIELDS_WORDS]
    if mapping.card_filter.lists is not None and existing is None:
        return routing, [LIST_FILTER_WORDS]
    if existing is None and board_id not in dict(page.boards):
        return routing, ["Choose one of your Trello boards to add."]
    if client is None:
        return routing, ["The workspace has no Trello account."]
    try:
        lists = _board_lists(client, board_id)
    except TrelloError as exc:
        return routing, [f"The board's lists could not be read ({trello_error_message(exc)})."]
    problems = []
    routes = _values(request.form.get("routes", ""))
    if not routes:
        problems.append("Give at least one value of the routing column that sends a row to this board.")
    others = {normalise_route(r): b.board_name or b.board_id for b in routing.boards if b.board_id != board_id
              for r in b.routes}
    others.update({normalise_route(r): mapping.board_name or "the main board" for r in routing.primary_routes})
    for value in routes:
        if normalise_route(value) in others:
            problems.append(f"“{value}” already sends rows to “{others[normalise_route(value)]}”.")
    known = dict(lists)
    chosen = {}
    for index, status in enumerate(_statuses(mapping)):
        list_id = request.form.get(f"status_list_{index}", "")
        if list_id not in known:
            problems.append(f"Choose a list of this board for “{status}”.")
        else:
            chosen[status] = list_id
    if problems:
        page.adding = {"board_id": board_id, "board_name": dict(page.boards).get(board_id)
                       or (existing.board_name if existing else board_id), "lists": lists,
                       "routes": request.form.get("routes", ""),
                       "rows": [{"status": s, "list_id": request.form.get(f"status_list_{i}", "")}
                                for i, s in enumerate(_statuses(mapping))]}
        return routing, problems
    # every status of the workspace as written maps to its chosen list (several may share one)
    status_to_list = {s: chosen[next(k for k in chosen if normalise_status(k) == normalise_status(s))]
                      for s in mapping.statuses_as_written}
    saved_reverse = existing.list_to_status if existing else {}
    board = BoardRoute(board_id=board_id, routes=routes, statuses_as_written=status_to_list,
                       list_to_status=reverse_table(lists, dict(status_to_list), saved_reverse),
                       list_names=dict(lists),
                       board_name=dict(page.boards).get(board_id) or (existing.board_name if existing else board_id))
    boards = [board if b.board_id == board_id else b for b in routing.boards]
    if existing is None:
        boards.append(board)
    return replace(routing, boards=tuple(boards)), []


def _remove_answer(mapping: Mapping) -> tuple[Routing | None, list[str]]:
    board_id = request.form.get("board_id", "")
    routing = mapping.routing
    if routing is None or routing.board(board_id) is None:
        return routing, ["That board is not one of this workspace's boards."]
    return replace(routing, boards=tuple(b for b in routing.boards if b.board_id != board_id)), []


def _save(ws: Workspace, mapping: Mapping, routing: Routing | None, client: Any) -> Response:
    me = user()
    new = replace(mapping, routing=routing)
    ws.mapping = new.to_json()
    session = db_session()
    warning = ""
    if client is not None:
        try:
            board_webhooks.connect(session, ws, new, client, current_settings().public_base_url)
        except TrelloError as exc:
            warning = (f"Trello did not register the new board's webhook ({trello_error_message(exc)}); the worker "
                       "tries again at its next webhook check, and a full sync picks up what was missed.")
    else:
        board_webhooks.sync_rows(session, ws, new)
    queued = ws.state == ACTIVE  # a full sync already waiting is joined (``enqueue_command`` gives None then)
    if queued:
        enqueue_command(session, ws.id, RECONCILE, {"requested_by": me.id})
    names = ", ".join(f"“{b.board_name or b.board_id}” ({', '.join(b.routes)})" for b in (routing.boards if routing
                                                                                           else ()))
    record(session, ws.id, side=HistorySide.SYSTEM, action=HistoryAction.MAPPING_CHANGED,
           message=(f"Boards changed by {me.email}: " + (f"rows are routed by “{routing.column}”"
                    + (f" to {names}" if names else "") if routing else "rows are not routed")
                    + ("; a full sync is queued." if queued else ".")))
    wake_worker()
    log.info("boards_saved", workspace_id=ws.id, user_id=me.id, boards=len(routing.boards) if routing else 0)
    flash("The boards are saved." + (" A full sync is queued to move rows to their boards." if queued else ""),
          "success")
    if warning:
        flash(warning, "error")
    return redirect(url_for("dashboard.edit_boards", workspace_id=ws.id))


__all__ = ["edit_boards"]
