"""The stored form of ``Link.field_times``: per synced field, what the merge remembers of it.

``{"<column>": {"t": ms, "s": "sheets", "ts": ms, "tt": ms, "ws": ms, "wt": ms}, ...}``; the
in-memory form is ``server.sync.merge.FieldClock`` (its ``load`` reads an entry, never failing: a
value of the wrong type reads as 0 or None; its ``dump`` writes one), and ``load_clocks`` /
``dump_clocks`` read and write the whole column.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class FieldClockJSON(TypedDict):
    """One field's entry. Times are ms since the epoch; the optional ones are written when not 0."""

    t: float  # provider time of the change the current value came from
    s: str | None  # the side it came from ("sheets", "trello" or "reconcile")
    ts: NotRequired[float]  # newest person change taken in from the sheet
    tt: NotRequired[float]  # newest person change taken in from Trello
    ws: NotRequired[float]  # when we last wrote the field into the sheet (our clock)
    wt: NotRequired[float]  # when our last write of the field reached Trello (Trello's clock)


#: The entries ``FieldClock.dump`` writes only when they are not 0.
OPTIONAL_TIMES: tuple[Literal["ts", "tt", "ws", "wt"], ...] = ("ts", "tt", "ws", "wt")

#: ``Link.field_times``: column name → its entry.
FieldTimes = dict[str, FieldClockJSON]

__all__ = ["OPTIONAL_TIMES", "FieldClockJSON", "FieldTimes"]
