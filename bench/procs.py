"""Child processes of the benchmark: start, wait for, measure and always stop them.

Every child is started in its own session (its own process group), so stopping it reaches its
children too (gunicorn's workers), and with ``PR_SET_PDEATHSIG`` so it dies with the benchmark
even if the benchmark itself is killed. Only processes started here are ever signalled, by id.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
# Every child runs on the interpreter running the benchmark (``python -m flask``, ``python -m
# gunicorn``, ``python -m bench.probe``): whatever environment that is, not a path in the repository.
PYTHON = sys.executable


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log_path: Path
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Procs:
    """The benchmark's children; ``stop_all`` is called on every way out."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = REPO) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "ab")
        popen = subprocess.Popen(argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        child = Child(name, popen, log_path, log)
        self.children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 8.0) -> None:
        """SIGTERM to the child's process group, then SIGKILL if it lingers."""
        if child.alive():
            _signal_group(child.pid, signal.SIGTERM)
            try:
                child.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(child.pid, signal.SIGKILL)
                child.popen.wait(5)
        # a group member that outlived its leader (e.g. a gunicorn worker) gets the same treatment
        deadline = time.monotonic() + 3
        while _group_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(child.pid):
            _signal_group(child.pid, signal.SIGKILL)
        child.log.close()
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in list(reversed(self.children)):
            try:
                self.stop(child)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                print(f"warning: could not stop {child.name} ({child.pid}): {exc}", file=sys.stderr)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def wait_http(url: str, child: Child | None = None, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers 2xx (fail early, with the log, if the child died)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.popen.returncode}:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        except Exception as exc:  # noqa: BLE001
            last = str(exc)
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s ({last})"
                       + (f"\n{child.tail()}" if child else ""))


# --------------------------------------------------------------------------- memory


def _status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MiB."""
    kb = _status_kb(pid, "VmHWM")
    return None if kb is None else kb / 1024.0


def rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, "VmRSS")
    return None if kb is None else kb / 1024.0


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


class PeakTracker:
    """Keeps the highest VmHWM seen per pid (sampled), for a set of processes and their children."""

    def __init__(self) -> None:
        self.peaks: dict[str, dict[int, float]] = {}

    def sample(self, label: str, pid: int, include_children: bool = False) -> None:
        pids = [pid] + (children_of(pid) if include_children else [])
        group = self.peaks.setdefault(label, {})
        for p in pids:
            value = peak_rss_mb(p)
            if value is not None:
                group[p] = max(group.get(p, 0.0), value)

    def max(self, label: str) -> float | None:
        group = self.peaks.get(label) or {}
        return max(group.values()) if group else None

    def total(self, label: str) -> float | None:
        group = self.peaks.get(label) or {}
        return sum(group.values()) if group else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def group_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (e.g. gunicorn's master and workers)."""
    return sum(cpu_seconds(p) for p in [pid] + children_of(pid))
