"""Searching and paging a workspace's history (no Flask): the filters a person sets, checked, and
the keyset pages they select.

Every statement is scoped by the workspace passed in (the caller found it through the signed-in
user, ``queries.workspace_for_user``), so an id from another workspace finds nothing. Pages are
keyset pages over ``History.id``: stable while new entries arrive, and as cheap on the last page
of a long retention period as on the first (``ix_history_workspace``, ``ix_history_lead``,
``ix_history_outcome``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Text, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from ..models import Event, History, Link, Workspace
from ..models.mapping import Mapping as LeadMapping
from ..models.sync import PARKED, PENDING, PROCESSING
from .history_labels import ACTION_CHOICES, SIDE_CHOICES, Outcome

PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 200
MAX_QUERY_LENGTH = 200
MAX_CURSOR = 2**63 - 1
MAX_LEAD_ID_LENGTH = 64
_TRUE = {"1", "on", "yes", "true"}
_FALSE = {"", "0", "off", "no", "false"}


class FilterError(ValueError):
    """A filter value the page cannot use; its text says which and why (answered with 400)."""


@dataclass(frozen=True)
class HistoryFilters:
    query: str = ""
    side: str = ""
    action: str = ""
    errors_only: bool = False
    conflicts_only: bool = False

    @property
    def active(self) -> bool:
        return bool(self.query or self.side or self.action or self.errors_only or self.conflicts_only)

    def as_args(self) -> dict[str, str]:
        """The filters as query-string arguments (for the paging links)."""
        args = {"q": self.query, "side": self.side, "action": self.action,
                "errors": "1" if self.errors_only else "", "conflicts": "1" if self.conflicts_only else ""}
        return {k: v for k, v in args.items() if v}


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: entries older than ``before``, or newer than ``after`` (ids)."""

    before: int | None = None
    after: int | None = None


