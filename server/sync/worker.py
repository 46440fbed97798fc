"""The worker: the event loop, the job runner, sheet flushes and periodic jobs.

- The **event loop** claims fair sets of lead groups (``queue.claim``), applies them one at a time
  (``Processor.run_group``), and writes due sheet outboxes (``Processor.flush_sheet``). It never
  sleeps on a rate limit: a lead whose provider account has no slot is deferred to its slot and
  its workspace is *gated* (skipped by this worker's claims) until then. When a live event is
  stored while it works through a batch, the rest of the batch is given back and claimed again,
  so the new edit goes ahead of bulk work.
- The **job runner** (a thread) runs whole-workspace jobs — reconciliation, the wizard's preview
  — which read a whole sheet and board; their card writes go back to the queue as bulk-lane
  events, so they are paced fairly with everyone else's.
- **Periodic jobs** (``schedule.Periodic``): webhook checks, reconciliations, the purge.

Every database error in the loop is survived: logged, waited out with backoff (a restarting
PostgreSQL), and the loop goes on with fresh connections.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import structlog
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..metrics.heartbeat import Heartbeat, stop_heartbeat
from ..models import Event, Workspace
from ..models.sync import DONE, IGNORED, PENDING, PROCESSING, Lane
from ..models.workspace import ACTIVE, NEEDS_REAUTH
from . import queue, sheet_flush
from .processor import Processor
from .progress import CommittedProgress
from .providers import Providers
from .schedule import Periodic
from .settings import EngineSettings

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


FLUSH_CHECK_S = 1.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


class Worker:
    """Runs the claim/apply loop (and its job runner) until stopped."""

    def __init__(self, engine: Engine, providers: Providers, settings: EngineSettings,
                 worker_id: str | None = None, job_providers: Providers | None = None, *,
                 primary: bool = True, flush_lock: threading.Lock | None = None) -> None:
        """``primary``: this loop also runs the job runner and the periodic jobs (one per process);
        ``flush_lock``: shared by a process's loops, so one of them writes sheet outboxes at a time."""
        self.engine = engine
        self.session_factory = sessionmaker(bind=engine, expire_on_commit=False)
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.processor = Processor(self.session_factory, providers, settings, self.worker_id)
        self.job_providers = job_providers or providers
        self.policy = queue.ClaimPolicy(lanes=(Lane.LIVE, Lane.BULK), max_groups=settings.claim_groups,
                                        bulk_per_workspace=settings.bulk_per_workspace, lease_s=settings.lease_s)
        self.stopping = threading.Event()
        self.wakeup = threading.Event()  # wakes the idle loop (in-process nudges: tests, the demo)
        self.live_arrived = threading.Event()  # a person's edit was stored: preempt bulk work
        self.jobs_wakeup = threading.Event()
        self._flush_check_at = 0.0  # monotonic: when to look for due sheet outboxes again
        self.gates: dict[str, datetime] = {}  # workspace -> no rate-limit slot before this
        self.flush_gates: dict[str, datetime] = {}  # workspace -> do not flush its sheet before this
        self.served: dict[str, int] = {}
        self.jobs = JobRunner(self)
        self._serial = itertools.count(1)
        self._next_flush_at: datetime | None = None
        self._listener: queue.WakeListener | None = None
        self.primary = primary
        self.flush_lock = flush_lock or threading.Lock()
        self.periodic = Periodic()
        if primary:
            self._schedule_periodic(settings)

    def _schedule_periodic(self, settings: EngineSettings) -> None:
        self.periodic.every("check_webhooks", settings.webhook_check_interval_s,
                            lambda: check_webhooks(self.session_factory, self.processor.providers, settings),
                            at_start=True)
        self.periodic.every("schedule_reconciles", settings.reconcile_interval_s,
                            lambda: schedule_reconciles(self.session_factory, settings.reconcile_interval_s))
        self.periodic.every("purge_expired_security_rows", 3600.0, self._purge_expired, at_start=True)
        if settings.event_retention_days > 0:
            self.periodic.every("purge_events", 3600.0,
                                lambda: purge_old_events(self.session_factory, settings.event_retention_days),
                                at_start=True)

    def _purge_expired(self) -> None:
        """Expired add-on nonces, sign-in sessions and OAuth flows (refused anyway; keeps tables small)."""
        from ..maintenance import purge_expired

        with self.session_factory() as session:
            purge_expired(session, {"SESSION_IDLE_DAYS": self.settings.session_idle_days,
                                    "SESSION_MAX_DAYS": self.settings.session_max_days})

    def nudge(self, lane: int) -> None:
        """Something was stored in ``lane`` (by a web view in this process)."""
        if lane == Lane.JOB:
            self.jobs_wakeup.set()
        else:
            if lane == Lane.LIVE:
                self.live_arrived.set()
            self.wakeup.set()

    # ------------------------------------------------------------------ one step

    def run_once(self) -> int:
        """Flush due sheets, claim one fair batch and apply it; returns how many groups it took."""
        self._flush_due()
        now = utcnow()
        self.live_arrived.clear()
        claimed = queue.claim(self.engine, self.worker_id, self.policy, gated=self._gated(now), served=self.served,
                              now=now)
        if claimed.groups:
            with queue.LeaseKeeper(self.engine, self.worker_id, claimed.event_ids, self.settings.lease_s) as keeper:
                self._apply(claimed.groups, keeper)
            self._flush_due()
        return len(claimed.groups)

    def _apply(self, groups: list[queue.Group], keeper: queue.LeaseKeeper) -> None:
        echoes = [g for g in groups if g.echoes_only]
        if echoes:  # our own writes' echoes, mostly nothing new: one transaction for all of them
            rest = {id(g) for g in self.processor.settle_echoes(echoes)}
            settled = [g for g in echoes if id(g) not in rest]
            keeper.untrack([i for g in settled for i in g.event_ids])
            groups = [g for g in groups if not g.echoes_only or id(g) in rest]
        for index, group in enumerate(groups):
            gate = self.gates.get(group.workspace_id)
            if gate is not None and gate > utcnow():
                queue.release(self.engine, group.event_ids, self.worker_id, at=gate)
                keeper.untrack(group.event_ids)
                continue
            if index and self._live_work_arrived():
                remaining = [i for g in groups[index:] for i in g.event_ids]
                queue.release(self.engine, remaining, self.worker_id)
                keeper.untrack(remaining)
                return
            result = self.processor.run_group(group)
            keeper.untrack(group.event_ids)
            self.served[group.workspace_id] = next(self._serial)
            if result.gate_until is not None:
                self.gates[group.workspace_id] = result.gate_until
            if result.marked:
                self._flush_check_at = 0.0  # our own marks: look for due flushes at once

    def _live_work_arrived(self) -> bool:
        """Whether a person's edit was stored since this batch was claimed (echoes do not count)."""
        if self._listener is not None:
            lanes = self._listener.poll()
            if Lane.JOB in lanes:
                self.jobs_wakeup.set()
            if Lane.LIVE in lanes:
                self.live_arrived.set()
        return self.live_arrived.is_set()

    def _gated(self, now: datetime) -> set[str]:
        for workspace_id in [w for w, until in self.gates.items() if until <= now]:
            del self.gates[workspace_id]
        return set(self.gates)

    def _flush_due(self) -> None:
        """Write the sheet outboxes that are due. Looked for when this worker marked cells, when a
        known one falls due, and otherwise at most once a second (other workers' marks)."""
        now = utcnow()
        for workspace_id in [w for w, until in self.flush_gates.items() if until <= now]:
            del self.flush_gates[workspace_id]
        if time.monotonic() < self._flush_check_at and (self._next_flush_at is None or self._next_flush_at > now):
            return
        if not self.flush_lock.acquire(blocking=False):
            # Another loop of this process is writing outboxes: look again shortly, not in a second.
            self._next_flush_at = now + timedelta(seconds=self.settings.settle_probe_s)
            return
        try:
            self._flush_ready(now)
        finally:
            self.flush_lock.release()

    def _flush_ready(self, now: datetime) -> None:
        self._flush_check_at = time.monotonic() + FLUSH_CHECK_S
        with self.session_factory() as session:
            ready, next_at = sheet_flush.due(session, now, self.settings.settle_probe_s,
                                             self.settings.sheet_write_window_s)
        self._next_flush_at = next_at
        for workspace_id in ready:
            gate = self.flush_gates.get(workspace_id)
            if gate is not None and gate > now:
                self._next_flush_at = gate if self._next_flush_at is None else min(self._next_flush_at, gate)
                continue
            self.flush_gates.pop(workspace_id, None)
            result = self.processor.flush_sheet(workspace_id)
            if result.gate_until is not None:
                self.flush_gates[workspace_id] = result.gate_until

    # ------------------------------------------------------------------ draining (tests, --drain)

    def drain(self, timeout_s: float = 30.0) -> None:
        """Apply events (and jobs, and sheet flushes) until nothing is ready or due soon."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            worked = self.run_once()
            worked += self.jobs.run_once()
            if worked:
                continue
            if not self._has_due_soon(1.0):
                return
            time.sleep(0.02)
        raise TimeoutError("events were still pending when the drain timed out")

    def _has_due_soon(self, within_s: float) -> bool:
        soon = utcnow() + timedelta(seconds=within_s)
        with self.session_factory() as session:
            pending = session.scalars(select(Event.id).join(Workspace, Workspace.id == Event.workspace_id).where(
                Workspace.state == ACTIVE, Event.state.in_((PENDING, PROCESSING)),
                Event.next_attempt_at <= soon).limit(1)).first() is not None
            ready, next_flush = sheet_flush.due(session, utcnow(), self.settings.settle_probe_s,
                                                self.settings.sheet_write_window_s)
        marked = bool(ready) or (next_flush is not None and next_flush <= soon)
        now = utcnow()
        gated = any(now < until <= soon for until in self.flush_gates.values())
        return pending or marked or gated

    # ------------------------------------------------------------------ the loop

    def run_forever(self) -> None:
        """The loop: work while there is work; otherwise wait for a wake-up or the next due time."""
        log.info("worker_started", worker_id=self.worker_id)
        heartbeat = Heartbeat(self.engine, self.worker_id)
        failures = 0
        runner = self.jobs
        runner.stopping.clear()
        jobs = threading.Thread(target=runner.run_forever, name="leads-jobs", daemon=True)
        if self.primary:
            jobs.start()
        try:
            self._listener = queue.WakeListener(self.engine)
        except OSError:
            log.warning("worker_wakeups_unavailable", exc_info=True)
        try:
            while not self.stopping.is_set():
                try:
                    heartbeat.beat_if_due()  # first: a slow periodic job must not hide a live loop
                    self.periodic.run_due()
                    self.wakeup.clear()
                    took = self.run_once()
                    failures = 0
                except Exception:  # the loop must outlive the database
                    failures += 1
                    delay = min(30.0, 0.5 * 2 ** min(failures - 1, 6))
                    log.exception("worker_batch_failed", retry_in_s=delay)
                    self.engine.dispose()  # fresh connections once the database is back
                    self.stopping.wait(delay)
                    continue
                if took:
                    continue
                self._wait(self._idle_wait())
        finally:
            runner.stopping.set()
            self.jobs_wakeup.set()
            if jobs.is_alive():
                jobs.join(timeout=10)
            if self._listener is not None:
                self._listener.close()
            stop_heartbeat(heartbeat)
            log.info("worker_stopped", worker_id=self.worker_id)

    def _idle_wait(self) -> float:
        """How long the loop may wait: until a gate, a flush or a periodic job is due."""
        now = utcnow()
        candidates = [self.settings.idle_poll_s * (20 if self._listener is not None else 1),
                      self.periodic.next_due_in()]
        for moment in [self._next_flush_at, *self.gates.values(), *self.flush_gates.values()]:
            if moment is not None:
                candidates.append((moment - now).total_seconds())
        return max(0.0, min(candidates))

    def _wait(self, timeout: float) -> None:
        if self.wakeup.is_set() or timeout <= 0:
            return
        if self._listener is None:
            self.wakeup.wait(timeout)
            return
        lanes = self._listener.wait(timeout)
        if Lane.JOB in lanes:
            self.jobs_wakeup.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()
        self.jobs_wakeup.set()


class WorkerSet:
    """A worker process's event loops (``EngineSettings.concurrency``), each in its own thread with
    its own worker id, claims and leases, exactly as if they were processes: the database
    serialises their claims and never splits a lead between them. While one loop waits on a
    provider or a commit, another applies the next lead. The first loop also runs the job runner
    and the periodic jobs."""

    def __init__(self, loops: list[Worker]) -> None:
        if not loops:
            raise ValueError("a worker needs at least one loop")
        self.loops = loops

    @property
    def primary(self) -> Worker:
        return self.loops[0]

    def run_forever(self) -> None:
        threads = [threading.Thread(target=loop.run_forever, name=f"leads-worker-{i}", daemon=True)
                   for i, loop in enumerate(self.loops[1:], start=1)]
        for thread in threads:
            thread.start()
        try:
            self.primary.run_forever()
        finally:
            for loop in self.loops[1:]:
                loop.stop()
            for thread in threads:
                thread.join(timeout=30)

    def stop(self) -> None:
        for loop in self.loops:
            loop.stop()

    def nudge(self, lane: int) -> None:
        for loop in self.loops:
            loop.nudge(lane)


class JobRunner:
    """Runs whole-workspace jobs (reconcile, preview) one at a time, beside the event loop."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stopping = threading.Event()
        self.policy = queue.ClaimPolicy(lanes=(Lane.JOB,), max_groups=1, lease_s=worker.settings.lease_s)

    def run_once(self) -> int:
        worker = self.worker
        claimed = queue.claim(worker.engine, worker.worker_id + ":jobs", self.policy)
        for group in claimed.groups:
            with queue.LeaseKeeper(worker.engine, worker.worker_id + ":jobs", group.event_ids,
                                   worker.settings.lease_s):
                for event_id in group.event_ids:
                    run_job(worker, event_id, worker.worker_id + ":jobs")
        return len(claimed.groups)

    def run_forever(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                took = self.run_once()
                failures = 0
            except Exception:  # the runner must outlive the database too
                failures += 1
                log.exception("job_runner_failed")
                self.stopping.wait(min(30.0, 0.5 * 2 ** min(failures - 1, 6)))
                continue
            if not took:
                self.worker.jobs_wakeup.wait(1.0)
                self.worker.jobs_wakeup.clear()


def run_job(worker: Worker, event_id: int, worker_id: str) -> None:
    """Run one job event: a reconciliation (card writes queued in the bulk lane) or a preview."""
    from .preview import run_preview
    from .reconcile import reconcile

    with worker.session_factory() as session:
        event = session.get(Event, event_id)
        if event is None or event.state != PROCESSING or event.locked_by != worker_id:
            return
        workspace = session.get(Workspace, event.workspace_id)
        try:
            data = json.loads(event.payload)
            if workspace is None:
                queue.finish(session, event, state=IGNORED, note="the workspace is gone")
            elif event.kind == queue.RECONCILE:
                reconcile(session, workspace, worker.job_providers, worker.processor.headers,
                          dry_run=bool(data.get("dry_run")), progress=CommittedProgress(session, workspace),
                          queue_card_writes=True, source_event=event.id)
                queue.finish(session, event)
            elif event.kind == queue.PREVIEW:
                note = run_preview(session, workspace, worker.job_providers)
                queue.finish(session, event, state=IGNORED if note is None else DONE,
                             note=note or "the workspace is no longer a draft")
            else:
                queue.finish(session, event, state=IGNORED, note=f"unknown job {event.kind}")
            queue.Waker(worker.engine).commit(session, Lane.BULK)
        except Exception as exc:  # noqa: BLE001 - recorded on the event like any failure
            worker.processor.fail(session, event.workspace_id, [event_id], exc, locked_by=worker_id)


# --------------------------------------------------------------------------- periodic jobs


def schedule_reconciles(session_factory: sessionmaker[Session], interval_s: float) -> int:
    """Queue a reconciliation of every active workspace, once per period (one worker wins)."""
    period = int(time.time() // interval_s)
    queued = 0
    with session_factory() as session:
        for workspace_id in session.scalars(select(Workspace.id).where(Workspace.state == ACTIVE)).all():
            event_id = f"reconcile:period-{period}"
            if session.scalars(select(Event.id).where(Event.workspace_id == workspace_id,
                                                      Event.source == queue.SYSTEM,
                                                      Event.provider_event_id == event_id)).first() is None:
                if queue.enqueue_command(session, workspace_id, queue.RECONCILE, {"scheduled": True},
                                         provider_event_id=event_id) is not None:
                    queued += 1
        try:
            session.commit()
        except Exception:  # noqa: BLE001 - another worker queued the same period first
            session.rollback()
            return 0
    return queued


def purge_old_events(session_factory: sessionmaker[Session], retention_days: float) -> int:
    """Delete done and ignored events older than ``retention_days``; returns how many."""
    cutoff = utcnow() - timedelta(days=retention_days)
    with session_factory() as session:
        result = session.execute(delete(Event).where(Event.state.in_((DONE, IGNORED)), Event.received_at < cutoff)
                                 .execution_options(synchronize_session=False))
        session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


def check_webhooks(session_factory: sessionmaker[Session], providers: Providers, settings: EngineSettings,
                   now: Callable[[], datetime] = utcnow) -> int:
    """Look at every active workspace's board webhook, register again any Trello dropped or
    deactivated, and record what was found (the dashboard's connection health, the alerts);
    returns how many were re-registered."""
    from ..trello import board_webhooks
    from ..trello.errors import TrelloAuthError
    from ..trello.webhooks import check_board_webhook
    from .grants import mark_account_broken

    repaired = 0
    with session_factory() as session:
        for workspace in session.scalars(select(Workspace).where(Workspace.state == ACTIVE)).all():
            workspace_id = workspace.id
            try:
                check = check_board_webhook(workspace, providers.trello(session, workspace), settings.public_base_url)
                workspace.webhook_checked_at = now()
                workspace.webhook_active = True
                workspace.webhook_failures = check.consecutive_failures
                workspace.webhook_detail = check.detail
                if check.reregistered:
                    repaired += 1
                    workspace.webhook_reregistered_at = now()
                    log.info("trello_webhook_reregistered", workspace_id=workspace_id, detail=check.detail)
                repaired += board_webhooks.check_all(session, workspace, providers.trello(session, workspace),
                                                     settings.public_base_url, now())  # routed boards
                session.commit()
            except TrelloAuthError as exc:
                session.rollback()
                refused = session.get(Workspace, workspace_id)
                if refused is not None:
                    message = f"Trello refused the token while checking the webhook: {exc}"
                    refused.state = NEEDS_REAUTH
                    refused.state_detail = message
                    if refused.trello_account_id:
                        mark_account_broken(session, refused.trello_account_id, message)
                    session.commit()
            except Exception as exc:  # noqa: BLE001 - one workspace must not stop the others
                session.rollback()
                failed = session.get(Workspace, workspace_id)
                if failed is not None:
                    failed.webhook_checked_at = now()
                    failed.webhook_active = False
                    failed.webhook_detail = f"the webhook could not be checked or registered again: {exc}"[:2000]
                    session.commit()
                log.warning("trello_webhook_check_failed", workspace_id=workspace_id, error=str(exc))
    return repaired
