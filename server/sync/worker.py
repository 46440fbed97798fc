"""The worker loop: claim events, apply them, sleep until there is more.

Claiming is one ``UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING id`` statement, so it is
atomic on SQLite (one writer) and, with ``FOR UPDATE SKIP LOCKED`` in the sub-select, lets any
number of workers share the inbox on PostgreSQL without taking the same event twice. An event
is only claimable when no earlier unfinished event has the same order key (one lead or card),
which keeps each link's events in order. A claim is a lease: a worker killed mid-event leaves
its events to be claimed again once the lease runs out.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import structlog
from sqlalchemy import Integer, Update, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from ..models import Event, Workspace
from ..models.base import UTCDateTime
from ..models.sync import DONE, IGNORED, PENDING, PROCESSING
from ..models.workspace import ACTIVE
from .inbox import PREVIEW, SYSTEM, TRELLO
from .processor import Processor
from .providers import Providers
from .settings import EngineSettings

log = structlog.get_logger(__name__)

NOTIFY_CHANNEL = "leads_sync_events"
MAX_SETTLE_FACTOR = 8  # a burst of Trello events waits at most this many settle windows


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def claim(session_factory: sessionmaker, worker_id: str, limit: int, lease_s: float,
          trello_settle_s: float = 0.0) -> list[int]:
    """Atomically take up to ``limit`` ready events; returns their ids in order.

    ``trello_settle_s`` leaves Trello events in the inbox while more of them keep arriving, so
    that a burst of card moves is applied together and becomes one Sheets write.
    """
    now = utcnow()
    with session_factory() as session:
        connection = session.connection()
        skip_trello = trello_settle_s > 0 and _trello_burst_is_young(connection, now, trello_settle_s)
        statement = _claim_statement(connection.dialect.name == "postgresql", skip_trello)
        ids = sorted(connection.execute(statement, {
            "now": now, "claim_limit": limit, "claim_by": worker_id,
            "claim_until": now + timedelta(seconds=lease_s)}).scalars().all())
        session.commit()
    return ids


@lru_cache(maxsize=4)
def _claim_statement(postgresql: bool, skip_trello: bool) -> Update:
    """The claim ``UPDATE … RETURNING``, built once: an idle worker polls it many times a second,
    and building it was most of the poll's CPU."""
    events, workspaces = Event.__table__, Workspace.__table__
    earlier = events.alias("earlier")
    now = bindparam("now", type_=UTCDateTime())
    blocked = exists().where(earlier.c.workspace_id == events.c.workspace_id,
                             earlier.c.order_key == events.c.order_key, earlier.c.id < events.c.id,
                             earlier.c.state.in_((PENDING, PROCESSING)))
    ready = or_(and_(events.c.state == PENDING, events.c.next_attempt_at <= now),
                and_(events.c.state == PROCESSING, events.c.locked_until < now))
    # Only active workspaces' events run, except previews: a draft is not active, and its preview
    # (a dry run, see preview.py) must still run. Previews are taken whatever the state; the
    # processor runs them for drafts only and drops any other.
    runnable = or_(workspaces.c.state == ACTIVE, and_(events.c.source == SYSTEM, events.c.kind == PREVIEW))
    conditions = [ready, ~blocked, runnable]
    if skip_trello:
        conditions.append(events.c.source != TRELLO)
    candidates = (select(events.c.id).join(workspaces, workspaces.c.id == events.c.workspace_id)
                  .where(*conditions).order_by(events.c.id).limit(bindparam("claim_limit", type_=Integer)))
    if postgresql:
        candidates = candidates.with_for_update(skip_locked=True, of=events)
    return (update(events).where(events.c.id.in_(candidates.scalar_subquery()))
            .values(state=PROCESSING, locked_by=bindparam("claim_by"),
                    locked_until=bindparam("claim_until", type_=UTCDateTime()), attempts=events.c.attempts + 1)
            .returning(events.c.id))


_TRELLO_BURST = (select(func.min(Event.received_at), func.max(Event.received_at))
                 .where(Event.state == PENDING, Event.source == TRELLO,
                        Event.next_attempt_at <= bindparam("now", type_=UTCDateTime())))


