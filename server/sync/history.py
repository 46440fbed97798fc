"""Writing the history log the dashboard shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..models import History
from ..models.enums import HistoryAction, Outcome


def record(session: Session, workspace_id: str, *, side: str, action: HistoryAction, lead_id: str | None = None,
           card_id: str | None = None, event_id: int | None = None, changes: dict[str, Any] | None = None,
           outcome: Outcome = Outcome.OK, message: str = "") -> None:
    """One history line; ``side`` is a ``HistorySide`` (``merge.Side`` and ``EventSource`` values are among them)."""
    session.add(History(workspace_id=workspace_id, side=side, action=action, lead_id=lead_id, card_id=card_id,
                        event_id=event_id, changes=changes or {}, outcome=outcome, message=message[:2000]))


def changes_of(applied: dict[str, tuple[Any, Any]]) -> dict[str, list[Any]]:
    return {name: [old, new] for name, (old, new) in applied.items()}
