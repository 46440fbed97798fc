"""What a person can do to a workspace from its page: the state transitions, without Flask.

Each function takes the session, the workspace (already found and scoped to the signed-in user by
the view), who acts, and the collaborators it needs: a ``TrelloFactory`` (the workspace's Trello
client, or None without an account), ``forget`` (drop the engine's cached clients of a workspace)
and ``wake`` (commit, and nudge the workers to look at the inbox). It makes the change, commits
(through ``wake`` when the workers have something to do) and returns an ``Outcome``: the messages
the page shows. A refusal raises ``Refused`` before anything changes; a failed provider step
raises ``StepFailed`` after rolling the session back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import structlog
from sqlalchemy.orm import Session, object_session

from ..addon import secrets as addon_secrets
from ..addon.codes import issue_connect_code
from ..models import Event, History, User, Workspace, WorkspaceMember
from ..models.enums import Command, HistoryAction, HistorySide
from ..models.enums import Outcome as HistoryOutcome
from ..models.sync import PARKED
from ..models.sync_progress import SyncProgress
from ..models.workspace import ACTIVE, DISCONNECTED, NEEDS_REAUTH, PAUSED, is_draft
from ..sheets.client import SheetTab
from ..sheets.errors import SheetsError, sheets_error_message
from ..sync import queue
from ..sync.queue import enqueue_command
from ..trello import board_webhooks
from ..trello.client import TrelloClient
from ..trello.errors import TrelloBadRequest, TrelloError, trello_error_message
from ..trello.webhooks import callback_url, delete_board_webhook, register_board_webhook
from . import queries

log = structlog.get_logger(__name__)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
RETRY_ALL_LIMIT = 1000

TrelloFactory = Callable[[Workspace], TrelloClient | None]
SheetFactory = Callable[[Workspace], SheetTab]


@dataclass(frozen=True)
class Outcome:
    """What an action did, as (flash category, text) messages shown in order."""

    messages: tuple[tuple[str, str], ...] = ()
    connect_code: str | None = None  # a new one-time code for the add-on, shown once

    @classmethod
    def success(cls, text: str, *, warning: str | None = None, connect_code: str | None = None) -> Outcome:
        """``text`` as a success, after ``warning`` (shown as an error) when there is one."""
        warnings = (("error", warning),) if warning else ()
        return cls((*warnings, ("success", text)), connect_code)


class Refused(Exception):
    """The action was not done and nothing changed; ``str()`` says why, ``category`` how loudly."""

    def __init__(self, message: str, category: str = "error") -> None:
        super().__init__(message)
        self.category = category


class StepFailed(Refused):
    """A provider step (Lead ID column, Trello webhook) failed; the session was rolled back."""


class DraftNotStarted(Refused):
    """A draft is started from its setup page; the dashboard sends the user there."""

    def __init__(self) -> None:
        super().__init__("This workspace is a draft: start it from its setup page.", "info")


def require_owner(workspace: Workspace, user: User, what: str) -> None:
    """Refuse unless ``user`` owns the workspace (members run it but cannot ``what``)."""
    if not queries.is_owner(user, workspace):
        raise Refused(f"Only the workspace's owner can {what}.")


# --------------------------------------------------------------------------- syncing


def sync_now(session: Session, workspace: Workspace, user: User, *, wake: Callable[[], None]) -> Outcome:
    """Queue a full reconciliation of a syncing workspace."""
    if workspace.state != ACTIVE:
        raise Refused("The workspace is not syncing (it is paused, disconnected or a draft); resume it first.")
    enqueue_command(session, workspace.id, Command.RECONCILE, {"requested_by": user.id})
    wake()
    return Outcome.success("A full sync is queued; the page updates as it runs.")


def pause(session: Session, workspace: Workspace, user: User) -> Outcome:
    """Stop a syncing workspace; its events wait in the inbox until it is resumed."""
    if workspace.state != ACTIVE:
        raise Refused("Only a syncing workspace can be paused.")
    workspace.state = PAUSED
    workspace.state_detail = f"Paused by {user.email}."
    session.commit()
    return Outcome.success("Sync is paused. Changes are kept and applied when you resume.")


def resume(workspace: Workspace, *, forget: Callable[[str], None], wake: Callable[[], None]) -> Outcome:
    """Sync a paused workspace (or one waiting for re-authorisation) again; a draft is refused."""
    if is_draft(workspace):
        raise DraftNotStarted()
    if workspace.state not in (PAUSED, NEEDS_REAUTH):
        raise Refused("Only a paused workspace (or one waiting for re-authorisation) can be resumed.")
    workspace.state = ACTIVE
    workspace.state_detail = ""
    forget(workspace.id)
    wake()
    return Outcome.success("Sync resumed.")


# --------------------------------------------------------------------------- disconnect and reconnect


def disconnect(session: Session, workspace: Workspace, user: User, *, trello: TrelloFactory,
               forget: Callable[[str], None]) -> Outcome:
    """Remove the Trello webhook and refuse the add-on's events (410) until reconnected. Owner only."""
    require_owner(workspace, user, "disconnect it")
    if workspace.state == DISCONNECTED:
        raise Refused("The workspace is already disconnected.", "info")
    warning = _remove_webhook(workspace, trello)
    workspace.state = DISCONNECTED
    workspace.state_detail = f"Disconnected by {user.email}."
    workspace.connect_code_hash = None
    workspace.connect_code_expires_at = None
    session.commit()
    forget(workspace.id)
    return Outcome.success("Disconnected: the Trello webhook is removed and the add-on's events are refused.",
                           warning=warning)


