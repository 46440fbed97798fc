"""One workspace: its page, live status, preview and start, and the actions on it.

The actions' state transitions live in ``workspace_actions`` (no Flask); a view here finds the
workspace the signed-in user may see, calls the transition, and turns its outcome into flash
messages and a redirect.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from ..addon.secrets import in_grace
from ..auth.session import login_required
from ..config import current_settings
from ..engine import providers
from ..extensions import db_session
from ..models import Workspace
from ..models.mapping import Mapping
from ..models.sync import PARKED, PENDING, PROCESSING
from ..models.sync_progress import SyncProgress
from ..sheets.client import SheetTab
from ..sync.preview import STALL_S, is_final, preview_status, queue_preview
from . import history_entries, queries
from . import workspace_actions as actions
from .blueprint import bp
from .google import spreadsheet_url
from .helpers import (
    STATE_LABELS,
    describe_changes,
    is_draft,
    trello_board_url,
    user,
    wake_worker,
    workspace_or_404,
    workspace_trello,
)
from .wizard import SESSION_KEY

T = TypeVar("T")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _to_workspace(workspace_id: str) -> Response:
    return redirect(url_for("dashboard.workspace", workspace_id=workspace_id))


def _to_setup(workspace_id: str) -> Response:
    return redirect(url_for("dashboard.setup", workspace_id=workspace_id))


def progress_view(workspace: Workspace) -> dict[str, Any]:
    progress = SyncProgress.of(workspace)
    done, total = progress.done, progress.total
    finished = bool(progress.finished_at)
    phase = progress.phase or ("done" if finished else "")
    percent = 100 if finished else (int(done * 100 / total) if total else 0)
    return {"phase": phase, "done": done, "total": total, "percent": min(100, max(0, percent)),
            "finished": finished, "dry_run": progress.dry_run,
            "started_at": progress.started_at, "finished_at": progress.finished_at}


def status_view(workspace: Workspace) -> dict[str, Any]:
    """The live state the pages poll (``status.json``); a draft's adds its ``preview``."""
    counts = queries.event_counts(db_session(), workspace)
    view = {"id": workspace.id, "state": workspace.state,
            "state_label": STATE_LABELS.get(workspace.state, workspace.state), "state_detail": workspace.state_detail,
            "progress": progress_view(workspace), "pending": counts[PENDING] + counts[PROCESSING],
            "parked": counts[PARKED], "last_reconciled_at": _iso(workspace.last_reconciled_at),
            "last_history_id": queries.last_history_id(db_session(), workspace)}
    if is_draft(workspace):
        view["preview"] = preview_status(db_session(), workspace)
    return view


# --------------------------------------------------------------------------- pages


def _grace_minutes() -> float:
    return current_settings().addon_secret_grace_minutes


def _workspace_page(ws: Workspace, connect_code: str | None = None) -> Response:
    """The workspace's page; with ``connect_code`` (after a rotation) it shows that one-time code, so
    it is never cached (the code is never put in the session cookie either)."""
    me = user()
    page = render_template(
        "dashboard/workspace.html", ws=ws, status=status_view(ws),
        history=history_entries.entry_views(db_session(), ws, queries.history_of(db_session(), ws)),
        conflicts=history_entries.entry_views(db_session(), ws, queries.conflicts_of(db_session(), ws)),
        parked=history_entries.parked_views(db_session(), ws, queries.parked_events(db_session(), ws)),
        members=queries.members_of(db_session(), ws), owner=queries.owner_of(db_session(), ws),
        is_owner=queries.is_owner(me, ws), draft=is_draft(ws), describe_changes=describe_changes,
        sheet_link=spreadsheet_url(ws.spreadsheet_id, ws.sheet_gid), board_link=trello_board_url(ws.trello_board_id),
        list_names=Mapping.of_or_default(ws).list_names, connect_code=connect_code,
        previous_secret_valid=in_grace(ws.addon_secret_previous_until), grace_minutes=_grace_minutes(),
        server_url=_public_base_url().rstrip("/"),
    )
    return current_app.make_response(page)


@bp.get("/workspaces/<workspace_id>")
@login_required
def workspace(workspace_id: str) -> ResponseReturnValue:
    return _workspace_page(workspace_or_404(workspace_id))


@bp.get("/workspaces/<workspace_id>/status.json")
@login_required
def status(workspace_id: str) -> ResponseReturnValue:
    ws = workspace_or_404(workspace_id)
    return jsonify(status_view(ws))


# --------------------------------------------------------------------------- the setup page and its preview


def _public_base_url() -> str:
    return current_app.config["PUBLIC_BASE_URL"]


def _powerup_url() -> str:
    return f"{_public_base_url().rstrip('/')}/powerup/index.html"