def _flag(args: Mapping[str, str], name: str, label: str) -> bool:
    value = (args.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FilterError(f"“{label}” must be on or off, not {value[:20]!r}.")


def _cursor_value(args: Mapping[str, str], name: str) -> int | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or not 0 < int(value) <= MAX_CURSOR:
        raise FilterError(f"The page position {name!r} must be a positive whole number.")
    return int(value)


def parse_filters(args: Mapping[str, str]) -> HistoryFilters:
    """The filters of a request's query string; ``FilterError`` says what is wrong with one."""
    query = " ".join((args.get("q") or "").split())
    if len(query) > MAX_QUERY_LENGTH:
        raise FilterError(f"The search text is too long (at most {MAX_QUERY_LENGTH} characters).")
    side = (args.get("side") or "").strip()
    if side and side not in SIDE_CHOICES:
        raise FilterError(f"Unknown side {side[:40]!r}: choose one of {', '.join(SIDE_CHOICES.values())}.")
    action = (args.get("action") or "").strip()
    if action and action not in ACTION_CHOICES:
        raise FilterError(f"Unknown kind of entry {action[:40]!r}: choose one from the list.")
    return HistoryFilters(query=query, side=side, action=action, errors_only=_flag(args, "errors", "Errors only"),
                          conflicts_only=_flag(args, "conflicts", "Conflicts only"))


def parse_cursor(args: Mapping[str, str]) -> Cursor:
    cursor = Cursor(before=_cursor_value(args, "before"), after=_cursor_value(args, "after"))
    if cursor.before and cursor.after:
        raise FilterError("Give either 'before' or 'after', not both.")
    return cursor


def valid_lead_id(lead_id: str) -> bool:
    return 0 < len(lead_id) <= MAX_LEAD_ID_LENGTH


# --------------------------------------------------------------------------- statements


def _title_matches(workspace: Workspace, pattern: str) -> Any:
    """Leads of the workspace whose title (the mapping's title column, in the link's shadow) matches."""
    title_column = LeadMapping.of_or_default(workspace).title_column
    title = Link.shadow[title_column].as_string()
    return select(Link.lead_id).where(Link.workspace_id == workspace.id, title.icontains(pattern, autoescape=True))


def _search(workspace: Workspace, text: str) -> Any:
    titled = _title_matches(workspace, text)
    return or_(
        History.lead_id.in_(titled),
        History.lead_id.icontains(text, autoescape=True),
        History.card_id == text[:32],
        History.message.icontains(text, autoescape=True),
        cast(History.changes, Text).icontains(text, autoescape=True),
    )


def filtered(workspace: Workspace, filters: HistoryFilters) -> Select[Any]:
    """The workspace's history entries that pass ``filters`` (unordered)."""
    statement = select(History).where(History.workspace_id == workspace.id)
    if filters.side:
        statement = statement.where(History.side == filters.side)
    if filters.action:
        statement = statement.where(History.action == filters.action)
    outcomes = [o for o, on in ((Outcome.ERROR, filters.errors_only), (Outcome.CONFLICT, filters.conflicts_only)) if on]
    if outcomes:
        statement = statement.where(History.outcome.in_([str(o) for o in outcomes]))
    if filters.query:
        statement = statement.where(_search(workspace, filters.query))
    return statement


@dataclass(frozen=True)
class Page:
    """One page of entries, newest first, and the cursors of its neighbours (None: no such page)."""

    entries: list[History]
    older: Cursor | None
    newer: Cursor | None


def _exists(session: Session, statement: Select[Any]) -> bool:
    return bool(session.execute(select(exists(statement.order_by(None)))).scalar())


def history_page(session: Session, workspace: Workspace, filters: HistoryFilters, cursor: Cursor = Cursor(),
                 size: int = PAGE_SIZE) -> Page:
    """A page of the filtered history, newest first, at ``cursor``."""
    base = filtered(workspace, filters)
    if cursor.after is not None:  # going back towards the newest: read upwards, show newest first
        rows = list(session.execute(base.where(History.id > cursor.after).order_by(History.id.asc())
                                    .limit(size + 1)).scalars())
        more_newer = len(rows) > size
        entries = list(reversed(rows[:size]))
        more_older = _exists(session, base.where(History.id <= cursor.after))
    else:
        statement = base.order_by(History.id.desc())
        if cursor.before is not None:
            statement = statement.where(History.id < cursor.before)
        rows = list(session.execute(statement.limit(size + 1)).scalars())
        more_older = len(rows) > size
        entries = rows[:size]
        more_newer = cursor.before is not None and _exists(session, base.where(History.id >= cursor.before))
    older = Cursor(before=entries[-1].id) if more_older and entries else None
    newer = Cursor(after=entries[0].id) if more_newer and entries else None
    if not entries and cursor != Cursor():  # a cursor past the end: offer the way back
        newer = Cursor() if _exists(session, base) else None
    return Page(entries=entries, older=older, newer=newer)


@dataclass(frozen=True)
class Timeline:
    """A lead's entries in time order (oldest first), a page at a time."""

    entries: list[History]
    later: Cursor | None
    total: int


def _of_lead(workspace: Workspace, lead_id: str) -> Any:
    """Entries of the lead: by its id, or (written before the lead had a link, so without one) by
    the event they were about, keyed by the lead."""
    events = select(Event.id).where(Event.workspace_id == workspace.id, Event.order_key == f"lead:{lead_id}")
    return or_(History.lead_id == lead_id, and_(History.lead_id.is_(None), History.event_id.in_(events)))


def lead_timeline(session: Session, workspace: Workspace, lead_id: str, after: int | None = None,
                  size: int = TIMELINE_PAGE_SIZE) -> Timeline:
    base = select(History).where(History.workspace_id == workspace.id, _of_lead(workspace, lead_id))
    total = int(session.execute(select(func.count()).select_from(base.subquery())).scalar() or 0)
    statement = base.order_by(History.id.asc())
    if after is not None:
        statement = statement.where(History.id > after)
    rows = list(session.execute(statement.limit(size + 1)).scalars())
    entries = rows[:size]
    later = Cursor(after=entries[-1].id) if len(rows) > size and entries else None
    return Timeline(entries=entries, later=later, total=total)


def lead_link(session: Session, workspace: Workspace, lead_id: str) -> Link | None:
    statement = select(Link).where(Link.workspace_id == workspace.id, Link.lead_id == lead_id)
    return session.execute(statement).scalar_one_or_none()


def lead_events(session: Session, workspace: Workspace, lead_id: str) -> list[Event]:
    """The lead's events that wait, run or are parked (by their order key; ``ix_events_order``)."""
    statement = (select(Event).where(Event.workspace_id == workspace.id, Event.order_key == f"lead:{lead_id}",
                                     Event.state.in_((PENDING, PROCESSING, PARKED)))
                 .order_by(Event.id))
    return list(session.execute(statement).scalars())


def lead_has_history(session: Session, workspace: Workspace, lead_id: str) -> bool:
    return _exists(session, select(History.id).where(History.workspace_id == workspace.id,
                                                     _of_lead(workspace, lead_id)))


__all__ = [
    "PAGE_SIZE",
    "TIMELINE_PAGE_SIZE",
    "Cursor",
    "FilterError",
    "HistoryFilters",
    "Page",
    "Timeline",
    "filtered",
    "history_page",
    "lead_events",
    "lead_has_history",
    "lead_link",
    "lead_timeline",
    "parse_cursor",
    "parse_filters",
    "valid_lead_id",
]