def reconnect(session: Session, workspace: Workspace, user: User, *, trello: TrelloFactory, public_base_url: str,
              wake: Callable[[], None]) -> Outcome:
    """Register the Trello webhook again and queue a full sync of a disconnected workspace. Owner only."""
    require_owner(workspace, user, "reconnect it")
    if workspace.state != DISCONNECTED:
        raise Refused("The workspace is not disconnected.", "info")
    _register_webhook(session, workspace, trello, public_base_url)
    _activate(session, workspace, {"reconnected": True})
    wake()
    return Outcome.success("Reconnected: the Trello webhook is back and a full sync is queued.")


def delete(session: Session, workspace: Workspace, user: User, *, trello: TrelloFactory,
           forget: Callable[[str], None]) -> Outcome:
    """Delete the workspace with its links, events and history; the sheet and board are untouched. Owner only."""
    require_owner(workspace, user, "delete it")
    warning = _remove_webhook(workspace, trello)
    name, workspace_id = workspace.name, workspace.id
    forget(workspace_id)
    session.delete(workspace)
    session.commit()
    log.info("workspace_deleted", workspace_id=workspace_id, user_id=user.id)
    return Outcome.success(f"The workspace “{name}” is deleted. The sheet and the board are untouched.",
                           warning=warning)


def _activate(session: Session, workspace: Workspace, reason: dict[str, Any]) -> None:
    """Let the workspace sync, starting with a full reconciliation (``reason`` is its payload)."""
    workspace.state = ACTIVE
    workspace.state_detail = ""
    enqueue_command(session, workspace.id, Command.RECONCILE, reason)


def _step_failed(session: Session, message: str) -> StepFailed:
    """Roll back what the failed step left half done; returns the exception to raise."""
    session.rollback()
    return StepFailed(message)


def _register_webhook(session: Session, workspace: Workspace, trello: TrelloFactory, public_base_url: str) -> None:
    """Register the board's webhook; else roll back and raise ``StepFailed`` saying why."""
    client = trello(workspace)
    if client is None:
        raise _step_failed(session, "This workspace has no Trello account; connect Trello on the Connections page.")
    try:
        register_board_webhook(workspace, client, public_base_url)
        for row in board_webhooks.rows_of(session, workspace.id):  # the routed boards' webhooks too
            board_webhooks.register(row, client, public_base_url)
    except TrelloBadRequest as exc:
        log.info("trello_webhook_refused", workspace_id=workspace.id, error=str(exc))
        raise _step_failed(session, f"Trello could not register the board's webhook: it must reach "
                                    f"{callback_url(public_base_url, workspace.id)}. Check that PUBLIC_BASE_URL is "
                                    f"this server's public HTTPS address. ({exc})") from exc


