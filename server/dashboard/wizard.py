"""The new-workspace wizard (``/app/workspaces/new``): a multi-step form whose answers live in the session.

Steps: spreadsheet → tab (header rows shown) → Trello board → columns → statuses and lists →
policies and name. The last step saves the workspace as a *draft* (state ``draft``: a worker runs
nothing for it but its preview) and sends the user to its preview (``/app/workspaces/<id>/setup``),
where a dry-run reconciliation, computed by a worker (``server/sync/preview.py``), says what the
first sync will do and a button starts it. The chosen tab's numeric id (``sheetId``, its URL's ``gid``)
comes with the tab list's metadata and is saved on the draft. The columns step is
``wizard_columns.py`` (with the custom fields it can make); the answers kept in the session between
steps, ``wizard_state.py``.

Every answer is checked again where it is used (accounts and the draft belong to the signed-in
user, lists belong to the chosen board), so a crafted form cannot reach someone else's data.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import and_, or_, select

from ..auth.session import login_required
from ..extensions import db, db_session
from ..models import GOOGLE, TRELLO, Workspace
from ..models.enums import CardPolicy, Direction, RowPolicy
from ..models.filters import CardFilter, RowFilter
from ..models.mapping import Mapping, column_fields
from ..models.workspace import DRAFT
from ..sheets.errors import SheetsError
from ..sync import filter_form
from ..sync.customfield_make import CUSTOM_FIELDS_OFF
from ..sync.mapping_form import (
    CARD_POLICIES,
    EXTRA_STATUS_ROWS,
    ROW_POLICIES,
    check_policies,
    check_statuses,
    status_pairs,
)
from ..sync.matching import match_key, match_statuses, reverse_table
from ..trello.errors import TrelloAuthError, TrelloError
from . import queries
from .blueprint import bp
from .google import (
    parse_spreadsheet_id,
    reader,
    sheet_tab,
    sheets_error_message,
    spreadsheet_url,
)
from .helpers import (
    is_draft,
    mark_needs_reauth,
    trello_client,
    trello_error_message,
    user,
)
from .picker import picker_context
from .wizard_columns import column_values, columns_context, columns_post
from .wizard_state import (
    SESSION_KEY,
    STEP_NAMES,
    STEPS,
    forget,
    go,
    google_account,
    lead_id_column,
    load_state,
    ready_for,
    save_state,
    sheet_columns,
)

log = structlog.get_logger(__name__)

# --------------------------------------------------------------------------- the view


@bp.route("/workspaces/new", methods=["GET", "POST"])
@login_required
def new_workspace() -> ResponseReturnValue:
    state = load_state()
    if request.method == "GET" and request.args.get("restart"):
        session.pop(SESSION_KEY, None)
        return go("sheet")
    step = (request.form.get("step") if request.method == "POST" else request.args.get("step")) or "sheet"
    if step not in STEP_NAMES:
        step = "sheet"
    furthest = ready_for(state)
    if STEP_NAMES.index(step) > STEP_NAMES.index(furthest):
        if request.method == "POST":
            flash("The wizard lost track of your earlier answers (the session may have expired); "
                  "please start from this step.", "error")
        return go(furthest)
    if request.method == "POST":
        handler = POST_HANDLERS[step]
        return handler(state)
    context = GET_CONTEXT[step](state)
    return render_template("dashboard/wizard.html", step=step, steps=STEPS, state=state,
                           furthest=STEP_NAMES.index(furthest), step_index=STEP_NAMES.index(step), **context)


# --------------------------------------------------------------------------- step 1: spreadsheet


def _sheet_context(state: dict[str, Any]) -> dict[str, Any]:
    accounts = queries.accounts_for_user(db_session(), user(), GOOGLE)
    service_account = bool(current_app.config.get("GOOGLE_SERVICE_ACCOUNT_JSON"))
    return {"google_accounts": accounts, "service_account": service_account,
            "spreadsheet_input": state.get("spreadsheet_input", ""), **picker_context()}


def _sheet_post(state: dict[str, Any]) -> ResponseReturnValue:
    text = request.form.get("spreadsheet", "").strip()
    spreadsheet_id = parse_spreadsheet_id(text)
    accounts = queries.accounts_for_user(db_session(), user(), GOOGLE)
    state["spreadsheet_input"] = text[:300]
    if spreadsheet_id is None:
        save_state(state)
        flash("That is not a Google Sheets address. Paste the URL from your browser's address bar, like "
              "https://docs.google.com/spreadsheets/d/1AbC…/edit, or just the spreadsheet id.", "error")
        return go("sheet")
    account = None
    if accounts:
        chosen = request.form.get("google_account") or accounts[0].id
        account = queries.account_for_user(db_session(), user(), chosen, GOOGLE)
        if account is None:
            flash("Choose one of your connected Google accounts.", "error")
            return go("sheet")
    elif not current_app.config.get("GOOGLE_SERVICE_ACCOUNT_JSON"):
        flash("Connect a Google account first (Connections page): the sync reads and writes the sheet as you.",
              "error")
        return go("sheet")
    try:
        spreadsheet = reader(current_app, account, spreadsheet_id)
        tabs = spreadsheet.tabs()
    except SheetsError as exc:
        if account is not None and getattr(exc, "status", None) == 401:
            mark_needs_reauth(account, exc)
            db.session.commit()
        flash(sheets_error_message(exc), "error")
        save_state(state)
        return go("sheet")
    if not tabs:
        flash("That spreadsheet has no tabs with cells to sync.", "error")
        return go("sheet")
    if spreadsheet_id != state.get("spreadsheet_id"):
        state = {k: v for k, v in state.items() if k in ("draft_id", "spreadsheet_input")}
    state.update({
        "spreadsheet_id": spreadsheet_id,
        "spreadsheet_title": spreadsheet.title[:200],
        "google_account_id": account.id if account else None,
        "tabs": [[t.title, t.rows, t.columns, t.sheet_id] for t in tabs][:50],
    })
    save_state(state)
    return go("tab")


# --------------------------------------------------------------------------- step 2: tab


def _tab_context(state: dict[str, Any]) -> dict[str, Any]:
    from .google import Tab

    tabs = [Tab(title=t[0], sheet_id=_tab_gid(t), rows=int(t[1]), columns=int(t[2])) for t in state.get("tabs", [])]
    header_row = int(state.get("header_row") or 1)
    error = None
    try:
        reader(current_app, google_account(state), state["spreadsheet_id"]).headers(tabs, header_row)
    except SheetsError as exc:
        error = sheets_error_message(exc)
    return {"tabs": tabs, "header_row": header_row, "tab_error": error,
            "spreadsheet_link": spreadsheet_url(state["spreadsheet_id"])}


def _tab_gid(tab: list[Any]) -> int | None:
    """A remembered tab's numeric id (``[title, rows, columns, sheet id]``; older sessions lack it)."""
    return tab[3] if len(tab) > 3 and isinstance(tab[3], int) else None


