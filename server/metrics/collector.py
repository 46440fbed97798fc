"""What the database knows, read when Prometheus scrapes (never on the engine's hot path).

Three cheap queries: the unfinished and parked events grouped by state, source and lane (through
``ix_events_state``; done and ignored events are the bulk of the table and are not counted), the
oldest waiting event per lane, and the workers' heartbeats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..models import Event
from ..models.sync import PARKED, PENDING, PROCESSING, Lane
from . import heartbeat
from .instruments import PREFIX
from .readiness import as_utc, oldest_pending

COUNTED_STATES = (PENDING, PROCESSING, PARKED)
log = structlog.get_logger(__name__)


def lane_name(lane: int) -> str:
    try:
        return Lane(lane).name.lower()
    except ValueError:
        return str(lane)


class DatabaseCollector(Collector):
    """Gauges from the database, on an injectable clock."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], worker_max_age_s: float) -> None:
        self.engine = engine
        self.clock = clock
        self.worker_max_age_s = worker_max_age_s

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The database gauges; when the database does not answer, only ``database_up`` 0 (the
        process metrics of the scrape are still served)."""
        try:
            families = list(self._from_database(self.clock()))
        except SQLAlchemyError:
            log.warning("metrics_database_unavailable", exc_info=True)
            families = []
        yield GaugeMetricFamily(f"{PREFIX}_database_up", "Whether the database answered this scrape's queries.",
                                value=1 if families else 0)
        yield from families

    def _from_database(self, now: datetime) -> Iterator[GaugeMetricFamily]:
        events = GaugeMetricFamily(f"{PREFIX}_events", "Events waiting, being applied or parked.",
                                   labels=["state", "source", "lane"])
        query = (select(Event.state, Event.source, Event.lane, func.count())
                 .where(Event.state.in_(COUNTED_STATES)).group_by(Event.state, Event.source, Event.lane))
        with self.engine.connect() as connection:
            counts = {(state, source, lane_name(lane)): n for state, source, lane, n in connection.execute(query)}
        for state in COUNTED_STATES:  # every state present, so alerts see 0 rather than no series
            if not any(key[0] == state for key in counts):
                counts[(state, "", "")] = 0
        for (state, source, lane), n in sorted(counts.items()):
            events.add_metric([state, source, lane], n)
        yield events

        oldest = GaugeMetricFamily(f"{PREFIX}_oldest_pending_event_age_seconds",
                                   "Age of the oldest event still waiting in an active workspace (0: none).",
                                   labels=["lane"])
        arrived = oldest_pending(self.engine)
        for each in Lane:
            at = arrived.get(int(each))
            oldest.add_metric([each.name.lower()], 0.0 if at is None else max(0.0, (now - at).total_seconds()))
        yield oldest

        last_seen = GaugeMetricFamily(f"{PREFIX}_worker_last_seen_timestamp_seconds",
                                      "When each sync worker's loop last ran (Unix time).", labels=["worker"])
        alive = 0
        for beat in heartbeat.seen(self.engine):
            seen_at = as_utc(beat.seen_at)
            last_seen.add_metric([beat.worker_id], seen_at.timestamp())
            if (now - seen_at).total_seconds() <= self.worker_max_age_s:
                alive += 1
        yield last_seen
        yield GaugeMetricFamily(f"{PREFIX}_workers_alive",
                                "Sync workers heard from within READY_WORKER_MAX_AGE_S.", value=alive)
