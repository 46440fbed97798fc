"""Readiness: the database answers, a worker was heard from lately, and live edits are not piling up.

Plain functions over an engine and a clock, so the probe is tested without waiting for real time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..models import Event, Workspace
from ..models.sync import PENDING, PROCESSING, Lane
from ..models.workspace import ACTIVE
from . import heartbeat


@dataclass(frozen=True)
class Thresholds:
    worker_max_age_s: float = 60.0  # 0: do not require a worker
    backlog_max_age_s: float = 300.0  # 0: do not look at the backlog


@dataclass
class Readiness:
    ok: bool
    checks: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok" if self.ok else "unavailable", **self.checks}
        if self.reasons:
            body["reason"] = "; ".join(self.reasons)
        return body


def oldest_pending(engine: Engine) -> dict[int, datetime]:
    """Per lane, when the oldest event still waiting (or being applied) in an active workspace arrived.

    Paused workspaces and those waiting for re-authorisation are left out: their events wait on
    purpose. One aggregate over the unfinished events (``ix_events_state``), not the whole table.
    """
    query = (select(Event.lane, func.min(Event.received_at))
             .join(Workspace, Workspace.id == Event.workspace_id)
             .where(Event.state.in_((PENDING, PROCESSING)), Workspace.state == ACTIVE)
             .group_by(Event.lane))
    with engine.connect() as connection:
        return {int(lane): as_utc(at) for lane, at in connection.execute(query).all() if at is not None}


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def check(engine: Engine, thresholds: Thresholds, clock: Callable[[], datetime]) -> Readiness:
    """What ``/ready`` answers."""
    result = Readiness(ok=True)
    try:
        now = clock()
        if thresholds.worker_max_age_s > 0:
            beats = heartbeat.seen(engine)
            newest = max((as_utc(b.seen_at) for b in beats), default=None)
            age = None if newest is None else max(0.0, (now - newest).total_seconds())
            result.checks["worker_last_seen_s"] = None if age is None else round(age, 1)
            if age is None:
                result.reasons.append("no sync worker has been heard from")
            elif age > thresholds.worker_max_age_s:
                result.reasons.append(f"no sync worker heard from for {age:.0f} s "
                                      f"(more than {thresholds.worker_max_age_s:g} s)")
        if thresholds.backlog_max_age_s > 0:
            oldest = oldest_pending(engine).get(int(Lane.LIVE))
            age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
            result.checks["oldest_live_event_s"] = round(age, 1)
            if age > thresholds.backlog_max_age_s:
                result.reasons.append(f"the oldest waiting live event arrived {age:.0f} s ago "
                                      f"(more than {thresholds.backlog_max_age_s:g} s)")
        result.checks["database"] = "ok"
    except SQLAlchemyError as exc:
        result.checks["database"] = type(exc).__name__
        result.reasons.append("the database does not answer")
    result.ok = not result.reasons
    return result
