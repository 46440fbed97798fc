"""The sheet outbox: bring each marked lead's cells to its shadow, a workspace's marks at once.

A lead's work marks the cells the sheet must be given (``Link.sheet_pending``) in the same
transaction as its decision; the sheet is written here, later: the header row and each marked
lead's Lead ID cell where it was last seen in one ``values.batchGet`` (the whole column only when
a lead moved or rows are appended), one RAW ``values.batchUpdate``, one ``values.append``. The
values written are the shadow's *at flush time*, so a mark a newer decision overtook writes the
newer value, never an older one.

When: a workspace's marks wait while more keep coming, so a burst of card moves becomes one
write. A lone mark waits ``probe_s`` (long enough for a burst's next change to arrive); several
wait for a ``window_s`` quiet gap, never more than ``MAX_SETTLE_FACTOR`` windows after the oldest.

Each link is then updated only if no one changed it meanwhile (its ``version``); one that was
changed keeps its mark and is written again with its newer values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from .. import metrics
from ..models import Link, Workspace
from ..models.enums import HistoryAction, HistorySide, LinkSyncState, Outcome, PendingOp
from ..models.workspace import ACTIVE
from .cards import now_ms
from .history import record
from .mapping import cell_text
from .merge import dump_clocks, load_clocks
from .providers import Providers
from .sheet_writer import HeaderCache, RowAppend, RowPatch, flush

log = structlog.get_logger(__name__)

MAX_SETTLE_FACTOR = 8
MAX_LINKS_PER_FLUSH = 2000


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


# The marked links only, through the partial index ix_links_marked, which holds nothing else (a
# range on sheet_marked_at implies its "IS NOT NULL" for SQLite's planner; grouped here, since
# grouped in SQL it walks every link in workspace order instead).
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_MARKED = select(Link.workspace_id, Link.sheet_marked_at).where(Link.sheet_marked_at >= _EPOCH)
# a workspace's marked links, oldest first: the same index's (workspace_id, sheet_marked_at) order
_MARKED_LINKS = (select(Link).where(Link.workspace_id == bindparam("workspace_id"), Link.sheet_marked_at.is_not(None))
                 .order_by(Link.sheet_marked_at).limit(MAX_LINKS_PER_FLUSH))
_ACTIVE = select(Workspace.id).where(Workspace.id.in_(bindparam("ids", expanding=True)), Workspace.state == ACTIVE)


def due(session: Session, now: datetime, probe_s: float, window_s: float) -> tuple[list[str], datetime | None]:
    """(workspaces whose marks are due now, when the next one will be)."""
    ready: list[str] = []
    next_at: datetime | None = None
    marks: dict[str, list[datetime]] = {}
    for workspace_id, marked_at in session.execute(_MARKED).all():
        marks.setdefault(workspace_id, []).append(_aware(marked_at) or now)
    active = set(session.scalars(_ACTIVE, {"ids": list(marks)}).all()) if marks else set()
    for workspace_id, times in marks.items():
        if workspace_id not in active:
            continue
        oldest, newest, count = min(times), max(times), len(times)
        gap = timedelta(seconds=window_s if count > 1 else probe_s)
        at: datetime = min(newest + gap, oldest + timedelta(seconds=window_s * MAX_SETTLE_FACTOR))
        if at <= now:
            ready.append(workspace_id)
        else:
            next_at = at if next_at is None else min(next_at, at)
    return ready, next_at


@dataclass
class FlushReport:
    written: int = 0
    appended: int = 0
    missing: list[str] = field(default_factory=list)
    events: list[int] = field(default_factory=list)  # the events whose cells were written (benchmark)


def flush_workspace(session: Session, workspace: Workspace, providers: Providers, headers: HeaderCache,
                    *, on_written: Callable[[list[int]], None] | None = None) -> FlushReport:
    """Write a workspace's marked cells (see the module docstring). Provider errors propagate;
    nothing is cleared then, so the marks are written by a later flush."""
    links = session.scalars(_MARKED_LINKS, {"workspace_id": workspace.id}).all()
    report = FlushReport()
    if not links:
        return report
    seen = {link.id: (link.version, dict(link.sheet_pending or {})) for link in links}
    patches: list[RowPatch] = []
    appends: list[RowAppend] = []
    written: dict[int, list[str]] = {}
    for link in links:
        pending = seen[link.id][1]
        shadow = {k: cell_text(v) for k, v in (link.shadow or {}).items()}
        if pending.get("id_row"):
            patches.append(RowPatch(link.lead_id, {workspace.lead_id_column: link.lead_id}, row=int(pending["id_row"])))
        if pending.get("append"):
            appends.append(RowAppend(link.lead_id, shadow))
            written[link.id] = list(shadow)
            continue
        cells = {name: shadow.get(name, "") for name in pending.get("fields", [])}
        if cells:
            patches.append(RowPatch(link.lead_id, cells, hint=link.row_number))
            written[link.id] = list(cells)
        report.events.extend(pending.get("events", []))
    tab = providers.sheet(session, workspace)
    result = flush(tab, workspace.id, headers, workspace.lead_id_column, patches, appends, workspace.header_row)
    if on_written is not None:
        on_written(report.events)
    now = now_ms()
    report.written, report.appended = result.cells, result.appended
    for link in links:
        version, pending = seen[link.id]
        clocks = load_clocks(link.field_times)
        metrics.sheet_written(clocks, written.get(link.id, []), now)
        for name in written.get(link.id, []):
            if name in clocks:
                clocks[name].ws = now
        values: dict[str, Any] = {"field_times": {**(link.field_times or {}), **dump_clocks(clocks)},
                                  "sheet_pending": None, "sheet_marked_at": None, "version": version + 1}
        if link.lead_id in result.rows:
            values["row_number"] = result.rows[link.lead_id]
        if pending.get("append") and link.pending_op == PendingOp.APPEND_ROW:
            values["pending_op"] = None
        if link.lead_id in result.missing:
            values.update(sync_state=LinkSyncState.ERROR, last_error="the lead's row was not found in the sheet")
            report.missing.append(link.lead_id)
        elif link.sync_state != LinkSyncState.ERROR or link.last_error == "the lead's row was not found in the sheet":
            values.update(sync_state=LinkSyncState.SYNCED, last_error="")
        session.execute(update(Link).where(Link.id == link.id, Link.version == version).values(**values)
                        .execution_options(synchronize_session=False))
    for lead_id in report.missing:
        record(session, workspace.id, side=HistorySide.TRELLO, action=HistoryAction.UPDATE_ROW, lead_id=lead_id,
               outcome=Outcome.ERROR, message="the lead's row was not found in the sheet; it may have been deleted")
    session.commit()
    session.expire_all()
    return report
