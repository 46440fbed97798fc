"""Apply claimed groups: one lead's events at a time, each in its own session, and sheet flushes.

For each group the processor loads its events, lets their handlers (``handlers.py``) feed the
lead's ``LeadWork``, finishes the merge and commits the lead's effects with its events' states in
one transaction. A failure rolls back that lead only and tells the queue what to do with its
events (``_fail``): defer them to a rate-limit slot (the workspace is then *gated* for the worker,
which goes on with other workspaces), retry with backoff, wait for re-authorisation, or park.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from ..models import Event, Link, Workspace
from ..models.enums import EventSource, HistoryAction, HistorySide, LinkSyncState, Outcome
from ..models.sync import DONE, IGNORED, LINKED, PARKED, PENDING, PROCESSING
from ..models.sync_progress import SyncProgress
from ..models.workspace import NEEDS_REAUTH
from ..sheets.errors import SheetsAuthError, SheetsError, SheetsRateLimited
from ..trello.errors import TrelloAuthError, TrelloError, TrelloRateLimited
from . import queue
from .grants import mark_account_broken
from .handlers import handler_for, payload_of
from .history import record
from .inbox import CARD_APPEARS
from .leadwork import Context, LeadWork
from .mapping import Mapping, MappingError, cell_text
from .merge import Side, load_clocks
from .observe import observe_update, workspace_member
from .outcomes import Defer, SyncError
from .providers import MissingAccount, Providers
from .ratelimit import SlotLater
from .settings import EngineSettings
from .sheet_flush import flush_workspace
from .sheet_writer import HeaderCache, SheetLayoutError

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Result:
    """How a group or a flush went, as far as the worker's scheduling cares."""

    gate_until: datetime | None = None  # the workspace has no rate-limit slot until then
    marked: bool = False  # the lead's sheet outbox has cells to write


