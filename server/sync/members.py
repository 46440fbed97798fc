"""Card members ⇄ an owner column of names, comma-separated (``FieldKind.MEMBERS``).

A cell names people ("Ann Example, bob"); each name is matched to one of the board's members by
(in this order) the workspace's email table (``Mapping.member_emails``: an email ⇄ a member's id,
username or full name), the member's Trello username (with or without ``@``), then the member's full name,
all ignoring case and surrounding spaces. A name that matches no member, or a full name two
members share, is not guessed: the card gets the members that matched, and the lead's history
says which name was left out.

Written back into the sheet, a card's members are their **full names** (a member without one: the
username), in the card's order. A name a person typed that still means the same member (an
email, a username) is kept as typed: a member added on the card is appended, a member taken off
is removed whichever way the cell named them.

The board's members are read once per workspace and kept for ``MEMBERS_TTL_S`` (a name not found
sends one more read, at most every ``MEMBERS_RETRY_S``, in case someone just joined the board).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..trello.client import TrelloClient
from .mapping import names
from .mapping import names_key as key
from .mapping import render_names as render

MEMBERS_TTL_S = 300.0
MEMBERS_RETRY_S = 10.0


@dataclass(frozen=True)
class Member:
    id: str
    username: str
    full_name: str

    @property
    def display(self) -> str:
        """How the column shows the member: the full name, else the username."""
        return " ".join(self.full_name.split()) or self.username




@dataclass
class Board:
    """A board's members, and the ways a cell can name them."""

    members: dict[str, Member] = field(default_factory=dict)  # id -> member

    def match(self, name: str, emails: Mapping[str, str] | None = None) -> str | None:
        """The id of the member ``name`` means, or None (nobody, or a full name several share)."""
        wanted = " ".join(name.split()).casefold()
        if not wanted:
            return None
        for email, ref in (emails or {}).items():
            if email.strip().casefold() == wanted:
                return self._by_ref(ref)
        handle = wanted.removeprefix("@")
        for member in self.members.values():
            if member.id.casefold() == wanted or member.username.casefold() == handle:
                return member.id
        found = [m.id for m in self.members.values() if " ".join(m.full_name.split()).casefold() == wanted]
        return found[0] if len(found) == 1 else None

    def _by_ref(self, ref: str) -> str | None:
        """The member an email table entry names: by id, username or (one member's) full name."""
        return self.match(ref) if "@" not in ref.strip().lstrip("@") else None

    def display(self, member_id: str, fallback: str = "") -> str:
        member = self.members.get(member_id)
        return member.display if member is not None else fallback


_cache: dict[tuple[str, str], tuple[float, float, Board]] = {}  # (workspace, board) -> (read at, retried at, board)
_lock = threading.Lock()


def _read(trello: TrelloClient, board_id: str) -> Board:
    board = Board()
    for raw in trello.board_members(board_id):
        if isinstance(raw, dict) and raw.get("id"):
            board.members[str(raw["id"])] = Member(str(raw["id"]), str(raw.get("username") or ""),
                                                   str(raw.get("fullName") or ""))
    return board


def board_members(trello: TrelloClient, workspace_id: str, board_id: str, *, missing: bool = False) -> Board:
    """The board's members, cached per workspace; ``missing``: a name or id was not found, so read
    again if the last read is older than ``MEMBERS_RETRY_S``."""
    now = time.monotonic()
    with _lock:
        entry = _cache.get((workspace_id, board_id))
    if entry is not None and now - entry[0] < MEMBERS_TTL_S and (not missing or now - max(entry[:2]) < MEMBERS_RETRY_S):
        return entry[2]
    board = _read(trello, board_id)
    with _lock:
        _cache[(workspace_id, board_id)] = (now, now, board)
    return board


def forget(workspace_id: str) -> None:
    """Drop a workspace's cached members (tests; a board changed)."""
    with _lock:
        for cached in [k for k in _cache if k[0] == workspace_id]:
            del _cache[cached]


class Resolver:
    """Matches a workspace's cells to its board's members (the board read through the cache)."""

    def __init__(self, trello: TrelloClient, workspace_id: str, board_id: str, emails: Mapping[str, str]) -> None:
        self.trello, self.workspace_id, self.board_id, self.emails = trello, workspace_id, board_id, emails

    def board(self, *, missing: bool = False) -> Board:
        return board_members(self.trello, self.workspace_id, self.board_id, missing=missing)

    def resolve(self, value: Any) -> tuple[list[str], list[str]]:
        """(member ids, names no member answers to) of a cell's names."""
        wanted = names(value)
        if not wanted:
            return [], []
        board = self.board()
        if any(board.match(n, self.emails) is None for n in wanted):
            board = self.board(missing=True)
        ids: list[str] = []
        unknown: list[str] = []
        for name in wanted:
            member_id = board.match(name, self.emails)
            if member_id is None:
                unknown.append(name)
            elif member_id not in ids:
                ids.append(member_id)
        return ids, unknown

    def key(self, value: Any) -> frozenset[str]:
        """What the card shows of a cell: the members its names match (for comparisons on Trello's side)."""
        if not names(value):
            return frozenset()
        board = self.board()
        return frozenset(i for i in (board.match(n, self.emails) for n in names(value)) if i)

    def of_ids(self, member_ids: list[str]) -> str:
        """A card's members (``idMembers``) as the column shows them."""
        board = self.board()
        if any(i not in board.members for i in member_ids):
            board = self.board(missing=True)
        return render(names(",".join(board.display(i).replace(",", " ") for i in member_ids)))

    def with_member(self, value: Any, member_id: str, display: str, present: bool) -> str:
        """``value`` with the member added (at the end, by ``display``) or taken out, whichever of
        the member's names the cell used; the cell's other names stay as typed."""
        board = self.board()
        if member_id not in board.members:
            board = self.board(missing=True)
        kept = [n for n in names(value) if board.match(n, self.emails) != member_id]
        if present and len(kept) < len(names(value)):
            return render(names(value))  # named already
        if present:
            kept.append(board.display(member_id, " ".join(display.split())) or member_id)
        return render(kept)



__all__ = ["Board", "Member", "Resolver", "board_members", "forget", "key", "names", "render"]
