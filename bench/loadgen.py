"""HTTP load for the webhook endpoint: open loop (fixed rate) and closed loop (saturation).

A minimal HTTP/1.1 keep-alive client on raw sockets (``TCP_NODELAY``, one ``sendall`` per request
with headers and body together, ``Content-Length`` responses) keeps the load generator's own CPU
cost small: it shares two cores with gunicorn and the emulators.

Open loop: request ``i`` is scheduled at ``t0 + i / rate``; sender threads take requests in turn
(request ``i`` goes to thread ``i % threads``), sleep until the scheduled time and send. Latency
is counted from the *scheduled* time to the end of the response, so a stalled server shows up in
the latency of every request it delayed (no coordinated omission); the gap between scheduled and
actual send (schedule slip) is recorded too.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from dataclasses import dataclass, field


class HttpConn:
    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = sock, b""

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def request(self, raw: bytes) -> int:
        """Send one prepared request; return the status (reconnects once on a closed connection)."""
        for attempt in (1, 2):
            if self.sock is None:
                self._connect()
            try:
                self.sock.sendall(raw)  # type: ignore[union-attr]
                return self._read_response()
            except (ConnectionError, BrokenPipeError, _Closed):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _read_response(self) -> int:
        sock = self.sock
        assert sock is not None
        while b"\r\n\r\n" not in self.buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed()
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed()
            rest += chunk
        self.buf = rest[length:]
        if close:
            self.close()
        return status


class _Closed(Exception):
    pass


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run_senders(sender, count: int) -> None:  # type: ignore[no-untyped-def]
    """Run ``sender(k)`` for k in range(count) on threads until all return, with the garbage
    collector off meanwhile (a collection pause would show up as server latency)."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        workers = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(count)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        if gc_was:
            gc.enable()


@dataclass
class OpenLoopResult:
    rate: float
    planned: int
    latencies_ms: list[float] = field(default_factory=list)  # from scheduled time, successful only
    service_ms: list[float] = field(default_factory=list)  # from actual send time
    slips_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    wall_s: float = 0.0


def open_loop(host: str, port: int, requests: list[bytes], rate: float, threads: int = 32,
              start_delay_s: float = 0.3) -> OpenLoopResult:
    n = len(requests)
    start = [0.0] * n
    end = [0.0] * n
    status = [0] * n
    t0 = time.perf_counter() + start_delay_s
    interval = 1.0 / rate

    def sender(k: int) -> None:
        conn = HttpConn(host, port)
        try:
            conn._connect()
            for i in range(k, n, threads):
                scheduled = t0 + i * interval
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                start[i] = time.perf_counter()
                try:
                    status[i] = conn.request(requests[i])
                except Exception:  # noqa: BLE001 - counted as an error
                    status[i] = -1
                end[i] = time.perf_counter()
        finally:
            conn.close()

    run_senders(sender, threads)
    result = OpenLoopResult(rate=rate, planned=n)
    for i in range(n):
        scheduled = t0 + i * interval
        result.statuses[status[i]] = result.statuses.get(status[i], 0) + 1
        result.slips_ms.append((start[i] - scheduled) * 1000)
        if status[i] == 200:
            result.latencies_ms.append((end[i] - scheduled) * 1000)
            result.service_ms.append((end[i] - start[i]) * 1000)
        else:
            result.errors += 1
    result.wall_s = max(end) - t0 if n else 0.0
    return result


@dataclass
class ClosedLoopResult:
    senders: int
    duration_s: float
    completed: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    per_s: float = 0.0


def closed_loop(host: str, port: int, make_request, senders: int = 16, duration_s: float = 4.0,
                warmup_s: float = 0.5) -> ClosedLoopResult:
    """Each sender sends back to back; counts responses completed inside the measured window."""
    lock = threading.Lock()
    result = ClosedLoopResult(senders=senders, duration_s=duration_s)
    begin = time.perf_counter() + 0.2
    measure_from = begin + warmup_s
    measure_to = measure_from + duration_s
    counter = iter(range(10**9))

    def sender(k: int) -> None:
        conn = HttpConn(host, port)
        done = errors = 0
        lat: list[float] = []
        try:
            conn._connect()
            while time.perf_counter() < begin:
                time.sleep(0.001)
            while True:
                with lock:
                    index = next(counter)
                raw = make_request(index)
                t = time.perf_counter()
                if t >= measure_to:
                    break
                try:
                    ok = conn.request(raw) == 200
                except Exception:  # noqa: BLE001
                    ok = False
                e = time.perf_counter()
                if measure_from <= t and e <= measure_to:
                    if ok:
                        done += 1
                        lat.append((e - t) * 1000)
                    else:
                        errors += 1
        finally:
            conn.close()
        with lock:
            result.completed += done
            result.errors += errors
            result.latencies_ms.extend(lat)

    run_senders(sender, senders)
    result.per_s = result.completed / duration_s
    return result


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]
