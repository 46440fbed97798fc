"""Card labels ⇄ a sheet column of label names, comma-separated.

A cell lists label names ("Hot, Follow-up"); names match the board's labels ignoring case and
surrounding spaces. The board's labels are read once per workspace and kept for
``LABELS_TTL_S`` (a name not found sends one more read, at most every ``LABELS_RETRY_S``, in case
someone just made the label). A name the board does not have is not invented: the card gets the
labels that exist, and the lead's history says which name was left out; unless the workspace's
mapping says ``create_labels``, when such a name is made as a label (no colour) and put on the
card. Colour-only labels (no name) have no words in the column: the link keeps the ids of those on its card as last seen
(``CardExtra.colour_labels``: from the card read, the label actions, our PUT's answer), and a
sheet edit of the column keeps them on the card.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..trello.client import TrelloClient
from .mapping import names
from .mapping import names_key as key
from .mapping import render_names as render

LABELS_TTL_S = 300.0
LABELS_RETRY_S = 10.0





def of_card(card: dict[str, Any]) -> str:
    """A card's named labels as the column shows them (the card's order)."""
    return render(names(",".join(str(label.get("name") or "").replace(",", " ")
                                 for label in card.get("labels") or [] if isinstance(label, dict))))


def colour_only(card: dict[str, Any]) -> tuple[str, ...]:
    """The ids of a card's labels without a name (a colour only)."""
    return tuple(str(label["id"]) for label in card.get("labels") or []
                 if isinstance(label, dict) and label.get("id") and not str(label.get("name") or "").strip())


def with_label(value: Any, name: str, present: bool) -> str:
    """``value`` with ``name`` added (at the end) or taken out."""
    current = [n for n in names(value) if n.casefold() != name.strip().casefold()]
    if present and name.strip():
        current.append(" ".join(name.split()))
    return render(current)


@dataclass
class _Board:
    at: float
    by_name: dict[str, str] = field(default_factory=dict)  # casefolded name -> label id
    retried_at: float = 0.0


_cache: dict[tuple[str, str], _Board] = {}
_lock = threading.Lock()
_make_lock = threading.Lock()  # one label made at a time, so two loops never make the same name twice


def _read(trello: TrelloClient, board_id: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for label in trello.board_labels(board_id):
        name = " ".join(str(label.get("name") or "").split())
        if name and name.casefold() not in out:
            out[name.casefold()] = str(label["id"])
    return out


def board_labels(trello: TrelloClient, workspace_id: str, board_id: str, *, missing: bool = False) -> dict[str, str]:
    """``{casefolded name: label id}`` of the board, cached per workspace; ``missing``: a name was
    not found, so read again if the last read is older than ``LABELS_RETRY_S``."""
    now = time.monotonic()
    with _lock:
        entry = _cache.get((workspace_id, board_id))
    fresh = entry is not None and now - entry.at < LABELS_TTL_S
    if fresh and entry is not None and (not missing or now - max(entry.at, entry.retried_at) < LABELS_RETRY_S):
        return entry.by_name
    by_name = _read(trello, board_id)
    with _lock:
        _cache[(workspace_id, board_id)] = _Board(now, by_name, now)
    return by_name


def forget(workspace_id: str) -> None:
    """Drop a workspace's cached labels (tests; a board changed)."""
    with _lock:
        for cached in [k for k in _cache if k[0] == workspace_id]:
            del _cache[cached]


def resolve(trello: TrelloClient, workspace_id: str, board_id: str, value: Any, *,
            make: bool = False) -> tuple[list[str], list[str]]:
    """(label ids, names the board does not have) of a cell's names; ``make``: a name the board
    does not have is made as a label (no colour) instead, and none is left over."""
    wanted = names(value)
    if not wanted:
        return [], []
    by_name = board_labels(trello, workspace_id, board_id)
    if any(n.casefold() not in by_name for n in wanted):
        by_name = board_labels(trello, workspace_id, board_id, missing=True)
    if make:
        for name in [n for n in wanted if n.casefold() not in by_name]:
            by_name = _make(trello, workspace_id, board_id, name)
    ids = [by_name[n.casefold()] for n in wanted if n.casefold() in by_name]
    return list(dict.fromkeys(ids)), [n for n in wanted if n.casefold() not in by_name]


def _make(trello: TrelloClient, workspace_id: str, board_id: str, name: str) -> dict[str, str]:
    """Make the label ``name`` on the board (once per process: the cache learns it at once), and
    return the board's labels with it."""
    with _make_lock:
        entry = _cache.get((workspace_id, board_id))
        if entry is not None and name.casefold() in entry.by_name:
            return entry.by_name  # another loop made it meanwhile
        made = trello.create_label(board_id, name, None)
        by_name = {**(entry.by_name if entry is not None else {}), name.casefold(): str(made["id"])}
        with _lock:
            _cache[(workspace_id, board_id)] = _Board(time.monotonic(), by_name, time.monotonic())
        return by_name


def known_key(trello: TrelloClient, workspace_id: str, board_id: str, value: Any, *,
              make: bool = False) -> frozenset[str]:
    """What the card shows of a cell's names: those the board has (for comparisons on Trello's side);
    every one where the names the board lacks are made (``make``, the mapping's ``create_labels``)."""
    wanted = key(value)
    if not wanted or make:
        return wanted
    by_name = board_labels(trello, workspace_id, board_id)
    return frozenset(n for n in wanted if n in by_name)


__all__ = ["board_labels", "colour_only", "forget", "key", "known_key", "names", "of_card", "render", "resolve",
           "with_label"]
