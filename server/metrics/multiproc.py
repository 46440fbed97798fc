"""prometheus-client's multi-process mode: every process writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR``; ``/metrics`` reads and sums them all.

Several hosts (containers) may share the directory (docker-compose gives web and worker one
volume), and each has its own pid 1, 7, 8…, so a process's files are named after
``<hostname>-<pid>``, not the pid alone. At start a process group (gunicorn's master, a
``flask worker``) deletes the files its host's dead processes left, which restarts their counters
(Prometheus' ``rate`` takes a restart in its stride); ``child_exit`` marks a dead gunicorn worker.
"""

from __future__ import annotations

import glob
import os
import re
import socket

from ..config import ConfigError

ENV = "PROMETHEUS_MULTIPROC_DIR"
_HOST = re.sub(r"[^A-Za-z0-9.]", "-", socket.gethostname()) or "host"
_FILE = re.compile(r"^[a-z]+(?:_[a-z]+)?_(?P<host>.+)-(?P<pid>\d+)\.db$")


def directory() -> str | None:
    """The multi-process directory, or None in single-process mode."""
    return os.environ.get(ENV) or None


def identifier(pid: int | None = None) -> str:
    """This host's name with ``pid`` (default: this process): unique among processes sharing the directory."""
    return f"{_HOST}-{os.getpid() if pid is None else pid}"


def configure() -> None:
    """Name this process's sample files by `identifier` (before any metric is made)."""
    path = directory()
    if path is None:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{ENV} {path!r} cannot be created ({exc.strerror})") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{ENV} {path!r} is not writable by this process")
    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue(process_identifier=identifier)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_dead() -> int:
    """Delete the sample files of this host's processes that are gone; returns how many."""
    path = directory()
    if path is None:
        return 0
    removed = 0
    for name in glob.glob(os.path.join(path, "*.db")):
        match = _FILE.match(os.path.basename(name))
        if match and match["host"] == _HOST and not _alive(int(match["pid"])):
            try:
                os.remove(name)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def mark_dead(pid: int) -> None:
    """gunicorn's ``child_exit``: drop the live gauges of a worker process that exited."""
    path = directory()
    if path is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(identifier(pid), path)
