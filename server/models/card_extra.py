"""The typed form of ``Link.card_extra``: what a link keeps about its card besides the lead's fields.

Stored JSON (each key optional)::

    {"preamble": "a person's own text above the lead's fields in the description",
     "removed": "archived" | "deleted" | "moved off the board" | ...,   # the card left the board
     "ledger": [{"at": ms, "end": ms, "body": {...}, "echoed": true}, ...],   # our recent card writes
     "pending_event": 42,            # the event whose card creation is in flight (its id, or the
                                     # provider event id a reconciliation named it with)
     "create_attempted_at": ms,      # when that creation was sent (crash recovery looks for it)
     "colour_labels": ["<label id>"]}  # the card's labels without a name, as last seen (a sheet
                                     # edit of the labels column keeps them on the card)

``CardExtra.from_json`` reads it without ever failing: a key of the wrong type reads as absent
(what the engine did with a missing key), a ledger entry that is not an object is dropped.
``to_json`` writes only the keys that are set, and keeps the keys this version does not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from .sync import Link


class LedgerEntry(TypedDict):
    """One of our card writes: when it was sent and answered (ms), what it sent, whether its echo came."""

    at: float
    end: float
    body: dict[str, Any]
    echoed: NotRequired[bool]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _ledger_entry(raw: Any) -> LedgerEntry | None:
    if not isinstance(raw, dict):
        return None
    body = raw.get("body")
    entry: LedgerEntry = {"at": _number(raw.get("at")) or 0.0, "end": _number(raw.get("end")) or 0.0,
                          "body": body if isinstance(body, dict) else {}}
    if raw.get("echoed"):
        entry["echoed"] = True
    return entry


_KNOWN_KEYS = frozenset({"preamble", "removed", "ledger", "pending_event", "create_attempted_at", "colour_labels"})


@dataclass(frozen=True)
class CardExtra:
    """Card-side state of one link (``Link.card_extra``)."""

    preamble: str = ""
    removed: str | None = None  # why the card left the board; set while the link waits for it to come back
    ledger: tuple[LedgerEntry, ...] = ()
    pending_event: int | str | None = None
    create_attempted_at: float | None = None
    colour_labels: tuple[str, ...] = ()
    unknown: dict[str, Any] = field(default_factory=dict)  # stored keys this version does not know

    @classmethod
    def from_json(cls, data: Any) -> CardExtra:
        if not isinstance(data, dict):
            return cls()
        preamble, removed, ledger = data.get("preamble"), data.get("removed"), data.get("ledger")
        pending = data.get("pending_event")
        colours = data.get("colour_labels")
        return cls(
            preamble=preamble if isinstance(preamble, str) else "",
            removed=None if "removed" not in data else removed if isinstance(removed, str) else "",
            ledger=tuple(e for e in map(_ledger_entry, ledger) if e is not None) if isinstance(ledger, list) else (),
            pending_event=pending if isinstance(pending, (int, str)) and not isinstance(pending, bool) else None,
            create_attempted_at=_number(data.get("create_attempted_at")),
            colour_labels=tuple(c for c in colours if isinstance(c, str)) if isinstance(colours, list) else (),
            unknown={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.unknown)
        if self.preamble:
            out["preamble"] = self.preamble
        if self.removed is not None:
            out["removed"] = self.removed
        if self.ledger:
            out["ledger"] = list(self.ledger)
        if self.pending_event is not None:
            out["pending_event"] = self.pending_event
        if self.create_attempted_at is not None:
            out["create_attempted_at"] = self.create_attempted_at
        if self.colour_labels:
            out["colour_labels"] = list(self.colour_labels)
        return out

    @classmethod
    def of(cls, link: Link) -> CardExtra:
        return cls.from_json(link.card_extra)


__all__ = ["CardExtra", "LedgerEntry"]
