"""The wizard's preview: a dry-run reconciliation of a draft workspace, run by a worker.

Reading a big sheet and board takes longer than a web request may last, so the setup page only
queues a ``preview`` command (``queue_preview``) and polls the workspace's status
(``preview_status``). A draft is not active, and the worker's claim skips events of workspaces
that are not active, except system ``preview`` commands, which it takes whatever the state; the
processor then runs ``run_preview`` for drafts only (a preview of anything else is ignored). A
preview is always a dry run: nothing is written to the sheet, the board or the links.

Progress and the plan land in ``Workspace.sync_progress`` (``dry_run`` set, and ``for``: the
draft's settings it was computed for, so a re-saved draft gets a new preview). A failure is
stored there in plain words and never changes the workspace's state (a revoked token does not
turn the draft into a workspace waiting for re-authorisation). The preview shares the order key
of ``reconcile`` commands, so a first sync queued while a preview runs waits for it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Event, Workspace
from ..models.base import utcnow
from ..models.sync import PARKED, PENDING, PROCESSING
from ..models.sync_progress import PreviewDetails, PreviewMark, SyncProgress
from ..models.workspace import is_draft
from ..sheets.client import SheetTab, column_letter
from ..sheets.errors import SheetsError, sheets_error_message
from ..trello.errors import TrelloError, trello_error_message
from .progress import CommittedProgress
from .providers import MissingAccount, Providers
from .queue import PREVIEW, enqueue_command
from .reconcile import reconcile
from .sheet_writer import HeaderCache, SheetLayoutError

log = structlog.get_logger(__name__)

ORDER_KEY = "workspace:reconcile"  # the key reconcile commands get: one full pass at a time
STALL_S = 30.0  # queued this long without a worker taking it: say so
DETAIL_LINES = 20  # conflicts and row errors kept for the page
_FINAL = ("done", "failed", "none")


def draft_fingerprint(workspace: Workspace) -> str:
    """A short hash of the settings a preview depends on (a re-saved draft needs a new one)."""
    settings = [workspace.spreadsheet_id, workspace.sheet_name, workspace.header_row, workspace.lead_id_column,
                workspace.trello_board_id, workspace.mapping or {}, workspace.row_removed_policy,
                workspace.card_removed_policy, workspace.card_removed_status, workspace.google_account_id,
                workspace.trello_account_id]
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- queueing (the web side)


def active_preview(session: Session, workspace_id: str) -> Event | None:
    """The workspace's preview command that waits or runs, if any."""
    return session.scalars(select(Event).where(
        Event.workspace_id == workspace_id, Event.kind == PREVIEW, Event.state.in_((PENDING, PROCESSING)))
        .order_by(Event.id.desc()).limit(1)).first()


def queue_preview(session: Session, workspace: Workspace) -> bool:
    """Queue a preview unless one waits or runs; returns whether one was queued.

    The caller commits and wakes the workers (``server.engine.commit_and_wake``).
    """
    if active_preview(session, workspace.id) is not None:
        return False
    mark = PreviewMark(draft_fingerprint(workspace), queued_at=utcnow().isoformat())
    workspace.sync_progress = mark.on(SyncProgress(phase="queued")).to_json()
    enqueue_command(session, workspace.id, PREVIEW, {}, order_key=ORDER_KEY)
    return True


def preview_status(session: Session, workspace: Workspace, now: datetime | None = None) -> dict[str, Any]:
    """What the setup page shows: ``state`` (none, queued, running, done, failed) and plain words.

    ``none`` means there is no preview for the draft's current settings (the page queues one).
    """
    now = now or utcnow()
    progress = SyncProgress.of(workspace)
    current = progress.dry_run and progress.preview_for == draft_fingerprint(workspace)
    out: dict[str, Any] = {"state": "none", "message": "", "stalled": False, "phase": "", "done": 0, "total": 0,
                           "percent": None, "plan": None,
                           "details": {"conflicts": [], "errors": [], "samples": {}, "warnings": []}, "error": "",
                           "finished_at": None}
    event = active_preview(session, workspace.id)
    if event is not None:
        lease = event.locked_until
        if event.state == PROCESSING and lease is not None and lease > now:
            out["state"] = "running"
            if current and progress.phase not in ("", "queued"):
                out.update(_running_figures(progress))
            else:
                out["message"] = "The sync worker is starting the preview…"
            return out
        # waiting: never claimed, or claimed by a worker that stopped (its lease ran out)
        since = max(t for t in (event.received_at, lease, event.next_attempt_at) if t is not None)
        out["state"] = "queued"
        out["stalled"] = now - since > timedelta(seconds=STALL_S)
        retrying = progress.retrying if current and (event.attempts or event.last_error) else None
        out["message"] = ("No worker has picked up the preview yet: is the worker process running? "
                          "(It is started with “flask --app server worker”.)" if out["stalled"] else
                          f"The last try did not get through ({retrying}); it is tried again shortly…" if retrying
                          else "Waiting for the sync worker to pick this up…")
        return out
    if current and progress.error:
        out.update(state="failed", error=progress.error, message=progress.error, finished_at=progress.finished_at)
    elif current and progress.finished_at and progress.plan is not None:
        out.update(state="done", plan=progress.plan, finished_at=progress.finished_at,
                   details=progress.details or out["details"], message="The preview is ready.")
    else:
        last = session.scalars(select(Event).where(Event.workspace_id == workspace.id, Event.kind == PREVIEW)
                               .order_by(Event.id.desc()).limit(1)).first()
        if last is not None and last.state == PARKED:
            message = f"The preview could not be computed: {last.last_error or 'the worker gave up on it'}."
            out.update(state="failed", error=message, message=message)
    return out


