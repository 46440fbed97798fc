"""Apply claimed events: the sync rules, one workspace batch at a time.

Sheets → Trello events make their Trello call inline and commit per event. Trello → Sheets
events collect row patches and appends; one flush per batch writes them all (one read, one
``values.batchUpdate``, one ``values.append``), and only then are their shadows committed. An
event is marked done only once its effects are committed, so a crash at any point leaves it to
be claimed again, and creation paths are idempotent (the link row is claimed first; a card is
found again by its ``Lead ID:`` marker, a row by its lead id).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..models import Event, Link, ProviderAccount, Workspace
from ..models.sync import CARD_REMOVED, DONE, IGNORED, LINKED, PARKED, PENDING, ROW_REMOVED, UNLINKED
from ..models.workspace import NEEDS_REAUTH
from ..sheets.errors import SheetsAuthError, SheetsError
from ..trello.client import TrelloClient
from ..trello.errors import TrelloAuthError, TrelloError, TrelloNotFound, TrelloRateLimited
from . import description
from .history import changes_of, record
from .inbox import PREVIEW, SHEETS, SYSTEM, TRELLO, new_lead_id, parse_trello_date
from .mapping import Mapping, cell_text, due_from_trello, due_to_trello, normalise_status
from .outcomes import Defer, SyncError
from .progress import CommittedProgress
from .providers import MissingAccount, Providers
from .rules import Incoming, decide, field_time
from .settings import EngineSettings
from .sheet_writer import HeaderCache, RowAppend, RowPatch, SheetLayoutError, flush, locate_rows

log = structlog.get_logger(__name__)

CARD_CREATE_TYPES = {"createCard", "copyCard", "moveCardToBoard", "convertToCardFromCheckItem"}
CARD_GONE_TYPES = {"deleteCard", "moveCardFromBoard"}

Finalize = Callable[[Session, dict[str, int], set[str]], None]


@dataclass
class PendingWrite:
    """Sheet writes of one event and what to commit once they have been made."""

    event_id: int
    patches: list[RowPatch] = field(default_factory=list)
    appends: list[RowAppend] = field(default_factory=list)
    finalize: Finalize | None = None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Processor:
    """Applies events to the providers. Shared by the worker loop and the tests."""

    def __init__(self, session_factory: sessionmaker, providers: Providers, settings: EngineSettings,
                 worker_id: str = "worker") -> None:
        self.session_factory = session_factory
        self.providers = providers
        self.settings = settings
        self.worker_id = worker_id
        self.headers = HeaderCache()
        self.on_outbound: Callable[[str, int], None] | None = None  # benchmark hook: (kind, event id)

    # ------------------------------------------------------------------ batch

    def process(self, event_ids: list[int]) -> None:
        """Apply the given claimed events, grouped by workspace, in id order."""
        with self.session_factory() as session:
            events = session.scalars(select(Event).where(Event.id.in_(event_ids)).order_by(Event.id)).all()
            by_workspace: dict[str, list[int]] = {}
            for event in events:
                by_workspace.setdefault(event.workspace_id, []).append(event.id)
        for workspace_id, ids in by_workspace.items():
            self._process_workspace(workspace_id, ids)

    def _process_workspace(self, workspace_id: str, event_ids: list[int]) -> None:
        writes: list[PendingWrite] = []
        busy_links: set[int] = set()
        with self.session_factory() as session:
            for event_id in event_ids:
                event = session.get(Event, event_id)
                workspace = session.get(Workspace, workspace_id)
                if event is None or workspace is None or event.state not in (PENDING, "processing"):
                    continue
                try:
                    pending = self._handle(session, workspace, event, busy_links)
                except Exception as exc:  # noqa: BLE001 - every failure is recorded on the event
                    self._fail(session, workspace_id, event_id, exc)
                    continue
                if pending is None:
                    continue
                writes.append(pending)
            if writes:
                self._flush(session, workspace_id, writes)

    def _flush(self, session: Session, workspace_id: str, writes: list[PendingWrite]) -> None:
        workspace = session.get(Workspace, workspace_id)
        patches = [p for w in writes for p in w.patches]
        appends = [a for w in writes for a in w.appends]
        try:
            tab = self.providers.sheet(session, workspace)
            result = flush(tab, workspace.id, self.headers, workspace.lead_id_column, patches, appends,
                           workspace.header_row)
            if self.on_outbound:
                for write in writes:
                    self.on_outbound("sheets", write.event_id)
        except Exception as exc:  # noqa: BLE001
            session.rollback()
            for write in writes:
                self._fail(session, workspace_id, write.event_id, exc)
            return
        for write in writes:
            try:
                if write.finalize:
                    write.finalize(session, result.rows, result.missing)
                self._done(session, write.event_id)
                session.commit()
            except Exception as exc:  # noqa: BLE001
                session.rollback()
                self._fail(session, workspace_id, write.event_id, exc)

    # ------------------------------------------------------------------ dispatch

    def _handle(self, session: Session, workspace: Workspace, event: Event, busy: set[int]) -> PendingWrite | None:
        payload = json.loads(event.payload)
        mapping = Mapping.from_dict(workspace.mapping or {}, workspace.lead_id_column)
        if event.source == SHEETS and event.kind == "row":
            return self._sheet_row(session, workspace, mapping, event, payload, busy)
        if event.source == SHEETS and event.kind == "row_removed":
            return self._sheet_row_removed(session, workspace, event, payload, busy)
        if event.source == TRELLO:
            return self._trello_action(session, workspace, mapping, event, payload, busy)
        if event.source == SYSTEM:
            return self._command(session, workspace, mapping, event, payload, busy)
        self._done(session, event.id, state=IGNORED)
        session.commit()
        return None

    # ------------------------------------------------------------------ Sheets → Trello

    def _sheet_row(self, session: Session, workspace: Workspace, mapping: Mapping, event: Event,
                   data: dict[str, Any], busy: set[int]) -> PendingWrite | None:
        values = {str(k).strip(): cell_text(v) for k, v in data["values"].items()}
        at = float(data["edited_at"])
        if not any(values.get(column, "").strip() for column in mapping.synced_columns):
            self._done(session, event.id, state=IGNORED, note="blank row")
            session.commit()
            return None
        lead_id = data.get("lead_id") or ""
        if not lead_id:
            # The add-on gave this row no id: choose one now and keep it in the event, so a
            # retry uses the same id; the id is written into the row with this event's flush.
            lead_id = data["lead_id"] = new_lead_id()
            data["write_lead_id"] = True
            event.payload = json.dumps(data, separators=(",", ":"))
            session.commit()
        write_id = bool(data.get("write_lead_id"))
        id_patch = [RowPatch(lead_id, {workspace.lead_id_column: lead_id}, row=data["row"])] if write_id else []
        link = self._link_by_lead(session, workspace.id, lead_id)
        if link is None or (link.card_id is None and link.pending_op == "create_card"):
            self._create_card(session, workspace, mapping, event, lead_id, values, at, data["row"], link,
                              commit_done=not write_id)
            return PendingWrite(event.id, patches=id_patch) if write_id else None
        self._check_busy(link, busy)
        if link.status == CARD_REMOVED:
            status_at, _ = field_time(link.field_times or {}, mapping.status_column)
            if at > status_at and wants_card_back(workspace, mapping, values, data.get("changed")):
                return self._revive(session, workspace, mapping, event, link, values, at, data["row"], id_patch, busy)
        if link.status in (UNLINKED, CARD_REMOVED):
            self._done(session, event.id, state=IGNORED, note="the lead is not linked to a card")
            session.commit()
            return PendingWrite(event.id, patches=id_patch) if write_id else None
        changed = data.get("changed")
        columns = [c for c in mapping.synced_columns if c in values and (changed is None or c in changed)]
        incoming = [Incoming(c, values[c], values[c] == cell_text(link.shadow.get(c, ""))) for c in columns]
        decision = decide(link.shadow or {}, link.field_times or {}, incoming, at, SHEETS)
        new_status = decision.shadow.get(mapping.status_column, "")
        if mapping.status_column in decision.applied and mapping.list_for_status(new_status) is None:
            raise SyncError(f"Status {new_status!r} has no Trello list in this workspace's mapping; "
                            "add it to the mapping or use a mapped status")
        update = card_update(mapping, link, link.shadow or {}, decision.shadow)
        if link.status == ROW_REMOVED:
            update["closed"] = False
        if update:
            try:
                self.providers.trello(session, workspace).update_card(link.card_id, **update)
            except TrelloNotFound:
                return self._card_gone(session, workspace, mapping, event, link, "deleted in Trello")
            self._outbound("trello", event.id)
        # Our own write of a cell may have landed after this edit and hidden it: write it again.
        rewrite = overwritten_cells(link.field_times or {}, {f: new for f, (_, new) in decision.applied.items()}, at)
        link_id, row = link.id, data["row"]

        def apply(session: Session) -> None:
            link = session.get(Link, link_id)
            link.status = LINKED
            link.shadow = decision.shadow
            link.field_times = stamp_written(decision.times, rewrite)
            link.row_number = row
            self._synced(link)
            if decision.applied:
                record(session, workspace.id, side=SHEETS, action="update_card", lead_id=link.lead_id,
                       card_id=link.card_id, event_id=event.id, changes=changes_of(decision.applied))
            self._record_conflicts(session, workspace, link, event, decision.conflicts, decision.stale)

        patches = id_patch + ([RowPatch(link.lead_id, rewrite, hint=row)] if rewrite else [])
        return self._finish(session, event, apply, patches, busy, link_id)

    def _finish(self, session: Session, event: Event, apply: Callable[[Session], None],
                patches: list[RowPatch], busy: set[int], link_id: int) -> PendingWrite | None:
        """Commit an event's effects now, or after its sheet writes when it has some."""
        if patches:
            busy.add(link_id)
            return PendingWrite(event.id, patches=patches, finalize=lambda s, rows, missing: apply(s))
        apply(session)
        self._done(session, event.id)
        session.commit()
        return None

    def _create_card(self, session: Session, workspace: Workspace, mapping: Mapping, event: Event, lead_id: str,
                     values: dict[str, str], at: float, row: int | None, link: Link | None,
                     commit_done: bool = True) -> None:
        status = values.get(mapping.status_column, "")
        list_id = mapping.list_for_status(status)
        if list_id is None:
            raise SyncError(f"Status {status!r} has no Trello list in this workspace's mapping; "
                            "the card was not created")
        trello = self.providers.trello(session, workspace)
        card: dict[str, Any] | None = None
        if link is None:
            link = Link(workspace_id=workspace.id, lead_id=lead_id, pending_op="create_card", row_number=row,
                        sync_state="pending", shadow={}, field_times={}, card_extra={"pending_event": event.id})
            session.add(link)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                raise Defer(0.2, "another worker is creating this lead's card") from None
        else:
            mine = (link.card_extra or {}).get("pending_event") == event.id
            if not mine and link.updated_at and link.updated_at > utcnow() - timedelta(seconds=self.settings.lease_s):
                raise Defer(0.5, "this lead's card is being created")
            # An earlier attempt (ours, or a dead worker's) may have created the card: find it first.
            card = find_card_by_marker(trello, workspace.trello_board_id, lead_id)
        shadow = {column: values.get(column, "") for column in mapping.synced_columns}
        if card is None:
            fields = card_fields(mapping, lead_id, shadow, "")
            card = trello.create_card(id_list=fields["idList"], name=fields["name"], desc=fields["desc"],
                                      due=fields.get("due"))
            self._outbound("trello", event.id)
        session.refresh(link)
        link.card_id = card["id"]
        link.pending_op = None
        link.status = LINKED
        link.shadow = shadow
        link.field_times = {column: {"t": at, "s": SHEETS} for column in shadow}
        link.row_number = row
        self._synced(link)
        record(session, workspace.id, side=SHEETS, action="create_card", lead_id=lead_id, card_id=card["id"],
               event_id=event.id, changes={k: [None, v] for k, v in shadow.items() if v})
        if commit_done:
            self._done(session, event.id)
        session.commit()

    def _revive(self, session: Session, workspace: Workspace, mapping: Mapping, event: Event, link: Link,
                values: dict[str, str], at: float, row: int | None, id_patch: list[RowPatch],
                busy: set[int]) -> PendingWrite | None:
        """The row of a lead whose card was removed got a listed status again: bring the card back."""
        shadow = {column: values.get(column, "") for column in mapping.synced_columns}
        preamble = (link.card_extra or {}).get("preamble", "")
        card = revive_card(self.providers.trello(session, workspace), mapping, link, shadow, preamble)
        self._outbound("trello", event.id)
        rewrite = overwritten_cells(link.field_times or {}, {mapping.status_column: shadow[mapping.status_column]}, at)
        link_id = link.id

        def apply(session: Session) -> None:
            link = session.get(Link, link_id)
            link.card_id = card["id"]
            link.status = LINKED
            link.card_extra = {k: v for k, v in (link.card_extra or {}).items() if k != "removed"}
            link.shadow = shadow
            link.field_times = stamp_written({column: {"t": at, "s": SHEETS} for column in shadow}, rewrite)
            link.row_number = row
            self._synced(link)
            record(session, workspace.id, side=SHEETS, action="revive_card", lead_id=link.lead_id,
                   card_id=card["id"], event_id=event.id,
                   message="the lead got a listed status again: its card is back")

        patches = id_patch + ([RowPatch(link.lead_id, rewrite, hint=row)] if rewrite else [])
        return self._finish(session, event, apply, patches, busy, link_id)

    def _sheet_row_removed(self, session: Session, workspace: Workspace, event: Event, data: dict[str, Any],
                           busy: set[int]) -> None:
        link = self._link_by_lead(session, workspace.id, data["lead_id"])
        if link is None or link.status != LINKED or link.card_id is None:
            self._done(session, event.id, state=IGNORED, note="row was not linked")
            session.commit()
            return None
        self._check_busy(link, busy)
        if workspace.row_removed_policy == "archive":
            try:
                self.providers.trello(session, workspace).archive_card(link.card_id)
                self._outbound("trello", event.id)
            except TrelloNotFound:
                pass
            link.status = ROW_REMOVED
            action, message = "archive_card", "row deleted: card archived"
        else:
            link.status = UNLINKED
            action, message = "unlink", "row deleted: card unlinked"
        self._synced(link)
        record(session, workspace.id, side=SHEETS, action=action, lead_id=link.lead_id, card_id=link.card_id,
               event_id=event.id, message=message)
        self._done(session, event.id)
        session.commit()
        return None

    # ------------------------------------------------------------------ Trello → Sheets

    def _trello_action(self, session: Session, workspace: Workspace, mapping: Mapping, event: Event,
                       action: dict[str, Any], busy: set[int]) -> PendingWrite | None:
        data = action.get("data") or {}
        card_id = (data.get("card") or {}).get("id")
        at = parse_trello_date(action["date"]).timestamp() * 1000 if action.get("date") else time.time() * 1000
        link = self._link_by_card(session, workspace.id, card_id)
        if event.kind in CARD_CREATE_TYPES:
            if link is not None:
                self._done(session, event.id, state=IGNORED, note="card already linked")
                session.commit()
                return None
            return self._card_appeared(session, workspace, mapping, event, card_id, at)
        if link is None:
            if event.kind == "updateCard" and self._creations_in_flight(session, workspace.id):
                raise Defer(0.5, "waiting for card creations in flight")
            self._done(session, event.id, state=IGNORED, note="card is not linked to a lead")
            session.commit()
            return None
        self._check_busy(link, busy)
        if link.status != LINKED:
            self._done(session, event.id, state=IGNORED, note=f"link is {link.status}")
            session.commit()
            return None
        if event.kind in CARD_GONE_TYPES:
            reason = "deleted in Trello" if event.kind == "deleteCard" else "moved to another board"
            return self._card_gone(session, workspace, mapping, event, link, reason)
        if event.kind != "updateCard":
            self._done(session, event.id, state=IGNORED)
            session.commit()
            return None
        old = data.get("old") or {}
        card = data.get("card") or {}
        if "closed" in old and card.get("closed"):
            return self._card_gone(session, workspace, mapping, event, link, "archived in Trello")
        shadow = link.shadow or {}
        incoming: list[Incoming] = []
        extra = dict(link.card_extra or {})
        if "idList" in old or data.get("listAfter"):
            list_id = (data.get("listAfter") or {}).get("id") or card.get("idList")
            current = shadow.get(mapping.status_column, "")
            if mapping.status_matches_list(current, list_id):
                incoming.append(Incoming(mapping.status_column, current, True))
            else:
                status = mapping.status_for_list(list_id)
                if status is None:
                    name = (data.get("listAfter") or {}).get("name") or list_id
                    raise SyncError(f"Trello list {name!r} has no status in this workspace's mapping; "
                                    "the row was not changed")
                incoming.append(Incoming(mapping.status_column, status, False))
        if "name" in old and "name" in card:
            incoming.append(Incoming(mapping.title_column, card["name"], card["name"] == shadow.get(mapping.title_column, "")))
        if "desc" in old and "desc" in card:
            parsed = description.parse(card.get("desc") or "", mapping.description_columns)
            extra["preamble"] = parsed.preamble
            for column, value in parsed.fields.items():
                incoming.append(Incoming(column, value, value == cell_text(shadow.get(column, ""))))
        if "due" in old and mapping.due_column:
            due = due_from_trello(card.get("due"))
            incoming.append(Incoming(mapping.due_column, due, due == cell_text(shadow.get(mapping.due_column, ""))))
        decision = decide(shadow, link.field_times or {}, incoming, at, TRELLO)
        link_id = link.id

        def finalize(session: Session, rows: dict[str, int], missing: set[str]) -> None:
            link = session.get(Link, link_id)
            link.shadow = decision.shadow
            link.field_times = stamp_written(decision.times, decision.applied)
            link.card_extra = extra
            if link.lead_id in rows:
                link.row_number = rows[link.lead_id]
            if link.lead_id in missing:
                link.sync_state = "error"
                link.last_error = "the lead's row was not found in the sheet"
                record(session, workspace.id, side=TRELLO, action="update_row", lead_id=link.lead_id,
                       card_id=link.card_id, event_id=event.id, outcome="error", changes=changes_of(decision.applied),
                       message="the lead's row was not found in the sheet; it may have been deleted")
                return
            self._synced(link)
            if decision.applied:
                record(session, workspace.id, side=TRELLO, action="update_row", lead_id=link.lead_id,
                       card_id=link.card_id, event_id=event.id, changes=changes_of(decision.applied))
            self._record_conflicts(session, workspace, link, event, decision.conflicts, decision.stale)

        if not decision.applied:
            finalize(session, {}, set())
            self._done(session, event.id)
            session.commit()
            return None
        busy.add(link.id)
        cells = {name: new for name, (_old, new) in decision.applied.items()}
        return PendingWrite(event.id, patches=[RowPatch(link.lead_id, cells, hint=link.row_number)],
                            finalize=finalize)

    def _card_gone(self, session: Session, workspace: Workspace, mapping: Mapping, event: Event, link: Link,
                   reason: str) -> PendingWrite | None:
        """A linked card was archived, deleted or moved off the board: apply the policy; never delete the row."""
        link_id = link.id
        at = event.occurred_at.timestamp() * 1000 if event.occurred_at else time.time() * 1000
        if workspace.card_removed_policy == "set_status":
            status = workspace.card_removed_status

            def finalize(session: Session, rows: dict[str, int], missing: set[str]) -> None:
                link = session.get(Link, link_id)
                old = (link.shadow or {}).get(mapping.status_column)
                link.shadow = {**(link.shadow or {}), mapping.status_column: status}
                link.field_times = stamp_written({**(link.field_times or {}),
                                                  mapping.status_column: {"t": at, "s": TRELLO}},
                                                 [mapping.status_column])
                link.status = CARD_REMOVED
                link.card_extra = {**(link.card_extra or {}), "removed": reason}
                self._synced(link)
                record(session, workspace.id, side=TRELLO, action="update_row", lead_id=link.lead_id,
                       card_id=link.card_id, event_id=event.id, changes={mapping.status_column: [old, status]},
                       message=f"card {reason}: status set to {status!r}; "
                               "setting a listed status again brings the card back")

            return PendingWrite(event.id, patches=[RowPatch(link.lead_id, {mapping.status_column: status},
                                                         hint=link.row_number)],
                                finalize=finalize)
        link.status = UNLINKED
        record(session, workspace.id, side=TRELLO, action="unlink", lead_id=link.lead_id, card_id=link.card_id,
               event_id=event.id, message=f"card {reason}: lead unlinked, row kept")
        self._done(session, event.id)
        session.commit()
        return None

    def _card_appeared(self, session: Session, workspace: Workspace, mapping: Mapping, event: Event,
                       card_id: str, at: float) -> PendingWrite | None:
        """A card we have no link for appeared on the board: link it, or add a row for it."""
        trello = self.providers.trello(session, workspace)
        try:
            card = trello.get_card(card_id)
        except TrelloNotFound:
            self._done(session, event.id, state=IGNORED, note="card no longer exists")
            session.commit()
            return None
        if card.get("idBoard") != workspace.trello_board_id or card.get("closed"):
            self._done(session, event.id, state=IGNORED, note="card is not open on this board")
            session.commit()
            return None
        parsed = description.parse(card.get("desc") or "", mapping.description_columns)
        lead_id = parsed.lead_id
        if lead_id:
            owner = self._link_by_lead(session, workspace.id, lead_id)
            if owner is not None and owner.card_id is None:
                # Our own creation, still in flight or interrupted: this is its card.
                owner.card_id = card_id
                owner.pending_op = None
                self._done(session, event.id, note="linked card created for this lead")
                session.commit()
                return None
            if owner is not None:
                lead_id = None  # a copy of a linked card: a new lead with its own id
        status = mapping.status_for_list(card["idList"])
        if status is None:
            raise SyncError("the card's Trello list has no status in this workspace's mapping; no row was added")
        lead_id = lead_id or new_lead_id()
        values = {mapping.title_column: card.get("name", ""), mapping.status_column: status}
        for column in mapping.description_columns:
            values[column] = parsed.fields.get(column, "")
        if mapping.due_column:
            values[mapping.due_column] = due_from_trello(card.get("due"))
        preamble = parsed.preamble if parsed.fields or parsed.lead_id else (card.get("desc") or "").strip()
        link = Link(workspace_id=workspace.id, lead_id=lead_id, card_id=card_id, pending_op="append_row",
                    sync_state="pending", shadow={}, field_times={}, card_extra={"preamble": preamble})
        session.add(link)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise Defer(0.2, "another worker is adding this card's row") from None
        desc = description.render(values, mapping.description_columns, lead_id, preamble)
        if desc != (card.get("desc") or ""):
            trello.update_card(card_id, desc=desc)
            self._outbound("trello", event.id)
        link_id = link.id

        def finalize(session: Session, rows: dict[str, int], missing: set[str]) -> None:
            link = session.get(Link, link_id)
            link.shadow = values
            link.field_times = stamp_written({column: {"t": at, "s": TRELLO} for column in values}, values)
            link.pending_op = None
            link.row_number = rows.get(lead_id)
            self._synced(link)
            record(session, workspace.id, side=TRELLO, action="append_row", lead_id=lead_id, card_id=card_id,
                   event_id=event.id, changes={k: [None, v] for k, v in values.items() if v})

        return PendingWrite(event.id, appends=[RowAppend(lead_id, values)], finalize=finalize)

    # ------------------------------------------------------------------ commands

    def _command(self, session: Session, workspace: Workspace, mapping: Mapping, event: Event,
                 data: dict[str, Any], busy: set[int]) -> PendingWrite | None:
        if event.kind == "create_card":
            lead_id = data["lead_id"]
            link = self._link_by_lead(session, workspace.id, lead_id)
            if link is not None and link.card_id is not None:
                self._done(session, event.id, note="lead already has a card")
                session.commit()
                return None
            tab = self.providers.sheet(session, workspace)
            header, rows = locate_rows(tab, workspace.id, self.headers, workspace.lead_id_column, workspace.header_row)
            row = rows.get(lead_id)
            if row is None:
                raise SyncError(f"lead {lead_id} is not in the sheet")
            cells = (tab.get(f"{row}:{row}") or [[]])[0]
            values = {column: cell_text(cells[i]) if i < len(cells) else "" for i, column in enumerate(header)}
            self._create_card(session, workspace, mapping, event, lead_id, values, time.time() * 1000, row, link)
            return None
        if event.kind == "create_lead":
            if self._link_by_card(session, workspace.id, data["card_id"]) is not None:
                self._done(session, event.id, note="card already has a lead")
                session.commit()
                return None
            return self._card_appeared(session, workspace, mapping, event, data["card_id"], time.time() * 1000)
        if event.kind == "reconcile":
            from .reconcile import reconcile

            reconcile(session, workspace, self.providers, self.headers, dry_run=bool(data.get("dry_run")),
                      progress=CommittedProgress(session, workspace))
            self._done(session, event.id)
            session.commit()
            return None
        if event.kind == PREVIEW:
            from .preview import run_preview

            note = run_preview(session, workspace, self.providers)
            if note is None:
                self._done(session, event.id, state=IGNORED, note="the workspace is no longer a draft")
            else:
                self._done(session, event.id, note=note)
            session.commit()
            return None
        self._done(session, event.id, state=IGNORED, note=f"unknown command {event.kind}")
        session.commit()
        return None

    # ------------------------------------------------------------------ bookkeeping

    def _link_by_lead(self, session: Session, workspace_id: str, lead_id: str) -> Link | None:
        return session.scalars(select(Link).where(Link.workspace_id == workspace_id, Link.lead_id == lead_id)).first()

    def _link_by_card(self, session: Session, workspace_id: str, card_id: str | None) -> Link | None:
        if not card_id:
            return None
        return session.scalars(select(Link).where(Link.workspace_id == workspace_id, Link.card_id == card_id)).first()

    def _creations_in_flight(self, session: Session, workspace_id: str) -> bool:
        return session.scalars(select(Link.id).where(Link.workspace_id == workspace_id,
                                                     Link.pending_op.is_not(None)).limit(1)).first() is not None

    def _check_busy(self, link: Link, busy: set[int]) -> None:
        if link.id in busy:
            raise Defer(0.05, "an earlier event of this batch is still writing this lead")
        if link.pending_op and link.updated_at and link.updated_at > utcnow() - timedelta(seconds=self.settings.lease_s):
            raise Defer(0.5, "this lead is still being created")

    def _synced(self, link: Link) -> None:
        link.sync_state = "synced"
        link.last_error = ""
        link.last_synced_at = utcnow()

    def _record_conflicts(self, session: Session, workspace: Workspace, link: Link, event: Event,
                          conflicts: dict[str, dict[str, Any]], stale: dict[str, Any]) -> None:
        for name, info in conflicts.items():
            record(session, workspace.id, side=info["dropped_side"], action="conflict", lead_id=link.lead_id,
                   card_id=link.card_id, event_id=event.id, outcome="conflict",
                   changes={name: [info["dropped"], info["kept"]]},
                   message=f"{name}: kept {info['kept']!r} from {info['kept_side']} (newer) over "
                           f"{info['dropped']!r} from {info['dropped_side']}")
        if stale:
            record(session, workspace.id, side=event.source, action="stale", lead_id=link.lead_id,
                   card_id=link.card_id, event_id=event.id, outcome="skipped",
                   changes={k: [v, None] for k, v in stale.items()},
                   message="an older change arrived after a newer one and was ignored")

    def _outbound(self, kind: str, event_id: int) -> None:
        if self.on_outbound:
            self.on_outbound(kind, event_id)

    def _done(self, session: Session, event_id: int, state: str = DONE, note: str = "") -> None:
        event = session.get(Event, event_id)
        event.state = state
        event.processed_at = utcnow()
        event.locked_by = None
        event.locked_until = None
        event.last_error = note

    def _fail(self, session: Session, workspace_id: str, event_id: int, exc: Exception) -> None:
        """Record a failure: defer, retry with backoff, wait for re-authorisation, or park."""
        session.rollback()
        event = session.get(Event, event_id)
        if event is None:
            return
        now = utcnow()
        event.locked_by = None
        event.locked_until = None
        message = plain_error(exc)
        if isinstance(exc, Defer):
            event.state = PENDING
            event.attempts = max(0, event.attempts - 1)
            event.next_attempt_at = now + timedelta(seconds=exc.delay_s)
            event.last_error = message
        elif isinstance(exc, (TrelloAuthError, SheetsAuthError, MissingAccount)):
            self._needs_reauth(session, workspace_id, exc, message)
            event.state = PENDING
            event.attempts = max(0, event.attempts - 1)
            event.next_attempt_at = now
            event.last_error = message
        elif is_transient(exc) and event.attempts < self.settings.max_attempts:
            event.state = PENDING
            event.next_attempt_at = now + timedelta(seconds=self.backoff(event.attempts, exc))
            event.last_error = message
        else:
            event.state = PARKED
            event.processed_at = now
            event.last_error = message
            self._mark_link_error(session, workspace_id, event, message)
            record(session, workspace_id, side=event.source, action="error", event_id=event.id, outcome="error",
                   message=message)
        if not isinstance(exc, (Defer, SyncError, TrelloError, SheetsError, MissingAccount, SheetLayoutError)):
            log.exception("event_failed", event_id=event_id, workspace_id=workspace_id, exc_info=exc)
        else:
            log.info("event_not_applied", event_id=event_id, workspace_id=workspace_id, state=event.state,
                     reason=message)
        session.commit()

    def backoff(self, attempts: int, exc: Exception) -> float:
        """Exponential backoff with full jitter; a 429's own wait is respected."""
        base = min(self.settings.backoff_max_s, self.settings.backoff_base_s * (2 ** max(0, attempts - 1)))
        delay = base * (0.5 + random.random() / 2)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, float(retry_after))
        return delay

    def _needs_reauth(self, session: Session, workspace_id: str, exc: Exception, message: str) -> None:
        workspace = session.get(Workspace, workspace_id)
        workspace.state = NEEDS_REAUTH
        workspace.state_detail = message
        account_id = workspace.trello_account_id if isinstance(exc, TrelloAuthError) else (
            workspace.google_account_id if isinstance(exc, SheetsAuthError) else None)
        if account_id:
            account = session.get(ProviderAccount, account_id)
            if account is not None:
                account.status = "needs_reauth"
                account.status_detail = message
        record(session, workspace_id, side="system", action="needs_reauth", outcome="error", message=message)

    def _mark_link_error(self, session: Session, workspace_id: str, event: Event, message: str) -> None:
        key = event.order_key
        link = None
        if key.startswith("lead:"):
            link = self._link_by_lead(session, workspace_id, key[5:])
        elif key.startswith("card:"):
            link = self._link_by_card(session, workspace_id, key[5:])
        if link is not None:
            link.sync_state = "error"
            link.last_error = message


