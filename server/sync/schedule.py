"""The worker's periodic jobs, declared in one place, on an injectable clock.

Each job keeps its own timer: running one never moves another's (scheduling a reconciliation
used to reset the hourly webhook check and purge, so they ran every 15 minutes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

Clock = Callable[[], float]


@dataclass
class Job:
    name: str
    interval_s: float
    run: Callable[[], object]
    next_at: float


class Periodic:
    """Runs due jobs when asked (``run_due``); a job with a non-positive interval never runs."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.jobs: list[Job] = []

    def every(self, name: str, interval_s: float, run: Callable[[], object], *, at_start: bool = False) -> None:
        """Declare a job: every ``interval_s`` seconds, and once as soon as asked if ``at_start``."""
        if interval_s <= 0:
            return
        self.jobs.append(Job(name, interval_s, run, self.clock() if at_start else self.clock() + interval_s))

    def run_due(self) -> list[str]:
        """Run every job whose time has come; returns their names. A failing job is logged and
        tried again at its next interval."""
        ran = []
        for job in self.jobs:
            now = self.clock()
            if now < job.next_at:
                continue
            job.next_at = now + job.interval_s
            ran.append(job.name)
            try:
                job.run()
            except Exception:  # one job must not stop the loop or the others
                log.exception("periodic_job_failed", job=job.name)
        return ran

    def next_due_in(self) -> float:
        """Seconds until the next job is due (0 if one is due now; inf without jobs)."""
        if not self.jobs:
            return float("inf")
        return max(0.0, min(job.next_at for job in self.jobs) - self.clock())
