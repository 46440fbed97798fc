"""A private, throwaway PostgreSQL server owned by one test (safe to stop, kill and restart).

The shared server on 127.0.0.1:5432 must never be restarted, so tests that need to take the
database down start their own cluster: ``initdb`` into a fresh temp directory, ``pg_ctl`` on a
free port of 127.0.0.1 with the unix socket inside that directory. As root, every server
command runs as the ``postgres`` system user (PostgreSQL refuses to run as root).

Use the function-scoped ``private_postgres`` fixture (import it into a conftest or test module)
or ``with PrivatePostgres() as pg: ...``.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

SERVER_USER = "postgres"  # the system user the server runs as when the tests run as root
SUPERUSER = "postgres"  # the database superuser created by initdb
HOST = "127.0.0.1"
STOP_MODES = ("smart", "fast", "immediate")
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")


class PrivatePostgresUnavailable(RuntimeError):
    """No usable PostgreSQL server binaries, or no way to run them as a non-root user."""


class PrivatePostgresError(RuntimeError):
    """The private server failed to initialise, start or stop (the message has the log tail)."""


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in _REQUIRED_BINARIES)


def find_bindir() -> Path:
    """The directory holding initdb/pg_ctl/postgres (Debian keeps them off PATH)."""
    candidates: list[Path] = []
    if os.environ.get("PRIVATE_PG_BINDIR"):
        candidates.append(Path(os.environ["PRIVATE_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            candidates.append(Path(out))

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.name
        return tuple(int(x) for x in part.split(".") if x.isdigit()) or (0,)

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if _has_binaries(bindir):
            return bindir
    tried = ", ".join(str(c) for c in candidates) or "nothing found"
    raise PrivatePostgresUnavailable(
        f"PostgreSQL server binaries ({', '.join(_REQUIRED_BINARIES)}) not found "
        f"(tried pg_config --bindir, /usr/lib/postgresql/*/bin, PATH: {tried}); "
        "install the postgresql server package or set PRIVATE_PG_BINDIR"
    )


def _runas_prefix() -> tuple[list[str], pwd.struct_passwd | None]:
    """The argv prefix that runs a command as the server user, and that user (None: ourselves)."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PrivatePostgresUnavailable(
            f"tests run as root and PostgreSQL refuses to run as root, but there is no "
            f"{SERVER_USER!r} system user to run it as (create it, or run the tests as a non-root user)"
        ) from None
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", SERVER_USER, "--"], user
    # No runuser (e.g. busybox): subprocess drops to the user itself, see _run().
    return [], user


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _base_parent() -> str:
    """Where the temp dir goes: tmpfs when roomy (initdb is ~3x faster there), else the temp dir.

    The server user must be able to traverse it, and it must be short enough for the unix socket
    path (under 108 bytes). ``PRIVATE_PG_TMPDIR`` overrides the choice.
    """
    if os.environ.get("PRIVATE_PG_TMPDIR"):
        return os.environ["PRIVATE_PG_TMPDIR"]
    try:
        shm = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK | os.X_OK) and shm.f_bavail * shm.f_frsize > 1 << 30:
            return "/dev/shm"
    except OSError:
        pass
    parent = tempfile.gettempdir()
    if os.geteuid() == 0:
        path = Path(parent).resolve()
        for part in (path, *path.parents):
            if not os.stat(part).st_mode & 0o001:  # not world-traversable: the server user can't get in
                return "/tmp"
    return parent if len(parent) < 60 else "/tmp"