# --------------------------------------------------------------------------- helpers


def is_transient(exc: Exception) -> bool:
    if isinstance(exc, (SyncError, SheetLayoutError)):
        return False
    if isinstance(exc, (TrelloError, SheetsError)):
        return exc.transient
    return True  # unexpected errors (a bug, a dropped DB connection) are retried, then parked


def plain_error(exc: Exception) -> str:
    if isinstance(exc, TrelloRateLimited):
        return f"Trello asked us to slow down; retrying in {exc.retry_after:g} s"
    text = str(exc) or type(exc).__name__
    return text[:1000]


def card_fields(mapping: Mapping, lead_id: str, shadow: dict[str, Any], preamble: str) -> dict[str, Any]:
    """The Trello fields a lead's values give its card."""
    fields: dict[str, Any] = {
        "name": cell_text(shadow.get(mapping.title_column, "")),
        "desc": description.render({c: cell_text(shadow.get(c, "")) for c in mapping.description_columns},
                                   mapping.description_columns, lead_id, preamble),
        "idList": mapping.list_for_status(shadow.get(mapping.status_column, "")),
    }
    if mapping.due_column:
        fields["due"] = due_to_trello(shadow.get(mapping.due_column))
    return fields


def card_update(mapping: Mapping, link: Link, old_shadow: dict[str, Any], new_shadow: dict[str, Any]) -> dict[str, Any]:
    """Only the card fields whose value changes: one PUT carries them all."""
    preamble = (link.card_extra or {}).get("preamble", "")
    old = card_fields(mapping, link.lead_id, old_shadow, preamble)
    new = card_fields(mapping, link.lead_id, new_shadow, preamble)
    return {name: value for name, value in new.items() if old.get(name) != value}


