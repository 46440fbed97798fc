"""The simulated Apps Script add-on: signs edit events and POSTs them to a webhook, in order.

Contract (the real add-on sends exactly this):

- headers ``Content-Type: application/json``, ``X-Timestamp: <unix seconds>``,
  ``X-Signature: hex(HMAC-SHA256(secret, f"{timestamp}." + body))``;
- body (compact JSON) ``{"event_id", "spreadsheet_id", "sheet", "sent_at", "rows": [{"lead_id",
  "row", "values", "changed", "edited_at", "old" (one cell's previous value, single-cell edits only)}],
  "removed": [{"lead_id", "row"}]}``.

A failed POST (connection error or 5xx) is retried after 0.2 s and 0.5 s, then given up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import requests

RETRY_DELAYS = (0.2, 0.5)


def new_lead_id() -> str:
    """``L-`` + 12 random lowercase hex characters."""
    return "L-" + secrets.token_hex(6)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """hex(HMAC-SHA256(key=secret, msg=f"{timestamp}." + body))."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def build_body(spreadsheet_id: str, sheet: str, rows: list[dict[str, Any]],
               removed: list[dict[str, Any]]) -> bytes:
    """The compact JSON body of one event."""
    payload = {"event_id": uuid.uuid4().hex, "spreadsheet_id": spreadsheet_id, "sheet": sheet,
               "sent_at": int(time.time() * 1000), "rows": rows, "removed": removed}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class AddonConfig:
    """An installed add-on on one sheet (keyed by sheet id, so renames keep it)."""

    webhook_url: str
    secret: str
    lead_id_header: str = "Lead ID"


@dataclass
class DeliveryAttempt:
    """One POST attempt: ``status`` is None on a connection error."""

    url: str
    status: int | None
    body: str
    timestamp: str
    signature: str
    attempt: int
    error: str | None = None
    at: float = field(default_factory=time.time)


class AddonDelivery:
    """A background thread POSTing queued events in order, with retries, drops and duplicates."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.duplicate_events = False
        self._paused = False
        self._drop = 0
        self._queue: deque[tuple[str, str, bytes]] = deque()
        self._cv = threading.Condition()
        self._busy = 0
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self.attempts: list[DeliveryAttempt] = []
        self.dropped: list[str] = []

    def enqueue(self, url: str, secret: str, body: bytes) -> None:
        with self._cv:
            if self._thread is None or not self._thread.is_alive():
                self._stopped = False
                self._thread = threading.Thread(target=self._run, name="sheets-addon", daemon=True)
                self._thread.start()
            self._queue.append((url, secret, body))
            self._busy += 1
            self._cv.notify_all()

    def pause(self) -> None:
        """Hold deliveries (an Apps Script trigger that runs late); they keep their order."""
        with self._cv:
            self._paused = True

    def resume(self) -> None:
        with self._cv:
            self._paused = False
            self._cv.notify_all()

    def drop_next(self, n: int) -> None:
        with self._cv:
            self._drop += n

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued event has been delivered (or given up)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=3)
        self._session.close()

    def _run(self) -> None:
        while True:
            with self._cv:
                while (not self._queue or self._paused) and not self._stopped:
                    self._cv.wait()
                if self._stopped:
                    self._queue.clear()
                    self._busy = 0
                    self._cv.notify_all()
                    return
                url, secret, body = self._queue.popleft()
            try:
                copies = 2 if self.duplicate_events else 1
                for _ in range(copies):
                    with self._cv:
                        drop = self._drop > 0
                        if drop:
                            self._drop -= 1
                    if drop:
                        self.dropped.append(body.decode())
                        continue
                    self._post(url, secret, body)
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()

    def _post(self, url: str, secret: str, body: bytes) -> None:
        for attempt in range(len(RETRY_DELAYS) + 1):
            if attempt:
                time.sleep(RETRY_DELAYS[attempt - 1])
            timestamp = str(int(time.time()))
            signature = sign(secret, timestamp, body)
            headers = {"Content-Type": "application/json", "X-Timestamp": timestamp,
                       "X-Signature": signature}
            status: int | None = None
            error: str | None = None
            try:
                resp = self._session.post(url, data=body, headers=headers, timeout=self.timeout)
                status = resp.status_code
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.attempts.append(DeliveryAttempt(url, status, body.decode(), timestamp, signature,
                                                 attempt + 1, error))
            if status is not None and status < 500:
                return
