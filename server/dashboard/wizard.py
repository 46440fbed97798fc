"""The new-workspace wizard (``/app/workspaces/new``): a multi-step form whose answers live in the session.

Steps: spreadsheet → tab (header rows shown) → Trello board → columns → statuses and lists →
policies and name. The last step saves the workspace as a *draft* (state ``draft``: a worker runs
nothing for it but its preview) and sends the user to its preview (``/app/workspaces/<id>/setup``),
where a dry-run reconciliation, computed by a worker (``server/sync/preview.py``), says what the
first sync will do and a button starts it. The chosen tab's numeric id (``sheetId``, its URL's ``gid``)
comes with the tab list's metadata and is saved on the draft. On the columns step, a board with
Custom Fields can get a field made for each column that asks for one (on Continue, through
``server/sync/customfield_make.py``); a board without them gets its columns as description lines.

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
from werkzeug.wrappers import Response

from ..auth.session import login_required
from ..extensions import db, db_session
from ..models import GOOGLE, TRELLO, ProviderAccount, Workspace
from ..models.enums import CardPolicy, Direction, RowPolicy
from ..models.filters import CardFilter, RowFilter
from ..models.mapping import Mapping, column_fields
from ..models.workspace import DRAFT
from ..sheets.errors import SheetsError
from ..sync import customfield_make as making
from ..sync import filter_form
from ..sync import mapping_form as form_checks
from ..sync.customfield_make import CUSTOM_FIELDS_OFF
from ..sync.mapping import normalise_status
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

log = structlog.get_logger(__name__)

STEPS = [
    ("sheet", "Spreadsheet"),
    ("tab", "Tab"),
    ("board", "Trello board"),
    ("columns", "Columns"),
    ("statuses", "Statuses"),
    ("policies", "Policies"),
]
STEP_NAMES = [name for name, _ in STEPS]
SESSION_KEY = "wizard"
LEAD_ID_COLUMN = "Lead ID"


def _state() -> dict[str, Any]:
    data = session.get(SESSION_KEY)
    return dict(data) if isinstance(data, dict) else {}


def _save(state: dict[str, Any]) -> None:
    session[SESSION_KEY] = state
    session.modified = True


def _forget(state: dict[str, Any], *keys: str) -> None:
    for key in keys:
        state.pop(key, None)


def _ready_for(state: dict[str, Any]) -> str:
    """The furthest step the answers so far allow."""
    if not state.get("spreadsheet_id") or not state.get("tabs"):
        return "sheet"
    if not state.get("header"):
        return "tab"
    if not state.get("board_id") or not state.get("lists"):
        return "board"
    if not state.get("title_column") or not state.get("status_column"):
        return "columns"
    if not state.get("status_to_list"):
        return "statuses"
    return "policies"


def _go(step: str) -> Response:
    return redirect(url_for("dashboard.new_workspace", step=step))


def _lead_id_column(header: list[str]) -> str:
    """The sheet's own spelling of the Lead ID column, or the default name."""
    return next((h for h in header if normalise_status(h) == normalise_status(LEAD_ID_COLUMN)), LEAD_ID_COLUMN)


def _columns(state: dict[str, Any]) -> list[str]:
    """The header's named columns, without the Lead ID column (the sync owns it)."""
    lead_id = _lead_id_column(state.get("header") or [])
    seen: list[str] = []
    for column in state.get("header") or []:
        if column and column != lead_id and column not in seen:
            seen.append(column)
    return seen


def _google_account(state: dict[str, Any]) -> ProviderAccount | None:
    account_id = state.get("google_account_id")
    if account_id is None:
        return None
    return queries.account_for_user(db_session(), user(), account_id, GOOGLE)


# --------------------------------------------------------------------------- the view


