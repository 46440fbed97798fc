"""Run alert rounds from the worker's periodic jobs without ever holding up sync.

The periodic job only starts a round on a thread of its own (one at a time per process), so a
slow mail server never delays the event loop. With several workers, one round runs at a time
across processes: a PostgreSQL advisory lock, or on SQLite an ``flock`` on a file beside the
database (one machine); a worker that cannot take it skips that round.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import structlog
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from ..config import settings_of
from ..sync.worker import Worker
from .channels import Channels, LiveChannels
from .rounds import AlertSettings, RoundReport, run_round

log = structlog.get_logger(__name__)

ADVISORY_KEY = 0x4C53_414C  # "LSAL": Leads Sync alerts


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def round_lock(engine: Engine) -> Iterator[bool]:
    """Yields True when this process may run the round (no other process is running one)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            taken = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}))
            try:
                yield taken
            finally:
                if taken:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                connection.commit()
        return
    database = engine.url.database
    path = Path(database).with_name(Path(database).name + ".alerts.lock") if database and database != ":memory:" \
        else None
    if path is None:
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class AlertRunner:
    """The worker's ``alerts`` job: starts a round in the background unless one is running."""

    def __init__(self, engine: Engine, channels: Channels, settings: AlertSettings,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.session_factory = sessionmaker(bind=engine, expire_on_commit=False)
        self.channels = channels
        self.settings = settings
        self.clock = clock
        self._thread: threading.Thread | None = None
        self.last_report: RoundReport | None = None

    def run_once(self) -> RoundReport | None:
        """One round in the calling thread (None when another process holds the round)."""
        with round_lock(self.engine) as mine:
            if not mine:
                return None
            self.last_report = run_round(self.session_factory, self.channels, self.settings, self.clock())
            return self.last_report

    def _run(self) -> None:
        try:
            self.run_once()
        except Exception:
            log.exception("alert_round_failed")

    def __call__(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._run, name="leads-alerts", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def install_alerts(app: Flask, worker: Worker, engine: Engine) -> AlertRunner | None:
    """Declare the ``alerts`` periodic job on a worker (``ALERT_CHECK_INTERVAL_S``; 0 is off)."""
    settings = settings_of(app)
    if settings.alert_check_interval_s <= 0:
        return None
    runner = AlertRunner(engine, LiveChannels(app, timeout_s=settings.mail_timeout),
                         AlertSettings.from_config(app.config))
    worker.periodic.every("alerts", settings.alert_check_interval_s, runner)
    return runner


__all__ = ["AlertRunner", "install_alerts", "round_lock"]
