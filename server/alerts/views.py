"""The workspace page's *Connection health* and *Alerts* blocks: their data and the preferences form.

The template asks for ``connection_health(ws)`` and ``alert_settings(ws)`` (a context processor),
so the workspace page's view is unchanged. The form posts here (CSRF like every dashboard form);
a person edits only their own preferences for a workspace they may see (404 otherwise).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from ..auth.session import login_required
from ..dashboard.helpers import user, workspace_or_404
from ..extensions import db, db_session
from ..models import ProviderAccount, Workspace
from ..models.mapping import Mapping
from ..sync.health_report import HealthReport, build_report
from ..trello import board_webhooks
from .incidents import open_incidents
from .prefs import (
    EmailMode,
    PreferenceError,
    clear_slack,
    parse_form,
    preference_of,
    save_preferences,
)
from .rounds import AlertSettings

bp = Blueprint("alerts", __name__, url_prefix="/app")


def connection_health(workspace: Workspace) -> HealthReport:
    def account(account_id: int | None) -> ProviderAccount | None:
        return db.session.get(ProviderAccount, account_id) if account_id else None

    settings = AlertSettings.from_config(current_app.config)
    routing = Mapping.of_or_default(workspace).routing
    names = {b.board_id: b.board_name or b.board_id for b in routing.boards} if routing else {}
    rows = board_webhooks.rows_of(db_session(), workspace.id)  # the routed boards' webhooks
    boards = [(row, names.get(row.board_id, row.board_id)) for row in rows]
    return build_report(workspace, account(workspace.google_account_id), account(workspace.trello_account_id),
                        datetime.now(UTC), settings.warn,
                        google_service_account=bool(current_app.config.get("GOOGLE_SERVICE_ACCOUNT_JSON")),
                        boards=boards)


def alert_settings(workspace: Workspace) -> dict[str, Any]:
    """What the Alerts block shows the signed-in person: their choices and the open incidents."""
    me = user()
    pref = preference_of(db_session(), workspace, me.id)
    return {
        "email_mode": pref.email_mode if pref is not None else EmailMode.IMMEDIATE.value,
        "extra_emails": pref.extra_emails if pref is not None else "",
        "has_slack": bool(pref is not None and pref.slack_webhook_url),
        "daily_digest": bool(pref is not None and pref.daily_digest),
        "email_enabled": bool(current_app.config.get("MAIL_SERVER")),
        "my_email": me.email,
        "open": open_incidents(db_session(), workspace.id),
    }


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> tuple[str, int]:
    return render_template("dashboard/error.html", title="The form has expired",
                           message="Nothing was changed: the form was too old, or was sent from another site. "
                                   "Go back, reload the page and try again."), 400


@bp.app_context_processor
def _health_helpers() -> dict[str, Any]:
    return {"connection_health": connection_health, "alert_settings": alert_settings}


def _back(workspace_id: str) -> Response:
    return redirect(url_for("dashboard.workspace", workspace_id=workspace_id) + "#alerts")


@bp.post("/workspaces/<workspace_id>/alerts")
@login_required
def save(workspace_id: str) -> Response:
    workspace = workspace_or_404(workspace_id)
    me = user()
    try:
        form = parse_form(request.form.to_dict())
    except PreferenceError as exc:
        flash(f"Alert settings not saved: {exc}", "error")
        return _back(workspace.id)
    save_preferences(db_session(), workspace, me.id, form)
    db.session.commit()
    flash("Alert settings saved.", "success")
    return _back(workspace.id)


@bp.post("/workspaces/<workspace_id>/alerts/slack/remove")
@login_required
def remove_slack(workspace_id: str) -> Response:
    workspace = workspace_or_404(workspace_id)
    me = user()
    clear_slack(db_session(), workspace, me.id)
    db.session.commit()
    flash("Slack alerts removed.", "success")
    return _back(workspace.id)


__all__ = ["alert_settings", "bp", "connection_health"]
