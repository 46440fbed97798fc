"""Token buckets shared by every process of a deployment (Trello and Google Sheets quotas).

Why not pyrate-limiter (4.5.1, read first and not a dependency): its PostgreSQL and SQLite
buckets make one *table per bucket* (thousands of users → thousands of tables, named after the
bucket); ``PostgresBucket.put`` takes ``LOCK TABLE … NOWAIT`` and simply fails under contention, so
blocking callers spin; the blocking wait adds ``buffer_ms`` (50 ms) per retry and advances the item's
timestamp by the planned sleep instead of re-reading the clock, so an oversleep records a grant
*earlier* than it happened; and every bucket wants its own background leak thread. None of that
fits exact cross-process pacing of many small buckets, so this module keeps its own, small one.

Algorithm: an exact sliding log with *reservations*. A bucket is one row holding the times of its
last ``limit`` grants (packed doubles, sorted). A caller, in one short transaction, computes the
earliest slot ``s >= now`` such that ``s >= stamps[-limit] + per_seconds + margin``, appends ``s``
and commits; then it sleeps until ``s`` outside any lock. Any rolling window of ``per_seconds``
therefore holds at most ``limit`` slots, an allowed caller never sleeps, a waiting caller sleeps
exactly to its slot (no thundering herd: every waiter owns a distinct slot), and a caller whose
slot lies beyond its timeout reserves nothing. Several buckets (Trello token + key) are reserved
atomically at the same slot. Each window is widened by ``MARGIN_FRACTION`` (5 %) of its length,
never by less than ``margin`` (25 ms), to absorb the delay between a grant and its request reaching
the provider (commit, scheduling, the network): 0.5 s for Trello's 10 s window. It costs 5 % of
throughput. A call that ends later than that after its slot may have been counted by the provider
anywhere up to its end, so the throttles *redate* it: its stamp moves to the moment it ended, and
every later reservation keeps a full window away from it (one more short transaction, for the
rare slow call). Reservations made before the redating are not moved; a 429 they may still draw is
retried by the clients.

Storage and clock:
- PostgreSQL: UNLOGGED table ``ratelimit.ratelimit_buckets`` in the app database, created if missing.
  It is not an Alembic model; its own schema keeps it out of autogenerate and of the migrations
  check, which look at the default schema only (if the role may not create schemas it falls back
  to the default schema, and env.py must then skip ``ratelimit_*`` tables). Rows are locked with
  ``SELECT … FOR UPDATE`` in name order; the clock is the database's ``clock_timestamp()`` read
  after the locks are held, so app hosts' clocks never matter. UNLOGGED: no WAL, no fsync per call;
  the state is lost on a crash, which only forgets up to one window of history.
- SQLite: a separate file (default ``<dir of app db>/ratelimits.sqlite``, WAL, synchronous=OFF:
  the state is disposable) so bucket writes never contend with the app database's writer;
  ``BEGIN IMMEDIATE`` behind an ``flock`` on ``<file>.lock`` (prompt hand-over between processes);
  the clock is ``time.time()`` (one machine).
Rows whose every grant has left its window are purged every ``purge_every`` seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
import weakref
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import structlog

try:
    from ..metrics import limiter_outcome
except ImportError:  # loaded as a lone file (the tests' child processes skip Flask's import): not measured
    def limiter_outcome(specs: Sequence[tuple[str, int, float]], granted: bool, wait_s: float) -> None:
        """Without the app's package there is nothing to record into."""

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: rely on SQLite's busy timeout alone
    fcntl = None  # type: ignore[assignment]

Spec = tuple[str, int, float]  # (bucket, limit, per_seconds)
Finish = Callable[[], None]  # what a throttle returns: call it once the request has ended
log = structlog.get_logger(__name__)
_orphans: list[Any] = []  # connections inherited over fork: never closed in the child (it would end the parent's)

