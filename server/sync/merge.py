"""The per-field merge of a link's queued changes: the newest change by provider time wins.

A link remembers, per field, the value both sides were last brought to (the *shadow*) and a
``FieldClock``: the provider time and side of the change that value came from, the newest
change a person made on each side, and when our own writes reached each side. A merge takes
every queued change of one link at once, from both sides, whatever order they arrived in:

- a **change** is something a person did (a cell typed, a card moved), dated by the provider
  (the add-on's edit time, Trello's ``action.date``); the newest one wins the field, the value
  kept so far included. An older change from the other side that lost is a **conflict**, kept
  for the user with both values, sides and times (so is the value kept so far when a newer
  change overrules it before our write of it had reached that person's side); an older change
  from the same side was simply superseded. Our own writes are never changes and never move a field's time.
- a **landing** is one of our own writes seen arriving on a side (Trello's echo of our call):
  it tells what that side held from then on, and so whether a late call of ours overwrote
  something newer there.

What each side holds is then the value of the latest thing known to have happened there (the
shadow as of our last write or the last person change we took in, a person's change, one of
our writes landing); a side that does not hold the winning value is written. The sheet has no
echo, so our writes into it are dated by our clock when they are made (``ws``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ..models.field_times import OPTIONAL_TIMES, FieldClockJSON, FieldTimes


class Side(StrEnum):
    SHEETS = "sheets"
    TRELLO = "trello"


#: ``same(side, field, a, b)``: whether ``a`` and ``b`` look the same on that side (a status
#: on Trello is its list, so two statuses that share a list are the same there).
Same = Callable[[Side, str, str, str], bool]


def exactly(_side: Side, _field: str, a: str, b: str) -> bool:
    return a == b


@dataclass(frozen=True, slots=True)
class Change:
    """A person's change of one field on one side, at the provider's time (ms since the epoch)."""

    field: str
    value: str
    at: float
    side: Side
    event_id: int | None = None
    replaced: str | None = None  # the value its person saw and replaced, when the provider says


@dataclass(frozen=True, slots=True)
class Landing:
    """One of our own writes seen arriving on a side, at that provider's time."""

    field: str
    value: str
    at: float
    side: Side


@dataclass(slots=True)
class FieldClock:
    """What a link remembers of one field: the typed form of ``Link.field_times[field]``
    (stored as ``server.models.field_times.FieldClockJSON``)."""

    t: float = 0.0  # provider time of the change the current value came from
    s: str | None = None  # the side it came from ("sheets", "trello" or "reconcile")
    ts: float = 0.0  # newest person change taken in from the sheet
    tt: float = 0.0  # newest person change taken in from Trello
    ws: float = 0.0  # when we last wrote the field into the sheet (our clock)
    wt: float = 0.0  # when our last write of the field reached Trello (Trello's clock)

    @classmethod
    def load(cls, raw: Any) -> FieldClock:
        """Read a stored entry (``w``, the name ``ws`` had before, is read too)."""
        if not isinstance(raw, dict):
            return cls()

        def number(key: str, default: float = 0.0) -> float:
            value = raw.get(key, default)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default

        side = raw.get("s")
        return cls(t=number("t"), s=side if isinstance(side, str) else None, ts=number("ts"), tt=number("tt"),
                   ws=number("ws", number("w")), wt=number("wt"))

    def dump(self) -> FieldClockJSON:
        out: FieldClockJSON = {"t": self.t, "s": self.s}
        for key in OPTIONAL_TIMES:
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def seen(self, side: Side) -> float:
        """The newest time something is known to have happened to the field on ``side``."""
        return max(self.ts, self.ws) if side is Side.SHEETS else max(self.tt, self.wt)


def load_clocks(raw: Any) -> dict[str, FieldClock]:
    return {name: FieldClock.load(entry) for name, entry in (raw or {}).items()} if isinstance(raw, dict) else {}


def dump_clocks(clocks: dict[str, FieldClock]) -> FieldTimes:
    return {name: clock.dump() for name, clock in clocks.items()}


@dataclass(frozen=True, slots=True)
class Conflict:
    """A person's change that lost to a newer change of the same field on the other side."""

    field: str
    dropped: Change
    kept_value: str
    kept_side: str | None
    kept_at: float


@dataclass
class FieldOutcome:
    name: str
    old: str  # the shadow before the merge
    value: str  # the shadow after it
    winner: Change | None  # None: the value kept so far stays
    write: set[Side] = field(default_factory=set)  # sides that must be given ``value``
    conflicts: list[Conflict] = field(default_factory=list)
    superseded: list[Change] = field(default_factory=list)  # older than a newer change of the same side
    stale: list[Change] = field(default_factory=list)  # of those, older than what was already applied


