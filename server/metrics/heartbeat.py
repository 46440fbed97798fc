"""Worker heartbeats: each worker loop moves its row's ``seen_at`` every ``INTERVAL_S`` seconds.

The loop beats between batches (``beat_if_due`` every turn, first thing): a worker whose loop is
stuck (or dead) stops beating, which is what ``/ready`` and the ``worker down`` alert look
for. The web process reads the rows; nothing else writes them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from ..models.base import utcnow
from ..models.ops import WorkerHeartbeat

log = structlog.get_logger(__name__)

INTERVAL_S = 10.0
FORGET_AFTER = timedelta(days=1)  # a crashed worker's row is deleted by the next beat after this

Clock = Callable[[], datetime]


class Heartbeat:
    """The heartbeat of one worker (``worker_id``), on an injectable clock."""

    def __init__(self, engine: Engine, worker_id: str, clock: Clock = utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.worker_id = worker_id[:64]
        self.clock = clock
        self.monotonic = monotonic
        self.started_at: datetime | None = None
        self._next_at: float | None = None

    def beat_if_due(self) -> None:
        """Beat when ``INTERVAL_S`` has passed since the last beat (the loop calls it every turn;
        it turns at least once a second even when idle). A failed beat is tried again next turn."""
        now = self.monotonic()
        if self._next_at is None or now >= self._next_at:
            self.beat()
            self._next_at = now + INTERVAL_S

    def beat(self) -> None:
        """Record that this worker's loop ran now."""
        now = self.clock()
        row = WorkerHeartbeat
        with self.engine.begin() as connection:
            moved = connection.execute(update(row).where(row.worker_id == self.worker_id).values(seen_at=now)).rowcount
            if not moved:
                self.started_at = now
                connection.execute(insert(row).values(worker_id=self.worker_id, started_at=now, seen_at=now))
                connection.execute(delete(row).where(row.seen_at < now - FORGET_AFTER))

    def stop(self) -> None:
        """The worker stops cleanly: it is no longer there to be heard from."""
        with self.engine.begin() as connection:
            connection.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == self.worker_id))


@dataclass(frozen=True)
class Seen:
    worker_id: str
    started_at: datetime
    seen_at: datetime


def seen(engine: Engine) -> list[Seen]:
    """Every worker's last heartbeat, newest first."""
    row = WorkerHeartbeat
    with engine.connect() as connection:
        rows = connection.execute(select(row.worker_id, row.started_at, row.seen_at)
                                  .order_by(row.seen_at.desc())).all()
    return [Seen(*row) for row in rows]


def stop_heartbeat(heartbeat: Heartbeat) -> None:
    """Delete a stopping worker's row; a database that is down leaves it to go stale instead."""
    try:
        heartbeat.stop()
    except Exception:  # stopping must not fail on the database
        log.warning("worker_heartbeat_stop_failed", worker_id=heartbeat.worker_id, exc_info=True)
