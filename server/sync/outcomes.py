"""Exceptions a handler raises to tell the worker what to do with an event."""

from __future__ import annotations


class Defer(Exception):
    """Try this event again shortly without counting an attempt (e.g. its link is busy)."""

    def __init__(self, delay_s: float = 0.5, reason: str = "waiting for related work to finish") -> None:
        super().__init__(reason)
        self.delay_s = delay_s


class SyncError(Exception):
    """A problem the user must fix (mapping, sheet layout); retrying cannot help. Parked and shown."""