def find_card_by_marker(trello: TrelloClient, board_id: str, lead_id: str) -> dict[str, Any] | None:
    """Scan the board for a card carrying ``Lead ID: <lead_id>`` (search is not real time)."""
    for page in trello.iter_board_cards(board_id, fields="id,name,desc,idList,idBoard,closed", filter="all"):
        for card in page:
            if description.find_lead_id(card.get("desc") or "") == lead_id:
                return card
    return None


def wants_card_back(workspace: Workspace, mapping: Mapping, values: dict[str, str], changed: list[str] | None) -> bool:
    """Whether an edit sets a removed card's lead to a listed status (other than the "removed" one)."""
    if changed is not None and mapping.status_column not in changed:
        return False
    status = values.get(mapping.status_column, "")
    return (normalise_status(status) != normalise_status(workspace.card_removed_status)
            and bool(normalise_status(status)) and mapping.list_for_status(status) is not None)


def revive_card(trello: TrelloClient, mapping: Mapping, link: Link, shadow: dict[str, Any], preamble: str) -> dict[str, Any]:
    """Unarchive the lead's card with its current fields, or make a new one if it was deleted or moved away."""
    fields = card_fields(mapping, link.lead_id, shadow, preamble)
    if (link.card_extra or {}).get("removed", "").startswith("archived") and link.card_id:
        try:
            return trello.update_card(link.card_id, closed=False, **fields)
        except TrelloNotFound:
            pass
    return trello.create_card(id_list=fields["idList"], name=fields["name"], desc=fields["desc"],
                              due=fields.get("due"))


def overwritten_cells(times: dict[str, Any], values: dict[str, Any], at: float) -> dict[str, Any]:
    """Cells of ``values`` that we wrote into the sheet after ``at``: they hide that edit."""
    return {name: value for name, value in values.items()
            if isinstance(times.get(name), dict) and float(times[name].get("w", 0)) >= at}


def stamp_written(times: dict[str, Any], written: Any) -> dict[str, Any]:
    """Record when we wrote these fields into the sheet (a sheet write has no echo to date it)."""
    now = time.time() * 1000
    stamped = dict(times)
    for name in written:
        stamped[name] = {**(stamped.get(name) or {}), "w": now}
    return stamped