class PrivatePostgres:
    """One PostgreSQL cluster in its own temp dir, on its own port; stop/kill/restart at will."""

    def __init__(self, dbname: str = "test", *, shared_buffers: str = "16MB", max_connections: int = 100) -> None:
        self.dbname = dbname
        self.shared_buffers = shared_buffers
        self.max_connections = max_connections
        self.bindir = find_bindir()
        self._prefix, self._user = _runas_prefix()
        self.port: int | None = None
        self.base_dir = Path(tempfile.mkdtemp(prefix="pgpriv-", dir=_base_parent()))
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "server.log"
        self._initialised = False
        self._db_created = False
        self._cleaned = False
        atexit.register(self.cleanup)
        if self._user is not None:
            os.chown(self.base_dir, self._user.pw_uid, self._user.pw_gid)
        os.chmod(self.base_dir, 0o700)

    # -- connection strings ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self._port()}/{self.dbname}"

    @property
    def dsn(self) -> str:
        """libpq/psycopg connection string of the test database."""
        return self.dsn_for(self.dbname)

    def dsn_for(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self._port()}/{dbname}"

    def _port(self) -> int:
        if self.port is None:
            raise PrivatePostgresError("the private server has not been started yet")
        return self.port

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (initdb and database creation on first start); same port and data dir after."""
        if self._cleaned:
            raise PrivatePostgresError("this PrivatePostgres has been cleaned up")
        if not self._initialised:
            self._initdb()
        if self._pid_file().exists() and self.is_up():
            return
        if self.port is None:
            # First start: a free port can be taken between probing and binding, so retry a few times.
            for attempt in range(3):
                self.port = _free_port()
                self._write_port()
                try:
                    self._pg_ctl_start(timeout)
                    break
                except PrivatePostgresError as exc:
                    if attempt == 2 or "Address already in use" not in str(exc):
                        raise
        else:
            self._pg_ctl_start(timeout)
        self._wait_ready(timeout)
        if not self._db_created:
            with psycopg.connect(self.dsn_for("postgres"), autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')
            self._db_created = True

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        """Stop the server with ``pg_ctl stop -m mode`` (smart, fast or immediate); no-op if not running."""
        if mode not in STOP_MODES:
            raise ValueError(f"mode must be one of {STOP_MODES}, not {mode!r}")
        if not self._pid_file().exists():
            return
        result = self._run(["pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(int(timeout))])
        if result.returncode != 0 and self._pid_file().exists():
            raise PrivatePostgresError(f"pg_ctl stop -m {mode} failed: {result.stdout.strip()}\n{self.log_tail()}")

    def kill(self) -> None:
        """Stop immediately, like a crash (``pg_ctl stop -m immediate``); the next start runs recovery."""
        self.stop(mode="immediate")

    def restart(self, down_s: float = 0.0) -> None:
        """Stop (fast), stay down ``down_s`` seconds, start again on the same port and data dir."""
        self.stop(mode="fast")
        if down_s > 0:
            time.sleep(down_s)
        self.start()

    def is_up(self) -> bool:
        """Whether the server accepts connections right now."""
        if self.port is None:
            return False
        try:
            with psycopg.connect(self.dsn_for("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def cleanup(self) -> None:
        """Stop the server (immediately, force if needed) and remove the temp dir; idempotent."""
        if self._cleaned:
            return
        self._cleaned = True
        atexit.unregister(self.cleanup)
        try:
            if self._pid_file().exists():
                try:
                    self.stop(mode="immediate", timeout=10)
                except (PrivatePostgresError, OSError, subprocess.SubprocessError):
                    self._sigkill_postmaster()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"<PrivatePostgres port={self.port} dir={self.base_dir}>"

    # -- internals ---------------------------------------------------------------------------

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log (for error messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no server log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- tail of {self.log_path} ---\n{tail}"

    def _pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    def _run(self, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the server user when we are root; stdout+stderr captured."""
        argv = [str(self.bindir / argv[0]), *argv[1:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        kwargs: dict[str, Any] = {}
        if self._user is not None:
            env.update(HOME=self._user.pw_dir, USER=SERVER_USER, LOGNAME=SERVER_USER)
            if not self._prefix:  # no runuser: let subprocess setuid/setgid in the child
                kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[])
        return subprocess.run(
            [*self._prefix, *argv],
            cwd=self.base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            **kwargs,
        )

    def _initdb(self) -> None:
        result = self._run(
            [
                "initdb",
                "-D", str(self.data_dir),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )  # fmt: skip
        (self.base_dir / "initdb.log").write_text(result.stdout)
        if result.returncode != 0:
            raise PrivatePostgresError(f"initdb failed (exit {result.returncode}):\n{result.stdout[-3000:]}")
        settings = {
            "listen_addresses": f"'{HOST}'",
            "unix_socket_directories": f"'{self.base_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": self.shared_buffers,
            "max_connections": str(self.max_connections),
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# PrivatePostgres (tests/pg_private.py)\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._initialised = True

    def _write_port(self) -> None:
        # The port goes into its own include file so that restarts always reuse it.
        port_conf = self.data_dir / "private_port.conf"
        port_conf.write_text(f"port = {self.port}\n")
        if self._user is not None:
            os.chown(port_conf, self._user.pw_uid, self._user.pw_gid)
        conf = self.data_dir / "postgresql.conf"
        if "include_if_exists = 'private_port.conf'" not in conf.read_text():
            with open(conf, "a") as fh:
                fh.write("include_if_exists = 'private_port.conf'\n")

    def _pg_ctl_start(self, timeout: float) -> None:
        started = time.monotonic()
        result = self._run(
            ["pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", str(int(timeout))],
            timeout=timeout + 10,
        )
        if result.returncode != 0:
            raise PrivatePostgresError(
                f"pg_ctl start on port {self.port} failed after {time.monotonic() - started:.1f}s "
                f"(exit {result.returncode}): {result.stdout.strip()}\n{self.log_tail()}"
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn_for("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PrivatePostgresError(
                        f"server on port {self.port} does not accept connections: {exc}\n{self.log_tail()}"
                    ) from exc
                time.sleep(0.05)

    def _sigkill_postmaster(self) -> None:
        try:
            pid = int(self._pid_file().read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


@pytest.fixture
def private_postgres(request: pytest.FixtureRequest) -> Iterator[PrivatePostgres]:
    """A running private PostgreSQL server (database ``test``), stopped and deleted after the test."""
    try:
        pg = PrivatePostgres()
    except PrivatePostgresUnavailable as exc:
        pytest.skip(f"private PostgreSQL unavailable: {exc}")
    request.addfinalizer(pg.cleanup)
    pg.start()
    yield pg