@bp.route("/workspaces/new", methods=["GET", "POST"])
@login_required
def new_workspace() -> ResponseReturnValue:
    state = _state()
    if request.method == "GET" and request.args.get("restart"):
        session.pop(SESSION_KEY, None)
        return _go("sheet")
    step = (request.form.get("step") if request.method == "POST" else request.args.get("step")) or "sheet"
    if step not in STEP_NAMES:
        step = "sheet"
    furthest = _ready_for(state)
    if STEP_NAMES.index(step) > STEP_NAMES.index(furthest):
        if request.method == "POST":
            flash("The wizard lost track of your earlier answers (the session may have expired); "
                  "please start from this step.", "error")
        return _go(furthest)
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
        _save(state)
        flash("That is not a Google Sheets address. Paste the URL from your browser's address bar, like "
              "https://docs.google.com/spreadsheets/d/1AbC…/edit, or just the spreadsheet id.", "error")
        return _go("sheet")
    account = None
    if accounts:
        chosen = request.form.get("google_account") or accounts[0].id
        account = queries.account_for_user(db_session(), user(), chosen, GOOGLE)
        if account is None:
            flash("Choose one of your connected Google accounts.", "error")
            return _go("sheet")
    elif not current_app.config.get("GOOGLE_SERVICE_ACCOUNT_JSON"):
        flash("Connect a Google account first (Connections page): the sync reads and writes the sheet as you.",
              "error")
        return _go("sheet")
    try:
        spreadsheet = reader(current_app, account, spreadsheet_id)
        tabs = spreadsheet.tabs()
    except SheetsError as exc:
        if account is not None and getattr(exc, "status", None) == 401:
            mark_needs_reauth(account, exc)
            db.session.commit()
        flash(sheets_error_message(exc), "error")
        _save(state)
        return _go("sheet")
    if not tabs:
        flash("That spreadsheet has no tabs with cells to sync.", "error")
        return _go("sheet")
    if spreadsheet_id != state.get("spreadsheet_id"):
        state = {k: v for k, v in state.items() if k in ("draft_id", "spreadsheet_input")}
    state.update({
        "spreadsheet_id": spreadsheet_id,
        "spreadsheet_title": spreadsheet.title[:200],
        "google_account_id": account.id if account else None,
        "tabs": [[t.title, t.rows, t.columns, t.sheet_id] for t in tabs][:50],
    })
    _save(state)
    return _go("tab")


# --------------------------------------------------------------------------- step 2: tab


def _tab_context(state: dict[str, Any]) -> dict[str, Any]:
    from .google import Tab

    tabs = [Tab(title=t[0], sheet_id=_tab_gid(t), rows=int(t[1]), columns=int(t[2])) for t in state.get("tabs", [])]
    header_row = int(state.get("header_row") or 1)
    error = None
    try:
        reader(current_app, _google_account(state), state["spreadsheet_id"]).headers(tabs, header_row)
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
        return _go("tab")
    try:
        header_row = int(request.form.get("header_row") or 1)
    except ValueError:
        header_row = 0
    if not 1 <= header_row <= min(int(titles[title][1]), 100):
        flash("The header row must be a row number of the tab (usually 1).", "error")
        return _go("tab")
    try:
        header = sheet_tab(current_app, _google_account(state), state["spreadsheet_id"], title).header(header_row)
    except SheetsError as exc:
        flash(sheets_error_message(exc), "error")
        return _go("tab")
    named = [h for h in header if h]
    if len(named) < 2:
        flash(f"Row {header_row} of “{title}” has no column names. Put a header row (Name, Email, Status, …) at "
              "the top of the tab, or give the row number that holds it.", "error")
        return _go("tab")
    if (title, header_row) != (state.get("sheet_name"), state.get("header_row")) or header != state.get("header"):
        _forget(state, "title_column", "status_column", "description_columns", "due_column", "start_column",
                "due_done_column", "card_url_column", "labels_column", "members_column", "checklist_column",
                "comment_column", "member_emails", "create_labels", "custom_fields", "directions", "status_to_list",
                "list_to_status", "default_status")
    state.update({"sheet_name": title, "sheet_gid": _tab_gid(titles[title]), "header_row": header_row,
                  "header": header[:60]})
    _save(state)
    return _go("board")


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
        return _go("board")
    client = trello_client(account)
    try:
        board = client.board(board_id)
        lists = client.lists(board_id)
    except TrelloError as exc:
        if isinstance(exc, TrelloAuthError):
            mark_needs_reauth(account, exc)
            db.session.commit()
        flash(trello_error_message(exc), "error")
        return _go("board")
    if board.get("closed"):
        flash(f"The board “{board.get('name')}” is closed; reopen it in Trello or choose another.", "error")
        return _go("board")
    if not lists:
        flash(f"The board “{board.get('name')}” has no lists. Add a list in Trello for each status (New, "
              "Contacted, Won…), then choose the board again.", "error")
        return _go("board")
    if board_id != state.get("board_id"):
        _forget(state, "status_to_list", "list_to_status", "default_status", "custom_fields")
    state.update({"trello_account_id": account.id, "board_id": board_id, "board_name": str(board.get("name"))[:200],
                  "lists": [[lst["id"], str(lst.get("name") or "")[:100]] for lst in lists][:40],
                  **_board_custom_fields(client, board_id)})
    _save(state)
    return _go("columns")


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