def _addon_context(ws: Workspace, code: str | None) -> dict[str, Any]:
    return {"ws": ws, "code": code, "server_url": _public_base_url().rstrip("/"),
            "powerup_url": _powerup_url(), "sheet_link": spreadsheet_url(ws.spreadsheet_id, ws.sheet_gid),
            "board_link": trello_board_url(ws.trello_board_id), "status": status_view(ws)}


def _addon_page(ws: Workspace, code: str | None) -> Response:
    """How to set up the add-on and the Power-Up, with a one-time connect code (never cached)."""
    return current_app.make_response(render_template("dashboard/addon.html", **_addon_context(ws, code)))


@bp.get("/workspaces/<workspace_id>/setup")
@login_required
def setup(workspace_id: str) -> ResponseReturnValue:
    """A draft: the preview (dry run) and the start button. Otherwise: how to set up the add-on and Power-Up."""
    ws = workspace_or_404(workspace_id)
    if not is_draft(ws):
        return render_template("dashboard/addon.html", **_addon_context(ws, None))
    preview = preview_status(db_session(), ws)
    if preview["state"] == "none":  # nothing computed for these settings yet: a worker computes it
        queue_preview(db_session(), ws)
        wake_worker()
        preview = preview_status(db_session(), ws)
    return render_template("dashboard/preview.html", ws=ws, preview=preview, final=is_final(preview["state"]),
                           stall_s=int(STALL_S), list_names=Mapping.of_or_default(ws).list_names,
                           sheet_link=spreadsheet_url(ws.spreadsheet_id, ws.sheet_gid),
                           board_link=trello_board_url(ws.trello_board_id),
                           from_wizard=(session.get(SESSION_KEY) or {}).get("draft_id") == ws.id)


@bp.post("/workspaces/<workspace_id>/setup/preview")
@login_required
def rerun_preview(workspace_id: str) -> ResponseReturnValue:
    """Compute the draft's preview again (after fixing the sheet, or to refresh the figures)."""
    ws = workspace_or_404(workspace_id)
    if not is_draft(ws):
        return _to_workspace(ws.id)
    if queue_preview(db_session(), ws):
        wake_worker()
    else:
        flash("A preview is already being computed; the page updates when it is ready.", "info")
    return _to_setup(ws.id)


# --------------------------------------------------------------------------- answering an action


def _forget_clients(workspace_id: str) -> None:
    """Drop the engine's cached Trello and Sheets clients of a workspace."""
    providers(current_app).forget(workspace_id)


def _sheet(ws: Workspace) -> SheetTab:
    return providers(current_app).sheet(db_session(), ws)


def _or_404(found: T | None) -> T:
    """Something looked up inside the workspace (an event, a member), or 404."""
    if found is None:
        abort(404)
    return found


def _flash(outcome: actions.Outcome) -> None:
    for category, text in outcome.messages:
        flash(text, category)


def _refused(ws: Workspace, refusal: actions.Refused) -> Response:
    flash(str(refusal), refusal.category)
    return _to_workspace(ws.id)


def workspace_action(act: Callable[..., actions.Outcome]) -> Callable[..., Response]:
    """Wrap a view that runs one action on a workspace the signed-in user may see (404 otherwise).

    ``act`` gets the workspace (and the route's other arguments) and returns the action's outcome;
    it is flashed, or the refusal is, and the answer is the workspace's page (a draft's setup page
    when the action wants a started workspace).
    """

    @wraps(act)
    def view(workspace_id: str, **kwargs: Any) -> Response:
        ws = workspace_or_404(workspace_id)
        try:
            outcome = act(ws, **kwargs)
        except actions.DraftNotStarted:
            return _to_setup(ws.id)
        except actions.Refused as refusal:
            return _refused(ws, refusal)
        _flash(outcome)
        return _to_workspace(ws.id)

    return view


# --------------------------------------------------------------------------- start and connect


@bp.post("/workspaces/<workspace_id>/setup")
@login_required
def start(workspace_id: str) -> Response:
    """Confirm a draft: Lead ID column, Trello webhook, first sync queued, add-on connect code shown."""
    ws = workspace_or_404(workspace_id)
    try:
        outcome = actions.start(db_session(), ws, user(), sheet=_sheet, trello=workspace_trello,
                                public_base_url=_public_base_url(), wake=wake_worker)
    except actions.StepFailed as failure:
        flash(str(failure), failure.category)
        return _to_setup(ws.id)
    except actions.Refused as refusal:
        return _refused(ws, refusal)
    wizard_state = session.get(SESSION_KEY)
    if isinstance(wizard_state, dict) and wizard_state.get("draft_id") == ws.id:
        session.pop(SESSION_KEY, None)
    _flash(outcome)
    return _addon_page(ws, outcome.connect_code)