def _tab_post(state: dict[str, Any]) -> ResponseReturnValue:
    titles = {t[0]: t for t in state.get("tabs", [])}
    title = request.form.get("tab", "")
    if title not in titles:
        flash("Choose one of the spreadsheet's tabs.", "error")
        return go("tab")
    try:
        header_row = int(request.form.get("header_row") or 1)
    except ValueError:
        header_row = 0
    if not 1 <= header_row <= min(int(titles[title][1]), 100):
        flash("The header row must be a row number of the tab (usually 1).", "error")
        return go("tab")
    try:
        header = sheet_tab(current_app, google_account(state), state["spreadsheet_id"], title).header(header_row)
    except SheetsError as exc:
        flash(sheets_error_message(exc), "error")
        return go("tab")
    named = [h for h in header if h]
    if len(named) < 2:
        flash(f"Row {header_row} of “{title}” has no column names. Put a header row (Name, Email, Status, …) at "
              "the top of the tab, or give the row number that holds it.", "error")
        return go("tab")
    if (title, header_row) != (state.get("sheet_name"), state.get("header_row")) or header != state.get("header"):
        forget(state, "title_column", "status_column", "description_columns", "due_column", "start_column",
                "due_done_column", "card_url_column", "labels_column", "members_column", "checklist_column",
                "comment_column", "member_emails", "create_labels", "custom_fields", "directions", "status_to_list",
                "list_to_status", "default_status")
    state.update({"sheet_name": title, "sheet_gid": _tab_gid(titles[title]), "header_row": header_row,
                  "header": header[:60]})
    save_state(state)
    return go("board")


# --------------------------------------------------------------------------- step 3: board


