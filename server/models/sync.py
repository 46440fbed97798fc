"""Sync state: links between leads and cards, the events inbox, and the history log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, UTCDateTime, utcnow
from .enums import Command, EventSource, EventState, Lane, LinkStatus, LinkSyncState, Outcome
from .field_times import FieldTimes

# ``EventState`` and ``Lane`` live in ``enums.py`` with the other stored states; the short names
# are kept (each is the enum member): queries and the dashboard compare with them.
PENDING, PROCESSING, DONE, IGNORED, PARKED = (EventState.PENDING, EventState.PROCESSING, EventState.DONE,
                                              EventState.IGNORED, EventState.PARKED)

# Link.status values (``LinkStatus``)
LINKED, UNLINKED, ROW_REMOVED, CARD_REMOVED = (LinkStatus.LINKED, LinkStatus.UNLINKED, LinkStatus.ROW_REMOVED,
                                               LinkStatus.CARD_REMOVED)


class Link(Base):
    """One lead (a sheet row, by its stable lead id) linked to one Trello card.

    ``shadow`` holds, per field, the value last synced to both sides; ``field_times`` the
    provider timestamp (ms) of the newest change applied to that field. Together they drop our
    own echoes and decide conflicts.
    """

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("workspace_id", "lead_id"),
        UniqueConstraint("workspace_id", "card_id"),
        Index("ix_links_pending", "workspace_id", "pending_op"),
        # only the links with cells to write (the sheet outbox): a walk of a few rows at any size
        Index("ix_links_marked", "workspace_id", "sheet_marked_at",
              sqlite_where=text("sheet_marked_at IS NOT NULL"), postgresql_where=text("sheet_marked_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    lead_id: Mapped[str] = mapped_column(String(64))
    card_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=LINKED)  # LinkStatus
    shadow: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Per field, what the merge remembers (``field_times.FieldClockJSON``; read by ``merge.load_clocks``).
    field_times: Mapped[FieldTimes] = mapped_column(JSON, default=dict)
    # Card-side state: a person's text of the description, why the card left the board, the
    # ledger of our recent card writes, a creation in flight. Read and written through
    # ``card_extra.CardExtra`` (``CardExtra.of(link)``, ``.to_json()``).
    card_extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    row_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # ``PendingOp`` while a creation is in flight (crash recovery looks for it)
    pending_op: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Cells the sheet must be brought to (a sheet outbox): {"fields": [...]} to write the shadow's
    # values, "append": a row to add, "id_row": a row that needs its Lead ID written. Marked in
    # the same transaction as the decision; ``sheet_flush.py`` writes them, a burst at once.
    sheet_pending: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    sheet_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Optimistic concurrency: an update of a link another worker changed meanwhile fails
    # (StaleDataError) and the work is tried again, instead of overwriting the other's change.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    sync_state: Mapped[str] = mapped_column(String(16), default=LinkSyncState.SYNCED)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


JOB_KINDS = (Command.RECONCILE, Command.PREVIEW)  # system commands that are whole-workspace jobs


def _default_lane(context: Any) -> int:
    """Whole-workspace jobs go to the job lane however they were queued; anything else is live."""
    parameters = context.get_current_parameters()
    is_job = parameters.get("source") == EventSource.SYSTEM and parameters.get("kind") in JOB_KINDS
    return int(Lane.JOB if is_job else Lane.LIVE)


class Event(Base):
    """A webhook delivery stored durably before it is answered; the worker applies it later."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "source", "provider_event_id"),
        Index("ix_events_state", "state", "locked_until"),  # unfinished events; expired leases
        Index("ix_events_order", "workspace_id", "order_key", "id"),
        # a workspace's ready events in claim order (server/sync/queue.py finds candidates by it)
        Index("ix_events_pick", "workspace_id", "state", "lane", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # EventSource
    provider_event_id: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(40))  # SheetEventKind, Trello's action type ("updateCard"), Command
    # Events with the same key (one lead or card) are applied in arrival order.
    order_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)  # EventState
    lane: Mapped[int] = mapped_column(SmallInteger, default=_default_lane, server_default="0")
    # A Trello action our own call made (its provenance says so): it tells what Trello then held,
    # never a person's change, and never waits for a burst of changes to settle.
    echo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class History(Base):
    """What the sync did, from which side, and how it ended; the dashboard shows it."""

    __tablename__ = "history"
    __table_args__ = (
        Index("ix_history_workspace", "workspace_id", "id"),
        Index("ix_history_lead", "workspace_id", "lead_id", "id"),  # one lead's timeline
        Index("ix_history_outcome", "workspace_id", "outcome", "id"),  # errors / conflicts only
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(BigIntPK, nullable=True)
    lead_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    card_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    side: Mapped[str] = mapped_column(String(16))  # HistorySide: where the change came from
    action: Mapped[str] = mapped_column(String(32))  # HistoryAction
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {field: [old, new]}
    outcome: Mapped[str] = mapped_column(String(16), default=Outcome.OK)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = [
    "CARD_REMOVED",
    "DONE",
    "IGNORED",
    "JOB_KINDS",
    "LINKED",
    "PARKED",
    "PENDING",
    "PROCESSING",
    "ROW_REMOVED",
    "UNLINKED",
    "Event",
    "EventState",
    "History",
    "Lane",
    "Link",
    "LinkStatus",
]
