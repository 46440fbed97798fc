"""The wizard's columns step: which column is which card field, each column's direction, and the
custom fields a board with Custom Fields can get made for columns (on Continue, through
``server/sync/customfield_make.py``); on a board without them, the columns as description lines."""

from __future__ import annotations

from typing import Any

import structlog
from flask import current_app, flash, request
from flask.typing import ResponseReturnValue

from ..extensions import db_session
from ..models import TRELLO
from ..sheets.errors import SheetsError
from ..sync import customfield_make as making
from ..sync import mapping_form as form_checks
from ..sync.customfield_make import CUSTOM_FIELDS_OFF
from ..sync.mapping import normalise_status
from . import queries
from .google import reader, sheet_tab, sheets_error_message
from .helpers import trello_client, user
from .wizard_state import forget, go, google_account, save_state, sheet_columns

log = structlog.get_logger(__name__)

def _guess(columns: list[str], *names: str) -> str:
    wanted = [normalise_status(n) for n in names]
    for name in wanted:
        for column in columns:
            if normalise_status(column) == name:
                return column
    return ""


def columns_context(state: dict[str, Any]) -> dict[str, Any]:
    columns = sheet_columns(state)
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
            values, error = column_values(state, column)
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


def columns_post(state: dict[str, Any]) -> ResponseReturnValue:
    columns = sheet_columns(state)
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
        save_state(state)
        return go("columns")
    if wanted and not _make_fields(state, wanted, answer):
        save_state(state)
        return go("columns")
    state.pop("custom_make", None)
    if status != state.get("status_column"):
        forget(state, "status_to_list", "list_to_status", "default_status")
    state.update({"title_column": title, "status_column": status, "due_column": due,
                  "description_columns": answer.description_columns, "start_column": answer.start_column,
                  "due_done_column": answer.due_done_column, "card_url_column": answer.card_url_column,
                  "labels_column": answer.labels_column, "custom_fields": answer.custom_fields,
                  "members_column": answer.members_column, "checklist_column": answer.checklist_column,
                  "comment_column": answer.comment_column, "member_emails": answer.member_emails,
                  "create_labels": bool(answer.labels_column) and request.form.get("create_labels") == "yes",
                  "directions": {column: d.value for column, d in answer.directions.items()}})
    save_state(state)
    return go("statuses")


def column_values(state: dict[str, Any], column: str) -> tuple[list[str], str | None]:
    """Distinct values of a column of the chosen tab (one read), and an error message if it failed."""
    try:
        spreadsheet = reader(current_app, google_account(state), state["spreadsheet_id"])
        tab = sheet_tab(current_app, google_account(state), state["spreadsheet_id"], state["sheet_name"])
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
