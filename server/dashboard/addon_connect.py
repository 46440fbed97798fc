"""The one-click connect popup (``/app/addon/connect``): the sidebar's "Connect to Leads Sync" opens it.

The signed-in person sees their workspaces (only theirs, ``queries.workspaces_for_user``), picks
the one that syncs the add-on's spreadsheet, and the add-on (polling ``/api/addon/connect/poll``)
receives its credentials. The logic is in ``server.addon.one_click``; the form is CSRF-protected.
"""

from __future__ import annotations

from typing import Any

import structlog
from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from ..addon import one_click
from ..auth.session import login_required
from ..extensions import db, db_session
from . import queries
from .blueprint import bp
from .helpers import user

log = structlog.get_logger(__name__)


def _page(status: int = 200, **context: Any) -> Response:
    context.setdefault("error", None)
    context.setdefault("approved", None)
    return current_app.make_response((render_template("dashboard/addon_connect.html", **context), status))


def _choices(wanted: one_click.ConnectRequest) -> list[dict[str, Any]]:
    """The person's workspaces, each with why it cannot be chosen here (None: it can)."""
    return [{"ws": ws, "problem": one_click.choosable(ws, wanted.spreadsheet_id)}
            for ws in queries.workspaces_for_user(db_session(), user())]


def _wanted(source: Any) -> one_click.ConnectRequest:
    return one_click.parse_request(source.get("nonce"), source.get("spreadsheet"), source.get("sheet"))


@bp.get("/addon/connect")
@login_required
def addon_connect() -> ResponseReturnValue:
    """Choose the workspace this spreadsheet's add-on connects to."""
    try:
        wanted = _wanted(request.args)
    except one_click.ConnectRefused as refused:
        return _page(refused.status, error=refused.message, wanted=None, choices=[])
    return _page(wanted=wanted, choices=_choices(wanted))


@bp.post("/addon/connect")
@login_required
def addon_connect_approve() -> ResponseReturnValue:
    """Hand the chosen workspace to the add-on waiting with this nonce."""
    try:
        wanted = _wanted(request.form)
    except one_click.ConnectRefused as refused:
        return _page(refused.status, error=refused.message, wanted=None, choices=[])
    workspace = queries.workspace_for_user(db_session(), user(), str(request.form.get("workspace_id") or ""))
    if workspace is None:
        return _page(404, error="Choose one of your workspaces: that one does not exist or is not yours.",
                     wanted=wanted, choices=_choices(wanted))
    try:
        one_click.approve(db_session(), workspace, wanted)
    except one_click.ConnectRefused as refused:
        db.session.rollback()
        return _page(refused.status, error=refused.message, wanted=wanted, choices=_choices(wanted))
    db.session.commit()
    log.info("addon_connect_approved", workspace_id=workspace.id, user_id=user().id)
    return _page(wanted=wanted, choices=[], approved=workspace)
