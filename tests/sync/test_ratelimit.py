"""Shared rate limits: exact rolling windows across threads and processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from server.sync.ratelimit import (
    Fair,
    RateLimiter,
    RateLimitTimeout,
    SlotLater,
    _plan,
    _redated,
    _unpack,
    sheets_throttle,
    trello_bucket_names,
    trello_throttle,
)

ROOT = Path(__file__).resolve().parents[2]
LIMIT, PER = 12, 0.6  # small windows keep the file fast; 3 × LIMIT calls span 2 windows
JITTER = 0.02  # timestamps are taken by the callers after acquire returns; allow for scheduling noise
# Pacing is a correctness bound from below (never faster than the limit); from above only gross
# oversleeping is caught here, since a loaded CI machine delays threads. The benchmark measures it.
OVERSLEEP = 0.6
TOKEN = "ATTA" + "5ecret" * 10


def max_in_window(stamps: list[float], width: float) -> int:
    """Most timestamps inside any half-open window [t, t + width)."""
    stamps, best, lo = sorted(stamps), 0, 0
    for hi, t in enumerate(stamps):
        while stamps[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("pg_url").replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def limiter(url: str) -> Iterator[RateLimiter]:
    rl = RateLimiter(url)
    rl.purge()  # connect and create the table now, outside the timed parts
    yield rl
    rl.close()


def stored(limiter: RateLimiter) -> list[tuple[str, bytes]]:
    """Every (name, stamps) row of the bucket table."""
    if limiter.backend == "sqlite":
        import sqlite3

        with sqlite3.connect(limiter.sqlite_path) as conn:
            return conn.execute("SELECT name, stamps FROM ratelimit_buckets").fetchall()
    with psycopg.connect(limiter._conninfo) as conn:
        return conn.execute("SELECT name, stamps FROM ratelimit.ratelimit_buckets").fetchall()


def test_plan_is_exact_and_minimal() -> None:
    """The slot arithmetic alone: random arrivals never put more than `limit` in any window, and no
    grant comes later than the earliest instant the log allows."""
    rng = random.Random(7)
    for limit, per in [(1, 1.0), (3, 0.5), (10, 2.0)]:
        row, slots, now = None, [], 1000.0
        for _ in range(400):
            now += rng.expovariate(4 * limit / per)
            wait, new = _plan([("b", limit, per)], {"b": row} if row else {}, now, 0.0, 1e9, fraction=0.0)
            assert new is not None and wait >= 0
            slots.append(now + wait)
            row = new["b"][0]
            if wait > 0:  # minimal: exactly one window after the grant `limit` places back
                assert slots[-1] == pytest.approx(max(slots[-2], slots[-1 - limit] + per))
        assert max_in_window(slots, per - 1e-9) == limit  # (1e-9: float rounding of e + per - per)
        assert len(row) // 8 <= limit  # the stored log never grows past `limit` entries
    wait, new = _plan([("b", 1, 1.0)], {"b": row}, now, 0.0, 0.0)
    assert new is None and wait > 0  # beyond max_wait: nothing reserved


def test_threads_never_exceed_and_pace_tightly(limiter: RateLimiter) -> None:
    stamps: list[float] = []
    guard = threading.Lock()

    def hammer() -> None:
        for _ in range(3 * LIMIT // 4):
            limiter.acquire("shared", LIMIT, PER)
            with guard:
                stamps.append(time.time())

    start = time.time()
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 3 * LIMIT
    assert max_in_window(stamps, PER - JITTER) <= LIMIT
    assert 2 * PER - 0.01 <= time.time() - start <= 2 * PER + OVERSLEEP


PROC = """
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("ratelimit", "server/sync/ratelimit.py")  # skip Flask's import
module = sys.modules["ratelimit"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
RateLimiter = module.RateLimiter
url, n, limit, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
rl = RateLimiter(url)
rl.try_acquire("warm-up", 1000, 1.0)
print("ready", flush=True)
sys.stdin.readline()
out = []
for _ in range(n):
    rl.acquire("shared", limit, per)
    out.append(time.time())
print(json.dumps(out), flush=True)
"""


def test_processes_never_exceed(url: str) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", PROC, url, str(LIMIT), str(LIMIT), str(PER)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(3)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        start = time.time()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        stamps = [t for p in procs for t in json.loads(p.communicate(timeout=20)[0])]
    finally:
        for p in procs:
            p.kill()
    assert len(stamps) == 3 * LIMIT
    assert max_in_window(stamps, PER - JITTER) <= LIMIT
    assert 2 * PER - 0.01 <= max(stamps) - start <= 2 * PER + OVERSLEEP


def test_pacing_three_limits_take_two_windows(limiter: RateLimiter) -> None:
    start, waited = time.monotonic(), []
    for _ in range(3 * LIMIT):
        waited.append(limiter.acquire("paced", LIMIT, PER))
    elapsed = time.monotonic() - start
    assert 2 * PER - 0.01 <= elapsed <= 2 * PER + OVERSLEEP
    assert waited[:LIMIT] == [0.0] * LIMIT  # allowed callers never sleep
    # the first of each later group waits about a window; the others only replay the first group's spacing
    assert waited[LIMIT] > PER * 0.7 and waited[2 * LIMIT] > PER * 0.7
    assert 2 * PER * 0.85 <= sum(waited) <= elapsed  # the rest of the time is the calls' own overhead


def test_buckets_are_independent_and_try_acquire_never_blocks(limiter: RateLimiter) -> None:
    assert all(limiter.try_acquire("a", 3, 5.0) for _ in range(3))
    start = time.monotonic()
    assert not limiter.try_acquire("a", 3, 5.0)
    assert time.monotonic() - start < 0.05
    assert all(limiter.try_acquire("b", 3, 5.0) for _ in range(3))
    assert limiter.acquire("c", 3, 5.0) == 0.0
    assert not limiter.try_acquire("b", 3, 5.0)


def test_timeout_raises_at_once_and_reserves_nothing(limiter: RateLimiter) -> None:
    for _ in range(3):
        limiter.acquire("t", 3, 0.6)
    start = time.monotonic()
    with pytest.raises(RateLimitTimeout):
        limiter.acquire("t", 3, 0.6, timeout=0.2)
    assert time.monotonic() - start < 0.1
    waited = limiter.acquire("t", 3, 0.6, timeout=1.0)  # the failed call took no slot
    assert 0.4 <= waited <= 0.7
    assert limiter.acquire("t", 3, 0.6, timeout=1.0) < 0.1  # only the first group's spacing


def test_trello_throttle_charges_token_and_key_without_storing_the_token(limiter: RateLimiter) -> None:
    kw = {"token_limit": (3, 10.0), "key_limit": (5, 10.0), "timeout": 0.1}
    first = trello_throttle(limiter, "key-1", TOKEN, **kw)
    second = trello_throttle(limiter, "key-1", TOKEN + "2", **kw)
    for _ in range(3):
        first()
    with pytest.raises(RateLimitTimeout):
        first()  # the token's bucket is full; the key bucket must not be charged for it
    second()
    second()
    with pytest.raises(RateLimitTimeout):
        second()  # now the key's bucket (5) is full
    token_bucket, key_bucket = trello_bucket_names("key-1", TOKEN)
    assert not limiter.try_acquire(key_bucket, 5, 10.0)
    rows = dict(stored(limiter))
    assert {token_bucket, key_bucket} <= set(rows)
    assert len(rows[token_bucket]) == 3 * 8 and len(rows[key_bucket]) == 5 * 8  # 3 and 5 grants logged
    assert all(TOKEN not in name and "5ecret" not in name for name in rows)
    if limiter.backend == "sqlite":
        files = Path(limiter.sqlite_path).parent.glob("ratelimits.sqlite*")
        assert all(TOKEN.encode() not in f.read_bytes() for f in files)


def test_sheets_throttle_separates_reads_and_writes(limiter: RateLimiter) -> None:
    read = sheets_throttle(limiter, "user-7", "read", limit=(2, 10.0), timeout=0.1)
    write = sheets_throttle(limiter, "user-7", "write", limit=(2, 10.0), timeout=0.1)
    other = sheets_throttle(limiter, "user-8", "read", limit=(2, 10.0), timeout=0.1)
    for throttle in (read, read, write, write, other, other):
        throttle()
    with pytest.raises(RateLimitTimeout):
        read()
    assert {"sheets:read:user-7", "sheets:write:user-7", "sheets:read:user-8"} <= {n for n, _ in stored(limiter)}
    with pytest.raises(ValueError):
        sheets_throttle(limiter, "user-7", "delete")


def test_redated_moves_one_stamp_and_keeps_the_log_sorted() -> None:
    row = _plan([("b", 3, 1.0)], {}, 100.0, 0.0, 1e9)[1]["b"][0]
    for now in (100.2, 100.4):
        row = _plan([("b", 3, 1.0)], {"b": row}, now, 0.0, 1e9)[1]["b"][0]
    new = _redated([("b", 3, 1.0), ("gone", 3, 1.0)], {"b": row, "gone": b""}, 100.0, 100.5, 0.025)
    assert list(new) == ["b"]  # a bucket whose log no longer holds the slot is left alone
    stamps, expires = new["b"]
    assert list(_unpack(stamps)) == [100.2, 100.4, 100.5]
    assert expires == pytest.approx(100.5 + 1.0 + 0.05)  # the newest stamp + window + 5 % widening


def test_a_call_ending_late_is_redated_and_holds_back_the_next_window(limiter: RateLimiter) -> None:
    """The provider may count a slow call at any moment until it ends: a later reservation keeps
    a whole window away from that end, not from the slot (limit 2 per 0.6 s, widening 30 ms)."""
    spec = [("slow", 2, 0.6)]
    quick = limiter.grant(spec)
    assert limiter.redate(quick) is False  # ended within the widening: nothing to move
    slow = limiter.grant(spec)
    time.sleep(0.25)  # the slow call's answer comes 0.25 s after its slot
    ended = time.monotonic()
    assert limiter.redate(slow) is True
    limiter.grant(spec)  # frees up when `quick` leaves its window
    limiter.grant(spec)  # must wait until the slow call's *end* leaves its window
    # A window and its widening after the end (less a few ms of clock hand-over); without the
    # redate this grant would come one window after the slow call's slot, 0.25 s earlier.
    assert time.monotonic() - ended >= 0.6 + 0.03 - 0.05


def test_throttles_redate_through_the_clients_even_when_the_call_fails(limiter: RateLimiter) -> None:
    from server.trello.client import TrelloClient
    from server.trello.errors import TrelloUnavailable

    redated = []
    original = limiter.redate
    limiter.redate = lambda grant: redated.append(grant) or original(grant)  # type: ignore[method-assign]
    throttle = trello_throttle(limiter, "key-1", TOKEN, token_limit=(5, 10.0), key_limit=(5, 10.0))
    client = TrelloClient("key-1", TOKEN, base_url="http://127.0.0.1:9/1", timeout=2, throttle=throttle)
    with pytest.raises(TrelloUnavailable):
        client.me()  # nothing listens on port 9: the call fails, and is still finished
    assert len(redated) == 1

    from server.sheets.client import SheetTab

    tab = SheetTab(None, "sheet", "Leads", read_throttle=sheets_throttle(limiter, "user-1", "read"))  # type: ignore[arg-type]
    with pytest.raises(ZeroDivisionError):
        tab._call("read", lambda: 1 / 0)
    assert len(redated) == 2


def test_a_call_that_reaches_trello_late_draws_no_429(limiter: RateLimiter) -> None:
    """Over HTTP against the emulated Trello, which counts a call when it arrives. The first call
    reaches Trello 0.25 s after its slot (a slow network), the second follows it. Without the
    redate the third would leave one window after the first's *slot*, while Trello still counts
    the first and the second in its window, and draw a 429."""
    from emulators.trello import TrelloEmulator
    from server.trello.client import TrelloClient

    with TrelloEmulator(api_key="emulator-key", api_secret="emulator-secret") as trello:
        trello.start()
        member = trello.add_member("ann", "Ann Example")
        token = trello.issue_token(member["id"])
        trello.set_limits(token_limit=(2, 0.6))
        late = trello.faults.add(path=r"^/1/members/me$", latency_ms=250, times=1)
        # When each call had its slot (our limiter) and when Trello counted it (the emulator's
        # limiter), on the one monotonic clock of this process; and which grants were redated.
        slots: list[float] = []
        counted: list[float] = []
        redated: list[bool] = []
        grant, hit, redate = limiter.grant, trello.limiter.hit, limiter.redate

        def granting(*args: Any, **kwargs: Any) -> Any:
            given = grant(*args, **kwargs)
            slots.append(given.due)
            return given

        def counting(*args: Any) -> Any:
            counted.append(time.monotonic())
            return hit(*args)

        limiter.grant = granting  # type: ignore[method-assign]
        trello.limiter.hit = counting  # type: ignore[method-assign]
        limiter.redate = lambda given: redated.append(redate(given)) or redated[-1]  # type: ignore[method-assign]
        throttle = trello_throttle(limiter, "emulator-key", token, token_limit=(2, 0.6), key_limit=(100, 0.6))
        client = TrelloClient("emulator-key", token, base_url=trello.api_base_url, throttle=throttle)
        for _ in range(4):
            client.me()
        assert client.rate_limited == 0 and trello.stats()["rate_limited"] == 0
        # The fault fired: the first call reached Trello at least 0.25 s after its slot, and its
        # grant was redated (later ones may be too on a busy machine, which only slows them).
        assert late.hits == 1 and len(slots) == len(counted) == len(redated) == 4
        assert counted[0] - slots[0] >= 0.25
        assert redated[0] is True


def test_many_buckets_and_bounded_storage(limiter: RateLimiter) -> None:
    for _ in range(30):
        limiter.try_acquire("busy", 5, 60.0)
    assert len(dict(stored(limiter))["busy"]) == 5 * 8
    n = 2000 if limiter.backend == "sqlite" else 400
    for i in range(n):
        assert limiter.try_acquire(f"sheets:write:user-{i}", 60, 0.05)
    assert len(stored(limiter)) == n + 1
    time.sleep(0.1)
    assert limiter.purge() == n  # expired buckets go; the busy one stays
    assert [name for name, _ in stored(limiter)] == ["busy"]


def test_storage_location(tmp_path: Path) -> None:
    rl = RateLimiter(f"sqlite:///{tmp_path / 'sub' / 'app.db'}")
    assert rl.sqlite_path == str(tmp_path / "sub" / "ratelimits.sqlite")
    (tmp_path / "sub").mkdir()
    assert rl.try_acquire("x", 1, 1.0) and not rl.try_acquire("x", 1, 1.0)
    assert (tmp_path / "sub" / "ratelimits.sqlite").exists() and not (tmp_path / "sub" / "app.db").exists()
    rl.close()
    own = RateLimiter(f"sqlite:///{tmp_path / 'app.db'}", sqlite_path=str(tmp_path / "own.sqlite"))
    assert own.try_acquire("x", 1, 1.0) and (tmp_path / "own.sqlite").exists()
    with pytest.raises(ValueError):
        own.try_acquire("x", 0, 1.0)
    own.close()
    with pytest.raises(ValueError):
        RateLimiter("mysql://u@h/db")


@pytest.mark.postgres
def test_bucket_table_stays_out_of_the_migrations_check(pg_url: str) -> None:
    """The table lives in its own schema: autogenerate and `downgrade base` never see it."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import downgrade
    from sqlalchemy import inspect

    from server.extensions import db
    from server.models import Base
    from tests.conftest import make_app

    url = pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
    app = make_app(url)
    rl = RateLimiter(url)
    assert rl.try_acquire("sheets:read:user-1", 60, 60.0)
    with app.app_context():
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
    assert not rl.try_acquire("sheets:read:user-1", 1, 60.0)  # the buckets outlive the app's schema
    rl.close()


@pytest.mark.postgres
def test_reconnects_after_the_connection_drops(pg_url: str) -> None:
    rl = RateLimiter(pg_url)
    assert rl.try_acquire("r", 2, 60.0)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (rl._conn.info.backend_pid,))
    assert rl.try_acquire("r", 2, 60.0) and not rl.try_acquire("r", 2, 60.0)
    rl.close()