def _trello_burst_is_young(connection, now: datetime, settle_s: float) -> bool:  # type: ignore[no-untyped-def]
    """True while Trello events are still arriving: the newest came less than ``settle_s`` ago.

    Deliveries of a burst arrive one by one over a second or more, so the window is a quiet gap,
    not a fixed delay from the first one; ``MAX_SETTLE_FACTOR`` windows after the oldest, the
    burst is applied anyway so a busy board never waits for ever.
    """
    oldest, newest = connection.execute(_TRELLO_BURST, {"now": now}).one()
    if oldest is None:
        return False
    if oldest.tzinfo is None:  # aggregates skip the column type on SQLite
        oldest, newest = oldest.replace(tzinfo=timezone.utc), newest.replace(tzinfo=timezone.utc)
    return newest > now - timedelta(seconds=settle_s) and \
        oldest > now - timedelta(seconds=settle_s * MAX_SETTLE_FACTOR)


def has_trello_settling(session_factory: sessionmaker, settle_s: float) -> bool:
    """Whether Trello events are waiting out the settle window (so the loop should not sleep long)."""
    with session_factory() as session:
        return session.scalars(select(Event.id).where(Event.state == PENDING, Event.source == TRELLO,
                                                      Event.received_at > utcnow() - timedelta(seconds=settle_s))
                               .limit(1)).first() is not None


_RENEW_LEASE = (update(Event.__table__)
                .where(Event.__table__.c.id.in_(bindparam("ids", expanding=True)),
                       Event.__table__.c.locked_by == bindparam("worker_id"),
                       Event.__table__.c.state == PROCESSING)
                .values(locked_until=bindparam("until", type_=UTCDateTime())))


class LeaseKeeper:
    """Renews the leases of the events a worker is applying, every third of the lease, until done.

    A lease must outlast the work, or another worker takes the event for abandoned and applies it
    a second time: a first sync of thousands of rows (Trello allows 10 calls a second) runs for
    minutes, and run twice it would create the same cards twice. Renewing from a thread keeps a
    live worker's claim whatever it is waiting for; a killed worker stops renewing, so its events
    still come back after one lease. Only events still ``processing`` under this worker's id are
    renewed.
    """

    def __init__(self, engine: Engine, worker_id: str, event_ids: list[int], lease_s: float) -> None:
        self.engine, self.worker_id, self.event_ids, self.lease_s = engine, worker_id, list(event_ids), lease_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self.lease_s / 3):
            try:
                with self.engine.begin() as connection:
                    connection.execute(_RENEW_LEASE, {"ids": self.event_ids, "worker_id": self.worker_id,
                                                      "until": utcnow() + timedelta(seconds=self.lease_s)})
            except Exception:  # noqa: BLE001 - the next beat tries again; the lease has slack
                log.warning("lease_renewal_failed", worker_id=self.worker_id, exc_info=True)


