"""The work on one lead: every queued event of one link, merged before anything is written.

``LeadWork`` is what the handlers (``handlers.py``) feed: people's changes and our writes
landing (for the merge), or structural steps they run here (a card to create, a card that
appeared, a card or row that went away). ``finish`` then merges the changes (``merge.py``),
makes the one Trello call the lead needs, and marks the sheet cells to write in the link's sheet
outbox (``Link.sheet_pending``): the decision, the history and the events' states commit
together, and ``sheet_flush.py`` brings the sheet to the shadow afterwards, a burst at a time.
Creations commit their link before calling Trello, so a crash or a second worker never makes a
second card (the card is found again by its marker).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import metrics
from ..models import Event, Link, Workspace
from ..models.base import utcnow
from ..models.card_extra import CardExtra
from ..models.enums import CardPolicy, HistoryAction, HistorySide, LinkSyncState, Outcome, PendingOp, RowPolicy
from ..models.sync import CARD_REMOVED, DONE, IGNORED, LINKED, ROW_REMOVED, UNLINKED
from ..trello.cardfields import CustomFieldsUnavailable
from ..trello.client import TrelloClient
from ..trello.errors import TrelloBadRequest, TrelloNotFound, TrelloUnavailable
from . import cards, customfields, description, filters, labels, members, queue, routing
from .cards import card_fields, comment_text, now_ms, trello_time_ms, trello_values
from .history import record
from .inbox import CARD_APPEARS, new_lead_id
from .mapping import Mapping, cell_text, done_to_trello, due_to_trello
from .merge import Change, FieldClock, Landing, Merge, Side, dump_clocks, load_clocks, merge
from .outcomes import Defer, SyncError
from .providers import Providers
from .settings import EngineSettings
from .sheet_writer import HeaderCache

log = structlog.get_logger(__name__)

CREATE_RETRY_SETTLE_S = 10.0  # after a create that timed out, wait this long before looking for its card


@dataclass
class Context:
    """What every lead's work needs from the processor."""

    session: Session
    workspace: Workspace
    mapping: Mapping
    providers: Providers
    settings: EngineSettings
    trello_member: str | None
    outbound: Callable[[str, int], None]
    headers: HeaderCache


# Built once: a statement object reused keeps its cache key, so each lead's look-ups skip building it.
_LINK_OF_LEAD = select(Link).where(Link.workspace_id == bindparam("b_workspace"), Link.lead_id == bindparam("b_lead"))
_LINK_OF_CARD = select(Link).where(Link.workspace_id == bindparam("b_workspace"), Link.card_id == bindparam("b_card"))
_LINK_VERSION = select(Link.version, Link.card_id).where(Link.id == bindparam("b_link"))

MAX_MARK_EVENTS = 20  # event ids kept with a mark (the benchmark's propagation times)


def mark_sheet(link: Link, *, fields: list[str] | tuple[str, ...] = (), append: bool = False,
               id_row: int | None = None, events: list[int] | tuple[int, ...] = ()) -> None:
    """Put cells in the link's sheet outbox (merged with what waits there already)."""
    pending = dict(link.sheet_pending or {})
    if fields:
        pending["fields"] = sorted(set(pending.get("fields", [])) | set(fields))
    if events:
        pending["events"] = (list(pending.get("events", [])) + list(events))[-MAX_MARK_EVENTS:]
    if append:
        pending["append"] = True
    if id_row:
        pending["id_row"] = id_row
    if pending != (link.sheet_pending or {}):
        link.sheet_pending = pending
        link.sheet_marked_at = utcnow()