def _remove_webhook(workspace: Workspace, trello: TrelloFactory) -> str | None:
    """Delete the board webhook; a warning when Trello could not be asked (the webhook is forgotten anyway)."""
    if not workspace.trello_webhook_id:
        return None
    client = trello(workspace)
    if client is None:
        workspace.trello_webhook_id = None
        workspace.trello_webhook_callback = None
        return ("The Trello webhook could not be removed (no Trello account); Trello removes it on its next "
                "delivery, which this server refuses.")
    try:
        delete_board_webhook(workspace, client)
        for row in board_webhooks.rows_of(object_session(workspace), workspace.id):  # type: ignore[arg-type]
            board_webhooks.delete(row, client)
    except TrelloError as exc:
        log.info("trello_webhook_delete_failed", workspace_id=workspace.id, error=str(exc))
        workspace.trello_webhook_id = None
        workspace.trello_webhook_callback = None
        return (f"Trello did not remove the webhook ({trello_error_message(exc)}) It stops by itself: this server "
                "answers its deliveries with 410 Gone.")
    return None


# --------------------------------------------------------------------------- start a draft, connect codes


def start(session: Session, workspace: Workspace, user: User, *, sheet: SheetFactory, trello: TrelloFactory,
          public_base_url: str, wake: Callable[[], None]) -> Outcome:
    """Confirm a draft: Lead ID column, Trello webhook, first sync queued; the outcome carries a connect code."""
    if not is_draft(workspace):
        raise Refused("This workspace is already set up.", "info")
    require_owner(workspace, user, "start it")
    _ensure_lead_id_column(session, workspace, sheet)
    _register_webhook(session, workspace, trello, public_base_url)
    workspace.sync_progress = SyncProgress(phase="queued").to_json()
    _activate(session, workspace, {"first_sync": True})
    code = issue_connect_code(session, workspace)
    wake()
    log.info("workspace_started", workspace_id=workspace.id, webhook_id=workspace.trello_webhook_id)
    return Outcome.success("The workspace is created and its first sync is queued.", connect_code=code)


def _ensure_lead_id_column(session: Session, workspace: Workspace, sheet: SheetFactory) -> None:
    """Add the Lead ID header cell when the sheet lacks it; else roll back and raise ``StepFailed`` saying why."""
    try:
        tab = sheet(workspace)
        header = tab.header(workspace.header_row)
        if workspace.lead_id_column in header:
            return
        _, columns = tab.grid_size()
        if tab.sheet_id is not None:
            workspace.sheet_gid = tab.sheet_id
        if len(header) >= columns:
            raise _step_failed(session, f"The tab “{workspace.sheet_name}” has no free column for "
                                        f"“{workspace.lead_id_column}”. Add an empty column at the right of the "
                                        "header, then start again.")
        tab.write_cells([(workspace.header_row, len(header) + 1, workspace.lead_id_column)])
    except SheetsError as exc:
        raise _step_failed(session, sheets_error_message(exc)) from exc


def new_connect_code(session: Session, workspace: Workspace) -> Outcome:
    """A new one-time code for the add-on (replacing any earlier one) of a started, connected workspace."""
    if is_draft(workspace) or workspace.state == DISCONNECTED:
        raise Refused("Start (or reconnect) the workspace before connecting the add-on.")
    code = issue_connect_code(session, workspace)
    session.commit()
    return Outcome(connect_code=code)


