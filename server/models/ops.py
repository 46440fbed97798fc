"""Operational state: which sync workers are alive (read by ``/ready`` and ``/metrics``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class WorkerHeartbeat(Base):
    """One running worker loop; ``seen_at`` moves every few seconds while its loop turns.

    The row is deleted when the worker stops cleanly; a crashed worker's row goes stale and is
    purged by the next worker after a day.
    """

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
