"""One workspace: its page, live status, preview and start, and the actions on it."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import structlog
from flask import abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for

from ..addon.codes import issue_connect_code
from ..auth.session import login_required
from ..engine import providers
from ..extensions import db
from ..models import WorkspaceMember
from ..models.sync import PARKED, PENDING
from ..models.workspace import ACTIVE, DISCONNECTED, NEEDS_REAUTH, PAUSED
from ..sheets.client import SheetTab, column_letter
from ..sheets.errors import SheetsError
from ..sync.inbox import enqueue_command
from ..sync.providers import MissingAccount
from ..sync.reconcile import Plan, reconcile
from ..sync.sheet_writer import HeaderCache, SheetLayoutError
from ..trello.errors import TrelloBadRequest, TrelloError
from ..trello.webhooks import delete_board_webhook, register_board_webhook
from . import bp, queries
from .google import sheets_error_message, spreadsheet_url
from .helpers import (STATE_LABELS, describe_changes, display_state, is_draft, trello_board_url,
                      trello_error_message, user, wake_worker, workspace_or_404, workspace_trello)
from .wizard import SESSION_KEY

log = structlog.get_logger(__name__)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _to_workspace(workspace_id: str):  # type: ignore[no-untyped-def]
    return redirect(url_for("dashboard.workspace", workspace_id=workspace_id))


def _owner_only(workspace, what: str) -> bool:  # type: ignore[no-untyped-def]
    if queries.is_owner(user(), workspace):
        return True
    flash(f"Only the workspace's owner can {what}.", "error")
    return False


def progress_view(workspace) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    progress = dict(workspace.sync_progress or {})
    done = int(progress.get("done") or 0)
    total = int(progress.get("total") or 0)
    finished = bool(progress.get("finished_at"))
    phase = str(progress.get("phase") or ("done" if finished else ""))
    percent = 100 if finished else (int(done * 100 / total) if total else 0)
    return {"phase": phase, "done": done, "total": total, "percent": min(100, max(0, percent)),
            "finished": finished, "dry_run": bool(progress.get("dry_run")),
            "started_at": progress.get("started_at"), "finished_at": progress.get("finished_at")}


def status_view(workspace) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    counts = queries.event_counts(db.session, workspace)
    state = display_state(workspace)
    return {"id": workspace.id, "state": state, "state_label": STATE_LABELS.get(state, state),
            "state_detail": "" if is_draft(workspace) else workspace.state_detail,
            "progress": progress_view(workspace), "pending": counts[PENDING] + counts["processing"],
            "parked": counts[PARKED], "last_reconciled_at": _iso(workspace.last_reconciled_at),
            "last_history_id": queries.last_history_id(db.session, workspace)}


# --------------------------------------------------------------------------- pages


@bp.get("/workspaces/<workspace_id>")
@login_required
def workspace(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    me = user()
    history = queries.history_of(db.session, ws)
    return render_template(
        "dashboard/workspace.html", ws=ws, status=status_view(ws), history=history,
        conflicts=queries.conflicts_of(db.session, ws), parked=queries.parked_events(db.session, ws),
        members=queries.members_of(db.session, ws), owner=queries.owner_of(db.session, ws),
        is_owner=queries.is_owner(me, ws), draft=is_draft(ws), describe_changes=describe_changes,
        sheet_link=spreadsheet_url(ws.spreadsheet_id), board_link=trello_board_url(ws.trello_board_id),
        list_names=(ws.mapping or {}).get("list_names") or {},
    )


@bp.get("/workspaces/<workspace_id>/status.json")
@login_required
def status(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    response = jsonify(status_view(ws))
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- preview and start


class _PreviewTab:
    """A ``SheetTab`` that reads as if the Lead ID column existed (empty) when the sheet lacks it.

    The add-on (or the start of the sync) adds that column; the preview must not write anything,
    and every row without a lead id is simply a lead that has no card yet.
    """

    def __init__(self, tab: SheetTab, lead_id_column: str) -> None:
        self._tab = tab
        self._lead_id_column = lead_id_column
        self._real_width: int | None = None

    def header(self, header_row: int = 1) -> list[str]:
        header = self._tab.header(header_row)
        if self._lead_id_column not in header:
            self._real_width = len(header)
            header = header + [self._lead_id_column]
        return header

    def get(self, cells: str) -> list[list[Any]]:
        if self._real_width is not None:
            virtual, real = column_letter(self._real_width + 1), column_letter(max(1, self._real_width))
            cells = re.sub(rf":{virtual}(\d+)$", rf":{real}\1", cells)
        return self._tab.get(cells)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tab, name)


class _PreviewProviders:
    def __init__(self, base: Any, lead_id_column: str) -> None:
        self.base = base
        self.lead_id_column = lead_id_column

    def trello(self, session: Any, workspace: Any) -> Any:
        return self.base.trello(session, workspace)

    def sheet(self, session: Any, workspace: Any) -> Any:
        return _PreviewTab(self.base.sheet(session, workspace), self.lead_id_column)


def _preview(ws) -> tuple[Plan | None, str | None]:  # type: ignore[no-untyped-def]
    """A dry-run reconciliation of the draft: what the first sync would do, or why it cannot run."""
    pool = providers(current_app)
    pool.forget(ws.id)
    try:
        plan = reconcile(db.session, ws, _PreviewProviders(pool, ws.lead_id_column), HeaderCache(), dry_run=True)
    except SheetsError as exc:
        db.session.rollback()
        return None, sheets_error_message(exc)
    except TrelloError as exc:
        db.session.rollback()
        return None, trello_error_message(exc)
    except SheetLayoutError as exc:
        db.session.rollback()
        return None, f"The sheet does not match the mapping: {exc}. Go back to the wizard and check the columns."
    except MissingAccount as exc:
        db.session.rollback()
        return None, f"{str(exc).capitalize()}: connect it on the Connections page."
    except Exception:  # noqa: BLE001 - the page says so instead of a 500; the log has the traceback
        db.session.rollback()
        log.exception("preview_failed", workspace_id=ws.id)
        return None, ("The preview could not be computed because of an unexpected error (it has been logged). "
                      "Check the mapping in the wizard, or try again in a moment.")
    return plan, None


def _powerup_url() -> str:
    return f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/powerup/index.html"


def _addon_context(ws, code: str | None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"ws": ws, "code": code, "server_url": current_app.config["PUBLIC_BASE_URL"].rstrip("/"),
            "powerup_url": _powerup_url(), "sheet_link": spreadsheet_url(ws.spreadsheet_id),
            "board_link": trello_board_url(ws.trello_board_id), "status": status_view(ws)}


@bp.get("/workspaces/<workspace_id>/setup")
@login_required
def setup(workspace_id: str):  # type: ignore[no-untyped-def]
    """A draft: the preview (dry run) and the start button. Otherwise: how to set up the add-on and Power-Up."""
    ws = workspace_or_404(workspace_id)
    if not is_draft(ws):
        return render_template("dashboard/addon.html", **_addon_context(ws, None))
    plan, error = _preview(ws)
    return render_template("dashboard/preview.html", ws=ws, plan=plan, error=error,
                           list_names=(ws.mapping or {}).get("list_names") or {},
                           sheet_link=spreadsheet_url(ws.spreadsheet_id),
                           board_link=trello_board_url(ws.trello_board_id),
                           from_wizard=(session.get(SESSION_KEY) or {}).get("draft_id") == ws.id)


def _ensure_lead_id_column(ws) -> str | None:  # type: ignore[no-untyped-def]
    """Add the Lead ID header cell when the sheet lacks it; returns an error message or None."""
    tab = providers(current_app).sheet(db.session, ws)
    header = tab.header(ws.header_row)
    if ws.lead_id_column in header:
        return None
    _, columns = tab.grid_size()
    if len(header) >= columns:
        return (f"The tab “{ws.sheet_name}” has no free column for “{ws.lead_id_column}”. Add an empty column "
                "at the right of the header, then start again.")
    tab.write_cells([(ws.header_row, len(header) + 1, ws.lead_id_column)])
    return None


def _register_webhook(ws) -> str | None:  # type: ignore[no-untyped-def]
    client = workspace_trello(ws)
    if client is None:
        return "This workspace has no Trello account; connect Trello on the Connections page."
    try:
        register_board_webhook(ws, client, current_app.config["PUBLIC_BASE_URL"])
    except TrelloBadRequest as exc:
        callback = f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/webhooks/trello/{ws.id}"
        log.info("trello_webhook_refused", workspace_id=ws.id, error=str(exc))
        return (f"Trello could not register the board's webhook: it must reach {callback}. Check that "
                f"PUBLIC_BASE_URL is this server's public HTTPS address. ({exc})")
    return None


@bp.post("/workspaces/<workspace_id>/setup")
@login_required
def start(workspace_id: str):  # type: ignore[no-untyped-def]
    """Confirm a draft: Lead ID column, Trello webhook, first sync queued, add-on connect code shown."""
    ws = workspace_or_404(workspace_id)
    if not is_draft(ws):
        flash("This workspace is already set up.", "info")
        return _to_workspace(ws.id)
    if not _owner_only(ws, "start it"):
        return _to_workspace(ws.id)
    try:
        error = _ensure_lead_id_column(ws)
    except SheetsError as exc:
        error = sheets_error_message(exc)
    if error is None:
        error = _register_webhook(ws)
    if error:
        db.session.rollback()
        flash(error, "error")
        return redirect(url_for("dashboard.setup", workspace_id=ws.id))
    ws.state = ACTIVE
    ws.state_detail = ""
    ws.sync_progress = {"phase": "queued", "done": 0, "total": 0}
    enqueue_command(db.session, ws.id, "reconcile", {"first_sync": True})
    code = issue_connect_code(db.session, ws)
    wake_worker()
    wizard_state = session.get(SESSION_KEY)
    if isinstance(wizard_state, dict) and wizard_state.get("draft_id") == ws.id:
        session.pop(SESSION_KEY, None)
    log.info("workspace_started", workspace_id=ws.id, webhook_id=ws.trello_webhook_id)
    flash("The workspace is created and its first sync is queued.", "success")
    response = current_app.make_response(render_template("dashboard/addon.html", **_addon_context(ws, code)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/workspaces/<workspace_id>/connect-code")
@login_required
def connect_code(workspace_id: str):  # type: ignore[no-untyped-def]
    """A new one-time code for the add-on (replaces any earlier one)."""
    ws = workspace_or_404(workspace_id)
    if is_draft(ws) or ws.state == DISCONNECTED:
        flash("Start (or reconnect) the workspace before connecting the add-on.", "error")
        return _to_workspace(ws.id)
    code = issue_connect_code(db.session, ws)
    db.session.commit()
    response = current_app.make_response(render_template("dashboard/addon.html", **_addon_context(ws, code)))
    response.headers["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- actions


@bp.post("/workspaces/<workspace_id>/sync")
@login_required
def sync_now(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    if ws.state != ACTIVE:
        flash("The workspace is not syncing (it is paused, disconnected or a draft); resume it first.", "error")
        return _to_workspace(ws.id)
    enqueue_command(db.session, ws.id, "reconcile", {"requested_by": user().id})
    wake_worker()
    flash("A full sync is queued; the page updates as it runs.", "success")
    return _to_workspace(ws.id)


@bp.post("/workspaces/<workspace_id>/pause")
@login_required
def pause(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    if ws.state != ACTIVE:
        flash("Only a syncing workspace can be paused.", "error")
        return _to_workspace(ws.id)
    ws.state = PAUSED
    ws.state_detail = f"Paused by {user().email}."
    db.session.commit()
    flash("Sync is paused. Changes are kept and applied when you resume.", "success")
    return _to_workspace(ws.id)


@bp.post("/workspaces/<workspace_id>/resume")
@login_required
def resume(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    if is_draft(ws):
        return redirect(url_for("dashboard.setup", workspace_id=ws.id))
    if ws.state not in (PAUSED, NEEDS_REAUTH):
        flash("Only a paused workspace (or one waiting for re-authorisation) can be resumed.", "error")
        return _to_workspace(ws.id)
    ws.state = ACTIVE
    ws.state_detail = ""
    providers(current_app).forget(ws.id)
    wake_worker()
    flash("Sync resumed.", "success")
    return _to_workspace(ws.id)


@bp.post("/workspaces/<workspace_id>/disconnect")
@login_required
def disconnect(workspace_id: str):  # type: ignore[no-untyped-def]
    """Remove the Trello webhook and refuse the add-on's events (410) until reconnected."""
    ws = workspace_or_404(workspace_id)
    if not _owner_only(ws, "disconnect it"):
        return _to_workspace(ws.id)
    if ws.state == DISCONNECTED:
        flash("The workspace is already disconnected.", "info")
        return _to_workspace(ws.id)
    warning = _remove_webhook(ws)
    ws.state = DISCONNECTED
    ws.state_detail = f"Disconnected by {user().email}."
    ws.connect_code_hash = None
    ws.connect_code_expires_at = None
    db.session.commit()
    providers(current_app).forget(ws.id)
    if warning:
        flash(warning, "error")
    flash("Disconnected: the Trello webhook is removed and the add-on's events are refused.", "success")
    return _to_workspace(ws.id)


