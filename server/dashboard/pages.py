"""The workspace list, the connections page, and the dashboard's error safety net."""

from __future__ import annotations

from typing import Any

import structlog
from flask import current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from ..auth.session import count_signed_in_browsers, current_user, login_required, logout_everywhere, logout_user
from ..extensions import db, db_session
from ..models import GOOGLE, TRELLO
from ..sheets.errors import SheetsError
from ..sync.providers import MissingAccount
from ..trello.errors import TrelloError
from . import queries
from .blueprint import bp
from .google import sheets_error_message
from .helpers import STATE_LABELS, trello_error_message, user
from .workspace_actions import void_connect_codes

log = structlog.get_logger(__name__)


@bp.context_processor
def _dashboard_globals() -> dict[str, Any]:
    return {"state_labels": STATE_LABELS}


@bp.before_request
def _signed_in_user() -> None:
    g.dashboard_user = current_user()


@bp.after_request
def _no_store(response: Response) -> Response:
    """Pages show private data: never cache them in shared caches."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _back() -> Response:
    """Where to go after a failed action: the page the form was on, if it is ours."""
    target = request.referrer or ""
    base = request.host_url.rstrip("/")
    if target.startswith(base + "/app"):
        return redirect(target)
    return redirect(url_for("dashboard.index"))


@bp.errorhandler(TrelloError)
def _trello_failed(exc: TrelloError) -> ResponseReturnValue:
    db.session.rollback()
    log.info("dashboard_trello_error", path=request.path, error=str(exc))
    flash(trello_error_message(exc), "error")
    return _back()


@bp.errorhandler(SheetsError)
def _sheets_failed(exc: SheetsError) -> ResponseReturnValue:
    db.session.rollback()
    log.info("dashboard_sheets_error", path=request.path, error=str(exc))
    flash(sheets_error_message(exc), "error")
    return _back()


@bp.errorhandler(MissingAccount)
def _missing_account(exc: MissingAccount) -> ResponseReturnValue:
    db.session.rollback()
    flash(f"{str(exc).capitalize()}: connect it on the Connections page.", "error")
    return _back()


def _wants_json() -> bool:
    return request.path.endswith(".json")


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    if _wants_json():
        return jsonify({"error": {"code": 404, "message": "no such workspace"}}), 404
    return render_template("dashboard/error.html", title="Not found",
                           message="There is no such page, or no workspace of yours at this address."), 404


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> ResponseReturnValue:
    log.info("dashboard_csrf_refused", path=request.path, reason=exc.description)
    return render_template("dashboard/error.html", title="The form has expired",
                           message="Nothing was changed: the form was too old, or was sent from another site. "
                                   "Go back, reload the page and try again."), 400


def login_url() -> str:
    if "auth.login" in current_app.view_functions:
        return url_for("auth.login")
    return "/app/login"


# --------------------------------------------------------------------------- pages


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    """The user's workspaces (owned or invited to), with their state."""
    me = user()
    workspaces = queries.workspaces_for_user(db_session(), me)
    counts = queries.workspace_summaries(db_session(), workspaces)
    accounts = queries.accounts_for_user(db_session(), me)
    has_google = any(a.provider == GOOGLE for a in accounts)
    has_trello = any(a.provider == TRELLO for a in accounts)
    return render_template("dashboard/index.html", workspaces=workspaces, counts=counts, me=me,
                           has_google=has_google, has_trello=has_trello)


@bp.get("/connections")
@login_required
def connections() -> ResponseReturnValue:
    """The Google and Trello accounts the user connected, with their state."""
    accounts = queries.accounts_for_user(db_session(), user())
    google = [a for a in accounts if a.provider == GOOGLE]
    trello = [a for a in accounts if a.provider == TRELLO]
    return render_template("dashboard/connections.html", google=google, trello=trello,
                           browsers=count_signed_in_browsers(user()))


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(login_url())


@bp.post("/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> ResponseReturnValue:
    """End every session of the signed-in user: other browsers, and a copied cookie, stop working;
    unused add-on connect codes of their workspaces too."""
    me = user()
    void_connect_codes(queries.workspaces_for_user(db_session(), me))
    ended = logout_everywhere(me)   # commits
    flash(f"You are signed out everywhere ({ended} browser{'' if ended == 1 else 's'}).", "info")
    return redirect(login_url())
