"""The events inbox: durable, idempotent storage of everything the webhooks receive.

Storing is the only thing a webhook does. Each stored row is one unit of work for a worker:
Sheets batches are split per row, so a row's events are ordered by their ``order_key``.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from ..database import take_sqlite_write_lock
from ..models import Event, Link
from ..models.enums import EventSource, EventState, SheetEventKind

SHEETS, TRELLO, SYSTEM = EventSource.SHEETS, EventSource.TRELLO, EventSource.SYSTEM

# Trello action types the engine acts on; anything else is stored as ignored.
TRELLO_CARD_ACTIONS = {
    "createCard", "copyCard", "updateCard", "deleteCard", "moveCardFromBoard", "moveCardToBoard",
    "convertToCardFromCheckItem", "emailCard", "commentCard", "addLabelToCard", "removeLabelFromCard",
    "updateCustomFieldItem", "addMemberToCard", "removeMemberFromCard", "updateCheckItemStateOnCard",
    "addChecklistToCard", "removeChecklistFromCard", "createCheckItem", "deleteCheckItem",
}
# Every way a card appears on a board (created, copied, moved in, converted, emailed).
CARD_APPEARS = frozenset({"createCard", "copyCard", "moveCardToBoard", "convertToCardFromCheckItem", "emailCard"})
MAX_ROWS_PER_EVENT = 5000
MAX_LEAD_ID_LENGTH = 64
# Provider times are milliseconds since the epoch; anything outside these years is refused.
EARLIEST_MS = 946_684_800_000.0  # 2000-01-01
LATEST_MS = 4_102_444_800_000.0  # 2100-01-01
LIVE, BULK = 0, 1  # models.sync.Lane, as stored


class PayloadError(ValueError):
    """The body is not what the endpoint accepts; answer 400 with ``str(self)``."""


def new_lead_id() -> str:
    return "L-" + secrets.token_hex(6)


def ms_to_datetime(ms: int | float) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)


def parse_trello_date(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class StoreResult:
    stored: int
    duplicates: int
    echo: bool = False  # a Trello action our own call made


_EVENT_COLUMNS = ("workspace_id", "source", "provider_event_id", "kind", "order_key", "payload", "occurred_at",
                  "state", "attempts", "next_attempt_at", "last_error", "received_at", "lane", "echo")
# Textual, because SQLAlchemy does not cache the dialects' INSERT … ON CONFLICT constructs: built
# that way, the statement was compiled again on every webhook (a quarter of the intake's CPU).
# SQLite (3.24+) and PostgreSQL spell it alike; the binds keep the columns' types (UTC datetimes).
_INSERT_IGNORING_DUPLICATES = text(
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join(':' + c for c in _EVENT_COLUMNS)}) "
    "ON CONFLICT (workspace_id, source, provider_event_id) DO NOTHING"
).bindparams(*(bindparam(c, type_=Event.__table__.c[c].type) for c in _EVENT_COLUMNS))


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert event rows; a row whose (workspace, source, provider event id) exists is skipped."""
    connection = session.connection()
    return sum(connection.execute(_INSERT_IGNORING_DUPLICATES, row).rowcount for row in rows)


def _event_row(workspace_id: str, source: str, provider_event_id: str, kind: str, order_key: str,
               payload: dict[str, Any], occurred_at: datetime | None, state: str = EventState.PENDING,
               lane: int = LIVE, echo: bool = False, note: str = "") -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    return {
        "workspace_id": workspace_id, "source": source, "provider_event_id": provider_event_id[:160],
        "kind": kind, "order_key": order_key[:200], "payload": json.dumps(payload, separators=(",", ":")),
        "occurred_at": occurred_at, "state": state, "attempts": 0, "next_attempt_at": now,
        "last_error": note, "received_at": now, "lane": lane, "echo": echo,
    }


def _is_time_ms(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and EARLIEST_MS <= value <= LATEST_MS)


def clamp_future_ms(value: float, now_ms: float, skew_s: float) -> float:
    """A provider time further ahead of ours than ``skew_s`` is taken as now: a clock that far
    off (or a forged time) must never freeze a field against every later change."""
    return now_ms if value > now_ms + skew_s * 1000.0 else value


# --------------------------------------------------------------------------- Sheets