PG_SCHEMA = """
CREATE UNLOGGED TABLE IF NOT EXISTS ratelimit_buckets (
    name text PRIMARY KEY, stamps bytea NOT NULL, expires_at double precision NOT NULL
) WITH (fillfactor = 70)"""
_PG_LOCK = "SELECT name, stamps FROM ratelimit_buckets WHERE name = ANY(%s) ORDER BY name FOR UPDATE"
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS ratelimit_buckets (
    name TEXT PRIMARY KEY, stamps BLOB NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID"""


class RateLimitTimeout(Exception):
    """The wait for a slot would exceed the caller's timeout (nothing was reserved)."""


class SlotLater(RateLimitTimeout):
    """No slot within the caller's ``max_wait``; the earliest is ``wait_s`` away (nothing was
    reserved). A worker defers the work to then and goes on with other work."""

    def __init__(self, buckets: Sequence[str], wait_s: float) -> None:
        super().__init__(f"rate limit {', '.join(buckets)}: next slot in {wait_s:.3g} s")
        self.wait_s = wait_s


@dataclass(frozen=True)
class Fair:
    """Share a bucket (Trello's API key) fairly among its users (tokens).

    The demand row ``row`` remembers, per user, the grants it had in the last window and when it
    last had to wait. Users that waited in the last window *contend*; each contender may have at
    most ``(limit - what the others used) / contenders`` grants in any window (max-min fairness),
    so a busy tenant cannot take the key's whole budget while another waits, and a tenant using
    little leaves the rest to the busy ones.
    """

    row: str
    user: str
    limit: int
    per: float


@dataclass(frozen=True)
class Grant:
    """A slot reserved in one or more buckets."""

    specs: tuple[Spec, ...]
    slot: float  # as stored in each bucket's log, on the limiter's clock
    due: float  # time.monotonic() at the slot
    waited: float = 0.0


def _unpack(blob: bytes | None) -> array[float]:
    stamps = array("d", bytes(blob or b""))
    if sys.byteorder == "big":  # pragma: no cover - stored little-endian
        stamps.byteswap()
    return stamps


def _pack(stamps: array[float]) -> bytes:
    if sys.byteorder == "big":  # pragma: no cover
        stamps = array("d", stamps)
        stamps.byteswap()
    return stamps.tobytes()


# The provider counts a request when it arrives, we when we grant it; a loaded machine or a slow
# network delays some requests by tens of ms (measured: up to 73 ms on this 2-core box), so each
# window is widened by 5% of its length (0.5 s for Trello's 10 s window), and never less than margin.
MARGIN_FRACTION = 0.05


def _widening(per: float, margin: float, fraction: float = MARGIN_FRACTION) -> float:
    return max(margin, fraction * per)


def _plan(specs: Sequence[Spec], rows: dict[str, bytes], now: float, margin: float,
          max_wait: float, fraction: float = MARGIN_FRACTION,
          fair: Fair | None = None) -> tuple[float, dict[str, tuple[bytes, float]] | None]:
    """(wait, new rows) for one common slot in every bucket; new rows is None when wait > max_wait,
    unless ``fair`` is given: then a refusal still returns the demand row (marked waiting)."""
    logs, slot = {}, now
    for name, limit, per in specs:
        margin_here = _widening(per, margin, fraction)
        stamps = _unpack(rows.get(name))
        cut = 0
        while cut < len(stamps) and stamps[cut] <= now - per - margin_here:  # out of every future window
            cut += 1
        stamps = stamps[cut:]
        if stamps:
            slot = max(slot, stamps[-1])
        if len(stamps) >= limit:
            slot = max(slot, stamps[-limit] + per + margin_here)
        logs[name] = stamps
    demand: dict[str, dict[str, Any]] = {}
    if fair is not None:
        demand = _demand(rows.get(fair.row), now, fair.per + _widening(fair.per, margin, fraction))
        slot = max(slot, _fair_slot(demand, fair, now, _widening(fair.per, margin, fraction)))
    wait = slot - now
    out = {}
    if fair is not None:
        mine = demand.setdefault(fair.user, {"g": []})
        if wait > 0:
            mine["w"] = now
        if wait <= max_wait:
            mine["g"].append(slot)
        expiry = max([now] + [g for d in demand.values() for g in d["g"]]) + fair.per + _widening(fair.per, margin)
        out[fair.row] = (json.dumps(demand, separators=(",", ":")).encode(), expiry)
    if wait > max_wait:
        return wait, (out or None)
    for name, limit, per in specs:
        stamps = logs[name]
        stamps.append(slot)
        out[name] = (_pack(stamps[-limit:]), slot + per + _widening(per, margin, fraction))
    return wait, out


def _demand(blob: bytes | None, now: float, horizon: float) -> dict[str, dict[str, Any]]:
    """The demand row's users, with grants and waits older than one window forgotten."""
    try:
        raw = json.loads(bytes(blob or b"") or b"{}")
    except ValueError:
        raw = {}
    demand: dict[str, dict[str, Any]] = {}
    for user, entry in (raw.items() if isinstance(raw, dict) else ()):
        grants = [g for g in entry.get("g", []) if g > now - horizon]
        waited = entry.get("w", 0.0)
        if grants or waited > now - horizon:
            demand[user] = {"g": grants, **({"w": waited} if waited > now - horizon else {})}
    return demand


def _fair_slot(demand: dict[str, dict[str, Any]], fair: Fair, now: float, widening: float) -> float:
    """The earliest slot at which ``fair.user`` stays within its fair share."""
    contenders = {user for user, entry in demand.items() if "w" in entry} | {fair.user}
    if len(contenders) < 2:
        return now
    others = sum(len(entry["g"]) for user, entry in demand.items() if user not in contenders)
    share = max(1, (fair.limit - others) // len(contenders))
    grants = sorted(demand.get(fair.user, {}).get("g", []))
    if len(grants) < share:
        return now
    return float(grants[-share] + fair.per + widening)


def _redated(specs: Sequence[Spec], rows: dict[str, bytes], slot: float, moved_to: float,
             margin: float) -> dict[str, tuple[bytes, float]]:
    """New rows with the stamp ``slot`` moved to ``moved_to``, for the buckets that still log it."""
    out = {}
    for name, _limit, per in specs:
        stamps = _unpack(rows.get(name))
        try:
            stamps[stamps.index(slot)] = moved_to
        except ValueError:
            continue  # `limit` later grants pushed it out: the reservation it bounded is made
        stamps = array("d", sorted(stamps))
        out[name] = (_pack(stamps), stamps[-1] + per + _widening(per, margin))
    return out


class RateLimiter:
    """Process-shared token buckets, keyed by name."""

    def __init__(self, database_url: str, *, sqlite_path: str | None = None, margin: float = 0.025,
                 purge_every: float = 600.0) -> None:
        from sqlalchemy.engine import make_url

        url = make_url("postgresql" + database_url[8:] if database_url.startswith("postgres:") else database_url)
        self.margin, self.purge_every = margin, purge_every
        self.backend = url.get_backend_name()
        if self.backend == "postgresql":
            self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        elif self.backend == "sqlite":
            if sqlite_path is None:
                db = url.database
                sqlite_path = (":memory:" if not db or db == ":memory:" or db.startswith("file:")
                               else os.path.join(os.path.dirname(os.path.abspath(db)), "ratelimits.sqlite"))
            self.sqlite_path = sqlite_path
        else:
            raise ValueError(f"rate limits need PostgreSQL or SQLite, not {self.backend!r}")
        self._conn: Any = None
        self._lockfile: int | None = None
        self._lock = threading.Lock()
        self._next_purge = time.monotonic() + purge_every
        ref = weakref.ref(self)

        def after_fork_in_child() -> None:
            limiter = ref()
            if limiter is not None:
                limiter._after_fork()
        os.register_at_fork(after_in_child=after_fork_in_child)

    # ------------------------------------------------------------------ public API

    def acquire(self, bucket: str, limit: int, per_seconds: float, *, timeout: float = 120.0) -> float:
        """Block until one request may be made in `bucket` (at most `limit` per `per_seconds`, rolling);
        return seconds waited; raise RateLimitTimeout if the wait would exceed `timeout`."""
        return self.acquire_many([(bucket, limit, per_seconds)], timeout=timeout)

    def acquire_many(self, specs: Sequence[Spec], *, timeout: float = 120.0) -> float:
        """Like `acquire`, for several buckets at once, all charged at the same instant."""
        return self.grant(specs, timeout=timeout).waited

    def grant(self, specs: Sequence[Spec], *, timeout: float = 120.0, max_wait: float | None = None,
              fair: Fair | None = None) -> Grant:
        """Like `acquire_many`, returning the grant for `redate` once the call has ended.

        ``max_wait``: reserve only a slot at most that far away, else raise `SlotLater` (with the
        wait) and reserve nothing, so the caller can do other work meanwhile. ``fair``: also keep
        the caller within its fair share of a shared bucket (see `Fair`).
        """
        limit = timeout if max_wait is None else min(timeout, max_wait)
        grant, wait = self._reserve(specs, limit, fair)
        limiter_outcome(specs, grant is not None, wait)
        if grant is None:
            if max_wait is not None and wait <= timeout:
                raise SlotLater([s[0] for s in specs], wait)
            raise RateLimitTimeout(f"rate limit {', '.join(s[0] for s in specs)}: no slot within {timeout:g} s")
        if grant.due <= time.monotonic():
            return grant
        start = time.monotonic()
        while (left := grant.due - time.monotonic()) > 0:
            time.sleep(left)
        return replace(grant, waited=time.monotonic() - start)

    def redate(self, grant: Grant) -> bool:
        """Once its call has ended: if that was later after the slot than the window's widening
        covers, move the grant's stamp to now, where the provider may have counted the call.
        Returns whether it moved the stamp."""
        late = time.monotonic() - grant.due
        if late <= min(_widening(per, self.margin) for _name, _limit, per in grant.specs):
            return False
        with self._lock:
            self._run(self._redate_pg if self.backend == "postgresql" else self._redate_sqlite, grant, late)
        return True

    def try_acquire(self, bucket: str, limit: int, per_seconds: float) -> bool:
        """Take one request now if the bucket allows it; never sleeps."""
        return self._reserve([(bucket, limit, per_seconds)], 0.0)[0] is not None

    def purge(self) -> int:
        """Delete buckets whose grants have all left their window; returns how many."""
        with self._lock:
            return int(self._run(self._purge_pg if self.backend == "postgresql" else self._purge_sqlite))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            if self._lockfile is not None:
                os.close(self._lockfile)
            self._conn = self._lockfile = None

    # ------------------------------------------------------------------ internals

    def _after_fork(self) -> None:
        _orphans.append(self._conn)
        self._conn, self._lockfile, self._lock = None, None, threading.Lock()

    def _reserve(self, specs: Sequence[Spec], max_wait: float,
                 fair: Fair | None = None) -> tuple[Grant | None, float]:
        """(grant or None when the slot is further than ``max_wait``, wait in seconds)."""
        for name, limit, per in specs:
            if limit < 1 or per <= 0:
                raise ValueError(f"bad rate limit for {name!r}: {limit} per {per} s")
        specs = sorted({s[0]: s for s in specs}.values())  # one lock order everywhere: no deadlocks
        step = self._reserve_pg if self.backend == "postgresql" else self._reserve_sqlite
        with self._lock:
            wait, rows = self._run(step, specs, max_wait, fair)
            due = time.monotonic() + max(wait, 0.0)
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + self.purge_every
                self._run(self._purge_pg if self.backend == "postgresql" else self._purge_sqlite)
        if rows is None or wait > max_wait:
            return None, wait
        slot = _unpack(rows[specs[0][0]][0])[-1]  # exactly as stored: the newest stamp of each log
        return Grant(tuple(specs), slot, due), wait

    def _run(self, step: Callable[..., Any], *args: Any) -> Any:
        """Run `step` on the connection, reconnecting once if it was lost (caller holds the lock)."""
        for attempt in (1, 2):
            if self._conn is None:
                self._connect()
            try:
                return step(*args)
            except (sqlite3.OperationalError, _pg_operational_error()) as exc:
                if attempt == 2 or "locked" in str(exc) or "busy" in str(exc):
                    raise
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def _connect(self) -> None:
        if self.backend == "postgresql":
            import psycopg

            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10,
                                   cursor_factory=psycopg.ClientCursor)  # several statements per round trip
            conn.execute("SET synchronous_commit = off")
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x7261746C,))  # concurrent CREATE IF NOT EXISTS races
                try:
                    with conn.transaction():  # a savepoint: the role may lack CREATE on the database
                        conn.execute("CREATE SCHEMA IF NOT EXISTS ratelimit")
                    conn.execute("SET search_path = ratelimit")  # this private connection only
                except psycopg.errors.InsufficientPrivilege:
                    pass  # fall back to the default schema
                conn.execute(PG_SCHEMA)
            self._conn = conn
            return
        lite = sqlite3.connect(self.sqlite_path, isolation_level=None, check_same_thread=False, timeout=30.0)
        if self.sqlite_path != ":memory:" and fcntl is not None and self._lockfile is None:  # kept over reconnects
            self._lockfile = os.open(self.sqlite_path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        with self._file_lock():
            lite.execute("PRAGMA journal_mode=WAL")
            lite.execute("PRAGMA synchronous=OFF")
            lite.execute(SQLITE_SCHEMA)
        self._conn = lite

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Exclusive between processes (flock wakes the next waiter at once, unlike SQLite's busy sleeps)."""
        fd = self._lockfile
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def _sqlite_transaction(self) -> Iterator[Any]:
        """BEGIN IMMEDIATE behind the file lock; COMMIT at the end, ROLLBACK on any error."""
        conn = self._conn
        with self._file_lock():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    def _sqlite_rows(conn: Any, names: Sequence[str]) -> dict[str, bytes]:
        return dict(conn.execute(f"SELECT name, stamps FROM ratelimit_buckets WHERE name IN "
                                 f"({','.join('?' * len(names))})", list(names)).fetchall())

    def _reserve_sqlite(self, specs: Sequence[Spec], max_wait: float, fair: Fair | None = None) -> tuple[float, Any]:
        names = [s[0] for s in specs] + ([fair.row] if fair else [])
        with self._sqlite_transaction() as conn:
            now = time.time()
            wait, new = _plan(specs, self._sqlite_rows(conn, names), now, self.margin, max_wait, fair=fair)
            if new is not None:
                conn.executemany("INSERT INTO ratelimit_buckets (name, stamps, expires_at) VALUES (?, ?, ?) "
                                 "ON CONFLICT (name) DO UPDATE SET stamps = excluded.stamps, "
                                 "expires_at = excluded.expires_at", [(n, *v) for n, v in new.items()])
        return wait, new

    def _redate_sqlite(self, grant: Grant, late: float) -> None:
        with self._sqlite_transaction() as conn:
            rows = self._sqlite_rows(conn, [s[0] for s in grant.specs])
            new = _redated(grant.specs, rows, grant.slot, grant.slot + late, self.margin)
            conn.executemany("UPDATE ratelimit_buckets SET stamps = ?, expires_at = ? WHERE name = ?",
                             [(*v, n) for n, v in new.items()])

    def _purge_sqlite(self) -> int:
        with self._file_lock():
            return int(self._conn.execute("DELETE FROM ratelimit_buckets WHERE expires_at < ?",
                                          (time.time(),)).rowcount)

    @contextmanager
    def _pg_transaction(self) -> Iterator[Any]:
        """The caller sends BEGIN and COMMIT with its statements (fewer round trips); on any
        error the transaction is rolled back here."""
        conn = self._conn
        try:
            yield conn
        except BaseException:
            try:
                if conn.info.transaction_status != 0:  # 0: idle, outside a transaction
                    conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the connection is broken; _run reconnects
                pass
            raise

    @staticmethod
    def _pg_write_and_commit(conn: Any, new: dict[str, tuple[bytes, float]] | None) -> None:
        if not new:
            conn.execute("COMMIT")
            return
        values = ", ".join(["(%s, %s::bytea, %s::float8)"] * len(new))
        conn.execute(f"UPDATE ratelimit_buckets AS b SET stamps = v.s, expires_at = v.e FROM (VALUES {values}) "
                     "AS v(n, s, e) WHERE b.name = v.n; COMMIT", [x for n, v in new.items() for x in (n, *v)])

    def _reserve_pg(self, specs: Sequence[Spec], max_wait: float, fair: Fair | None = None) -> tuple[float, Any]:
        """Two round trips: BEGIN + lock rows (name order) + read the clock; then write + COMMIT."""
        names = sorted([s[0] for s in specs] + ([fair.row] if fair else []))
        lock = _PG_LOCK + "; SELECT extract(epoch FROM clock_timestamp())::float8"
        with self._pg_transaction() as conn:
            cur = conn.execute("BEGIN; " + lock, (names,))
            cur.nextset()
            rows = dict(cur.fetchall())
            if len(rows) < len(names):  # first use: create the missing rows, then lock them all
                cur = conn.execute("INSERT INTO ratelimit_buckets SELECT unnest(%s::text[]), '', 0 "
                                   "ON CONFLICT DO NOTHING; " + lock, (names, names))
                cur.nextset()
                rows = dict(cur.fetchall())
            cur.nextset()
            now = cur.fetchone()[0]
            wait, new = _plan(specs, rows, now, self.margin, max_wait, fair=fair)
            self._pg_write_and_commit(conn, new)
        return wait, new

    def _redate_pg(self, grant: Grant, late: float) -> None:
        with self._pg_transaction() as conn:
            cur = conn.execute("BEGIN; " + _PG_LOCK, ([s[0] for s in grant.specs],))
            cur.nextset()
            rows = dict(cur.fetchall())
            self._pg_write_and_commit(conn, _redated(grant.specs, rows, grant.slot, grant.slot + late, self.margin))

    def _purge_pg(self) -> int:
        return int(self._conn.execute("DELETE FROM ratelimit_buckets WHERE expires_at < "
                                      "extract(epoch FROM clock_timestamp())").rowcount)


def _pg_operational_error() -> type[Exception]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return sqlite3.OperationalError
    return psycopg.OperationalError


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def trello_bucket_names(api_key: str, token: str) -> tuple[str, str]:
    """(per-token bucket, per-key bucket); short sha256 digests, never the raw secrets."""
    return f"trello:token:{_digest(token)}", f"trello:key:{_digest(api_key)}"


def trello_throttle(limiter: RateLimiter, api_key: str, token: str, *, token_limit: tuple[int, float] = (100, 10.0),
                    key_limit: tuple[int, float] = (300, 10.0), timeout: float = 120.0,
                    max_wait: float | None = None) -> Callable[[], Finish]:
    """A callable for TrelloClient(throttle=...): one slot in the per-token and the per-key bucket at
    once, within the token's fair share of the key (one key serves every tenant of a deployment).
    ``max_wait`` (a worker's): no slot that close raises `SlotLater` instead of sleeping."""
    token_bucket, key_bucket = trello_bucket_names(api_key, token)
    fair = Fair(f"trello:demand:{_digest(api_key)}", _digest(token), *key_limit)
    return _throttle(limiter, [(token_bucket, *token_limit), (key_bucket, *key_limit)], timeout, max_wait, fair)


def sheets_throttle(limiter: RateLimiter, user_key: str, kind: str, *, limit: tuple[int, float] = (60, 60.0),
                    timeout: float = 120.0, max_wait: float | None = None) -> Callable[[], Finish]:
    """A callable for SheetTab(read_throttle=/write_throttle=): the Google user's read or write quota."""
    if kind not in ("read", "write"):
        raise ValueError(f"kind must be 'read' or 'write', not {kind!r}")
    return _throttle(limiter, [(f"sheets:{kind}:{user_key}", *limit)], timeout, max_wait)


def _throttle(limiter: RateLimiter, specs: Sequence[Spec], timeout: float, max_wait: float | None = None,
              fair: Fair | None = None) -> Callable[[], Finish]:
    """Waits for a slot (at most ``max_wait`` if given, else `SlotLater`); returns the `Finish`
    that redates the grant once the call has ended."""

    def throttle() -> Finish:
        grant = limiter.grant(specs, timeout=timeout, max_wait=max_wait, fair=fair)

        def finish() -> None:
            try:
                limiter.redate(grant)
            except Exception:  # the call itself is done; a 429 later is retried
                log.warning("rate_limit_redate_failed", buckets=[s[0] for s in specs], exc_info=True)
        return finish
    return throttle