class LeadWork:
    """One group of events (one order key) of one workspace, in its own session."""

    def __init__(self, ctx: Context, events: list[Event], order_key: str) -> None:
        self.ctx = ctx
        self.session, self.workspace, self.mapping = ctx.session, ctx.workspace, ctx.mapping
        self.events = events
        self._without_link: set[str] = set()  # lead ids looked up and not found since the last commit
        self.link: Link | None = None
        self.link = self._find_link(order_key)
        self.changes: list[Change] = []
        self.landings: list[Landing] = []
        self.merged: list[Event] = []  # events whose effect is the merge's
        self.sheet_statuses: list[str] = []  # status values the sheet was seen holding
        self.row_hint: int | None = None
        self.preamble: str | None = None
        self.labels_now: str | None = None  # the labels column as this group's label actions left it
        self.members_now: str | None = None  # the members column as this group's member actions left it
        self.checklist_now: str | None = None  # the card's checklist progress, read once per group
        self.outcome: dict[int, tuple[str, str]] = {}  # event id -> (state, note)
        self._merging = False

    # ------------------------------------------------------------------ look-ups

    def _find_link(self, order_key: str) -> Link | None:
        kind, _, value = order_key.partition(":")
        if kind == "lead":
            return self.link_by_lead(value)
        if kind == "card":
            return self.link_by_card(value)
        return None

    def link_by_lead(self, lead_id: str) -> Link | None:
        # A lead found without a link is not looked for again in this transaction: a link another
        # worker adds meanwhile makes our claim's insert fail (``_claim``), which is the real check.
        if lead_id in self._without_link:
            return None
        if self.link is not None and self.link.lead_id == lead_id:
            return self.link  # what the query would give: the session's identity map holds it
        link = self.session.scalars(_LINK_OF_LEAD, {"b_workspace": self.workspace.id, "b_lead": lead_id}).first()
        if link is None:
            self._without_link.add(lead_id)
        return link

    def link_by_card(self, card_id: str | None) -> Link | None:
        if not card_id:
            return None
        return self.session.scalars(_LINK_OF_CARD, {"b_workspace": self.workspace.id, "b_card": card_id}).first()

    def trello(self) -> TrelloClient:
        return self.ctx.providers.trello(self.session, self.workspace)

    def member_resolver(self) -> members.Resolver:
        return members.Resolver(self.trello(), self.workspace.id, self.workspace.trello_board_id,
                                self.mapping.member_emails)

    def done(self, event: Event, note: str = "", state: str = DONE) -> None:
        self.outcome[event.id] = (state, note)

    def add_changes(self, event: Event, changes: list[Change],
                    landings: list[Landing] | tuple[Landing, ...] = ()) -> None:
        """Queue a person's changes for the merge; those from a side their field does not take
        from (a one-way field) are recorded as not passed on, and the other side keeps its value."""
        taken = [c for c in changes if self._takes(c)]
        self._one_way([c for c in changes if not self._takes(c)])
        self.changes.extend(taken)
        self.landings.extend(landings)
        self.merged.append(event)

    def _takes(self, change: Change) -> bool:
        if change.side is Side.SHEETS:
            return self.mapping.takes_from_sheet(change.field)
        return self.mapping.takes_from_trello(change.field)

    def _one_way(self, skipped: list[Change]) -> None:
        if not skipped:
            return
        link = self.link
        for side in Side:
            mine = [c for c in skipped if c.side is side]
            if not mine:
                continue
            names = ", ".join(dict.fromkeys(c.field for c in mine))
            if side is Side.SHEETS:
                message = (f"{names} changed in the sheet was not sent to Trello: "
                           f"{'that column syncs' if len(mine) == 1 else 'those columns sync'} Trello → sheet only")
            else:
                message = (f"{names} changed on the card was not written into the sheet: "
                           f"{'that field syncs' if len(mine) == 1 else 'those fields sync'} sheet → Trello only")
            record(self.session, self.workspace.id, side=side.value, action=HistoryAction.ONE_WAY,
                   lead_id=link.lead_id if link is not None else None,
                   card_id=link.card_id if link is not None else None, event_id=mine[-1].event_id,
                   outcome=Outcome.SKIPPED, changes={c.field: [c.value, None] for c in mine}, message=message)

    def synced(self, link: Link) -> None:
        link.sync_state = LinkSyncState.SYNCED
        link.last_error = ""
        link.last_synced_at = utcnow()

    # ------------------------------------------------------------------ the merge

    def same(self, side: Side, name: str, a: str, b: str) -> bool:
        if side is Side.TRELLO:
            if name == self.mapping.status_column and self.mapping.routing:  # on the card's own board
                return routing.same_status(self.mapping, self.link.shadow if self.link else None, a, b)
            if name == self.mapping.status_column:
                return self.mapping.list_for_status(a) == self.mapping.list_for_status(b)
            if name == self.mapping.route_column:  # what the card can show: the board it is on
                return routing.same_board(self.mapping, a, b)
            if name in (self.mapping.due_column, self.mapping.start_column):
                return due_to_trello(a) == due_to_trello(b)
            if name == self.mapping.due_done_column:
                return done_to_trello(a) == done_to_trello(b)
            if name == self.mapping.labels_column:  # what the card can show: the names the board has (or makes)
                board, make = self.workspace.trello_board_id, self.mapping.create_labels
                return labels.known_key(self.trello(), self.workspace.id, board, a, make=make) == \
                    labels.known_key(self.trello(), self.workspace.id, board, b, make=make)
            if name == self.mapping.members_column:  # what the card can show: the board members named
                resolver = self.member_resolver()
                return resolver.key(a) == resolver.key(b)
            if name in self.mapping.custom_fields:  # as the field keeps it: 3 is 3.0, yes is TRUE
                found = customfields.definition(self.trello(), self.workspace.id, self.workspace.trello_board_id,
                                                self.mapping.custom_fields[name])
                return bool(customfields.key(found, a) == customfields.key(found, b))
        if name == self.mapping.labels_column:
            return labels.key(a) == labels.key(b)
        if name == self.mapping.members_column:
            return members.key(a) == members.key(b)
        return a == b

    def finish(self) -> None:
        """Merge what was collected, make the lead's Trello call, mark its sheet cells."""
        if not self.merged:
            return
        link = self.link
        if link is None or link.status == UNLINKED:
            for event in self.merged:
                self.outcome.setdefault(event.id, (IGNORED, "the lead is not linked to a card"))
            return
        if link.status == ROW_REMOVED and not any(c.side is Side.SHEETS for c in self.changes):
            for event in self.merged:
                self.outcome.setdefault(event.id, (IGNORED, "the lead's row was deleted"))
            return
        shadow = {k: cell_text(v) for k, v in (link.shadow or {}).items()}
        result = merge(shadow, load_clocks(link.field_times), self.changes, self.landings, self.same)
        new_shadow = {**shadow, **{f: o.value for f, o in result.fields.items()}}
        trello_fields = result.writes(Side.TRELLO)
        revive = self._revival(link, result)
        if link.status == CARD_REMOVED and not revive:
            trello_fields = {}  # no card to write to; the row keeps what it says
        status = new_shadow.get(self.mapping.status_column, "")
        if (trello_fields or revive) and self.mapping.status_column in trello_fields \
                and self.mapping.list_for_status(status) is None:
            raise SyncError(f"Status {status!r} has no Trello list in this workspace's mapping; "
                            "add it to the mapping or use a mapped status")
        if self.preamble is not None:
            link.card_extra = replace(CardExtra.of(link), preamble=self.preamble).to_json()
        if revive:
            self._revive(link, new_shadow, result)
        elif trello_fields:
            if not self._write_trello(link, new_shadow, trello_fields, result):
                return  # the card was gone: merged again with that
        sheet_cells = result.writes(Side.SHEETS)
        link.shadow = new_shadow
        link.field_times = {**(link.field_times or {}), **dump_clocks(result.clocks)}
        if self.row_hint:
            link.row_number = self.row_hint
        if sheet_cells:
            mark_sheet(link, fields=list(sheet_cells), events=[e.id for e in self.merged])
        self.synced(link)
        self._record(link, result, shadow)
        for event in self.merged:
            self.outcome.setdefault(event.id, (DONE, ""))

    def _revival(self, link: Link, result: Merge) -> bool:
        """Whether the merge brings back the card of a lead whose card or row went away."""
        if link.status == CARD_REMOVED:
            outcome = result.fields.get(self.mapping.status_column)
            return bool(outcome and outcome.winner is not None and outcome.winner.side is Side.SHEETS
                        and cards.wants_card_back(self.workspace, self.mapping, outcome.value))
        return link.status == ROW_REMOVED

    def _write_trello(self, link: Link, shadow: dict[str, str], fields: dict[str, str], result: Merge) -> bool:
        """PUT what Trello must show; False when the card turned out to be gone (merged again)."""
        body = self._card_body(link, shadow, fields)
        custom = [name for name in fields if name in self.mapping.custom_fields]
        items = self.custom_items(link.lead_id, shadow, custom) if custom else {}
        if not body and not items:
            return True
        card: dict[str, Any] = {}
        try:
            if body:
                card = cards.write_card(self.trello(), link, **body)
            if items:  # the custom fields have their own endpoint: one batched call for all of them
                self.write_custom_fields(link, items)
        except TrelloNotFound:
            if self._merging:
                raise
            self.card_gone(link, "deleted in Trello", now_ms(), self.merged[-1])
            self._merging = True
            self.finish()
            return False
        except TrelloUnavailable:
            self._remember_attempt(link, {**body, **({"customFields": items} if items else {})})
            raise
        self.ctx.outbound("trello", self.merged[-1].id)
        metrics.card_written(result, self.merged[-1].lane)
        landed = trello_time_ms(card, now_ms()) if body else now_ms()
        for name in self._fields_of(body):  # all the PUT gave Trello: a description carries every line
            result.clocks.setdefault(name, FieldClock()).wt = landed
        for column, field_id in self.mapping.custom_fields.items():
            if field_id in items:
                result.clocks.setdefault(column, FieldClock()).wt = now_ms()
        return True

    def custom_items(self, lead_id: str, shadow: dict[str, str], columns: list[str]) -> dict[str, dict[str, Any]]:
        """``{field id: batch item}`` giving the card these custom field columns' values; a value the
        field cannot take (or a field the board lost) is said in the lead's history, and left out."""
        trello, board = self.trello(), self.workspace.trello_board_id
        title = shadow.get(self.mapping.title_column, "") or lead_id
        items: dict[str, dict[str, Any]] = {}
        for column in columns:
            field_id = self.mapping.custom_fields[column]
            found = customfields.definition(trello, self.workspace.id, board, field_id)
            if found is None:
                self._custom_field_error(lead_id, column, shadow.get(column, ""),
                                         customfields.missing_words(column, lead_id, title))
                continue
            try:
                try:
                    items[field_id] = customfields.to_item(found, shadow.get(column))
                except customfields.NotTaken:
                    if found.get("type") != "list":
                        raise
                    # perhaps an option someone just added in Trello: the board's fields are read once more
                    found = customfields.definitions(trello, self.workspace.id, board, missing=True).get(field_id)
                    items[field_id] = customfields.to_item(found or {}, shadow.get(column))
            except customfields.NotTaken as exc:
                self._custom_field_error(lead_id, column, shadow.get(column, ""),
                                         f"{column} of lead {lead_id} (“{title}”): {exc}")
        return items

    def write_custom_fields(self, link: Link, items: dict[str, dict[str, Any]]) -> None:
        """One batch call; a board without Custom Fields (or a value Trello refuses) is a plain
        error in the lead's history, not a retry: the other fields are synced."""
        started = now_ms()
        try:
            self.trello().set_card_custom_fields(link.card_id or "", list(items.values()))
        except TrelloBadRequest as exc:
            title = cell_text((link.shadow or {}).get(self.mapping.title_column)) or link.lead_id
            columns = [c for c, f in self.mapping.custom_fields.items() if f in items]
            for column in columns:
                words = (customfields.unavailable_words(column, link.lead_id, title)
                         if isinstance(exc, CustomFieldsUnavailable) else
                         f"{column} of lead {link.lead_id} (“{title}”) was not written to the card: Trello "
                         f"refused the value ({exc})")
                self._custom_field_error(link.lead_id, column, (link.shadow or {}).get(column, ""), words)
            return
        cards.note_write(link, {"customFields": items}, started, now_ms())

    def _custom_field_error(self, lead_id: str, column: str, value: Any, words: str) -> None:
        record(self.session, self.workspace.id, side=Side.SHEETS, action=HistoryAction.ERROR, lead_id=lead_id,
               card_id=self.link.card_id if self.link is not None else None,
               event_id=self.merged[-1].id if self.merged else None, outcome=Outcome.ERROR,
               changes={column: [cell_text(value), None]}, message=words)

    def _fields_of(self, body: dict[str, Any]) -> list[str]:
        """The synced fields a card PUT body sets (``desc`` sets every description column)."""
        return [column for column, key in cards.field_keys(self.mapping).items() if key in body]

    def _card_body(self, link: Link, shadow: dict[str, str], fields: dict[str, str]) -> dict[str, Any]:
        """The PUT body that gives the card ``fields`` (from the new shadow)."""
        desired = card_fields(self.mapping, link.lead_id, shadow, CardExtra.of(link).preamble)
        by_column = cards.field_keys(self.mapping)
        keys = [by_column[name] for name in fields if name in by_column]
        body = {k: desired[k] for k in dict.fromkeys(keys) if k in desired}
        routing.with_board(self.workspace, self.mapping, body)
        moved = body.get("idBoard") and body["idBoard"] != routing.board_of_row(self.workspace, self.mapping,
                                                                               link.shadow or {})
        if "idLabels" in keys or (self.mapping.labels_column and moved):  # labels are the board's
            # the card's colour-only labels have no words in the column: kept, on the board they belong to
            colours = () if moved else CardExtra.of(link).colour_labels
            body["idLabels"] = list(dict.fromkeys([*self.label_ids(link.lead_id, shadow), *colours]))
        if "idMembers" in keys:  # its unknown names were said when the sheet's edit came in
            body["idMembers"] = self.member_ids(link.lead_id, shadow, report=False)
        return body

    def member_ids(self, lead_id: str, shadow: dict[str, str], *, report: bool = True) -> list[str]:
        """The board members the names in the members column mean; a name no member answers to
        (or a full name several members share) is said in the lead's history, never guessed."""
        column = self.mapping.members_column or ""
        ids, unknown = self.member_resolver().resolve(shadow.get(column, ""))
        if report:
            self.unknown_members(lead_id, shadow, unknown)
        return ids

    def unknown_members(self, lead_id: str, shadow: dict[str, str], unknown: list[str],
                        event: Event | None = None) -> None:
        column = self.mapping.members_column or ""
        title = shadow.get(self.mapping.title_column, "") or lead_id
        for name in unknown:
            record(self.session, self.workspace.id, side=Side.SHEETS, action=HistoryAction.UNKNOWN_MEMBER,
                   lead_id=lead_id, card_id=self.link.card_id if self.link is not None else None,
                   event_id=event.id if event is not None else self.merged[-1].id if self.merged else None,
                   outcome=Outcome.ERROR, changes={column: [name, None]},
                   message=f"“{name}” in {column} of lead {lead_id} (“{title}”) is not a member of the board: "
                           "nobody was added to the card for it (write their Trello username or full name, or "
                           "add their email to the workspace's member table)")

    def label_ids(self, lead_id: str, shadow: dict[str, str]) -> list[str]:
        """The board's label ids of the names in the labels column; a name the board does not have
        is said in the lead's history (not invented), or made where the mapping says ``create_labels``."""
        column = self.mapping.labels_column or ""
        board = routing.board_of_row(self.workspace, self.mapping, shadow)  # the card's own board's labels
        ids, unknown = labels.resolve(self.trello(), self.workspace.id, board, shadow.get(column, ""),
                                      make=self.mapping.create_labels)
        title = shadow.get(self.mapping.title_column, "") or lead_id
        for name in unknown:
            record(self.session, self.workspace.id, side=Side.SHEETS, action=HistoryAction.UNKNOWN_LABEL,
                   lead_id=lead_id, card_id=self.link.card_id if self.link is not None else None,
                   event_id=self.merged[-1].id if self.merged else None, outcome=Outcome.ERROR,
                   changes={column: [name, None]},
                   message=f"“{name}” in {column} of lead {lead_id} (“{title}”) is not a label on the board: "
                           "it was not added to the card (make the label in Trello, or correct the name)")
        return ids

    def _remember_attempt(self, link: Link, body: dict[str, Any]) -> None:
        """A call that timed out may still land: keep it in the ledger so its echo is known."""
        link_id = link.id
        self._without_link.clear()
        self.session.rollback()
        fresh = self.session.get(Link, link_id)
        if fresh is not None:
            cards.note_write(fresh, body, now_ms(), now_ms())
            self.session.commit()

    def _revive(self, link: Link, shadow: dict[str, str], result: Merge) -> None:
        preamble = CardExtra.of(link).preamble
        was = link.status
        if was == ROW_REMOVED:
            card = cards.write_card(self.trello(), link, closed=False, **routing.with_board(
                self.workspace, self.mapping, card_fields(self.mapping, link.lead_id, shadow, preamble)))
        else:
            id_labels = self.label_ids(link.lead_id, shadow) if self.mapping.labels_column else None
            id_members = self.member_ids(link.lead_id, shadow) if self.mapping.members_column else None
            filters.release_if_taken(self.session, self.workspace, self.mapping, link)
            board = routing.board_of_row(self.workspace, self.mapping, shadow) if self.mapping.routing else None
            card = cards.revive_card(self.trello(), self.mapping, link, shadow, preamble, id_labels, id_members, board)
        self.ctx.outbound("trello", self.merged[-1].id)
        made = card["id"] != link.card_id  # the old card was deleted or moved away: a new one
        link.card_id = card["id"]
        if made and self.mapping.custom_fields:
            self._custom_fields_of_new_card(link, shadow)
        link.status = LINKED
        link.card_extra = replace(CardExtra.of(link), removed=None).to_json()
        landed = trello_time_ms(card, now_ms())
        for name in self.mapping.synced_columns:
            result.clocks.setdefault(name, FieldClock()).wt = landed
        record(self.session, self.workspace.id, side=Side.SHEETS, action=HistoryAction.REVIVE_CARD,
               lead_id=link.lead_id, card_id=card["id"], event_id=self.merged[-1].id,
               message=("the row is back: its card is open again" if was == ROW_REMOVED else
                        "the lead got a listed status again: its card is back"))

    def _record(self, link: Link, result: Merge, before: dict[str, str]) -> None:
        by_side: dict[str, dict[str, list[Any]]] = {}
        event_of: dict[str, int | None] = {}
        for name, outcome in result.fields.items():
            if outcome.winner is not None and before.get(name, "") != outcome.value:
                side = outcome.winner.side.value
                by_side.setdefault(side, {})[name] = [before.get(name), outcome.value]
                event_of[side] = outcome.winner.event_id
        for side, changes in by_side.items():
            record(self.session, self.workspace.id, side=side,
                   action=HistoryAction.UPDATE_CARD if side == Side.SHEETS else HistoryAction.UPDATE_ROW,
                   lead_id=link.lead_id,
                   card_id=link.card_id, event_id=event_of[side], changes=changes)
        if result.stale:
            record(self.session, self.workspace.id, side=result.stale[0].side.value, action=HistoryAction.STALE,
                   lead_id=link.lead_id, card_id=link.card_id, event_id=result.stale[0].event_id,
                   outcome=Outcome.SKIPPED,
                   changes={c.field: [c.value, None] for c in result.stale},
                   message="an older change arrived after a newer one and was ignored")
        metrics.conflicts(len(result.conflicts))
        for conflict in result.conflicts:
            dropped = conflict.dropped
            record(self.session, self.workspace.id, side=dropped.side.value, action=HistoryAction.CONFLICT,
                   lead_id=link.lead_id, card_id=link.card_id, event_id=dropped.event_id, outcome=Outcome.CONFLICT,
                   changes={conflict.field: [dropped.value, conflict.kept_value]},
                   message=(f"{conflict.field}: kept {conflict.kept_value!r} from {conflict.kept_side} "
                            f"(changed {_when(conflict.kept_at)}) over {dropped.value!r} from "
                            f"{dropped.side.value} (changed {_when(dropped.at)}, earlier)"))

    # ------------------------------------------------------------------ structural steps

    def create_card(self, event: Event, lead_id: str, values: dict[str, str], at: float, row: int | None,
                    id_row: int | None = None) -> None:
        """A lead without a card: claim its link, find or create the card, link it. ``id_row``:
        the row still needs its Lead ID written."""
        status = values.get(self.mapping.status_column, "")
        if self.mapping.list_for_status(status) is None:
            raise SyncError(f"Status {status!r} has no Trello list in this workspace's mapping; "
                            "the card was not created")
        link = self.link if self.link is not None and self.link.lead_id == lead_id else self.link_by_lead(lead_id)
        trello = self.trello()
        card: dict[str, Any] | None = None
        if link is None:
            link = Link(workspace_id=self.workspace.id, lead_id=lead_id, pending_op=PendingOp.CREATE_CARD,
                        row_number=row, sync_state=LinkSyncState.PENDING, shadow={}, field_times={},
                        card_extra=CardExtra(pending_event=event.id).to_json())
            if id_row:
                mark_sheet(link, id_row=id_row)
            self._claim(link, "another worker is creating this lead's card")
        elif link.card_id is not None:
            self.link = link
            self.done(event, "the lead already has a card", IGNORED)
            return
        else:
            extra = CardExtra.of(link)
            # a reconciliation names the event before queueing it; a retried creation keeps its id
            mine = extra.pending_event in (event.id, event.provider_event_id)
            recent = link.updated_at and link.updated_at > utcnow() - timedelta(seconds=self.ctx.settings.lease_s)
            if not mine and recent:
                raise Defer(0.5, "this lead's card is being created")
            attempted = extra.create_attempted_at or 0.0
            wait_s = CREATE_RETRY_SETTLE_S - (now_ms() - attempted) / 1000.0
            if attempted and wait_s > 0:
                # The last try timed out and may still land: look for it only once it would have.
                raise Defer(wait_s, "waiting to see whether the card of a timed-out call appears")
            if attempted or event.attempts > 1 or not mine:
                # An earlier try (ours, or a dead worker's) may have made the card: find it first.
                card = routing.find_card_by_marker(trello, self.workspace, self.mapping, lead_id)
        self.link = link
        if id_row:
            mark_sheet(link, id_row=id_row)
        shadow = {column: values.get(column, "") for column in self.mapping.synced_columns}
        created = card is None
        if card is None:
            fields = card_fields(self.mapping, lead_id, shadow, "")
            if self.mapping.labels_column and labels.names(shadow.get(self.mapping.labels_column)):
                fields["idLabels"] = self.label_ids(lead_id, shadow)
            if self.mapping.members_column and members.names(shadow.get(self.mapping.members_column)):
                fields["idMembers"] = self.member_ids(lead_id, shadow)
            try:
                card = cards.create_card(trello, link, fields)
            except TrelloUnavailable:
                self._remember_create(link, event, fields)
                raise
            self.ctx.outbound("trello", event.id)
            metrics.card_created(event.lane, at)
        if self._changed_meanwhile(link):
            self.session.refresh(link)
        if link.card_id is not None and link.card_id != card["id"]:
            # The card of an earlier, timed-out try landed and was linked meanwhile: this one is extra.
            self.delete_duplicate(card["id"], link)
            self.done(event, "the lead's card was made by an earlier try")
            return
        landed = trello_time_ms(card, now_ms())
        link.card_id = card["id"]
        link.pending_op = None
        link.status = LINKED
        self._card_url_into(link, shadow, card)
        if created and self.mapping.custom_fields:
            self._custom_fields_of_new_card(link, shadow)
        link.shadow = shadow
        link.field_times = dump_clocks({c: FieldClock(t=at, s=Side.SHEETS.value, ts=at, wt=landed) for c in shadow})
        link.card_extra = replace(CardExtra.of(link), pending_event=None, create_attempted_at=None).to_json()
        link.row_number = row or link.row_number
        self.synced(link)
        queue.settle_creation_echoes(self.session, self.workspace.id, card["id"], CARD_APPEARS)
        record(self.session, self.workspace.id, side=Side.SHEETS, action=HistoryAction.CREATE_CARD, lead_id=lead_id,
               card_id=card["id"], event_id=event.id, changes={k: [None, v] for k, v in shadow.items() if v})
        self.done(event)

    def _custom_fields_of_new_card(self, link: Link, shadow: dict[str, str]) -> None:
        """A new card's custom fields, in one batched call after its creation (none when all are empty)."""
        columns = [c for c in self.mapping.custom_fields if cell_text(shadow.get(c)).strip()]
        items = self.custom_items(link.lead_id, shadow, columns) if columns else {}
        if not items:
            return
        try:
            self.write_custom_fields(link, items)
        except TrelloUnavailable:
            title = shadow.get(self.mapping.title_column, "") or link.lead_id
            for column in columns:
                self._custom_field_error(link.lead_id, column, shadow.get(column, ""),
                                         f"{column} of lead {link.lead_id} (“{title}”) was not written to the new "
                                         "card: Trello did not answer; the next full sync writes it")

    def _card_url_into(self, link: Link, shadow: dict[str, str], card: dict[str, Any]) -> None:
        """The card's short URL into the card URL column (read-only: whatever the row held)."""
        column = self.mapping.card_url_column
        url = cell_text(card.get("shortUrl"))
        if column and url and shadow.get(column) != url:
            shadow[column] = url
            mark_sheet(link, fields=[column])

    def _changed_meanwhile(self, link: Link) -> bool:
        """Whether the link's row moved on since we read it (a card appearing from an earlier,
        timed-out try, linked by another worker): one narrow read instead of reloading the row."""
        with self.session.no_autoflush:  # our own change to the row (the write ledger) is not in yet
            stored = self.session.execute(_LINK_VERSION, {"b_link": link.id}).first()
        return stored is None or stored.version != link.version or stored.card_id != link.card_id

    def _claim(self, link: Link, busy: str) -> None:
        """Insert and commit a new link before anything is created for it: its unique lead id and
        card id make a second worker's claim fail (that worker then tries again shortly)."""
        self.session.add(link)
        self._without_link.clear()
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            raise Defer(0.2, busy) from None

    def _remember_create(self, link: Link, event: Event, fields: dict[str, Any]) -> None:
        link_id = link.id
        self._without_link.clear()
        self.session.rollback()
        fresh = self.session.get(Link, link_id)
        if fresh is not None:
            fresh.card_extra = replace(CardExtra.of(fresh), create_attempted_at=now_ms(),
                                       pending_event=event.id).to_json()
            cards.note_write(fresh, {"create": True, **{k: v for k, v in fields.items() if v}}, now_ms(), now_ms())
            self.session.commit()

    def delete_duplicate(self, card_id: str, link: Link) -> None:
        try:
            self.trello().delete_card(card_id)
        except TrelloNotFound:
            pass
        record(self.session, self.workspace.id, side=HistorySide.SYSTEM, action=HistoryAction.DUPLICATE_REMOVED,
               lead_id=link.lead_id,
               card_id=card_id, message=f"a second card for {link.lead_id}, made when a slow call was tried "
                                        f"again, was deleted; the lead keeps card {link.card_id}")

    def card_appeared(self, event: Event, card_id: str, at: float, *, ours: bool) -> None:
        """A card we have no link for is on the board: link it, or add a row for it."""
        trello = self.trello()
        try:  # with its custom field items and badges where the mapping has such columns
            card = trello.get_card_details(card_id) if self.mapping.custom_fields or self.mapping.checklist_column \
                else trello.get_card(card_id)
        except TrelloNotFound:
            self.done(event, "the card no longer exists", IGNORED)
            return
        if card.get("idBoard") not in routing.board_ids(self.workspace, self.mapping) or card.get("closed"):
            self.done(event, "the card is not open on this board", IGNORED)
            return
        refused = filters.card_refused(self, card)  # outside the card filter, or another workspace's
        if refused:
            self.done(event, refused, IGNORED)
            return
        parsed = description.parse(card.get("desc") or "", self.mapping.description_columns)
        lead_id = None if filters.foreign_marker(self, parsed.lead_id) else parsed.lead_id
        if lead_id:
            owner = self.link_by_lead(lead_id)
            if owner is not None and owner.card_id is None and owner.pending_op == PendingOp.CREATE_CARD:
                owner.card_id = card_id  # our own creation, still in flight or interrupted: its card
                owner.pending_op = None
                owner.card_extra = replace(CardExtra.of(owner), create_attempted_at=None).to_json()
                self.link = owner
                self.done(event, "linked the card made for this lead")
                return
            if owner is not None and owner.card_id != card_id and event.kind == "createCard":
                # A createCard carrying a linked lead's marker is a late landing of one of our
                # timed-out calls (a person's copy is a copyCard): remove the extra card.
                self.delete_duplicate(card_id, owner)
                self.done(event, "removed a duplicate card of a timed-out call")
                return
            if owner is not None:
                lead_id = None  # a person's copy of a linked card: a new lead with its own id
        status = self.mapping.status_for_list(card["idList"])
        if status is None:
            raise SyncError("the card's Trello list has no status in this workspace's mapping; no row was added")
        lead_id = lead_id or new_lead_id()
        values = {self.mapping.title_column: cell_text(card.get("name", "")), self.mapping.status_column: status}
        for column in self.mapping.description_columns:
            values[column] = parsed.fields.get(column, "")
        values.update(trello_values(self.mapping, card))
        values.update(customfields.card_values(trello, self.workspace.id, self.workspace.trello_board_id,
                                               self.mapping, card))
        values.update(self._people_values(card))
        preamble = parsed.preamble if parsed.fields or parsed.lead_id else (card.get("desc") or "").strip()
        link = Link(workspace_id=self.workspace.id, lead_id=lead_id, card_id=card_id, pending_op=PendingOp.APPEND_ROW,
                    sync_state=LinkSyncState.PENDING, shadow={}, field_times={},
                    card_extra=CardExtra(preamble=preamble, colour_labels=labels.colour_only(card)).to_json())
        self._claim(link, "another worker is adding this card's row")
        self.link = link
        desc = description.render(values, self.mapping.description_columns, lead_id, preamble)
        landed = trello_time_ms(card, at)
        if desc != (card.get("desc") or ""):
            written = cards.write_card(trello, link, desc=desc)
            self.ctx.outbound("trello", event.id)
            landed = trello_time_ms(written, now_ms())
        link.shadow = values
        link.field_times = dump_clocks({c: FieldClock(t=at, s=Side.TRELLO.value, tt=at, wt=landed) for c in values})
        mark_sheet(link, append=True, events=[event.id])
        record(self.session, self.workspace.id, side=Side.TRELLO, action=HistoryAction.APPEND_ROW, lead_id=lead_id,
               card_id=card_id, event_id=event.id, changes={k: [None, v] for k, v in values.items() if v})
        self.done(event)

    def _people_values(self, card: dict[str, Any]) -> dict[str, str]:
        """A card's members and latest comment, where the mapping has those columns (the comment:
        one more read, only for a card that has comments)."""
        values: dict[str, str] = {}
        if self.mapping.members_column:
            values[self.mapping.members_column] = self.member_resolver().of_ids(list(card.get("idMembers") or []))
        if self.mapping.comment_column:
            raw = card.get("badges")
            badges: dict[str, Any] = raw if isinstance(raw, dict) else {}
            latest = self.trello().latest_comment(card["id"]) if badges.get("comments", 1) else None
            values[self.mapping.comment_column] = comment_text(latest)
        return values

    def card_gone(self, link: Link, reason: str, at: float, event: Event) -> None:
        """The card was archived, deleted or moved off the board: the workspace's policy; never
        a deleted row. With "set status", that is a Trello change of the status, merged like any."""
        if self.workspace.card_removed_policy != CardPolicy.SET_STATUS:
            link.status = UNLINKED
            link.card_extra = replace(CardExtra.of(link), removed=reason).to_json()  # a card back: linked again
            record(self.session, self.workspace.id, side=Side.TRELLO, action=HistoryAction.UNLINK, lead_id=link.lead_id,
                   card_id=link.card_id, event_id=event.id, message=f"card {reason}: lead unlinked, row kept")
            self.done(event)
            return
        status = self.workspace.card_removed_status
        link.status = CARD_REMOVED
        link.card_extra = replace(CardExtra.of(link), removed=reason).to_json()
        record(self.session, self.workspace.id, side=Side.TRELLO, action=HistoryAction.CARD_REMOVED,
               lead_id=link.lead_id, card_id=link.card_id, event_id=event.id,
               message=f"card {reason}: status set to {status!r}; setting a listed status again brings the card back")
        self.add_changes(event, [Change(self.mapping.status_column, status, at, Side.TRELLO, event.id)])

    def card_reopened(self, link: Link, list_id: str | None, at: float, event: Event) -> None:
        """An archived card sent back to the board: linked again, its status from its list."""
        link.status = LINKED
        link.card_extra = replace(CardExtra.of(link), removed=None).to_json()
        status = cards.status_for_list(self.mapping, list_id, *self.sheet_statuses)
        record(self.session, self.workspace.id, side=Side.TRELLO, action=HistoryAction.CARD_REOPENED,
               lead_id=link.lead_id, card_id=link.card_id, event_id=event.id, message="the card is back on the board")
        if status is not None:
            self.add_changes(event, [Change(self.mapping.status_column, status, at, Side.TRELLO, event.id)])
        else:
            self.done(event)

    def remove_row(self, event: Event, link: Link) -> None:
        """The lead's row was deleted: archive its card or unlink it, per the workspace's policy."""
        if self.workspace.row_removed_policy == RowPolicy.ARCHIVE:
            try:
                cards.write_card(self.trello(), link, closed=True)
                self.ctx.outbound("trello", event.id)
            except TrelloNotFound:
                pass
            link.status = ROW_REMOVED
            action, message = HistoryAction.ARCHIVE_CARD, "row deleted: card archived"
        else:
            link.status = UNLINKED
            action, message = HistoryAction.UNLINK, "row deleted: card unlinked"
        link.sheet_pending = link.sheet_marked_at = None  # no row to write to
        # Changes of this group taken in before the row was deleted are not passed on: the merge would
        # otherwise bring the card back for a row that is gone (as a row leaving the filter does).
        for earlier in self.merged:
            self.outcome.setdefault(earlier.id, ("done", "the row was then deleted"))
        self.merged.clear()
        self.changes.clear()
        self.landings.clear()
        self.synced(link)
        record(self.session, self.workspace.id, side=Side.SHEETS, action=action, lead_id=link.lead_id,
               card_id=link.card_id, event_id=event.id, message=message)
        self.done(event)

    def assign_lead_id(self, event: Event, data: dict[str, Any]) -> tuple[str, bool]:
        """A row the add-on gave no id: choose one now and keep it in the event (a retry reuses
        it); returns (lead id, whether the row still needs it written)."""
        lead_id = data.get("lead_id") or ""
        if not lead_id:
            lead_id = data["lead_id"] = new_lead_id()
            data["write_lead_id"] = True
            event.payload = json.dumps(data, separators=(",", ":"))
            self._without_link.clear()
            self.session.commit()
        return lead_id, bool(data.get("write_lead_id"))


def _when(ms: float) -> str:
    from datetime import datetime, timezone

    if not ms:
        return "at an unknown time"
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