def rotate_addon_secret(session: Session, workspace: Workspace, user: User, *, grace: timedelta,
                        now: datetime | None = None) -> Outcome:
    """Give the add-on a new signing secret (the old one works for ``grace`` more), record it in the
    history, and make a connect code for reconnecting the add-on (not for a disconnected workspace,
    which must be reconnected first). Owner only."""
    require_owner(workspace, user, "rotate its add-on secret")
    if is_draft(workspace):
        raise Refused("A draft has no add-on connected yet: start it first (its add-on gets a fresh secret).")
    now = now or datetime.now(timezone.utc)
    addon_secrets.rotate(workspace, grace=grace, now=now)
    if grace:
        until = f"the old secret keeps working until {workspace.addon_secret_previous_until:%Y-%m-%d %H:%M} UTC"
    else:
        until = "the old secret is refused from now on"
    session.add(History(workspace_id=workspace.id, side=HistorySide.SYSTEM, action=HistoryAction.ROTATE_ADDON_SECRET,
                        outcome=HistoryOutcome.OK,
                        message=f"Add-on secret rotated by {user.email}; {until}."))
    code = issue_connect_code(session, workspace) if workspace.state != DISCONNECTED else None
    session.commit()
    log.info("addon_secret_rotated", workspace_id=workspace.id, user_id=user.id, grace_s=int(grace.total_seconds()))
    then = ("Connect the add-on again with the code below: in the spreadsheet choose Leads Sync › Connect to "
            "server…" if code else "Reconnect the workspace, then make a connect code for the add-on.")
    return Outcome.success(f"The add-on has a new secret; {until}. {then}", connect_code=code)


def void_connect_codes(workspaces: list[Workspace]) -> int:
    """Make unused add-on connect codes of ``workspaces`` unusable (the caller commits); returns how many.

    "Sign out everywhere" does this: a session taken over could have made a code to trade for the
    add-on's secret."""
    voided = 0
    for workspace in workspaces:
        if workspace.connect_code_hash is not None:
            workspace.connect_code_hash = None
            workspace.connect_code_expires_at = None
            voided += 1
    return voided


# --------------------------------------------------------------------------- parked events


def retry_event(event: Event, *, wake: Callable[[], None]) -> Outcome:
    """Queue a parked event again, as if it had never been tried."""
    if event.state != PARKED:
        raise Refused("That event is not parked any more.", "info")
    queue.requeue(event)
    wake()
    return Outcome.success(f"Event {event.id} is queued again.")


def retry_parked(session: Session, workspace: Workspace, *, wake: Callable[[], None]) -> Outcome:
    """Queue every parked event of the workspace again (the newest thousand)."""
    events = queries.parked_events(session, workspace, limit=RETRY_ALL_LIMIT)
    for event in events:
        queue.requeue(event)
    wake()
    return Outcome.success(f"{len(events)} parked event(s) queued again." if events else "Nothing is parked.")


# --------------------------------------------------------------------------- members


def invite(session: Session, workspace: Workspace, user: User, email: str) -> Outcome:
    """Let the person with ``email`` see and run the workspace once signed in. Owner only."""
    require_owner(workspace, user, "invite members")
    email = email.strip()
    if not EMAIL.match(email) or len(email) > 320:
        raise Refused("Enter an email address, like sam@example.com.")
    owner = queries.owner_of(session, workspace)
    if owner is not None and owner.email.strip().lower() == email.lower():
        raise Refused("That is the owner's address.", "info")
    if queries.member_by_email(session, workspace, email) is not None:
        raise Refused(f"{email} is already a member.", "info")
    session.add(WorkspaceMember(workspace_id=workspace.id, email=email.lower()))
    session.commit()
    return Outcome.success(f"{email} can now see and run this workspace after signing in with that address.")


def remove_member(session: Session, workspace: Workspace, user: User, member: WorkspaceMember) -> Outcome:
    """Take a member's access away. Owner only."""
    require_owner(workspace, user, "remove members")
    email = member.email
    session.delete(member)
    session.commit()
    return Outcome.success(f"{email} is no longer a member.")


__all__ = ["Outcome", "Refused", "StepFailed", "DraftNotStarted", "TrelloFactory", "SheetFactory", "require_owner",
           "sync_now", "pause", "resume", "disconnect", "reconnect", "delete", "start", "new_connect_code",
           "rotate_addon_secret", "void_connect_codes", "retry_event", "retry_parked", "invite", "remove_member"]