@bp.post("/workspaces/<workspace_id>/connect-code")
@login_required
def connect_code(workspace_id: str) -> Response:
    """A new one-time code for the add-on (replaces any earlier one)."""
    ws = workspace_or_404(workspace_id)
    try:
        outcome = actions.new_connect_code(db_session(), ws)
    except actions.Refused as refusal:
        return _refused(ws, refusal)
    return _addon_page(ws, outcome.connect_code)


@bp.post("/workspaces/<workspace_id>/rotate-secret")
@login_required
def rotate_secret(workspace_id: str) -> Response:
    """A new add-on signing secret (owner only); the old one works for the grace period, or not at all
    when "immediately" is ticked (a suspected leak). The page shows a connect code for the add-on."""
    ws = workspace_or_404(workspace_id)
    immediately = request.form.get("immediately") == "yes"
    grace = timedelta(0) if immediately else timedelta(minutes=_grace_minutes())
    try:
        outcome = actions.rotate_addon_secret(db_session(), ws, user(), grace=grace)
    except actions.Refused as refusal:
        return _refused(ws, refusal)
    _flash(outcome)
    return _workspace_page(ws, outcome.connect_code)


# --------------------------------------------------------------------------- actions


@bp.post("/workspaces/<workspace_id>/sync")
@login_required
@workspace_action
def sync_now(ws: Workspace) -> actions.Outcome:
    return actions.sync_now(db_session(), ws, user(), wake=wake_worker)


@bp.post("/workspaces/<workspace_id>/pause")
@login_required
@workspace_action
def pause(ws: Workspace) -> actions.Outcome:
    return actions.pause(db_session(), ws, user())


@bp.post("/workspaces/<workspace_id>/resume")
@login_required
@workspace_action
def resume(ws: Workspace) -> actions.Outcome:
    return actions.resume(ws, forget=_forget_clients, wake=wake_worker)


@bp.post("/workspaces/<workspace_id>/disconnect")
@login_required
@workspace_action
def disconnect(ws: Workspace) -> actions.Outcome:
    """Remove the Trello webhook and refuse the add-on's events (410) until reconnected."""
    return actions.disconnect(db_session(), ws, user(), trello=workspace_trello, forget=_forget_clients)


@bp.post("/workspaces/<workspace_id>/reconnect")
@login_required
@workspace_action
def reconnect(ws: Workspace) -> actions.Outcome:
    return actions.reconnect(db_session(), ws, user(), trello=workspace_trello, public_base_url=_public_base_url(),
                             wake=wake_worker)


@bp.post("/workspaces/<workspace_id>/events/<int:event_id>/retry")
@login_required
@workspace_action
def retry(ws: Workspace, event_id: int) -> actions.Outcome:
    event = _or_404(queries.event_in_workspace(db_session(), ws, event_id))
    return actions.retry_event(event, wake=wake_worker)


@bp.post("/workspaces/<workspace_id>/events/retry-parked")
@login_required
@workspace_action
def retry_all(ws: Workspace) -> actions.Outcome:
    return actions.retry_parked(db_session(), ws, wake=wake_worker)


@bp.route("/workspaces/<workspace_id>/delete", methods=["GET", "POST"])
@login_required
def delete(workspace_id: str) -> ResponseReturnValue:
    """Ask (GET), then delete the workspace (POST with the box ticked). Owner only."""
    ws = workspace_or_404(workspace_id)
    try:
        actions.require_owner(ws, user(), "delete it")
    except actions.Refused as refusal:
        return _refused(ws, refusal)
    if request.method == "GET":
        return render_template("dashboard/delete.html", ws=ws, draft=is_draft(ws))
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm the deletion.", "error")
        return redirect(url_for("dashboard.delete", workspace_id=ws.id))
    outcome = actions.delete(db_session(), ws, user(), trello=workspace_trello, forget=_forget_clients)
    wizard_state = session.get(SESSION_KEY)
    if isinstance(wizard_state, dict) and wizard_state.get("draft_id") == workspace_id:
        wizard_state = dict(wizard_state)
        wizard_state.pop("draft_id", None)
        session[SESSION_KEY] = wizard_state
    _flash(outcome)
    return redirect(url_for("dashboard.index"))


# --------------------------------------------------------------------------- members


@bp.post("/workspaces/<workspace_id>/members")
@login_required
@workspace_action
def invite(ws: Workspace) -> actions.Outcome:
    return actions.invite(db_session(), ws, user(), request.form.get("email", ""))


@bp.post("/workspaces/<workspace_id>/members/<int:member_id>/remove")
@login_required
@workspace_action
def remove_member(ws: Workspace, member_id: int) -> actions.Outcome:
    member = _or_404(queries.member_in_workspace(db_session(), ws, member_id))
    return actions.remove_member(db_session(), ws, user(), member)