@dataclass
class Merge:
    fields: dict[str, FieldOutcome]
    clocks: dict[str, FieldClock]

    @property
    def shadow_changes(self) -> dict[str, tuple[str, str]]:
        """``{field: (old, new)}`` for the fields whose value changes."""
        return {f: (o.old, o.value) for f, o in self.fields.items() if o.old != o.value}

    def writes(self, side: Side) -> dict[str, str]:
        """``{field: value}`` to write to ``side``."""
        return {f: o.value for f, o in self.fields.items() if side in o.write}

    @property
    def conflicts(self) -> list[Conflict]:
        return [c for o in self.fields.values() for c in o.conflicts]

    @property
    def stale(self) -> list[Change]:
        return [c for o in self.fields.values() for c in o.stale]


_BASELINE, _SHEETS_RANK, _TRELLO_RANK = 2, 1, 0  # who wins a tie of provider times


def _rank(change: Change) -> int:
    return _SHEETS_RANK if change.side is Side.SHEETS else _TRELLO_RANK


def merge(shadow: dict[str, Any], clocks: dict[str, FieldClock], changes: Iterable[Change],
          landings: Iterable[Landing] = (), same: Same = exactly) -> Merge:
    """Merge every queued change and landing of one link (see the module docstring).

    ``clocks`` is not modified; the result holds the new clocks (``ws``/``wt`` of the writes the
    caller makes are for the caller to set once they are made).
    """
    by_field: dict[str, list[Change]] = {}
    for change in changes:
        by_field.setdefault(change.field, []).append(change)
    landed: dict[str, list[Landing]] = {}
    for landing in landings:
        landed.setdefault(landing.field, []).append(landing)
    new_clocks = {name: replace(clock) for name, clock in clocks.items()}
    outcomes: dict[str, FieldOutcome] = {}
    for name in sorted(set(by_field) | set(landed)):
        current = str(shadow.get(name, "") if shadow.get(name) is not None else "")
        clock = new_clocks.setdefault(name, FieldClock())
        outcomes[name] = _merge_field(name, current, clock, by_field.get(name, []), landed.get(name, []), same)
    return Merge(outcomes, new_clocks)


def _merge_field(name: str, current: str, clock: FieldClock, changes: list[Change], landings: list[Landing],
                 same: Same) -> FieldOutcome:
    """Merge one field; updates ``clock`` in place (it is the result's copy)."""
    winner: Change | None = None
    best = (clock.t, _BASELINE)
    for change in changes:
        key = (change.at, _rank(change))
        if key > best:
            best, winner = key, change
    value = winner.value if winner is not None else current
    kept_side = winner.side.value if winner is not None else clock.s
    kept_at = winner.at if winner is not None else clock.t
    outcome = FieldOutcome(name, current, value, winner)
    overruled = _overruled_baseline(name, current, clock, winner, changes, same)
    if overruled is not None:
        outcome.conflicts.append(Conflict(name, overruled, value, kept_side, kept_at))
    for change in changes:
        if change is winner or same(change.side, name, change.value, value):
            continue
        if kept_side is not None and change.side.value != kept_side:
            outcome.conflicts.append(Conflict(name, change, value, kept_side, kept_at))
        else:
            outcome.superseded.append(change)
            if change.at < clock.t:  # delivered after a newer change was applied: a late delivery
                outcome.stale.append(change)
    for side in Side:
        if not same(side, name, _holds(side, current, clock, changes, landings), value):
            outcome.write.add(side)
    if winner is not None:
        clock.t, clock.s = winner.at, winner.side.value
    for change in changes:
        if change.side is Side.SHEETS:
            clock.ts = max(clock.ts, change.at)
        else:
            clock.tt = max(clock.tt, change.at)
    for landing in landings:
        if landing.side is Side.TRELLO:
            clock.wt = max(clock.wt, landing.at)
        else:
            clock.ws = max(clock.ws, landing.at)
    return outcome


def _overruled_baseline(name: str, current: str, clock: FieldClock, winner: Change | None, changes: list[Change],
                        same: Same) -> Change | None:
    """The value kept so far, as a change, when a newer change from the other side overrules it
    without its person having seen it (our write had not reached their side when they made it):
    that is a conflict too. Seen first (our write reached them before they changed it): simply
    the next change."""
    if winner is None or clock.s not in (Side.SHEETS.value, Side.TRELLO.value) or clock.s == winner.side.value:
        return None
    if any(change.side.value == clock.s for change in changes):
        return None  # its own side changed it again: those changes speak for that side
    if same(winner.side, name, current, winner.value):
        return None
    if winner.replaced is not None:  # the provider says what the person replaced: compare-and-set
        seen = same(winner.side, name, winner.replaced, current)
    else:  # else: had our write of the kept value reached their side before they changed it?
        reached = clock.ws if winner.side is Side.SHEETS else clock.wt
        seen = clock.t <= reached <= winner.at
    return None if seen else Change(name, current, clock.t, Side(clock.s))


def _holds(side: Side, current: str, clock: FieldClock, changes: list[Change], landings: list[Landing]) -> str:
    """The value ``side`` shows now: that of the latest thing known to have happened there."""
    latest, value = clock.seen(side), current
    for at, candidate in [(c.at, c.value) for c in changes if c.side is side] + \
            [(landing.at, landing.value) for landing in landings if landing.side is side]:
        if at >= latest:
            latest, value = at, candidate
    return value