# --------------------------------------------------------------------------- step 4: columns


def _guess(columns: list[str], *names: str) -> str:
    wanted = [normalise_status(n) for n in names]
    for name in wanted:
        for column in columns:
            if normalise_status(column) == name:
                return column
    return ""


def _columns_context(state: dict[str, Any]) -> dict[str, Any]:
    columns = _columns(state)
    title = state.get("title_column") or _guess(columns, "Name", "Lead", "Title", "Company") or columns[0]
    status = state.get("status_column") or _guess(columns, "Status", "Stage", "State") or (
        columns[1] if len(columns) > 1 else "")
    due = state.get("due_column") if "due_column" in state else _guess(columns, "Due", "Due date", "Follow up",
                                                                       "Next step date")
    # the newer fields are never guessed: a column is one only when its person says so
    start, done, card_url = state.get("start_column"), state.get("due_done_column"), state.get("card_url_column")
    labels = state.get("labels_column")
    people = {key: state.get(key) or "" for key in ("members_column", "checklist_column", "comment_column")}
    if "description_columns" in state:
        description = list(state["description_columns"])
    else:
        description = [c for c in columns if c not in (title, status, due, start, done, card_url, labels)]
    mapped = dict(state.get("custom_fields") or {})
    off = state.get("custom_fields_note") == CUSTOM_FIELDS_OFF
    if off:  # the fallback, pre-checked: columns kept for custom fields the board lacks become description lines
        description.extend(c for c in mapped if c in columns and c not in description)
    taken = {title, status, due, start, done, card_url, labels, *mapped}
    return {"columns": columns, "title_column": title, "status_column": status, "due_column": due or "",
            "description_columns": description, "start_column": start or "", "due_done_column": done or "",
            "card_url_column": card_url or "", "labels_column": labels or "", **people,
            "member_emails": form_checks.member_emails_text(state.get("member_emails") or {}),
            "create_labels": bool(state.get("create_labels")),
            "directions": dict(state.get("directions") or {}), "direction_choices": form_checks.DIRECTION_CHOICES,
            "custom": [tuple(d) for d in state.get("custom_field_defs") or []],
            "custom_note": str(state.get("custom_fields_note") or "").replace(
                "add them in Trello to map them here", "make them for columns below, or add them in Trello"),
            "custom_fields": {fid: column for column, fid in (state.get("custom_fields") or {}).items()},
            "custom_off": off, "custom_fallback": [c for c in columns if c in description],
            "custom_types": making.FIELD_TYPES, "make_fields": _creatable(state),
            "make_candidates": [c for c in columns if c not in taken],
            "make_choices": dict(state.get("custom_make") or {})}


def _creatable(state: dict[str, Any]) -> bool:
    """Whether the board takes new custom fields: it has some, or has Custom Fields without any yet."""
    return bool(state.get("custom_field_defs")) or str(state.get("custom_fields_note") or "").startswith(
        "The board has Custom")