def parse_sheets_payload(data: Any) -> dict[str, Any]:
    """Validate the add-on's body; raise ``PayloadError`` naming the first problem."""
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    event_id = data.get("event_id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        raise PayloadError("event_id must be a non-empty string of at most 100 characters")
    for key in ("spreadsheet_id", "sheet"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise PayloadError(f"{key} must be a non-empty string")
    sent_at = data.get("sent_at")
    if sent_at is not None and not _is_time_ms(sent_at):
        raise PayloadError("sent_at must be milliseconds since the epoch (between 2000 and 2100)")
    rows = data.get("rows", [])
    removed = data.get("removed", [])
    if not isinstance(rows, list) or not isinstance(removed, list):
        raise PayloadError("rows and removed must be arrays")
    if not rows and not removed:
        raise PayloadError("rows or removed must list at least one row")
    if len(rows) + len(removed) > MAX_ROWS_PER_EVENT:
        raise PayloadError(f"at most {MAX_ROWS_PER_EVENT} rows per event")
    for index, row in enumerate(rows):
        where = f"rows[{index}]"
        if not isinstance(row, dict):
            raise PayloadError(f"{where} must be an object")
        lead_id = row.get("lead_id", "")
        if not isinstance(lead_id, str) or len(lead_id) > MAX_LEAD_ID_LENGTH:
            raise PayloadError(f"{where}.lead_id must be a string of at most {MAX_LEAD_ID_LENGTH} characters")
        if not isinstance(row.get("row"), int) or isinstance(row.get("row"), bool) or row["row"] < 1:
            raise PayloadError(f"{where}.row must be a positive integer")
        values = row.get("values")
        if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
            raise PayloadError(f"{where}.values must be an object keyed by column header")
        for header, value in values.items():
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise PayloadError(f"{where}.values[{header!r}] must be a string, number or boolean")
        changed = row.get("changed")
        if changed is not None and (not isinstance(changed, list) or not all(isinstance(c, str) for c in changed)):
            raise PayloadError(f"{where}.changed must be an array of column headers")
        old = row.get("old")
        if old is not None and (not isinstance(old, dict) or not all(
                isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool))) for k, v in old.items())):
            raise PayloadError(f"{where}.old must be an object of column header to previous value")
        edited_at = row.get("edited_at")
        if edited_at is not None and not _is_time_ms(edited_at):
            raise PayloadError(f"{where}.edited_at must be milliseconds since the epoch (between 2000 and 2100)")
    for index, gone in enumerate(removed):
        if not isinstance(gone, dict) or not isinstance(gone.get("lead_id"), str) or not gone["lead_id"]:
            raise PayloadError(f"removed[{index}].lead_id must be a non-empty string")
    return data


def is_bulk_delivery(data: dict[str, Any], live_max_rows: int) -> bool:
    """A delivery with many rows (a big paste, a whole-sheet send) is bulk work."""
    return len(data.get("rows", [])) + len(data.get("removed", [])) > live_max_rows


def store_sheets_event(session: Session, workspace_id: str, data: dict[str, Any], *, live_max_rows: int = 20,
                       future_skew_s: float = 300.0) -> StoreResult:
    """Store one add-on delivery as one event per row (idempotent on its event id)."""
    now_ms = datetime.now(timezone.utc).timestamp() * 1000
    sent_at = clamp_future_ms(float(data.get("sent_at") or now_ms), now_ms, future_skew_s)
    lane = BULK if is_bulk_delivery(data, live_max_rows) else LIVE
    rows: list[dict[str, Any]] = []
    for position, row in enumerate(data.get("rows", [])):
        lead_id = row.get("lead_id") or ""
        edited_at = clamp_future_ms(float(row.get("edited_at") or sent_at), now_ms, future_skew_s)
        item = {
            "lead_id": lead_id, "row": row["row"], "values": row["values"],
            "changed": row.get("changed"), "edited_at": edited_at,
        }
        if row.get("old"):
            item["old"] = row["old"]
        # A row without a lead id is keyed by its position until the worker gives it one.
        key = f"lead:{lead_id}" if lead_id else f"row:{row['row']}"
        rows.append(_event_row(workspace_id, SHEETS, f"{data['event_id']}:{position}", SheetEventKind.ROW, key, item,
                               ms_to_datetime(edited_at), lane=lane))
    for position, gone in enumerate(data.get("removed", [])):
        item = {"lead_id": gone["lead_id"], "row": gone.get("row"), "edited_at": sent_at}
        rows.append(_event_row(workspace_id, SHEETS, f"{data['event_id']}:removed:{position}",
                               SheetEventKind.ROW_REMOVED, f"lead:{gone['lead_id']}", item, ms_to_datetime(sent_at),
                               lane=lane))
    stored = _insert_ignoring_duplicates(session, rows)
    return StoreResult(stored=stored, duplicates=len(rows) - stored)


