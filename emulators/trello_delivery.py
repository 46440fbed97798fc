"""Webhook deliveries of the Trello emulator: signing, the callback check, the delivery thread."""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import requests

from .trello_records import TrelloError

TIMEOUT_S = 5.0


def sign(api_secret: str, body: bytes, callback_url: str) -> str:
    """``X-Trello-Webhook``: base64(HMAC-SHA1(secret, body + callbackURL as registered))."""
    digest = hmac.new(api_secret.encode(), body + callback_url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def check_callback(url: str) -> None:
    """Send Trello's registration ``HEAD``; raise a 400 unless the callback answers 200."""
    if not url.startswith(("http://", "https://")):
        raise TrelloError(400, "invalid value for callbackURL")
    try:
        resp = requests.head(url, timeout=TIMEOUT_S, allow_redirects=False,
                             headers={"User-Agent": "Trello"})
    except requests.RequestException as exc:
        raise TrelloError(400, f"URL (CALLBACK) did not return 200 status code, got "
                               f"connection error ({type(exc).__name__})") from None
    if resp.status_code != 200:
        raise TrelloError(400, f"URL (CALLBACK) did not return 200 status code, "
                               f"got {resp.status_code}")


@dataclass(slots=True)
class Delivery:
    """One POST of one action to one webhook."""

    webhook_id: str
    callback_url: str
    body: bytes
    signature: str
    action_id: str
    action_type: str
    attempt: int = 0


# outcome callback: (webhook_id, "ok" | "gone" | "failed")
OutcomeHook = Callable[[str, str], None]


class DeliveryQueue:
    """Sends deliveries from one background thread, in the order they were queued.

    A failed attempt is retried after ``retry_delays`` (later deliveries do not wait for it, so
    a retried action can arrive after newer ones, as with Trello); after the last retry the
    delivery counts as ``failed``.
    """

    def __init__(self, retry_delays: tuple[float, ...], is_live: Callable[[str], bool],
                 on_outcome: OutcomeHook) -> None:
        self.retry_delays = tuple(retry_delays)
        self._is_live = is_live
        self._on_outcome = on_outcome
        self._cond = threading.Condition()
        self._ready: deque[Delivery] = deque()
        self._retry: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._paused = False
        self._stopping = False
        self._drop = 0
        self.duplicate = False
        self.stats = {"sent": 0, "failed": 0, "dropped": 0, "gone": 0, "attempts": 0,
                      "retried": 0, "skipped": 0}
        self.log: deque[dict[str, Any]] = deque(maxlen=2000)
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name="trello-deliveries", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- control

    def put(self, delivery: Delivery) -> None:
        """Queue a delivery (dropped or doubled according to the fault settings)."""
        with self._cond:
            if self._drop > 0:
                self._drop -= 1
                self.stats["dropped"] += 1
                self.log.append({"webhook": delivery.webhook_id, "action": delivery.action_id,
                                 "type": delivery.action_type, "outcome": "dropped"})
                return
            self._ready.append(delivery)
            if self.duplicate:
                self._ready.append(Delivery(delivery.webhook_id, delivery.callback_url,
                                            delivery.body, delivery.signature,
                                            delivery.action_id, delivery.action_type))
            self._cond.notify_all()

    def drop_next(self, n: int) -> None:
        with self._cond:
            self._drop += max(0, int(n))

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued, scheduled for retry or in flight."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._ready and not self._retry and self._in_flight == 0, timeout)

    def pending(self) -> int:
        with self._cond:
            return len(self._ready) + len(self._retry) + self._in_flight

    def reset_stats(self) -> None:
        with self._cond:
            for key in self.stats:
                self.stats[key] = 0

    def snapshot(self) -> dict[str, int]:
        with self._cond:
            return {**self.stats, "pending": len(self._ready) + len(self._retry) + self._in_flight}

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=TIMEOUT_S + 1)
        self._session.close()

    # ---------------------------------------------------------------- the thread

    def _next(self) -> Delivery | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                now = time.monotonic()
                timeout = None
                if not self._paused:
                    if self._retry and self._retry[0][0] <= now:
                        item = heapq.heappop(self._retry)[2]
                        break
                    if self._ready:
                        item = self._ready.popleft()
                        break
                    if self._retry:
                        timeout = self._retry[0][0] - now
                self._cond.wait(timeout)
            self._in_flight += 1
            return item

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            try:
                self._send(item)
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _record(self, item: Delivery, outcome: str, status: int | None) -> None:
        with self._cond:
            self.log.append({"webhook": item.webhook_id, "action": item.action_id,
                             "type": item.action_type, "attempt": item.attempt,
                             "status": status, "outcome": outcome})

    def _send(self, item: Delivery) -> None:
        if not self._is_live(item.webhook_id):
            with self._cond:
                self.stats["skipped"] += 1
            return
        status: int | None = None
        try:
            resp = self._session.post(
                item.callback_url, data=item.body, timeout=TIMEOUT_S, allow_redirects=False,
                headers={"Content-Type": "application/json", "X-Trello-Webhook": item.signature,
                         "User-Agent": "Trello"})
            status = resp.status_code
            resp.close()
        except requests.RequestException:
            status = None
        with self._cond:
            self.stats["attempts"] += 1
        if status is not None and 200 <= status < 300:
            with self._cond:
                self.stats["sent"] += 1
            self._record(item, "sent", status)
            self._on_outcome(item.webhook_id, "ok")
            return
        if status == 410:
            with self._cond:
                self.stats["gone"] += 1
            self._record(item, "gone", status)
            self._on_outcome(item.webhook_id, "gone")
            return
        if item.attempt < len(self.retry_delays):
            delay = self.retry_delays[item.attempt]
            item.attempt += 1
            self._record(item, "retry", status)
            with self._cond:
                self.stats["retried"] += 1
                heapq.heappush(self._retry, (time.monotonic() + delay, next(self._seq), item))
                self._cond.notify_all()
            return
        with self._cond:
            self.stats["failed"] += 1
        self._record(item, "failed", status)
        self._on_outcome(item.webhook_id, "failed")