def _board_context(state: dict[str, Any]) -> dict[str, Any]:
    accounts = queries.accounts_for_user(db_session(), user(), TRELLO)
    groups = []
    for account in accounts:
        group: dict[str, Any] = {"account": account, "boards": [], "error": None}
        if not account.access_token:
            group["error"] = "This account has no token; reconnect Trello."
        else:
            try:
                group["boards"] = sorted(trello_client(account).boards(), key=lambda b: (b.get("name") or "").lower())
            except TrelloError as exc:
                if isinstance(exc, TrelloAuthError):
                    mark_needs_reauth(account, exc)
                    db.session.commit()
                group["error"] = trello_error_message(exc)
        groups.append(group)
    selected = f"{state.get('trello_account_id')}:{state.get('board_id')}" if state.get("board_id") else ""
    return {"groups": groups, "selected": selected}


def _board_post(state: dict[str, Any]) -> ResponseReturnValue:
    account_id, _, board_id = request.form.get("board", "").partition(":")
    account = queries.account_for_user(db_session(), user(), account_id, TRELLO)
    if account is None or not board_id or len(board_id) > 32:
        flash("Choose a board.", "error")
        return go("board")
    client = trello_client(account)
    try:
        board = client.board(board_id)
        lists = client.lists(board_id)
    except TrelloError as exc:
        if isinstance(exc, TrelloAuthError):
            mark_needs_reauth(account, exc)
            db.session.commit()
        flash(trello_error_message(exc), "error")
        return go("board")
    if board.get("closed"):
        flash(f"The board “{board.get('name')}” is closed; reopen it in Trello or choose another.", "error")
        return go("board")
    if not lists:
        flash(f"The board “{board.get('name')}” has no lists. Add a list in Trello for each status (New, "
              "Contacted, Won…), then choose the board again.", "error")
        return go("board")
    if board_id != state.get("board_id"):
        forget(state, "status_to_list", "list_to_status", "default_status", "custom_fields")
    state.update({"trello_account_id": account.id, "board_id": board_id, "board_name": str(board.get("name"))[:200],
                  "lists": [[lst["id"], str(lst.get("name") or "")[:100]] for lst in lists][:40],
                  **_board_custom_fields(client, board_id)})
    save_state(state)
    return go("columns")


def _board_custom_fields(client: Any, board_id: str) -> dict[str, Any]:
    """The board's custom fields to offer on the columns step, or why there are none, in words."""
    try:
        if not client.custom_fields_available(board_id):
            return {"custom_field_defs": [], "custom_fields_note": CUSTOM_FIELDS_OFF}
        defined = client.board_custom_fields(board_id)
    except TrelloError as exc:
        return {"custom_field_defs": [],
                "custom_fields_note": f"The board's custom fields could not be read ({trello_error_message(exc)})."}
    defs = [[str(f["id"]), str(f.get("name") or "")[:100], str(f.get("type") or "")]
            for f in defined if isinstance(f, dict) and f.get("id")][:50]
    note = "" if defs else "The board has Custom Fields but none defined yet: add them in Trello to map them here."
    return {"custom_field_defs": defs, "custom_fields_note": note}


# --------------------------------------------------------------------------- step 5: statuses


def _status_values(state: dict[str, Any]) -> tuple[list[str], str | None]:
    """Distinct statuses in the sheet's status column (one read), and an error message if it failed."""
    return column_values(state, state["status_column"])


def _statuses_context(state: dict[str, Any]) -> dict[str, Any]:
    found, error = _status_values(state)
    lists = [(list_id, name) for list_id, name in state["lists"]]
    saved = dict(state.get("status_to_list") or {})
    matched = match_statuses(found, lists, saved)
    rows: list[dict[str, Any]] = [{"status": status, "list_id": list_id or "", "new": False}
                                  for status, list_id in matched.status_to_list.items()]
    known = {match_key(r["status"]) for r in rows}
    extras: list[dict[str, str]] = [{"status": s, "list_id": list_id} for s, list_id in saved.items()
                                    if match_key(s) not in known]
    while len(extras) < EXTRA_STATUS_ROWS:
        extras.append({"status": "", "list_id": ""})
    saved_reverse = dict(state.get("list_to_status") or {})
    forward: dict[str, str | None] = {**{r["status"]: r["list_id"] or None for r in rows},
                                      **{e["status"]: e["list_id"] or None for e in extras if e["status"]}}
    reverse = reverse_table(lists, forward, saved_reverse)
    default = state.get("default_status") or next((r["status"] for r in rows if r["list_id"]), "")
    return {"rows": rows, "extra_rows": extras, "reverse": reverse, "lists": lists,
            "reverse_auto": [lid for lid, _ in lists if saved_reverse.get(lid) != reverse[lid]],
            "new_lists": [], "unmatched": matched.unmatched, "default_status": default, "status_error": error,
            "all_statuses": list(dict.fromkeys([r["status"] for r in rows] + [lst[1] for lst in lists]))}