class Processor:
    """Applies groups and flushes to the providers. Shared by the worker loop and the tests."""

    def __init__(self, session_factory: sessionmaker[Session], providers: Providers, settings: EngineSettings,
                 worker_id: str = "worker") -> None:
        self.session_factory = session_factory
        self.providers = providers
        self.settings = settings
        self.worker_id = worker_id
        self.headers = HeaderCache()
        self.on_outbound: Callable[[str, int], None] | None = None  # benchmark hook: (kind, event id)
        self._members: dict[int, str | None] = {}

    # ------------------------------------------------------------------ groups

    def run_group(self, group: queue.Group) -> Result:
        with self.session_factory() as session:
            events = [e for e in queue.load_events(session, group.event_ids)
                      if e.state == PROCESSING and e.locked_by == self.worker_id]
            workspace = session.get(Workspace, group.workspace_id)
            if not events or workspace is None:
                return Result()
            events.sort(key=lambda e: (e.occurred_at or e.received_at, e.id))
            event_ids = [e.id for e in events]  # read now: after a failed flush the objects are unusable
            try:
                work = LeadWork(self._context(session, workspace), events, group.order_key)  # MappingError: parked
                for event in events:
                    self._handle(work, event)
                work.finish()
                marked = work.link is not None and work.link.sheet_pending is not None
                self._commit(session, work, events)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded on the events
                return self.fail(session, group.workspace_id, event_ids, exc)
        return Result(marked=marked)

    def _context(self, session: Session, workspace: Workspace) -> Context:
        account_id = workspace.trello_account_id or 0
        if account_id not in self._members:
            self._members[account_id] = workspace_member(workspace, session)
        return Context(session=session, workspace=workspace,
                       mapping=Mapping.of(workspace),
                       providers=self.providers, settings=self.settings, trello_member=self._members[account_id],
                       outbound=self._outbound, headers=self.headers)

    def _handle(self, work: LeadWork, event: Event) -> None:
        """One event; a problem only that event has (a status with no list) parks it alone."""
        handler = handler_for(event)
        if handler is None:
            work.done(event, "unknown event", IGNORED)
            return
        try:
            handler(work, event, payload_of(event))
        except (SyncError, SheetLayoutError) as exc:
            work.outcome[event.id] = (PARKED, str(exc))

    def _commit(self, session: Session, work: LeadWork, events: list[Event]) -> None:
        for event in events:
            state, note = work.outcome.get(event.id, (DONE, ""))
            if state == PARKED:
                self._park(session, work.workspace.id, event, note, work.link)
            else:
                queue.finish(session, event, state=state, note=note)
        session.commit()

    def settle_echoes(self, groups: list[queue.Group]) -> list[queue.Group]:
        """Finish, in one transaction, the echo-only groups whose echoes tell nothing new: each
        field Trello was given is the shadow's and landed no later than our call's answer said.
        That is what the merge would conclude, without a session and a commit per lead. Returns
        the groups that need the full work (a late landing of a timed-out call, a link that moved on)."""
        rest: list[queue.Group] = []
        with self.session_factory() as session:
            for group in groups:
                if not self._echoes_are_known(session, group):
                    rest.append(group)
            session.commit()
        return rest

    def _echoes_are_known(self, session: Session, group: queue.Group) -> bool:
        kind, _, key = group.order_key.partition(":")
        events = [e for e in queue.load_events(session, group.event_ids)
                  if e.state == PROCESSING and e.locked_by == self.worker_id and e.echo
                  and e.source == EventSource.TRELLO]
        workspace = session.get(Workspace, group.workspace_id)
        if len(events) != len(group.event_ids) or workspace is None:
            return False
        if all(e.kind in CARD_APPEARS for e in events):  # our creation's echo: the card is ours already
            return self._creations_known(session, workspace, events)
        if kind != "lead":
            return False
        link = session.scalars(select(Link).where(Link.workspace_id == workspace.id, Link.lead_id == key)).first()
        if link is None or link.status != LINKED:
            return False
        try:
            context = self._context(session, workspace)
        except MappingError:
            return False  # the full path parks the events with the mapping's problem
        mapping = context.mapping
        clocks = load_clocks(link.field_times)
        shadow = link.shadow or {}
        work = LeadWork(context, events, group.order_key)
        for event in events:
            action = payload_of(event)
            if event.kind != "updateCard":
                return False
            observed = observe_update(action, link, mapping, ours=True)
            if observed.closed is not None:
                return False
            for landing in observed.landings:
                clock = clocks.get(landing.field)
                if clock is None or landing.at > clock.wt or \
                        not work.same(Side.TRELLO, landing.field, landing.value, cell_text(shadow.get(landing.field))):
                    return False
        for event in events:
            queue.finish(session, event, note="echo of our own write")
        return True

    @staticmethod
    def _creations_known(session: Session, workspace: Workspace, events: list[Event]) -> bool:
        """A card our call created, already linked: what ``handlers.trello_action`` concludes too."""
        card_ids = {((payload_of(e).get("data") or {}).get("card") or {}).get("id") for e in events}
        if len(card_ids) != 1 or None in card_ids:
            return False
        linked = session.scalars(select(Link.id).where(Link.workspace_id == workspace.id,
                                                       Link.card_id == card_ids.pop())).first()
        if linked is None:
            return False  # the creation's answer is not committed yet: the full path waits for it
        for event in events:
            queue.finish(session, event, state=IGNORED, note="the card is already linked")
        return True

    # ------------------------------------------------------------------ sheet flushes

    def flush_sheet(self, workspace_id: str) -> Result:
        """Write a workspace's sheet outbox (``sheet_flush.py``)."""
        with self.session_factory() as session:
            workspace = session.get(Workspace, workspace_id)
            if workspace is None:
                return Result()
            try:
                flush_workspace(session, workspace, self.providers, self.headers, on_written=self._sheets_written)
            except Exception as exc:  # noqa: BLE001 - the marks stay; the worker tries again later
                session.rollback()
                return self._flush_failed(session, workspace, exc)
        return Result()

    def _sheets_written(self, event_ids: list[int]) -> None:
        if self.on_outbound:
            for event_id in event_ids:
                self.on_outbound("sheets", event_id)

    def _flush_failed(self, session: Session, workspace: Workspace, exc: Exception) -> Result:
        delay = _rate_limit_wait(exc)
        if delay is not None:
            return Result(gate_until=utcnow() + timedelta(seconds=delay))
        message = plain_error(exc)
        if isinstance(exc, (SheetsAuthError, MissingAccount)):
            self._needs_reauth(session, workspace.id, exc, message)
            session.commit()
            return Result(gate_until=utcnow() + timedelta(seconds=self.settings.backoff_max_s))
        streak = SyncProgress.of(workspace).sheet_failures + 1
        if isinstance(exc, SheetLayoutError) or streak in (1, 3) or streak % 20 == 0:
            record(session, workspace.id, side=HistorySide.SYSTEM, action=HistoryAction.ERROR, outcome=Outcome.ERROR,
                   message=f"writing to the sheet failed, will try again: {message}")
        workspace.sync_progress = replace(SyncProgress.of(workspace), sheet_failures=streak).to_json()
        session.commit()
        log.info("sheet_flush_failed", workspace_id=workspace.id, reason=message)
        return Result(gate_until=utcnow() + timedelta(seconds=queue.backoff_s(
            streak, self.settings.backoff_base_s, self.settings.backoff_max_s)))

    # ------------------------------------------------------------------ failures

    def fail(self, session: Session, workspace_id: str, event_ids: list[int], exc: Exception,
             locked_by: str | None = None) -> Result:
        """Tell the queue what to do with a failed group's (or job's) events; one transaction."""
        session.rollback()
        events = [e for e in queue.load_events(session, event_ids)
                  if e.state == PROCESSING and e.locked_by == (locked_by or self.worker_id)]
        message = plain_error(exc)
        result = Result()
        wait = _rate_limit_wait(exc)
        if wait is not None:
            result.gate_until = utcnow() + timedelta(seconds=wait)
            for event in events:
                queue.defer(event, wait, message)
        elif isinstance(exc, (Defer, StaleDataError)):
            delay = exc.delay_s if isinstance(exc, Defer) else 0.05
            for event in events:
                queue.defer(event, delay, message if isinstance(exc, Defer) else "the lead changed meanwhile; again")
        elif isinstance(exc, (TrelloAuthError, SheetsAuthError, MissingAccount)):
            self._needs_reauth(session, workspace_id, exc, message)
            for event in events:
                queue.defer(event, 0.0, message)
        else:
            for event in events:
                if is_transient(exc) and event.attempts < self.settings.max_attempts:
                    queue.retry_later(event, queue.backoff_s(event.attempts, self.settings.backoff_base_s,
                                                              self.settings.backoff_max_s), message)
                else:
                    self._park(session, workspace_id, event, message, None)
        if isinstance(exc, (Defer, StaleDataError, SyncError, TrelloError, SheetsError, MissingAccount,
                            SheetLayoutError, SlotLater)):
            log.info("events_not_applied", workspace_id=workspace_id, events=event_ids, reason=message)
        else:
            log.exception("events_failed", workspace_id=workspace_id, events=event_ids, exc_info=exc)
        session.commit()
        return result

    def _park(self, session: Session, workspace_id: str, event: Event, message: str, link: Link | None) -> None:
        queue.park(event, message)
        if link is None:
            link = _link_of(session, workspace_id, event.order_key)
        if link is not None:
            link.sync_state = LinkSyncState.ERROR
            link.last_error = message
        record(session, workspace_id, side=event.source, action=HistoryAction.ERROR, event_id=event.id,
               outcome=Outcome.ERROR, lead_id=link.lead_id if link is not None else None, message=message)

    def _needs_reauth(self, session: Session, workspace_id: str, exc: Exception, message: str) -> None:
        workspace = session.get(Workspace, workspace_id)
        if workspace is None:
            return
        workspace.state = NEEDS_REAUTH
        workspace.state_detail = message
        account_id = workspace.trello_account_id if isinstance(exc, TrelloAuthError) else (
            workspace.google_account_id if isinstance(exc, SheetsAuthError) else None)
        record(session, workspace_id, side=HistorySide.SYSTEM, action=HistoryAction.NEEDS_REAUTH, outcome=Outcome.ERROR,
               message=message)
        if account_id:  # every other workspace using the account stops too (server/sync/grants.py)
            mark_account_broken(session, account_id, message)

    def _outbound(self, kind: str, event_id: int) -> None:
        if self.on_outbound:
            self.on_outbound(kind, event_id)


