"""When the add-on and the Power-Up were last heard from (a verified call), for connection health.

Written at most once a minute per workspace and side, by one ``UPDATE`` that leaves the
workspace's ``updated_at`` alone, so a sidebar polling every few seconds costs almost nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from ..models import Workspace

RESOLUTION = timedelta(minutes=1)


class Caller(StrEnum):
    ADDON = "addon_last_seen_at"
    POWERUP = "powerup_last_seen_at"


def note_heard(session: Session, workspace: Workspace, caller: Caller, now: datetime) -> bool:
    """Record that ``caller`` made a verified call for ``workspace`` now (in the caller's
    transaction); returns False when the last record is recent enough to leave."""
    last = getattr(workspace, caller.value)
    if last is not None and now - last < RESOLUTION:
        return False
    column = getattr(Workspace, caller.value)
    session.execute(update(Workspace)
                    .where(Workspace.id == workspace.id, or_(column.is_(None), column < now - RESOLUTION))
                    .values({column: now, Workspace.updated_at: Workspace.updated_at})
                    .execution_options(synchronize_session=False))
    return True