def _statuses_post(state: dict[str, Any]) -> ResponseReturnValue:
    lists = [(list_id, name) for list_id, name in state["lists"]]
    reverse = {list_id: request.form.get(f"reverse_{list_id}", "") for list_id, _ in lists}
    answer = check_statuses(status_pairs(request.form.get), reverse, request.form.get("default_status", ""), lists)
    if answer.problems:
        for problem in answer.problems[:6]:
            flash(problem, "error")
        state.update({"status_to_list": answer.status_to_list or state.get("status_to_list") or {},
                      "list_to_status": answer.list_to_status})
        save_state(state)
        return go("statuses")
    state.update({"status_to_list": answer.status_to_list, "list_to_status": answer.list_to_status,
                  "default_status": answer.default_status})
    save_state(state)
    return go("policies")


# --------------------------------------------------------------------------- step 6: policies


def workspaces_using(spreadsheet_id: str, sheet_name: str, sheet_gid: int | None, board_id: str,
                     exclude_id: str | None) -> list[tuple[Workspace, bool, bool]]:
    """Every workspace of the deployment (anyone's: the check is deployment-wide; callers name only
    those the user may see) syncing this tab or this board: ``(workspace, same tab, same board)``."""
    same_tab = and_(Workspace.spreadsheet_id == spreadsheet_id,
                    or_(Workspace.sheet_name == sheet_name,
                        and_(Workspace.sheet_gid.is_not(None), Workspace.sheet_gid == sheet_gid)))
    statement = select(Workspace).where(or_(same_tab, Workspace.trello_board_id == board_id)).order_by(Workspace.id)
    if exclude_id:
        statement = statement.where(Workspace.id != exclude_id)
    return [(ws, ws.spreadsheet_id == spreadsheet_id and (ws.sheet_name == sheet_name or (
             sheet_gid is not None and ws.sheet_gid == sheet_gid)), ws.trello_board_id == board_id)
            for ws in db.session.scalars(statement.limit(20))]


def _shared_use(state: dict[str, Any]) -> list[str]:
    """Why the chosen tab or board may already be synced: one sentence per other workspace of the
    deployment using it, naming that workspace only when the signed-in user may see it."""
    me = user()
    found = workspaces_using(state["spreadsheet_id"], state["sheet_name"], state.get("sheet_gid"), state["board_id"],
                             exclude_id=state.get("draft_id"))
    out = []
    for other, same_tab, same_board in found:
        what = " and ".join(w for w, used in (("this sheet tab", same_tab), ("this Trello board", same_board)) if used)
        if queries.workspace_for_user(db_session(), me, other.id) is not None:
            out.append(f"The workspace “{other.name}” already syncs {what}.")
        else:
            out.append(f"Another workspace on this server (one you cannot see) already syncs {what}.")
    return out


def _policies_context(state: dict[str, Any]) -> dict[str, Any]:
    default_name = f"{state.get('spreadsheet_title') or 'Leads'} · {state.get('sheet_name')}"
    return {"name": state.get("name") or default_name[:200], "row_policies": ROW_POLICIES,
            "card_policies": CARD_POLICIES, "row_removed_policy": state.get("row_removed_policy", RowPolicy.ARCHIVE),
            "card_removed_policy": state.get("card_removed_policy", CardPolicy.SET_STATUS),
            "card_removed_status": state.get("card_removed_status", "Archived"), "shared_use": _shared_use(state),
            # which rows and cards sync (the mapping editor's partial)
            "cols": sheet_columns(state), "lists": state.get("lists") or [], "filter_ops": filter_form.OP_CHOICES,
            "f": state.get("filters") or filter_form.form_answers(RowFilter(), CardFilter())}