def _link_of(session: Session, workspace_id: str, order_key: str) -> Link | None:
    kind, _, value = order_key.partition(":")
    column = {"lead": Link.lead_id, "card": Link.card_id}.get(kind)
    if column is None:
        return None
    return session.scalars(select(Link).where(Link.workspace_id == workspace_id, column == value)).first()


def _rate_limit_wait(exc: Exception) -> float | None:
    """Seconds until the provider account may be called again, for a rate-limit refusal."""
    if isinstance(exc, SlotLater):
        return max(0.0, exc.wait_s)
    if isinstance(exc, (TrelloRateLimited, SheetsRateLimited)):
        return max(0.0, float(exc.retry_after))
    return None


def is_transient(exc: Exception) -> bool:
    if isinstance(exc, (SyncError, SheetLayoutError)):
        return False
    if isinstance(exc, (TrelloError, SheetsError)):
        return exc.transient
    return True  # unexpected errors (a bug, a dropped DB connection) are retried, then parked


def plain_error(exc: Exception) -> str:
    if isinstance(exc, (TrelloRateLimited, SheetsRateLimited)):
        who = "Trello" if isinstance(exc, TrelloRateLimited) else "Google Sheets"
        return f"{who} asked us to slow down; trying again in {exc.retry_after:g} s"
    if isinstance(exc, SlotLater):
        return f"waiting for the provider's rate limit; next slot in {exc.wait_s:.2g} s"
    text = str(exc) or type(exc).__name__
    return text[:1000]


__all__ = ["Processor", "Result", "PENDING", "plain_error", "is_transient"]