def _fields_to_make(state: dict[str, Any], columns: list[str]) -> tuple[list[making.NewField], list[str]]:
    """The custom fields asked for on the columns step (``new_custom_type:<column>``), a list's
    options read from its column's values in the sheet; and the problems, in words."""
    choices = {c: kind for c in columns if (kind := request.form.get(f"new_custom_type:{c}") or "")}
    state["custom_make"] = choices
    if not choices:
        return [], []
    if not _creatable(state):
        return [], [state.get("custom_fields_note") or CUSTOM_FIELDS_OFF]
    wanted, problems = [], []
    existing = [d[1] for d in state.get("custom_field_defs") or []]
    for column, kind in choices.items():
        options: tuple[str, ...] = ()
        if kind == "list":
            values, error = _column_values(state, column)
            if error:
                problems.append(f"The values of “{column}” could not be read for the list's options ({error}).")
                continue
            options = making.options_from_values(values)
        new = making.NewField(column, kind, options)
        found = making.problems(new, columns, existing)
        if kind == "list" and not options and len(found) == 1:
            found = [f"“{column}” has no values in the sheet yet to make a list's options from: choose another "
                     "type, or fill the column first."]
        problems.extend(found)
        wanted.append(new)
    return wanted, problems


def _columns_post(state: dict[str, Any]) -> ResponseReturnValue:
    columns = _columns(state)
    title = request.form.get("title_column", "")
    status = request.form.get("status_column", "")
    due = request.form.get("due_column", "") or None
    description = [c for c in request.form.getlist("description_columns") if c in columns]
    answer = form_checks.check_columns(columns, title, status, due, description,
                                       start=request.form.get("start_column") or None,
                                       due_done=request.form.get("due_done_column") or None,
                                       card_url=request.form.get("card_url_column") or None,
                                       labels=request.form.get("labels_column") or None,
                                       members=request.form.get("members_column") or None,
                                       checklist=request.form.get("checklist_column") or None,
                                       comment=request.form.get("comment_column") or None,
                                       member_emails=request.form.get("member_emails", ""),
                                       directions=form_checks.directions_from_form(request.form.get, columns),
                                       custom_fields=form_checks.custom_fields_from_form(
                                           request.form.get, [d[0] for d in state.get("custom_field_defs") or []]))
    wanted, problems = _fields_to_make(state, columns)
    if wanted:  # the columns the new fields are for are checked like any custom field column
        answer = form_checks.check_columns(
            columns, title, status, due, description, start=answer.start_column, due_done=answer.due_done_column,
            card_url=answer.card_url_column, labels=answer.labels_column, members=answer.members_column,
            checklist=answer.checklist_column, comment=answer.comment_column,
            member_emails=request.form.get("member_emails", ""),
            directions=form_checks.directions_from_form(request.form.get, columns),
            custom_fields=[*answer.custom_fields.items(), *((new.column, "") for new in wanted)])
    if answer.problems or problems:
        for problem in [*answer.problems, *problems]:
            flash(problem, "error")
        _save(state)
        return _go("columns")
    if wanted and not _make_fields(state, wanted, answer):
        _save(state)
        return _go("columns")
    state.pop("custom_make", None)
    if status != state.get("status_column"):
        _forget(state, "status_to_list", "list_to_status", "default_status")
    state.update({"title_column": title, "status_column": status, "due_column": due,
                  "description_columns": answer.description_columns, "start_column": answer.start_column,
                  "due_done_column": answer.due_done_column, "card_url_column": answer.card_url_column,
                  "labels_column": answer.labels_column, "custom_fields": answer.custom_fields,
                  "members_column": answer.members_column, "checklist_column": answer.checklist_column,
                  "comment_column": answer.comment_column, "member_emails": answer.member_emails,
                  "create_labels": bool(answer.labels_column) and request.form.get("create_labels") == "yes",
                  "directions": {column: d.value for column, d in answer.directions.items()}})
    _save(state)
    return _go("statuses")


