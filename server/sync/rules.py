"""The pure decision at the heart of echo prevention and conflict resolution.

Per link and per field we keep the value last synced (the shadow) and the provider timestamp
and side of the newest change applied. An incoming value equal to the shadow is no change (our
own echo, or an untouched field) and only confirms the state at that time. A different value is
applied unless a newer change to that field was already applied: then it is dropped, and when
the newer change came from the other side that is a conflict, recorded for the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Incoming:
    """One field as a provider now reports it. ``same`` says it equals the shadow."""

    field: str
    value: Any
    same: bool


@dataclass
class Decision:
    shadow: dict[str, Any]
    times: dict[str, Any]
    applied: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field: (old, new)
    stale: dict[str, Any] = field(default_factory=dict)  # older than what we have (same side)
    conflicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # lost to a newer change on the other side


def field_time(times: dict[str, Any], name: str) -> tuple[float, str | None]:
    entry = times.get(name)
    if isinstance(entry, dict):
        return float(entry.get("t", 0)), entry.get("s")
    return 0.0, None


def decide(shadow: dict[str, Any], times: dict[str, Any], incoming: list[Incoming], at_ms: float,
           side: str) -> Decision:
    """Merge one provider event (all its fields at time ``at_ms`` from ``side``) into a link."""
    decision = Decision(shadow=dict(shadow), times=dict(times))
    for item in incoming:
        known_at, known_side = field_time(decision.times, item.field)
        if item.same:
            if at_ms > known_at:
                decision.times[item.field] = {"t": at_ms, "s": side}
            continue
        if at_ms < known_at:
            if known_side and known_side != side:
                decision.conflicts[item.field] = {"dropped": item.value, "kept": decision.shadow.get(item.field),
                                                  "dropped_side": side, "kept_side": known_side}
            else:
                decision.stale[item.field] = item.value
            continue
        decision.applied[item.field] = (decision.shadow.get(item.field), item.value)
        decision.shadow[item.field] = item.value
        decision.times[item.field] = {"t": at_ms, "s": side}
    return decision
