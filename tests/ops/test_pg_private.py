"""The private PostgreSQL helper: start, restart, crash, isolation and cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from tests.pg_private import PrivatePostgres, PrivatePostgresError

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state


def _postmaster_pid(pg: PrivatePostgres) -> int:
    return int((pg.data_dir / "postmaster.pid").read_text().split()[0])


def test_starts_and_accepts_connections(private_postgres: PrivatePostgres) -> None:
    pg = private_postgres
    assert pg.port and pg.port != 5432
    assert pg.is_up()
    assert pg.url == f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/test"
    with psycopg.connect(pg.dsn) as conn:
        db, encoding, fsync = conn.execute(
            "SELECT current_database(), pg_encoding_to_char(encoding), current_setting('fsync')"
            " FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert (db, encoding, fsync) == ("test", "UTF8", "off")
    engine = sqlalchemy.create_engine(pg.url)
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
    engine.dispose()
    assert (pg.base_dir / f".s.PGSQL.{pg.port}").is_socket()  # socket in the temp dir, not /var/run
    if os.geteuid() == 0:
        owner = Path(f"/proc/{_postmaster_pid(pg)}").stat().st_uid
        assert owner == pg.data_dir.stat().st_uid != 0  # the server dropped root


def test_table_survives_restart(private_postgres: PrivatePostgres) -> None:
    pg = private_postgres
    port, data_dir = pg.port, pg.data_dir
    with psycopg.connect(pg.dsn) as conn:
        conn.execute("CREATE TABLE leads (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO leads VALUES (1, 'Ada'), (2, 'Grace')")
    pid = _postmaster_pid(pg)
    pg.restart()
    assert (pg.port, pg.data_dir) == (port, data_dir)
    assert _postmaster_pid(pg) != pid  # really a new server process
    with psycopg.connect(pg.dsn) as conn:
        assert conn.execute("SELECT name FROM leads ORDER BY id").fetchall() == [("Ada",), ("Grace",)]


def test_connection_fails_while_down_and_reconnects_after(private_postgres: PrivatePostgres) -> None:
    pg = private_postgres
    old = psycopg.connect(pg.dsn, autocommit=True)
    assert old.execute("SELECT 1").fetchone() == (1,)
    restarter = threading.Thread(target=pg.restart, kwargs={"down_s": 1.0})
    restarter.start()
    try:
        deadline = time.monotonic() + 5
        while pg.is_up() or (pg.data_dir / "postmaster.pid").exists():  # fully down, not shutting down
            assert time.monotonic() < deadline, "server never went down"
            time.sleep(0.02)
        with pytest.raises(psycopg.OperationalError):
            old.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.dsn, connect_timeout=2)
    finally:
        restarter.join(timeout=30)
        old.close()
    assert not restarter.is_alive()
    with psycopg.connect(pg.dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_kill_then_start_recovers(private_postgres: PrivatePostgres) -> None:
    pg = private_postgres
    with psycopg.connect(pg.dsn) as conn:
        conn.execute("SET synchronous_commit = on")  # the WAL reaches the OS before COMMIT returns
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t VALUES (42)")
    pg.kill()
    assert not pg.is_up()
    pg.start()
    assert pg.is_up()
    assert "automatic recovery in progress" in pg.log_path.read_text()
    with psycopg.connect(pg.dsn) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [(42,)]


def test_two_instances_are_isolated_and_cleaned_up(private_postgres: PrivatePostgres) -> None:
    with PrivatePostgres() as other:
        assert other.port != private_postgres.port
        assert other.base_dir != private_postgres.base_dir
        with psycopg.connect(private_postgres.dsn) as conn:
            conn.execute("CREATE TABLE only_here (v int)")
        with psycopg.connect(other.dsn) as conn:
            assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
        pid = _postmaster_pid(other)
    assert not other.base_dir.exists()
    assert not _alive(pid)
    assert not other.is_up()
    other.cleanup()  # idempotent
    assert private_postgres.is_up()


def test_start_failure_reports_server_log() -> None:
    pg = PrivatePostgres(shared_buffers="1kB")  # below the minimum: the postmaster refuses to start
    try:
        with pytest.raises(PrivatePostgresError) as excinfo:
            pg.start(timeout=10)
        message = str(excinfo.value)
        assert "server.log" in message and "shared_buffers" in message
    finally:
        pg.cleanup()
    assert not pg.base_dir.exists()


def test_cleanup_after_failed_test_and_at_exit(tmp_path: Path) -> None:
    """In a child pytest: the fixture's finalizer cleans up after a failing test, atexit a leaked instance."""
    record = tmp_path / "instances.txt"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path

            from tests.pg_private import PrivatePostgres, private_postgres

            def _record(pg):
                with open({str(record)!r}, "a") as fh:
                    fh.write(f"{{pg.base_dir}} {{pg.port}}\\n")

            def test_fails(private_postgres):
                _record(private_postgres)
                assert False, "deliberate failure"

            def test_finalizer_already_cleaned_up():
                base_dir = Path(open({str(record)!r}).read().split()[0])
                assert not base_dir.exists()

            def test_leaks_an_instance():
                pg = PrivatePostgres()
                pg.start()
                _record(pg)  # never cleaned up here: atexit must do it
            """
        )
    )
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "1 failed, 2 passed" in inner.stdout, inner.stdout + inner.stderr
    lines = record.read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        base_dir, port = line.split()
        assert not Path(base_dir).exists(), f"{base_dir} left behind"
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2)
