"""Glue between the Flask app and the sync engine: settings, limiter, providers, worker."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import sessionmaker

from .config import settings_of
from .extensions import db
from .models.sync import Lane
from .sync.providers import AccountProviders
from .sync.queue import Waker
from .sync.settings import EngineSettings
from .sync.worker import Worker, WorkerSet, default_worker_id


def engine_settings(app: Flask) -> EngineSettings:
    return settings_of(app)


def rate_limiter(app: Flask) -> Any:
    """The process-shared outbound rate limiter (one per process, kept on the app)."""
    limiter = app.extensions.get("leads_rate_limiter")
    if limiter is None and settings_of(app).rate_limits_enabled:
        from .sync.ratelimit import RateLimiter

        url = app.config["SQLALCHEMY_DATABASE_URI"]
        sqlite_path = None
        if url.startswith("sqlite"):
            sqlite_path = str(Path(app.instance_path) / "ratelimits.sqlite")
            if db.engine.url.database:
                sqlite_path = str(Path(db.engine.url.database).resolve().parent / "ratelimits.sqlite")
        limiter = RateLimiter(url, sqlite_path=sqlite_path)
        app.extensions["leads_rate_limiter"] = limiter
    return limiter


def providers(app: Flask) -> AccountProviders:
    existing = app.extensions.get("leads_providers")
    if existing is None:
        existing = AccountProviders(engine_settings(app), rate_limiter(app),
                                    session_factory=sessionmaker(bind=db.engine))
        app.extensions["leads_providers"] = existing
    return existing


def worker_providers(app: Flask) -> AccountProviders:
    """Clients for the worker's event loop: they never sleep on a rate limit (see ``Worker``)."""
    existing = app.extensions.get("leads_worker_providers")
    if existing is None:
        existing = AccountProviders(engine_settings(app), rate_limiter(app),
                                    session_factory=sessionmaker(bind=db.engine), non_blocking=True)
        app.extensions["leads_worker_providers"] = existing
    return existing


def waker(app: Flask) -> Waker:
    """Commits and wakes the workers (``NOTIFY`` on PostgreSQL, datagrams on SQLite)."""
    existing = app.extensions.get("leads_waker")
    if existing is None:
        existing = Waker(db.engine)
        app.extensions["leads_waker"] = existing
    return existing


def commit_and_wake(app: Flask, session: Any, lane: int = Lane.LIVE) -> None:
    """Commit what a view queued and wake the workers (and an in-process one directly)."""
    waker(app).commit(session, lane)
    worker = app.extensions.get("leads_worker")
    if worker is not None:
        worker.nudge(lane)


def forget_clients(app: Flask, workspace_id: str) -> None:
    """Drop a workspace's cached clients in every provider set (after re-authorisation)."""
    for name in ("leads_providers", "leads_worker_providers"):
        cached = app.extensions.get(name)
        if cached is not None:
            cached.forget(workspace_id)


def build_worker(app: Flask, worker_id: str | None = None) -> Worker:
    from .alerts.runner import install_alerts

    with app.app_context():
        worker = Worker(db.engine, worker_providers(app), engine_settings(app), worker_id=worker_id,
                        job_providers=providers(app))
        install_alerts(app, worker, db.engine)  # incidents and notices, on a thread of their own
        return worker


def build_workers(app: Flask) -> WorkerSet:
    """The loops of one worker process (``WORKER_CONCURRENCY``; see ``WorkerSet``)."""
    from .alerts.runner import install_alerts

    settings = engine_settings(app)
    base = default_worker_id()
    flush_lock = threading.Lock()
    with app.app_context():
        loops = [Worker(db.engine, worker_providers(app), settings, worker_id=base if i == 0 else f"{base}.{i}",
                        job_providers=providers(app), primary=i == 0, flush_lock=flush_lock)
                 for i in range(settings.concurrency)]
        install_alerts(app, loops[0], db.engine)  # on the primary loop, which runs the periodic jobs
    return WorkerSet(loops)


def start_in_process_worker(app: Flask) -> Worker:
    """Run a worker thread beside the web server (single-process local use and the demo).

    Started by the demo, and by gunicorn's ``post_worker_init`` when ``RUN_WORKER_IN_PROCESS=1``.
    """
    worker = build_worker(app)
    app.extensions["leads_worker"] = worker
    thread = threading.Thread(target=worker.run_forever, name="leads-worker", daemon=True)
    thread.start()
    return worker