def _policies_post(state: dict[str, Any]) -> ResponseReturnValue:
    name = " ".join(request.form.get("name", "").split())[:200]
    answer = check_policies(request.form.get("row_removed_policy", ""), request.form.get("card_removed_policy", ""),
                            request.form.get("card_removed_status", ""))
    row_filter, row_problems = filter_form.row_filter_from_form(request.form.get, sheet_columns(state))
    card_filter, card_problems = filter_form.card_filter_from_form(request.form.get, request.form.getlist,
                                                                   state.get("lists") or [])
    state.update({"row_filter": row_filter.to_json(), "card_filter": card_filter.to_json() if card_filter else None,
                  "filters": filter_form.posted_answers(request.form.get, request.form.getlist)})
    problems = ([] if name else ["Give the workspace a name."]) + answer.problems + row_problems + card_problems
    shared = _shared_use(state)
    if shared and request.form.get("confirm_shared") != "yes":
        problems.append(f"{shared[0]} Two workspaces syncing the same tab or board write over each other; "
                        "choose another, or tick the box to confirm you want this.")
    state.update({"name": name, "row_removed_policy": answer.row_removed_policy,
                  "card_removed_policy": answer.card_removed_policy, "card_removed_status": answer.card_removed_status})
    save_state(state)
    if problems:
        for problem in problems:
            flash(problem, "error")
        return go("policies")
    workspace = _save_draft(state)
    if workspace is None:
        return go("sheet")
    state["draft_id"] = workspace.id
    save_state(state)
    return redirect(url_for("dashboard.setup", workspace_id=workspace.id))


def _save_draft(state: dict[str, Any]) -> Workspace | None:
    """Create (or update) the draft workspace from the wizard's answers."""
    me = user()
    google = google_account(state)
    if state.get("google_account_id") is not None and google is None:
        flash("The Google account chosen in the first step is no longer connected.", "error")
        return None
    trello = queries.account_for_user(db_session(), me, state.get("trello_account_id"), TRELLO)
    if trello is None:
        flash("The Trello account chosen for the board is no longer connected.", "error")
        return None
    workspace = None
    if state.get("draft_id"):
        workspace = queries.workspace_for_user(db_session(), me, state["draft_id"])
        if workspace is not None and (not is_draft(workspace) or not queries.is_owner(me, workspace)):
            workspace = None
    if workspace is None:
        workspace = Workspace(owner_id=me.id)
        db.session.add(workspace)
    workspace.name = state["name"]
    workspace.google_account_id = google.id if google else None
    workspace.trello_account_id = trello.id
    workspace.spreadsheet_id = state["spreadsheet_id"]
    workspace.sheet_name = state["sheet_name"]
    workspace.sheet_gid = state.get("sheet_gid")
    workspace.header_row = int(state.get("header_row") or 1)
    workspace.lead_id_column = lead_id_column(state.get("header") or [])
    workspace.trello_board_id = state["board_id"]
    workspace.mapping = Mapping(
        fields=column_fields(state["title_column"], state["status_column"], state.get("description_columns") or [],
                             state.get("due_column") or None, start=state.get("start_column") or None,
                             due_done=state.get("due_done_column") or None,
                             card_url=state.get("card_url_column") or None, labels=state.get("labels_column") or None,
                             custom_fields=dict(state.get("custom_fields") or {}),
                             members=state.get("members_column") or None,
                             checklist=state.get("checklist_column") or None,
                             comment=state.get("comment_column") or None,
                             directions={c: Direction(d) for c, d in (state.get("directions") or {}).items()}),
        member_emails=dict(state.get("member_emails") or {}),
        create_labels=bool(state.get("create_labels")),
        statuses_as_written=dict(state["status_to_list"]),
        list_to_status=dict(state.get("list_to_status") or {}),
        default_status=state.get("default_status") or "",
        list_names={list_id: name for list_id, name in state["lists"]},
        board_name=state.get("board_name", ""),
        row_filter=RowFilter.from_json(state.get("row_filter")),
        card_filter=CardFilter.from_json(state.get("card_filter")),
    ).to_json()
    workspace.row_removed_policy = state["row_removed_policy"]
    workspace.card_removed_policy = state["card_removed_policy"]
    workspace.card_removed_status = state["card_removed_status"]
    workspace.state = DRAFT
    db.session.commit()
    log.info("workspace_draft_saved", workspace_id=workspace.id, user_id=me.id)
    return workspace


POST_HANDLERS = {"sheet": _sheet_post, "tab": _tab_post, "board": _board_post, "columns": columns_post,
                 "statuses": _statuses_post, "policies": _policies_post}
GET_CONTEXT = {"sheet": _sheet_context, "tab": _tab_context, "board": _board_context, "columns": columns_context,
               "statuses": _statuses_context, "policies": _policies_context}