def _running_figures(progress: SyncProgress) -> dict[str, Any]:
    phase, done, total = progress.phase, progress.done, progress.total
    if phase == "reading sheet":
        message = f"Reading the sheet: {done:,} of {total:,} rows." if total else "Reading the sheet…"
    elif phase == "reading board":
        message = f"Reading the Trello board: {done:,} cards so far."
    elif phase == "comparing":
        message = f"Comparing {total:,} rows and cards…"
    else:
        message = f"{phase.capitalize()}…" if phase else "Working…"
    percent = min(100, int(done * 100 / total)) if total and phase == "reading sheet" else None
    return {"phase": phase, "done": done, "total": total, "percent": percent, "message": message}


def is_final(state: str) -> bool:
    return state in _FINAL


# --------------------------------------------------------------------------- running (the worker side)


class _PreviewTab:
    """A ``SheetTab`` that reads as if the Lead ID column existed (empty) when the sheet lacks it.

    Starting the workspace adds that column; the preview must not write anything, and every row
    without a lead id is simply a lead that has no card yet.
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


class PreviewProviders:
    """The worker's providers, with the sheet seen through ``_PreviewTab``."""

    def __init__(self, base: Providers, lead_id_column: str) -> None:
        self.base = base
        self.lead_id_column = lead_id_column

    def trello(self, session: Session, workspace: Workspace) -> Any:
        return self.base.trello(session, workspace)

    def sheet(self, session: Session, workspace: Workspace) -> Any:
        return _PreviewTab(self.base.sheet(session, workspace), self.lead_id_column)


def preview_error_message(exc: Exception) -> str:
    """Plain words for why a preview could not be computed."""
    if isinstance(exc, SheetsError):
        return sheets_error_message(exc)
    if isinstance(exc, TrelloError):
        return trello_error_message(exc)
    if isinstance(exc, SheetLayoutError):
        return f"The sheet does not match the mapping: {exc}. Go back to the wizard and check the columns."
    if isinstance(exc, MissingAccount):
        return f"{str(exc).capitalize()}: connect it on the Connections page."
    return ("The preview could not be computed because of an unexpected error (it has been logged). "
            "Check the mapping in the wizard, or try again in a moment.")


def run_preview(session: Session, workspace: Workspace, providers: Providers) -> str | None:
    """Run the dry run for a draft and store its plan (or its error) in ``sync_progress``.

    Returns a note for the event, or None when the workspace is no longer a draft (nothing run).
    The caller marks the event and commits.
    """
    if not is_draft(workspace):
        return None
    mark = PreviewMark(draft_fingerprint(workspace), queued_at=SyncProgress.of(workspace).queued_at)
    workspace_id = workspace.id
    try:
        plan = reconcile(session, workspace, PreviewProviders(providers, workspace.lead_id_column), HeaderCache(),
                         dry_run=True, progress=CommittedProgress(session, workspace, mark=mark))
    except (SheetsError, TrelloError) as exc:
        if not exc.transient:
            return _failed(session, workspace_id, mark, exc)
        # A 429 or an outage: the worker retries the event with backoff; the page says so meanwhile.
        session.rollback()
        retried = session.get(Workspace, workspace_id)
        if retried is not None:
            retried.sync_progress = mark.on(SyncProgress(phase="queued", retrying=preview_error_message(exc))).to_json()
            session.commit()
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is shown on the page in words
        return _failed(session, workspace_id, mark, exc)
    details: PreviewDetails = {"conflicts": plan.conflicts[:DETAIL_LINES], "errors": plan.errors[:DETAIL_LINES],
                               "samples": {kind: names[:DETAIL_LINES] for kind, names in plan.samples.items()},
                               "warnings": plan.warnings[:DETAIL_LINES]}
    workspace.sync_progress = replace(mark.on(SyncProgress.of(workspace)), details=details).to_json()
    return "preview computed"


def _failed(session: Session, workspace_id: str, mark: PreviewMark, exc: Exception) -> str:
    """Store why the preview could not be computed, in plain words; returns the event's note."""
    session.rollback()
    message = preview_error_message(exc)
    if not isinstance(exc, (SheetsError, TrelloError, SheetLayoutError, MissingAccount)):
        log.exception("preview_failed", workspace_id=workspace_id)
    else:
        log.info("preview_not_computed", workspace_id=workspace_id, reason=message)
    workspace = session.get(Workspace, workspace_id)
    if workspace is not None:
        failed = SyncProgress(phase="failed", error=message, finished_at=utcnow().isoformat())
        workspace.sync_progress = mark.on(failed).to_json()
    return f"preview failed: {message}"[:1000]


__all__ = [
    "ORDER_KEY",
    "STALL_S",
    "PreviewProviders",
    "active_preview",
    "draft_fingerprint",
    "is_final",
    "preview_error_message",
    "preview_status",
    "queue_preview",
    "run_preview",
]