# --------------------------------------------------------------------------- never sleeping, fairly


def test_a_worker_is_told_when_the_slot_is_instead_of_sleeping(limiter: RateLimiter) -> None:
    """max_wait: a slot further away raises SlotLater with the wait, reserves nothing, sleeps not."""
    throttle = trello_throttle(limiter, "key-1", TOKEN, token_limit=(2, 1.0), key_limit=(300, 10.0), max_wait=0.02)
    throttle()
    throttle()
    start = time.monotonic()
    with pytest.raises(SlotLater) as refused:
        throttle()
    assert time.monotonic() - start < 0.1
    assert 0.9 <= refused.value.wait_s <= 1.1
    token_bucket, _ = trello_bucket_names("key-1", TOKEN)
    assert len(dict(stored(limiter))[token_bucket]) == 2 * 8  # the refused call took no slot


def _contend(users: dict[str, int], key_limit: int = 300, per: float = 10.0, seconds: float = 30.0,
             step: float = 0.01) -> dict[str, list[float]]:
    """Simulate tenants asking the planner for Trello slots without ever sleeping (a worker's
    throttle): each asks every ``step`` while it has work; ``users`` maps a tenant to how many
    calls a second it wants at most (0: as many as it can get). Returns each one's grant times."""
    rows: dict[str, bytes] = {}
    granted: dict[str, list[float]] = {user: [] for user in users}
    next_try = {user: 0.0 for user in users}
    now = 0.0
    while now < seconds:
        for user, rate in users.items():
            if now < next_try[user]:
                continue
            specs = [(f"trello:token:{user}", 100, per), ("trello:key:k", key_limit, per)]
            fair = Fair("trello:demand:k", user, key_limit, per)
            wait, new = _plan(specs, rows, now, 0.025, 0.0, fair=fair)
            rows.update({name: blob for name, (blob, _expiry) in (new or {}).items()})
            if wait <= 0.0:
                granted[user].append(now)
                next_try[user] = now + (1.0 / rate if rate else 0.0)
            else:
                next_try[user] = now + wait
        now = round(now + step, 6)
    return granted


