"""The process-local instruments the sync engine updates as it works (counters and histograms).

Each update is a few dictionary look-ups and an addition (an mmap write in multi-process mode):
nothing here touches the database. What the database knows (queue sizes, backlog age, worker
heartbeats) is read at scrape time by ``collector.py`` instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Protocol

from prometheus_client import Counter, Histogram

from ..models.enums import HistorySide
from . import multiproc

multiproc.configure()  # before any metric exists: their values are made with the class it picks

PREFIX = "leads_sync"


class Direction(StrEnum):
    SHEET_TO_TRELLO = "sheet_to_trello"
    TRELLO_TO_SHEET = "trello_to_sheet"


PROPAGATION = Histogram(
    f"{PREFIX}_propagation_seconds",
    "From a person's change (the provider's time) to our write of it on the other side being done.",
    ["direction"], buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900))
OUTBOUND = Counter(f"{PREFIX}_outbound_requests_total", "HTTP requests to Trello and Google Sheets, by answer status.",
                   ["provider", "status"])
RATE_LIMITED = Counter(f"{PREFIX}_rate_limited_total", "Answers 429 (rate limited) from a provider.", ["provider"])
LIMITER_WAIT = Histogram(f"{PREFIX}_limiter_wait_seconds",
                         "Time a granted call waited for its slot in our shared rate limiter.", ["limit"],
                         buckets=(0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120))
LIMITER_DEFERRED = Counter(f"{PREFIX}_limiter_deferred_total",
                           "Calls that found no rate-limiter slot soon enough (the worker deferred the work).",
                           ["limit"])
HTTP_REQUESTS = Counter(f"{PREFIX}_http_requests_total", "Requests this service answered, by route and status.",
                        ["route", "method", "status"])
CONFLICTS = Counter(f"{PREFIX}_conflicts_total",
                    "Changes that lost to a newer change of the same field on the other side.")
PARKED = Counter(f"{PREFIX}_events_parked_total", "Events parked (given up on, waiting for a person's Retry).",
                 ["source"])


def _limit_name(bucket: str) -> str:
    """``trello`` for Trello's token and key buckets; ``sheets:read`` / ``sheets:write`` for Google's."""
    parts = bucket.split(":")
    return parts[0] if parts[0] == "trello" else ":".join(parts[:2])


def limiter_outcome(specs: Sequence[tuple[str, int, float]], granted: bool, wait_s: float) -> None:
    """One reservation in the shared limiter: its wait (granted) or a deferral (no slot soon enough)."""
    name = _limit_name(specs[0][0]) if specs else "none"
    if granted:
        LIMITER_WAIT.labels(name).observe(max(0.0, wait_s))
    else:
        LIMITER_DEFERRED.labels(name).inc()


class _ResponseCounter:
    """A ``requests`` response hook that counts a provider's answers by status."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.children: dict[int, Any] = {}

    def __call__(self, response: Any, *_args: Any, **_kwargs: Any) -> None:
        status = response.status_code
        child = self.children.get(status)
        if child is None:
            child = self.children[status] = OUTBOUND.labels(self.provider, str(status))
        child.inc()
        if status == 429:
            RATE_LIMITED.labels(self.provider).inc()


def count_responses(session: Any, provider: str) -> None:
    """Count every HTTP answer ``session`` (a ``requests.Session``) gets, by status; once per session."""
    hooks = session.hooks.setdefault("response", [])
    if any(isinstance(hook, _ResponseCounter) for hook in hooks):
        return
    hooks.append(_ResponseCounter(provider))


def http_answered(route: str, method: str, status: int) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()


def conflicts(count: int) -> None:
    if count:
        CONFLICTS.inc(count)


def event_parked(source: str) -> None:
    PARKED.labels(source).inc()


def _observe(direction: Direction, provider_ms: Iterable[float], done_ms: float) -> None:
    child = PROPAGATION.labels(direction.value)
    for at in set(provider_ms):
        if at > 0:
            child.observe(max(0.0, (done_ms - at) / 1000.0))


def now_ms() -> float:
    return time.time() * 1000.0


LIVE_LANE = 0  # models.sync.Lane.LIVE: bulk work (pastes, first syncs) would say how long a backlog took


def card_created(lane: int, provider_ms: float) -> None:
    """A lead's card was created in Trello for a row dated ``provider_ms``."""
    if lane == LIVE_LANE:
        _observe(Direction.SHEET_TO_TRELLO, [provider_ms], now_ms())


class _Merge(Protocol):
    fields: dict[str, Any]


def card_written(result: _Merge, lane: int) -> None:
    """A card PUT carrying a merge's sheet changes is done: each distinct change's delay."""
    if lane != LIVE_LANE:
        return
    times = [o.winner.at for o in result.fields.values()
             if o.winner is not None and o.winner.side == HistorySide.SHEETS and HistorySide.TRELLO in o.write]
    _observe(Direction.SHEET_TO_TRELLO, times, now_ms())


def sheet_written(clocks: dict[str, Any], names: Iterable[str], done_ms: float) -> None:
    """A sheet flush wrote ``names`` of a lead: each Trello change not yet written before (its
    time is after our last write of the field) reached the sheet now."""
    times = []
    for name in names:
        clock = clocks.get(name)
        if clock is not None and clock.s == HistorySide.TRELLO and clock.t > clock.ws:
            times.append(clock.t)
    _observe(Direction.TRELLO_TO_SHEET, times, done_ms)
