"""The new-workspace wizard's answers, kept in the session between its steps, and what every step
reads of them (``server/dashboard/wizard.py`` runs the steps)."""

from __future__ import annotations

from typing import Any

from flask import redirect, session, url_for
from werkzeug.wrappers import Response

from ..extensions import db_session
from ..models import GOOGLE, ProviderAccount
from ..sync.mapping import normalise_status
from . import queries
from .helpers import user

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


def load_state() -> dict[str, Any]:
    data = session.get(SESSION_KEY)
    return dict(data) if isinstance(data, dict) else {}


def save_state(state: dict[str, Any]) -> None:
    session[SESSION_KEY] = state
    session.modified = True


def forget(state: dict[str, Any], *keys: str) -> None:
    for key in keys:
        state.pop(key, None)


def ready_for(state: dict[str, Any]) -> str:
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


def go(step: str) -> Response:
    return redirect(url_for("dashboard.new_workspace", step=step))


def lead_id_column(header: list[str]) -> str:
    """The sheet's own spelling of the Lead ID column, or the default name."""
    return next((h for h in header if normalise_status(h) == normalise_status(LEAD_ID_COLUMN)), LEAD_ID_COLUMN)


def sheet_columns(state: dict[str, Any]) -> list[str]:
    """The header's named columns, without the Lead ID column (the sync owns it)."""
    lead_id = lead_id_column(state.get("header") or [])
    seen: list[str] = []
    for column in state.get("header") or []:
        if column and column != lead_id and column not in seen:
            seen.append(column)
    return seen


def google_account(state: dict[str, Any]) -> ProviderAccount | None:
    account_id = state.get("google_account_id")
    if account_id is None:
        return None
    return queries.account_for_user(db_session(), user(), account_id, GOOGLE)