class Worker:
    """Runs the claim/apply loop until stopped."""

    def __init__(self, engine: Engine, providers: Providers, settings: EngineSettings,
                 worker_id: str | None = None) -> None:
        self.engine = engine
        self.session_factory = sessionmaker(bind=engine, expire_on_commit=False)
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.processor = Processor(self.session_factory, providers, settings, self.worker_id)
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        self._last_reconcile = time.monotonic()
        self._last_webhook_check = float("-inf")  # verify webhooks as soon as the loop starts
        self._last_purge = float("-inf")

    def run_once(self) -> int:
        """Claim and apply one batch; returns how many events it took."""
        ids = claim(self.session_factory, self.worker_id, self.settings.batch_size, self.settings.lease_s,
                    self.settings.sheet_write_window_s)
        if ids:
            with LeaseKeeper(self.engine, self.worker_id, ids, self.settings.lease_s):
                self.processor.process(ids)
        return len(ids)

    def drain(self, timeout_s: float = 30.0) -> None:
        """Apply events until none is ready or waiting to settle (tests and the CLI's ``--drain``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.run_once():
                continue
            if not has_trello_settling(self.session_factory, self.settings.sheet_write_window_s) and \
                    not self._has_due_soon(1.0):
                return
            time.sleep(0.02)
        raise TimeoutError("events were still pending when the drain timed out")

    def _has_due_soon(self, within_s: float) -> bool:
        with self.session_factory() as session:
            return session.scalars(select(Event.id).join(Workspace, Workspace.id == Event.workspace_id).where(
                Workspace.state == ACTIVE, Event.state.in_((PENDING, PROCESSING)),
                Event.next_attempt_at <= utcnow() + timedelta(seconds=within_s)).limit(1)).first() is not None

    def run_forever(self) -> None:
        """The loop: work while there is work; otherwise wait for a wake-up or the poll interval."""
        log.info("worker_started", worker_id=self.worker_id)
        listener = self._listener()
        try:
            while not self.stopping.is_set():
                try:
                    took = self.run_once()
                except Exception:  # noqa: BLE001 - the loop must survive a dropped DB connection
                    log.exception("worker_batch_failed")
                    self.stopping.wait(1.0)
                    continue
                self._maybe_schedule_reconcile()
                self._maybe_check_webhooks()
                self._maybe_purge()
                if took:
                    continue
                if listener is not None:
                    listener(self.settings.idle_poll_s * 10)
                else:
                    self.wakeup.wait(self.settings.idle_poll_s)
                    self.wakeup.clear()
        finally:
            log.info("worker_stopped", worker_id=self.worker_id)

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()

    def _listener(self):  # type: ignore[no-untyped-def]
        """On PostgreSQL, a LISTEN connection the loop waits on; else None (short polls)."""
        if self.engine.dialect.name != "postgresql":
            return None
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = psycopg.connect(url, autocommit=True)
        connection.execute(f"LISTEN {NOTIFY_CHANNEL}")

        def wait(timeout: float) -> None:
            for _ in connection.notifies(timeout=timeout, stop_after=1):
                break

        return wait

    def _maybe_purge(self) -> None:
        """Hourly: forget applied events older than the retention period (parked ones stay)."""
        if self.settings.event_retention_days <= 0 or time.monotonic() - self._last_purge < 3600:
            return
        self._last_purge = time.monotonic()
        purge_old_events(self.session_factory, self.settings.event_retention_days)

    def _maybe_check_webhooks(self) -> None:
        """At start and then hourly: re-register any board webhook Trello dropped."""
        if time.monotonic() - self._last_webhook_check < self.settings.webhook_check_interval_s:
            return
        self._last_webhook_check = time.monotonic()
        check_webhooks(self.session_factory, self.processor.providers, self.settings)

    def _maybe_schedule_reconcile(self) -> None:
        """Queue a periodic reconciliation of every active workspace (one worker wins per period)."""
        interval = self.settings.reconcile_interval_s
        if interval <= 0 or time.monotonic() - self._last_reconcile < interval:
            return
        self._last_reconcile = time.monotonic()
        self._last_webhook_check = float("-inf")  # verify webhooks as soon as the loop starts
        self._last_purge = float("-inf")
        from .inbox import enqueue_command

        period = int(time.time() // interval)
        with self.session_factory() as session:
            for workspace_id in session.scalars(select(Workspace.id).where(Workspace.state == ACTIVE)):
                existing = session.scalars(select(Event.id).where(
                    Event.workspace_id == workspace_id, Event.source == SYSTEM,
                    Event.provider_event_id == f"reconcile:period-{period}")).first()
                if existing is None:
                    enqueue_command(session, workspace_id, "reconcile", {"scheduled": True},
                                    provider_event_id=f"reconcile:period-{period}")
            try:
                session.commit()
            except Exception:  # noqa: BLE001 - another worker queued the same period first
                session.rollback()


def purge_old_events(session_factory: sessionmaker, retention_days: float) -> int:
    """Delete done and ignored events older than ``retention_days``; returns how many."""
    from sqlalchemy import delete

    cutoff = utcnow() - timedelta(days=retention_days)
    with session_factory() as session:
        result = session.execute(delete(Event).where(Event.state.in_((DONE, IGNORED)), Event.received_at < cutoff)
                                 .execution_options(synchronize_session=False))
        session.commit()
        return result.rowcount or 0


def check_webhooks(session_factory: sessionmaker, providers: Providers, settings: EngineSettings) -> int:
    """Make sure every active workspace's board webhook exists; returns how many were re-registered."""
    from ..trello.errors import TrelloAuthError
    from ..trello.webhooks import ensure_board_webhook

    repaired = 0
    with session_factory() as session:
        for workspace in session.scalars(select(Workspace).where(Workspace.state == ACTIVE)).all():
            try:
                if ensure_board_webhook(workspace, providers.trello(session, workspace), settings.public_base_url):
                    repaired += 1
                    log.info("trello_webhook_reregistered", workspace_id=workspace.id)
                session.commit()
            except TrelloAuthError as exc:
                session.rollback()
                workspace = session.get(Workspace, workspace.id)
                workspace.state = "needs_reauth"
                workspace.state_detail = f"Trello refused the token while checking the webhook: {exc}"
                session.commit()
            except Exception as exc:  # noqa: BLE001 - one workspace must not stop the others
                session.rollback()
                log.warning("trello_webhook_check_failed", workspace_id=workspace.id, error=str(exc))
    return repaired


def notify_new_events(connection) -> None:  # type: ignore[no-untyped-def]
    """Wake PostgreSQL workers (delivered when the storing transaction commits)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