# --------------------------------------------------------------------------- Trello


def parse_trello_payload(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("action"), dict):
        raise PayloadError("body must be a JSON object with an action")
    action = data["action"]
    if not isinstance(action.get("id"), str) or not isinstance(action.get("type"), str):
        raise PayloadError("action.id and action.type must be strings")
    if not isinstance(action.get("data", {}), dict):
        raise PayloadError("action.data must be an object")
    return data


def trello_card_id(action: dict[str, Any]) -> str | None:
    card = (action.get("data") or {}).get("card") or {}
    card_id = card.get("id")
    return card_id if isinstance(card_id, str) else None


def action_board_ids(action: dict[str, Any]) -> set[str]:
    """The boards an action is about (a card moved between boards names both)."""
    data = action.get("data") or {}
    return {b["id"] for b in (data.get("board"), data.get("boardSource"), data.get("boardTarget"))
            if isinstance(b, dict) and isinstance(b.get("id"), str)}


_LEAD_OF_CARD = select(Link.lead_id).where(Link.workspace_id == bindparam("workspace_id"),
                                          Link.card_id == bindparam("card_id"))


def store_trello_event(session: Session, workspace_id: str, data: dict[str, Any], *, board_id: str,
                       app_id: str = "", member_id: str | None = None) -> StoreResult:
    """Store one Trello delivery (idempotent on ``action.id``).

    Unhandled types, and actions about another board than the workspace's (anyone holding the
    public API key can point a webhook of theirs at our callback URL), are kept as ignored. An
    action made with our app's key by the workspace's member is stored as an *echo* of our own
    write (``app_id``, ``member_id``; see ``observe.provenance_is_ours``).
    """
    action = data["action"]
    card_id = trello_card_id(action)
    handled = (action["type"] in TRELLO_CARD_ACTIONS and card_id is not None
               and board_id in action_board_ids(action))
    try:
        occurred = parse_trello_date(action["date"]) if isinstance(action.get("date"), str) else None
    except ValueError:
        occurred = None
    creator = action.get("appCreator")
    echo = bool(app_id and member_id and isinstance(creator, dict) and creator.get("id") == app_id
                and action.get("idMemberCreator") == member_id)
    creation_echo = handled and echo and action["type"] in CARD_APPEARS
    connection = session.connection()
    if creation_echo and connection.dialect.name == "sqlite":
        # Write lock first: the worker's creation links the card and finishes the echoes stored
        # until then in one transaction, so this look-up comes wholly before it or wholly after.
        take_sqlite_write_lock(connection)
    order_key = f"card:{card_id}"
    lead_id = None
    if card_id:
        lead_id = connection.execute(
            _LEAD_OF_CARD, {"workspace_id": workspace_id, "card_id": card_id}).scalar_one_or_none()
        if lead_id:
            order_key = f"lead:{lead_id}"
    state, note = (EventState.PENDING, "") if handled else (EventState.IGNORED, "")
    if creation_echo and lead_id:
        # Our own creation's echo, its card linked already: what the worker would conclude
        # (``Processor._creations_known``), decided here so the worker never claims it.
        state, note = EventState.IGNORED, "the card is already linked"
    row = _event_row(workspace_id, TRELLO, action["id"], action["type"][:40], order_key, action, occurred,
                     state=state, echo=echo, note=note)
    stored = _insert_ignoring_duplicates(session, [row])
    return StoreResult(stored=stored, duplicates=1 - stored, echo=echo)


def stored_events(session: Session, workspace_id: str) -> Iterable[Event]:
    return session.execute(select(Event).where(Event.workspace_id == workspace_id).order_by(Event.id)).scalars()
