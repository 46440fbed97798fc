"""The events queue: every change of an event's state, fair claiming, deferral and wake-ups.

Nothing else changes ``Event.state``. The unit of work is a **group**: every unfinished event of
one order key (one lead, or one card before it has a lead) in one workspace, from both sides,
claimed together so that the processor can merge them before it writes anything.

Claiming is fair and prioritised:

- lanes: live edits (``Lane.LIVE``) go before bulk work (``Lane.BULK``: big pastes, the card
  creations a reconciliation queues); whole-workspace jobs (``Lane.JOB``) are claimed only by the
  worker's job runner;
- within a lane, round robin by workspace: every workspace's first group goes before any
  workspace's second one, and among equals the workspace served longest ago goes first;
- a workspace whose provider account has no rate-limit slot right now is *gated* by the worker
  (in memory, until its slot) and skipped — but for our own writes' echoes, which call no one —
  so no worker waits on one account while other work is ready;
- nothing waits for a burst here: a lead's sheet cells go to its sheet outbox, and bursts
  are gathered there (``sheet_flush.py``), so every group is claimed as soon as it is ready.

Claims are serialised (a transaction-scoped advisory lock on PostgreSQL, the write lock on
SQLite), so a group is never split between two workers: the claim checks, in its own
transaction, that no other worker holds a live lease on any event of the groups it takes.

Wake-ups: storing an event ``NOTIFY``s PostgreSQL listeners; on SQLite the writer sends a
datagram to every worker's socket in ``<database dir>/wake/`` (one machine, any number of
processes). Either way the waiting worker claims at once instead of polling.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import random
import select as select_module
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog
from sqlalchemy import Integer, Table, and_, bindparam, case, func, or_, select, text, tuple_, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from .. import metrics
from ..database import take_sqlite_write_lock
from ..models import Event, Workspace
from ..models.base import UTCDateTime
from ..models.enums import Command as Command
from ..models.enums import EventSource
from ..models.sync import DONE, IGNORED, PARKED, PENDING, PROCESSING, Lane
from ..models.sync import JOB_KINDS as _MODEL_JOB_KINDS
from ..models.workspace import ACTIVE

log = structlog.get_logger(__name__)

SHEETS, TRELLO, SYSTEM = EventSource.SHEETS, EventSource.TRELLO, EventSource.SYSTEM
PREVIEW = Command.PREVIEW  # the job a worker runs even for drafts (server/sync/preview.py)
RECONCILE = Command.RECONCILE
JOB_ORDER_KEY = "workspace:reconcile"  # one whole-workspace job at a time per workspace
JOB_KINDS = _MODEL_JOB_KINDS
NOTIFY_CHANNEL = "leads_sync_events"
EVENTS: Table = Event.__table__
_CLAIM_LOCK = 0x6C6561  # pg_advisory_xact_lock key that serialises claims


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- enqueueing


def command_lane(command: str) -> Lane:
    return Lane.JOB if command in JOB_KINDS else Lane.LIVE


def enqueue_command(session: Session, workspace_id: str, command: str, data: dict[str, Any] | None = None,
                    order_key: str | None = None, provider_event_id: str | None = None,
                    lane: Lane | None = None) -> Event | None:
    """Queue a command; the caller commits (``Waker.commit``). Returns the event, or None when an
    identical whole-workspace job already waits (a repeat "Sync now" joins it)."""
    payload = dict(data or {})
    lane = command_lane(command) if lane is None else lane
    if lane is Lane.JOB:
        order_key = JOB_ORDER_KEY
        # At most one waiting job of a kind per workspace: a repeated "Sync now" joins it.
        waiting = [json.loads(p) for p in session.scalars(select(Event.payload).where(
            Event.workspace_id == workspace_id, Event.source == SYSTEM, Event.kind == command,
            Event.state == PENDING)).all()]
        if any(bool(w.get("dry_run")) == bool(payload.get("dry_run")) for w in waiting) \
                and not payload.get("scheduled"):
            return None
    key = order_key or (f"lead:{payload['lead_id']}" if "lead_id" in payload else
                        f"card:{payload['card_id']}" if "card_id" in payload else f"workspace:{command}")
    now = utcnow()
    event = Event(workspace_id=workspace_id, source=SYSTEM, provider_event_id=(provider_event_id or
                  f"{command}:{uuid.uuid4().hex}")[:160], kind=command, order_key=key[:200],
                  payload=json.dumps(payload, separators=(",", ":")), occurred_at=now, state=PENDING, attempts=0,
                  next_attempt_at=now, last_error="", received_at=now, lane=int(lane), echo=False)
    session.add(event)
    return event


def pending_bulk(session: Session, workspace_id: str) -> int:
    """How many bulk-lane events of a workspace wait or run (the per-workspace bound's measure)."""
    return session.scalar(select(func.count()).select_from(Event).where(
        Event.workspace_id == workspace_id, Event.lane == int(Lane.BULK),
        Event.state.in_((PENDING, PROCESSING)))) or 0


# --------------------------------------------------------------------------- claiming


@dataclass(frozen=True)
class Group:
    workspace_id: str
    order_key: str
    lane: int
    event_ids: tuple[int, ...]
    echoes_only: bool = False  # every event is an echo of our own Trello write


@dataclass
class Claim:
    groups: list[Group] = field(default_factory=list)

    @property
    def event_ids(self) -> list[int]:
        return [i for g in self.groups for i in g.event_ids]


@dataclass(frozen=True)
class ClaimPolicy:
    lanes: tuple[int, ...] = (Lane.LIVE, Lane.BULK)
    max_groups: int = 16
    bulk_per_workspace: int = 16  # bulk groups of one workspace per claim
    lease_s: float = 60.0


@dataclass
class _Candidate:
    workspace_id: str
    order_key: str
    lane: int
    first_id: int


# Candidates are found per workspace, so a claim costs what the ready workspaces' first rows cost,
# not what the queue holds (a 5,000-row paste waiting must not slow every claim down).
_NOW = bindparam("now", type_=UTCDateTime())
_LANES: BindParameter[Any] = bindparam("lanes", expanding=True)
# Workspaces with a ready event: an index probe each (ix_events_pick).
_READY_WORKSPACES = (select(Workspace.__table__.c.id, Workspace.__table__.c.state).where(
    select(EVENTS.c.id).where(EVENTS.c.workspace_id == Workspace.__table__.c.id, EVENTS.c.state == PENDING,
                              EVENTS.c.lane.in_(_LANES), EVENTS.c.next_attempt_at <= _NOW).exists(),
    or_(Workspace.__table__.c.state == ACTIVE,
        select(EVENTS.c.id).where(EVENTS.c.workspace_id == Workspace.__table__.c.id, EVENTS.c.state == PENDING,
                                  EVENTS.c.source == SYSTEM, EVENTS.c.kind == PREVIEW).exists())))
# A workspace's first ready events, in lane then arrival order (ix_events_pick walks them in order);
# of a workspace that is not active (a draft, a paused one), only its previews run.
_READY = and_(EVENTS.c.workspace_id == bindparam("workspace_id"), EVENTS.c.state == PENDING,
              EVENTS.c.lane.in_(_LANES), EVENTS.c.next_attempt_at <= _NOW)
_FIRST_READY = (select(EVENTS.c.order_key, EVENTS.c.lane, EVENTS.c.id).where(_READY)
                .order_by(EVENTS.c.lane, EVENTS.c.id).limit(bindparam("limit", type_=Integer)))
_FIRST_PREVIEWS = (select(EVENTS.c.order_key, EVENTS.c.lane, EVENTS.c.id)
                   .where(_READY, EVENTS.c.source == SYSTEM, EVENTS.c.kind == PREVIEW)
                   .order_by(EVENTS.c.lane, EVENTS.c.id).limit(bindparam("limit", type_=Integer)))
# Of a gated workspace (no rate-limit slot yet), only our own writes' echoes: they call no one.
_FIRST_ECHOES = (select(EVENTS.c.order_key, EVENTS.c.lane, EVENTS.c.id)
                 .where(_READY, EVENTS.c.echo.is_(True))
                 .order_by(EVENTS.c.lane, EVENTS.c.id).limit(bindparam("limit", type_=Integer)))
# Events a worker claimed and stopped renewing (killed): their groups are ready again.
_EXPIRED = (select(EVENTS.c.workspace_id, EVENTS.c.order_key, EVENTS.c.lane, EVENTS.c.id)
            .where(EVENTS.c.state == PROCESSING, EVENTS.c.locked_until < _NOW, EVENTS.c.lane.in_(_LANES)))
_HELD = (select(EVENTS.c.workspace_id, EVENTS.c.order_key).distinct()
         .where(tuple_(EVENTS.c.workspace_id, EVENTS.c.order_key).in_(bindparam("keys", expanding=True)),
                EVENTS.c.state == PROCESSING, EVENTS.c.locked_until >= _NOW))
ROWS_PER_WORKSPACE = 2  # rows read per ready workspace, per group a claim may take from it


def _candidates(connection: Connection, policy: ClaimPolicy, now: datetime, gated: set[str]) -> list[_Candidate]:
    """Ready groups: per ready workspace its first groups, plus groups with expired leases, less
    those another worker holds a live lease on."""
    params: dict[str, Any] = {"now": now, "lanes": [int(lane) for lane in policy.lanes]}
    found: dict[tuple[str, str], _Candidate] = {}
    for workspace_id, state in connection.execute(_READY_WORKSPACES, params).all():
        statement = _FIRST_READY if state == ACTIVE else _FIRST_PREVIEWS
        if workspace_id in gated:
            if state != ACTIVE:
                continue
            statement = _FIRST_ECHOES  # a group of them with other events is given back by the worker
        rows = connection.execute(statement, {**params, "workspace_id": workspace_id,
                                              "limit": ROWS_PER_WORKSPACE * policy.max_groups}).all()
        for order_key, lane, event_id in rows:
            key = (workspace_id, order_key)
            if key not in found or (lane, event_id) < (found[key].lane, found[key].first_id):
                found[key] = _Candidate(workspace_id, order_key, lane, event_id)
    for workspace_id, order_key, lane, event_id in connection.execute(_EXPIRED, params).all():
        if workspace_id not in gated and (workspace_id, order_key) not in found:
            found[(workspace_id, order_key)] = _Candidate(workspace_id, order_key, lane, event_id)
    if not found:
        return []
    held = set(connection.execute(_HELD, {**params, "keys": list(found)}).all())
    return [c for key, c in found.items() if key not in held]


# The claim's update takes only active workspaces' events (previews excepted), even when they
# share a group with a preview.
_RUNNABLE_EVENT = or_(and_(EVENTS.c.source == SYSTEM, EVENTS.c.kind == PREVIEW),
                      EVENTS.c.workspace_id.in_(select(Workspace.id).where(Workspace.state == ACTIVE)
                                                .scalar_subquery()))


def claim(engine: Engine, worker_id: str, policy: ClaimPolicy, *, gated: Iterable[str] = (),
          served: dict[str, int] | None = None, now: datetime | None = None) -> Claim:
    """Take the next fair set of groups for ``worker_id`` (see the module docstring).

    ``gated``: workspaces this worker knows have no rate-limit slot yet. ``served``: per
    workspace, a counter of when this worker last served it (smaller: longer ago).
    """
    now = now or utcnow()
    gated = set(gated)
    served = served or {}
    with engine.begin() as connection:
        _lock_claims(connection)
        chosen = _choose(_candidates(connection, policy, now, gated), policy, served)
        if not chosen:
            return Claim()
        keys = [(c.workspace_id, c.order_key) for c in chosen]
        until = now + timedelta(seconds=policy.lease_s)
        # One update per workspace: that is the form both databases answer from ix_events_order
        # (SQLite uses no index for a row-value IN list, nor for an OR of several workspaces, and
        # would walk every pending event instead: the whole of a 5,000-row paste, at each claim).
        taken: list[Row[tuple[int, str, str, bool]]] = []
        for workspace_id, order_keys in _by_workspace(keys).items():
            taken += connection.execute(_TAKE, {
                "b_workspace": workspace_id, "b_keys": order_keys, "lanes": [int(lane) for lane in policy.lanes],
                "now": now, "worker": worker_id, "until": until}).all()
        # Another worker's live lease on any event of a group: the group is theirs.
        theirs = set(connection.execute(
            select(EVENTS.c.workspace_id, EVENTS.c.order_key).distinct()
            .where(_of_groups(keys), EVENTS.c.state == PROCESSING, EVENTS.c.locked_by != worker_id,
                   EVENTS.c.locked_until >= now)).all())
        by_group: dict[tuple[str, str], list[int]] = {}
        echoes: dict[tuple[str, str], bool] = {}
        giving_back: list[int] = []
        for event_id, workspace_id, order_key, echo in taken:
            if (workspace_id, order_key) in theirs:
                giving_back.append(event_id)
            else:
                by_group.setdefault((workspace_id, order_key), []).append(event_id)
                echoes[(workspace_id, order_key)] = echoes.get((workspace_id, order_key), True) and bool(echo)
        if giving_back:
            connection.execute(_release_statement(), {"ids": giving_back, "worker_id": worker_id, "at": now})
    groups = [Group(c.workspace_id, c.order_key, c.lane, tuple(sorted(by_group[(c.workspace_id, c.order_key)])),
                    echoes[(c.workspace_id, c.order_key)])
              for c in chosen if (c.workspace_id, c.order_key) in by_group]
    return Claim(groups)


# Built once (a claim's statements are served from SQLAlchemy's compiled cache without building
# a cache key each time): the claim's update of one workspace's groups.
_TAKE = (update(EVENTS)
         .where(EVENTS.c.workspace_id == bindparam("b_workspace"),
                EVENTS.c.order_key.in_(bindparam("b_keys", expanding=True)), EVENTS.c.lane.in_(_LANES),
                _RUNNABLE_EVENT, or_(EVENTS.c.state == PENDING,
                                     and_(EVENTS.c.state == PROCESSING, EVENTS.c.locked_until < _NOW)))
         .values(state=PROCESSING, locked_by=bindparam("worker"),
                 locked_until=bindparam("until", type_=UTCDateTime()), attempts=EVENTS.c.attempts + 1)
         .returning(EVENTS.c.id, EVENTS.c.workspace_id, EVENTS.c.order_key, EVENTS.c.echo))


def _by_workspace(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    by_workspace: dict[str, list[str]] = {}
    for workspace_id, order_key in keys:
        by_workspace.setdefault(workspace_id, []).append(order_key)
    return by_workspace


def _of_groups(keys: Iterable[tuple[str, str]]) -> ColumnElement[bool]:
    """The events of these (workspace, order key) groups (a claim's own, few: found by state)."""
    return or_(*(and_(EVENTS.c.workspace_id == workspace_id, EVENTS.c.order_key.in_(order_keys))
                 for workspace_id, order_keys in _by_workspace(keys).items()))


def _lock_claims(connection: Connection) -> None:
    """Serialise claims: PostgreSQL's advisory lock; on SQLite, take the write lock now, so what
    the candidates query reads is what the update acts on."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CLAIM_LOCK})
    else:
        take_sqlite_write_lock(connection)


def _choose(candidates: list[_Candidate], policy: ClaimPolicy, served: dict[str, int]) -> list[_Candidate]:
    """The fair pick among ready groups: lanes in order, then round robin by workspace."""
    by_workspace: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        by_workspace.setdefault(candidate.workspace_id, []).append(candidate)
    ranked: list[tuple[int, int, int, int, _Candidate]] = []
    for workspace_id, groups in by_workspace.items():
        rank_by_lane: dict[int, int] = {}
        for group in sorted(groups, key=lambda g: (g.lane, g.first_id)):
            rank = rank_by_lane.get(group.lane, 0)
            rank_by_lane[group.lane] = rank + 1
            if group.lane == Lane.BULK and rank >= policy.bulk_per_workspace:
                continue
            ranked.append((group.lane, rank, served.get(workspace_id, 0), group.first_id, group))
    ranked.sort(key=lambda item: item[:4])
    return [item[4] for item in ranked[:policy.max_groups]]


# --------------------------------------------------------------------------- state changes


def _release_statement() -> Any:
    events = EVENTS
    return (update(events).where(events.c.id.in_(bindparam("ids", expanding=True)),
                                 events.c.locked_by == bindparam("worker_id"), events.c.state == PROCESSING)
            .values(state=PENDING, locked_by=None, locked_until=None,
                    next_attempt_at=bindparam("at", type_=UTCDateTime()),
                    attempts=case((events.c.attempts > 0, events.c.attempts - 1), else_=0)))


_RELEASE = _release_statement()


def release(engine: Engine, event_ids: Sequence[int], worker_id: str, *, at: datetime | None = None) -> None:
    """Give claimed events back untouched (not counted as an attempt), ready again at ``at``."""
    if event_ids:
        with engine.begin() as connection:
            connection.execute(_RELEASE, {"ids": list(event_ids), "worker_id": worker_id, "at": at or utcnow()})


_SETTLE_CREATION_ECHOES = (
    update(EVENTS)
    .where(EVENTS.c.workspace_id == bindparam("b_workspace"), EVENTS.c.order_key == bindparam("b_order_key"),
           EVENTS.c.state == PENDING, EVENTS.c.echo.is_(True), EVENTS.c.kind.in_(bindparam("kinds", expanding=True)))
    .values(state=IGNORED, processed_at=bindparam("at", type_=UTCDateTime()), last_error="the card is already linked"))


def settle_creation_echoes(session: Session, workspace_id: str, card_id: str, kinds: Iterable[str]) -> None:
    """Finish, with the creation that made the card, the echo of it stored before the card was
    linked (the web tier settles a later one itself): no claim and no session of its own."""
    session.execute(_SETTLE_CREATION_ECHOES, {"b_workspace": workspace_id, "b_order_key": f"card:{card_id}",
                                              "kinds": sorted(kinds), "at": utcnow()})


def finish(session: Session, event: Event, *, state: str = DONE, note: str = "") -> None:
    """Mark an event applied (or ignored, with why); the caller commits with the event's effects."""
    event.state = state
    event.processed_at = utcnow()
    event.locked_by = None
    event.locked_until = None
    event.last_error = note[:1000]


def defer(event: Event, delay_s: float, reason: str) -> None:
    """Try again after ``delay_s`` without counting an attempt (busy link, no rate-limit slot)."""
    event.state = PENDING
    event.attempts = max(0, event.attempts - 1)
    event.next_attempt_at = utcnow() + timedelta(seconds=max(0.0, delay_s))
    event.locked_by = None
    event.locked_until = None
    event.last_error = reason[:1000]


def retry_later(event: Event, delay_s: float, reason: str) -> None:
    """A transient failure: counted; try again after the backoff."""
    event.state = PENDING
    event.next_attempt_at = utcnow() + timedelta(seconds=delay_s)
    event.locked_by = None
    event.locked_until = None
    event.last_error = reason[:1000]


def park(event: Event, reason: str) -> None:
    """Stop retrying; the error waits in the dashboard, where Retry re-queues it."""
    event.state = PARKED
    metrics.event_parked(event.source)
    event.processed_at = utcnow()
    event.locked_by = None
    event.locked_until = None
    event.last_error = reason[:1000]


def requeue(event: Event) -> None:
    """A person's Retry of a parked event: queued again as if it had never been tried."""
    event.state = PENDING
    event.attempts = 0
    event.next_attempt_at = utcnow()
    event.processed_at = None
    event.locked_by = None
    event.locked_until = None


def backoff_s(attempts: int, base_s: float, max_s: float, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; a provider's own ``Retry-After`` is respected."""
    base = min(max_s, base_s * (2 ** max(0, attempts - 1)))
    delay = base * (0.5 + random.random() / 2)
    return max(delay, float(retry_after)) if retry_after is not None else float(delay)


_RENEW_LEASE = (update(EVENTS)
                .where(EVENTS.c.id.in_(bindparam("ids", expanding=True)),
                       EVENTS.c.locked_by == bindparam("worker_id"),
                       EVENTS.c.state == PROCESSING)
                .values(locked_until=bindparam("until", type_=UTCDateTime())))


def renew_leases(engine: Engine, event_ids: Sequence[int], worker_id: str, lease_s: float) -> None:
    if event_ids:
        with engine.begin() as connection:
            connection.execute(_RENEW_LEASE, {"ids": list(event_ids), "worker_id": worker_id,
                                              "until": utcnow() + timedelta(seconds=lease_s)})


class LeaseKeeper:
    """Renews the leases of the events a worker is applying, every third of the lease, until done.

    A lease must outlast the work, or another worker takes the event for abandoned and applies it
    a second time. A killed worker stops renewing, so its events still come back after one lease.
    ``track``/``untrack`` change the set while it runs (events held for a sheet flush).
    """

    def __init__(self, engine: Engine, worker_id: str, event_ids: Iterable[int], lease_s: float) -> None:
        self.engine, self.worker_id, self.lease_s = engine, worker_id, lease_s
        self._ids = set(event_ids)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def track(self, event_ids: Iterable[int]) -> None:
        with self._lock:
            self._ids.update(event_ids)

    def untrack(self, event_ids: Iterable[int]) -> None:
        with self._lock:
            self._ids.difference_update(event_ids)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self.lease_s / 3):
            with self._lock:
                ids = sorted(self._ids)
            try:
                renew_leases(self.engine, ids, self.worker_id, self.lease_s)
            except Exception:  # the next beat tries again; the lease has slack
                log.warning("lease_renewal_failed", worker_id=self.worker_id, exc_info=True)


# --------------------------------------------------------------------------- wake-ups


class Waker:
    """Tells waiting workers that events were stored (after the storing transaction commits)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.directory = wake_directory(engine)

    def commit(self, session: Session, lane: int = Lane.LIVE) -> None:
        """Commit ``session`` and wake the workers."""
        if self.engine.dialect.name == "postgresql":
            session.connection().exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}, '{int(lane)}'")
        session.commit()
        self.nudge(lane)

    def nudge(self, lane: int = Lane.LIVE) -> None:
        """Send the wake datagrams (SQLite); on PostgreSQL ``NOTIFY`` did it with the commit."""
        if self.directory is None:
            return
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return
        message = str(int(lane)).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for name in names:
                path = os.path.join(self.directory, name)
                try:
                    sender.sendto(message, path)
                except OSError as exc:
                    if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                        _unlink_quietly(path)  # a worker that is gone left its socket behind
                    # EAGAIN: its buffer is full of wake-ups already; nothing to add


MAX_WAKE_DIRECTORY = 80  # a socket's whole path must fit AF_UNIX's 108 bytes


def wake_directory(engine: Engine) -> str | None:
    """``<directory of the SQLite file>/wake`` (or, when that path is too long for a socket
    address, a directory in the temp dir named after the database file); None for PostgreSQL or
    an in-memory database. The web processes and the workers of one database compute the same."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = os.path.abspath(database)
    directory = os.path.join(os.path.dirname(path), "wake")
    if len(directory) > MAX_WAKE_DIRECTORY:
        directory = os.path.join(tempfile.gettempdir(), "leads-wake-" + hashlib.sha256(path.encode()).hexdigest()[:16])
    return directory


_LISTENERS = itertools.count(1)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class WakeListener:
    """What a worker waits on: a datagram socket (SQLite) or a LISTEN connection (PostgreSQL).

    ``wait(timeout)`` returns the lanes that woke it (empty on timeout); ``poll()`` the same
    without waiting. A lost PostgreSQL connection is reopened with backoff; until it is, waits
    simply time out (the worker then polls).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._socket: socket.socket | None = None
        self._path: str | None = None
        self._pg: Any = None
        self._pg_retry_at = 0.0
        self._pg_failures = 0
        directory = wake_directory(engine)
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
            self._path = os.path.join(directory, f"{os.getpid()}-{next(_LISTENERS)}.sock")
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.bind(self._path)
            self._socket.setblocking(False)

    def wait(self, timeout: float) -> set[int]:
        if self._socket is not None:
            ready, _, _ = select_module.select([self._socket], [], [], max(0.0, timeout))
            return self._drain() if ready else set()
        if self.engine.dialect.name == "postgresql":
            return self._pg_wait(timeout)
        threading.Event().wait(max(0.0, timeout))
        return set()

    def poll(self) -> set[int]:
        if self._socket is not None:
            return self._drain()
        if self.engine.dialect.name == "postgresql":
            return self._pg_wait(0.0)
        return set()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._path:
            _unlink_quietly(self._path)
        if self._pg is not None:
            try:
                self._pg.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._pg = None

    def _drain(self) -> set[int]:
        lanes: set[int] = set()
        assert self._socket is not None
        while True:
            try:
                data = self._socket.recv(16)
            except (BlockingIOError, InterruptedError):
                return lanes
            lanes.add(int(data) if data.isdigit() else int(Lane.LIVE))

    def _pg_wait(self, timeout: float) -> set[int]:
        import time

        if self._pg is None:
            if time.monotonic() < self._pg_retry_at:
                threading.Event().wait(min(timeout, self._pg_retry_at - time.monotonic()))
                return set()
            try:
                self._pg = _pg_listen(self.engine)
                self._pg_failures = 0
            except Exception as exc:  # noqa: BLE001 - the database is down: poll meanwhile, retry later
                self._pg_failures += 1
                self._pg_retry_at = time.monotonic() + min(30.0, 0.5 * 2 ** min(self._pg_failures, 6))
                log.warning("worker_listen_failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                threading.Event().wait(min(timeout, 0.5))
                return set()
        lanes: set[int] = set()
        try:
            for note in self._pg.notifies(timeout=timeout, stop_after=1):
                lanes.add(int(note.payload) if note.payload.isdigit() else int(Lane.LIVE))
            # Take whatever else arrived meanwhile without waiting.
            for note in self._pg.notifies(timeout=0.0):
                lanes.add(int(note.payload) if note.payload.isdigit() else int(Lane.LIVE))
        except Exception as exc:  # noqa: BLE001 - connection lost: reopen on the next wait
            log.warning("worker_listen_lost", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            self.close()
            self._pg_retry_at = time.monotonic() + 0.5
            lanes.add(int(Lane.LIVE))  # something may have been stored meanwhile: look
        return lanes


def _pg_listen(engine: Engine) -> Any:
    import psycopg

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = psycopg.connect(url, autocommit=True, connect_timeout=5)
    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
    return connection


# The given events in id order, built once (reused, it keeps its cache key): ``load_events``.
_EVENTS_BY_ID = select(Event).where(Event.id.in_(bindparam("b_ids", expanding=True))).order_by(Event.id)


def load_events(session: Session, ids: Iterable[int]) -> list[Event]:
    """The given events, in id order."""
    return list(session.scalars(_EVENTS_BY_ID, {"b_ids": list(ids)}).all())