def _column_values(state: dict[str, Any], column: str) -> tuple[list[str], str | None]:
    """Distinct values of a column of the chosen tab (one read), and an error message if it failed."""
    try:
        spreadsheet = reader(current_app, _google_account(state), state["spreadsheet_id"])
        tab = sheet_tab(current_app, _google_account(state), state["spreadsheet_id"], state["sheet_name"])
        return spreadsheet.column_values(tab, state["header"], column, int(state.get("header_row") or 1)), None
    except SheetsError as exc:
        return [], sheets_error_message(exc)


def _make_fields(state: dict[str, Any], wanted: list[making.NewField], answer: form_checks.ColumnAnswer) -> bool:
    """Make the fields asked for on the board and map each to its column in ``answer``; on a refusal,
    say so and map none of them (those made before it are listed to map, not mapped)."""
    account = queries.account_for_user(db_session(), user(), state.get("trello_account_id"), TRELLO)
    if account is None:
        flash("The Trello account chosen for the board is no longer connected.", "error")
        return False
    made = making.make_all(trello_client(account), state["board_id"], wanted)
    state["custom_field_defs"] = [*(state.get("custom_field_defs") or []),
                                  *([str(d["id"]), new.name, new.kind] for new, d in made.fields)]
    if made.fields:
        state["custom_fields_note"] = ""
        log.info("wizard_custom_fields_made", user_id=user().id, board_id=state["board_id"], count=len(made.fields))
    if made.error:
        state["custom_make"] = {c: k for c, k in (state.get("custom_make") or {}).items() if c not in made.ids}
        flash(made.error + " Nothing was mapped; the other answers on this page were not saved.", "error")
        return False
    answer.custom_fields.update(made.ids)
    flash("Made on the board and mapped to their columns: " + ", ".join(n.words() for n, _ in made.fields) + ".",
          "info")
    return True


# --------------------------------------------------------------------------- step 5: statuses


def _status_values(state: dict[str, Any]) -> tuple[list[str], str | None]:
    """Distinct statuses in the sheet's status column (one read), and an error message if it failed."""
    return _column_values(state, state["status_column"])


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
        _save(state)
        return _go("statuses")
    state.update({"status_to_list": answer.status_to_list, "list_to_status": answer.list_to_status,
                  "default_status": answer.default_status})
    _save(state)
    return _go("policies")


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
            "cols": _columns(state), "lists": state.get("lists") or [], "filter_ops": filter_form.OP_CHOICES,
            "f": state.get("filters") or filter_form.form_answers(RowFilter(), CardFilter())}


def _policies_post(state: dict[str, Any]) -> ResponseReturnValue:
    name = " ".join(request.form.get("name", "").split())[:200]
    answer = check_policies(request.form.get("row_removed_policy", ""), request.form.get("card_removed_policy", ""),
                            request.form.get("card_removed_status", ""))
    row_filter, row_problems = filter_form.row_filter_from_form(request.form.get, _columns(state))
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
    _save(state)
    if problems:
        for problem in problems:
            flash(problem, "error")
        return _go("policies")
    workspace = _save_draft(state)
    if workspace is None:
        return _go("sheet")
    state["draft_id"] = workspace.id
    _save(state)
    return redirect(url_for("dashboard.setup", workspace_id=workspace.id))


def _save_draft(state: dict[str, Any]) -> Workspace | None:
    """Create (or update) the draft workspace from the wizard's answers."""
    me = user()
    google = _google_account(state)
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
    workspace.lead_id_column = _lead_id_column(state.get("header") or [])
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


POST_HANDLERS = {"sheet": _sheet_post, "tab": _tab_post, "board": _board_post, "columns": _columns_post,
                 "statuses": _statuses_post, "policies": _policies_post}
GET_CONTEXT = {"sheet": _sheet_context, "tab": _tab_context, "board": _board_context, "columns": _columns_context,
               "statuses": _statuses_context, "policies": _policies_context}