@bp.post("/workspaces/<workspace_id>/reconnect")
@login_required
def reconnect(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    if not _owner_only(ws, "reconnect it"):
        return _to_workspace(ws.id)
    if ws.state != DISCONNECTED:
        flash("The workspace is not disconnected.", "info")
        return _to_workspace(ws.id)
    error = _register_webhook(ws)
    if error:
        db.session.rollback()
        flash(error, "error")
        return _to_workspace(ws.id)
    ws.state = ACTIVE
    ws.state_detail = ""
    enqueue_command(db.session, ws.id, "reconcile", {"reconnected": True})
    wake_worker()
    flash("Reconnected: the Trello webhook is back and a full sync is queued.", "success")
    return _to_workspace(ws.id)


def _remove_webhook(ws) -> str | None:  # type: ignore[no-untyped-def]
    """Delete the board webhook through the workspace's Trello account; a warning if that failed."""
    if not ws.trello_webhook_id:
        return None
    client = workspace_trello(ws)
    if client is None:
        ws.trello_webhook_id = None
        ws.trello_webhook_callback = None
        return ("The Trello webhook could not be removed (no Trello account); Trello removes it on its next "
                "delivery, which this server refuses.")
    try:
        delete_board_webhook(ws, client)
    except TrelloError as exc:
        log.info("trello_webhook_delete_failed", workspace_id=ws.id, error=str(exc))
        ws.trello_webhook_id = None
        ws.trello_webhook_callback = None
        return (f"Trello did not remove the webhook ({trello_error_message(exc)}) It stops by itself: this server "
                "answers its deliveries with 410 Gone.")
    return None


@bp.post("/workspaces/<workspace_id>/events/<int:event_id>/retry")
@login_required
def retry(workspace_id: str, event_id: int):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    event = queries.event_in_workspace(db.session, ws, event_id)
    if event is None:
        abort(404)
    if event.state != PARKED:
        flash("That event is not parked any more.", "info")
        return _to_workspace(ws.id)
    _requeue(event)
    wake_worker()
    flash(f"Event {event.id} is queued again.", "success")
    return _to_workspace(ws.id)


@bp.post("/workspaces/<workspace_id>/events/retry-parked")
@login_required
def retry_all(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    events = queries.parked_events(db.session, ws, limit=1000)
    for event in events:
        _requeue(event)
    wake_worker()
    flash(f"{len(events)} parked event(s) queued again." if events else "Nothing is parked.", "success")
    return _to_workspace(ws.id)


def _requeue(event) -> None:  # type: ignore[no-untyped-def]
    event.state = PENDING
    event.attempts = 0
    event.next_attempt_at = datetime.now(timezone.utc)
    event.processed_at = None
    event.locked_by = None
    event.locked_until = None


@bp.route("/workspaces/<workspace_id>/delete", methods=["GET", "POST"])
@login_required
def delete(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    if not queries.is_owner(user(), ws):
        flash("Only the workspace's owner can delete it.", "error")
        return _to_workspace(ws.id)
    if request.method == "GET":
        return render_template("dashboard/delete.html", ws=ws, draft=is_draft(ws))
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm the deletion.", "error")
        return redirect(url_for("dashboard.delete", workspace_id=ws.id))
    warning = _remove_webhook(ws)
    name = ws.name
    providers(current_app).forget(ws.id)
    db.session.delete(ws)
    db.session.commit()
    wizard_state = session.get(SESSION_KEY)
    if isinstance(wizard_state, dict) and wizard_state.get("draft_id") == workspace_id:
        wizard_state = dict(wizard_state)
        wizard_state.pop("draft_id", None)
        session[SESSION_KEY] = wizard_state
    log.info("workspace_deleted", workspace_id=workspace_id, user_id=user().id)
    if warning:
        flash(warning, "error")
    flash(f"The workspace “{name}” is deleted. The sheet and the board are untouched.", "success")
    return redirect(url_for("dashboard.index"))


# --------------------------------------------------------------------------- members


@bp.post("/workspaces/<workspace_id>/members")
@login_required
def invite(workspace_id: str):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    if not _owner_only(ws, "invite members"):
        return _to_workspace(ws.id)
    email = request.form.get("email", "").strip()
    if not EMAIL.match(email) or len(email) > 320:
        flash("Enter an email address, like sam@example.com.", "error")
        return _to_workspace(ws.id)
    owner = queries.owner_of(db.session, ws)
    if owner is not None and owner.email.strip().lower() == email.lower():
        flash("That is the owner's address.", "info")
        return _to_workspace(ws.id)
    if queries.member_by_email(db.session, ws, email) is not None:
        flash(f"{email} is already a member.", "info")
        return _to_workspace(ws.id)
    db.session.add(WorkspaceMember(workspace_id=ws.id, email=email.lower()))
    db.session.commit()
    flash(f"{email} can now see and run this workspace after signing in with that address.", "success")
    return _to_workspace(ws.id)


@bp.post("/workspaces/<workspace_id>/members/<int:member_id>/remove")
@login_required
def remove_member(workspace_id: str, member_id: int):  # type: ignore[no-untyped-def]
    ws = workspace_or_404(workspace_id)
    member = queries.member_in_workspace(db.session, ws, member_id)
    if member is None:
        abort(404)
    if not _owner_only(ws, "remove members"):
        return _to_workspace(ws.id)
    email = member.email
    db.session.delete(member)
    db.session.commit()
    flash(f"{email} is no longer a member.", "success")
    return _to_workspace(ws.id)
