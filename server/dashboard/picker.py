"""Google Picker for ``GOOGLE_SCOPE_MODE=drive.file`` (the scope that needs no Google review).

With ``drive.file`` the server reaches only the spreadsheets a person picked with Google Picker
(or the app created). So:

- the wizard's spreadsheet step shows a **Choose a spreadsheet** button (``picker_context``; the
  script is ``/static/picker.js``, and that page's CSP also allows the Picker's origins,
  ``PICKER_ORIGINS``, for scripts and frames);
- ``POST /app/google/picker-token.json`` hands the page a short-lived access token of one of the
  signed-in user's own Google accounts (refreshed when due, never the refresh token,
  ``Cache-Control: no-store``); another user's account answers 404, a signed-out caller 401;
- a workspace that stopped because Google refuses its spreadsheet (403 "The caller does not have
  permission") says so on its page in plain words and links to
  ``/app/workspaces/<id>/choose-spreadsheet``, where picking the same spreadsheet again restores
  the access and resumes the sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from ..auth.access_token import browser_token
from ..auth.google_scopes import NO_PERMISSION, cant_open_message, uses_picker
from ..auth.oauth import after_reactivation, reactivate_workspaces
from ..auth.session import login_required
from ..config import current_settings
from ..engine import providers
from ..extensions import db, db_session
from ..models import GOOGLE, Workspace
from ..models.enums import AccountStatus
from ..models.workspace import NEEDS_REAUTH
from ..security import allow_on_this_page
from ..sheets.errors import SheetsAuthError, SheetsError
from . import queries
from .blueprint import bp
from .google import parse_spreadsheet_id, reader, sheets_error_message
from .helpers import mark_needs_reauth, user, workspace_or_404

log = structlog.get_logger(__name__)

PICKER_ORIGINS = ("https://apis.google.com", "https://docs.google.com")


@dataclass(frozen=True)
class PickerSettings:
    """What ``picker.js`` needs, as ``data-`` attributes of the button (none of it is secret)."""

    api_key: str
    app_id: str
    token_url: str


def picker_settings() -> PickerSettings | None:
    """The Picker's settings for a page that shows the button, and the CSP that lets it load; None
    in ``spreadsheets`` mode."""
    config = current_app.config
    if not uses_picker(config):
        return None
    allow_on_this_page("script-src", *PICKER_ORIGINS)
    allow_on_this_page("frame-src", *PICKER_ORIGINS)
    return PickerSettings(api_key=config["GOOGLE_PICKER_API_KEY"], app_id=config["GOOGLE_CLOUD_PROJECT_NUMBER"],
                          token_url=url_for("dashboard.picker_token"))


def picker_context() -> dict[str, Any]:
    """Template context for the wizard's spreadsheet step."""
    return {"picker": picker_settings()}


def picker_gap(workspace: Workspace) -> str | None:
    """Plain words when the workspace stopped because ``drive.file`` does not cover its spreadsheet."""
    if not uses_picker(current_app.config) or workspace.state != NEEDS_REAUTH:
        return None
    return cant_open_message(current_app.config) if NO_PERMISSION in (workspace.state_detail or "") else None


@bp.app_context_processor
def _picker_helpers() -> dict[str, Any]:
    return {"picker_gap": picker_gap}


# --------------------------------------------------------------------------- the token endpoint


def _json_error(status: int, message: str) -> Response:
    response = jsonify({"error": {"code": status, "message": message}})
    response.status_code = status
    return response


@bp.post("/google/picker-token.json")
@login_required
def picker_token() -> Response:
    """A short-lived access token of the signed-in user's Google account ``account`` for the Picker."""
    if not uses_picker(current_app.config):
        return _json_error(404, "Google Picker is not used on this server (GOOGLE_SCOPE_MODE is spreadsheets).")
    account = queries.account_for_user(db_session(), user(), request.form.get("account"), GOOGLE)
    if account is None:
        return _json_error(404, "That Google account is not connected to your sign-in. Connect Google on the "
                                "Connections page.")
    now = datetime.now(UTC)
    try:
        token = browser_token(account, providers(current_app).settings, now)
    except SheetsAuthError as exc:
        mark_needs_reauth(account, exc)
        db.session.commit()
        return _json_error(401, "Google refused this account's access (it may have been revoked). Reconnect "
                                "Google on the Connections page, then choose the spreadsheet.")
    except SheetsError:
        db.session.rollback()
        return _json_error(503, "Google did not answer; try again in a moment.")
    db.session.commit()  # a refreshed token is stored (encrypted)
    log.info("picker_token_issued", user_id=account.user_id, account_id=account.id)
    response = jsonify(token.as_json(now))
    response.headers["Pragma"] = "no-cache"
    return response


# --------------------------------------------------------------------------- choose a workspace's sheet again


@bp.route("/workspaces/<workspace_id>/choose-spreadsheet", methods=["GET", "POST"])
@login_required
def choose_spreadsheet(workspace_id: str) -> ResponseReturnValue:
    """Pick the workspace's spreadsheet again in Google Picker, so ``drive.file`` covers it again."""
    workspace = workspace_or_404(workspace_id)
    account = queries.account_for_user(db_session(), user(), workspace.google_account_id, GOOGLE)
    back = url_for("dashboard.workspace", workspace_id=workspace.id)
    if not uses_picker(current_app.config):
        abort(404)
    if account is None:
        flash("Only the workspace's owner, with the Google account it syncs as, can choose its spreadsheet.",
              "error")
        return redirect(back)
    if request.method == "GET":
        return render_template("dashboard/choose_spreadsheet.html", ws=workspace, account=account,
                               picker=picker_settings())
    picked = parse_spreadsheet_id(request.form.get("spreadsheet"))
    if picked != workspace.spreadsheet_id:
        flash("That is another spreadsheet. Choose the one this workspace syncs (its tab "
              f"“{workspace.sheet_name}”).", "error")
        return redirect(url_for("dashboard.choose_spreadsheet", workspace_id=workspace.id))
    try:
        reader(current_app, account, picked).tabs()
    except SheetsError as exc:
        db.session.rollback()
        flash(sheets_error_message(exc), "error")
        return redirect(url_for("dashboard.choose_spreadsheet", workspace_id=workspace.id))
    account.status, account.status_detail = AccountStatus.OK, ""
    reactivated = reactivate_workspaces(db_session(), account)
    db.session.commit()
    after_reactivation(db_session(), reactivated)
    log.info("picker_spreadsheet_rechosen", workspace_id=workspace.id, reactivated=len(reactivated))
    name = current_settings().powerup_app_name
    flash(f"{name} can open the spreadsheet again" + ("; syncing resumed." if reactivated else "."), "success")
    return redirect(back)


__all__ = ["PICKER_ORIGINS", "PickerSettings", "picker_context", "picker_gap", "picker_settings"]