def test_four_busy_tenants_share_the_key_evenly_and_use_it_all() -> None:
    """Four tokens (100 / 10 s each) on one key (300 / 10 s): none takes more than its quarter
    while the others wait, and together they use the key's whole budget (less the widening)."""
    granted = _contend({"a": 0, "b": 0, "c": 0, "d": 0})
    window = [(user, [t for t in times if 10.0 <= t < 30.0]) for user, times in granted.items()]
    counts = {user: len(times) for user, times in window}
    assert all(140 <= n <= 155 for n in counts.values()), counts  # 75 per 10 s each
    used = sum(counts.values()) / (300 * 2)
    assert used >= 0.93, (used, counts)
    for _user, times in granted.items():
        assert max_in_window(times, 10.0) <= 100


def test_a_tenant_using_little_leaves_the_rest_to_the_busy_ones() -> None:
    """Max-min fairness: a light tenant (2 calls a second) keeps what it asks for; the three busy
    ones share what it leaves, so the key is still used (work-conserving)."""
    granted = _contend({"light": 2, "b": 0, "c": 0, "d": 0})
    counts = {user: len([t for t in times if 10.0 <= t < 30.0]) for user, times in granted.items()}
    assert 38 <= counts["light"] <= 41, counts
    assert sum(counts.values()) / 600 >= 0.9, counts
    assert all(counts[u] > 170 for u in "bcd"), counts  # more than a quarter each


def test_one_tenant_alone_gets_its_whole_token_limit() -> None:
    counts = {user: len([t for t in times if 10.0 <= t < 30.0]) for user, times in _contend({"a": 0}).items()}
    assert 185 <= counts["a"] <= 200, counts  # 100 per 10 s, less the 5 % widening
