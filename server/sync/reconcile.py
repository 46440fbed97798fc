"""Reconciliation (and first sync): read both sides, compare with links and shadows, repair.

Webhooks miss things: edits made by scripts or the API fire no Apps Script trigger, and
deliveries get lost. This job reads the sheet in pages of rows and the board in pages of up to
1000 cards, then, per lead:

- linked, both sides present: each field is compared with its shadow; a side that differs is
  the change and is copied to the other side; both differing is a conflict, which the sheet
  wins (reconciliation has no per-cell timestamps from Google) and which is recorded;
- a row without a link is matched to a card by the card's ``Lead ID:`` marker, then by email,
  and otherwise gets a new card; a card without a link is matched likewise or gets a new row;
- a linked row or card that disappeared gets the workspace's removal policy.

Writes are batched: one ``values.batchUpdate`` per few thousand cells, one ``values.append`` per
few thousand rows, one Trello call per card that really changes. A pass that finds nothing to
do writes nothing. Creations claim their link first (``pending_op``), so an interrupted run
resumes without duplicates: the next run finds the created card by its marker. Run by the
worker (``queue_card_writes``), the card creations and updates are queued as bulk-lane events,
paced by the worker with everyone else's work, so one workspace's first sync of thousands of
rows never holds up another's edits; run from the command line, it makes them itself.

Leads with events still queued or being applied are left to those events (the events are
newer than anything this pass reads, and both writing the same link would be a race).

Memory: rows and cards are held as small records (a row's synced values; a card's few fields and
raw description, parsed when compared) and links are streamed in chunks, so a link that needs no
change is let go as soon as it is compared; only what must be written is kept until it is.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import partial
from itertools import chain
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Event, Link, Workspace
from ..models.card_extra import CardExtra
from ..models.enums import CardPolicy, HistoryAction, HistorySide, LinkSyncState, Outcome, PendingOp, RowPolicy
from ..models.sync import CARD_REMOVED, LINKED, PENDING, PROCESSING, ROW_REMOVED, UNLINKED, Lane
from ..models.sync_progress import SyncProgress
from ..sheets.client import SheetTab, column_letter
from ..trello.cardfields import CustomFieldsUnavailable
from ..trello.errors import TrelloBadRequest
from . import customfields, description, filters, labels, members, routing
from .cards import (
    card_fields,
    comment_text,
    now_ms,
    revive_card,
    trello_time_ms,
    trello_values,
    wants_card_back,
)
from .history import record
from .inbox import new_lead_id
from .mapping import Direction, Mapping, cell_text, done_to_trello, due_from_trello, due_to_trello
from .merge import FieldClock, Side, dump_clocks, load_clocks
from .providers import Providers
from .sheet_writer import HeaderCache, SheetLayoutError

log = structlog.get_logger(__name__)

Progress = Callable[[str, int, int], None]
CARD_READ_FIELDS = "id,name,desc,idList,idBoard,due,start,dueComplete,shortUrl,labels,closed"
LINKS_PER_FETCH = 1000
COMMIT_EVERY = 50
CELLS_PER_WRITE = 5000
ROWS_PER_APPEND = 2000
SAMPLES_KEPT = 10  # names kept per kind of change, for the preview


@dataclass(slots=True)
class SheetLead:
    """A sheet row as the comparison needs it.

    ``packed`` is the JSON list of the synced columns' values, in order (then those of the row
    filter's own columns, ``filters.ReconcileFilters``), then the email cell: one
    string per row instead of one object per cell roughly halves what a large sheet takes.
    """

    row: int
    lead_id: str
    packed: str

    @classmethod
    def pack(cls, row: int, lead_id: str, cells: list[str], email: str) -> SheetLead:
        return cls(row, lead_id, json.dumps([*cells, email], ensure_ascii=False, separators=(",", ":")))

    @property
    def cells(self) -> list[str]:
        """The synced columns' values, in ``Mapping.synced_columns`` order."""
        cells: list[str] = json.loads(self.packed)[:-1]
        return cells

    @property
    def email(self) -> str:
        return str(json.loads(self.packed)[-1]).strip().casefold()


@dataclass(slots=True)
class CardLead:
    """A card as the comparison needs it; its description is parsed only when it is used."""

    id: str
    list_id: str
    name: str
    desc: str
    due: str | None
    closed: bool
    marker: str | None
    own: dict[str, str] | None = None  # the mapped values of its start, "done" and URL (None: no such column)
    colours: tuple[str, ...] = ()  # its labels without a name
    label_names: tuple[str, ...] | None = None  # its labels' names, read only for a card filter by label


@dataclass
class Plan:
    """What a pass did (or, dry-run, would do)."""

    cards_to_create: int = 0
    rows_to_append: int = 0
    links_to_make: int = 0
    cards_to_update: int = 0
    rows_to_update: int = 0
    removed: int = 0
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # changes of one-way fields not passed on
    rows_read: int = 0
    cards_read: int = 0
    # For the wizard's preview: per kind of change (the counters' names), the first leads by name;
    # and values the sync cannot use (an unparseable due date). Not part of ``as_dict``.
    samples: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def note(self, kind: str, name: Callable[[], str]) -> None:
        """Keep ``name()`` among the first names of ``kind`` (called only while there is room)."""
        names = self.samples.setdefault(kind, [])
        if len(names) < SAMPLES_KEPT:
            names.append(name())

    def as_dict(self) -> dict[str, Any]:
        return {"cards_to_create": self.cards_to_create, "rows_to_append": self.rows_to_append,
                "links_to_make": self.links_to_make, "cards_to_update": self.cards_to_update,
                "rows_to_update": self.rows_to_update, "removed": self.removed,
                "conflicts": len(self.conflicts), "errors": len(self.errors), "rows_read": self.rows_read,
                "cards_read": self.cards_read}

    @property
    def nothing_to_do(self) -> bool:
        return not (self.cards_to_create or self.rows_to_append or self.links_to_make or self.cards_to_update
                    or self.rows_to_update or self.removed)


class Reconciler:
    def __init__(self, session: Session, workspace: Workspace, providers: Providers, headers: HeaderCache,
                 *, dry_run: bool = False, progress: Progress | None = None, page_rows: int = 5000,
                 queue_card_writes: bool = False, source_event: int | None = None) -> None:
        self.session = session
        self.workspace = workspace
        self.mapping = Mapping.of(workspace)
        self.columns = tuple(self.mapping.synced_columns)
        self.providers = providers
        self.headers = headers
        self.dry_run = dry_run
        self.progress = progress
        self.page_rows = page_rows
        self.queue_card_writes = queue_card_writes
        self.source_event = source_event
        self.plan = Plan()
        self._named: set[str] = set()  # the card creations this pass names (``_name_creation``)
        self.cells: list[tuple[int, int, Any]] = []
        self.appends: list[tuple[Link, dict[str, str]]] = []
        self.card_updates: list[tuple[str, dict[str, Any]]] = []
        self.card_creates: list[tuple[Link, dict[str, Any], dict[str, str]]] = []
        # (link, new shadow, row, columns this pass writes into the sheet)
        self.shadow_updates: list[tuple[Link, dict[str, Any], int | None, list[str]]] = []
        self.pending_status: list[tuple[Link, str]] = []
        self.revives: list[tuple[Link, SheetLead]] = []
        self.now_ms = datetime.now(timezone.utc).timestamp() * 1000
        self.busy: set[str] = set()  # order keys with events queued or being applied
        self.linked_leads: set[str] = set()
        self.filters = filters.ReconcileFilters(self)  # which rows and cards this workspace syncs

    # ------------------------------------------------------------------ reading

    def run(self) -> Plan:
        self.tab: SheetTab = self.providers.sheet(self.session, self.workspace)
        self.trello = self.providers.trello(self.session, self.workspace)
        self._set_progress("reading sheet", 0, 0)
        self.header = self.tab.header(self.workspace.header_row)
        self.headers.put(self.workspace.id, self.header)
        if self.workspace.lead_id_column not in self.header:
            raise SheetLayoutError(f"the sheet has no {self.workspace.lead_id_column!r} column")
        missing = [c for c in self.mapping.synced_columns if c not in self.header]
        if missing:
            raise SheetLayoutError(f"the sheet has no column(s) {', '.join(map(repr, missing))}")
        self.email_column = next((c for c in self.header if c.strip().casefold() in ("email", "e-mail")), None)
        rows, unidentified = self._read_rows()
        self._set_progress("reading board", 0, 0)
        cards = self._read_cards(rows)
        self._set_progress("comparing", 0, len(rows) + len(cards))
        self.busy = self._busy_keys()
        self._compare(rows, unidentified, cards)
        if not self.dry_run:
            self._apply()
            self.workspace.last_reconciled_at = datetime.now(timezone.utc)
            self._record_summary()
        self._set_progress("done", 1, 1, finished=True)
        self.session.commit()
        log.info("reconciled", workspace_id=self.workspace.id, dry_run=self.dry_run, **self.plan.as_dict())
        return self.plan

    def _read_rows(self) -> tuple[dict[str, SheetLead], list[SheetLead]]:
        positions = [self.header.index(c) for c in self.columns] + self.filters.positions(self.header)
        id_index = self.header.index(self.workspace.lead_id_column)
        email_index = self.header.index(self.email_column) if self.email_column else None
        last = column_letter(len(self.header))
        rows: dict[str, SheetLead] = {}
        unidentified: list[SheetLead] = []
        start = self.workspace.header_row + 1
        row_count, _ = self.tab.grid_size()
        # The metadata that gave the grid size also names the tab's numeric id (its URL's gid):
        # learn it at no extra call, so links open the right tab.
        if self.tab.sheet_id is not None and self.tab.sheet_id != self.workspace.sheet_gid:
            self.workspace.sheet_gid = self.tab.sheet_id
        while start <= row_count:
            page = self.tab.get(f"A{start}:{last}{min(row_count, start + self.page_rows - 1)}")
            for offset, cells in enumerate(page):
                values = [cell_text(cells[i]) if 0 <= i < len(cells) else "" for i in positions]
                if not any(v.strip() for v in values[:len(self.columns)]):
                    continue
                lead_id = cell_text(cells[id_index]).strip() if id_index < len(cells) else ""
                email = cell_text(cells[email_index]) if email_index is not None and email_index < len(cells) else ""
                lead = SheetLead.pack(start + offset, lead_id, values, email)
                if lead_id and lead_id not in rows:
                    rows[lead_id] = lead
                else:  # no id, or a copied row that repeats another row's id: a new lead
                    lead.lead_id = ""
                    unidentified.append(lead)
            self.plan.rows_read += len(page)
            self._set_progress("reading sheet", self.plan.rows_read, row_count - self.workspace.header_row)
            if not page:  # nothing in a whole page: the data has ended
                break
            start += self.page_rows
        return rows, unidentified

    def _read_cards(self, rows: dict[str, SheetLead]) -> dict[str, CardLead]:
        cards: dict[str, CardLead] = {}
        commented: set[str] = set()  # cards with comments (read below, where the mapping has a comment column)
        for board in routing.board_ids(self.workspace, self.mapping):  # every routed board's cards
            self._read_board(board, rows, cards, commented)
        if commented and self.mapping.comment_column:
            for card_id, text in self._latest_comments(commented).items():
                read = cards[card_id].own
                if read is not None:
                    read[self.mapping.comment_column] = text
        return cards

    def _read_board(self, board: str, rows: dict[str, SheetLead], cards: dict[str, CardLead],
                    commented: set[str]) -> None:
        fields = CARD_READ_FIELDS + (",idMembers" if self.mapping.members_column else "") + \
            (",badges" if self.mapping.checklist_column or self.mapping.comment_column else "")
        pages = (self.trello.iter_board_card_details(board, fields=fields) if self.mapping.custom_fields
                 else self.trello.iter_board_cards(board, fields=fields))  # customFieldItems=true
        for page in pages:
            for card in page:
                desc = card.get("desc") or ""
                marker = description.find_lead_id(desc)
                if marker in rows:  # share the row's copy of the lead id (50k copies are 3 MiB)
                    marker = rows[marker].lead_id
                # a board has few lists: one shared copy of each list id, not one per card
                own = {k: v for k, v in trello_values(self.mapping, card).items()
                       if k != self.mapping.due_column}
                own.update(customfields.card_values(self.trello, self.workspace.id, board, self.mapping, card))
                if self.mapping.members_column:
                    own[self.mapping.members_column] = self._members().of_ids(list(card.get("idMembers") or []))
                if self.mapping.comment_column:
                    if ((card.get("badges") or {}).get("comments") or 0) > 0:
                        commented.add(card["id"])
                    else:
                        own[self.mapping.comment_column] = ""
                cards[card["id"]] = CardLead(card["id"], sys.intern(card["idList"]), card.get("name", ""), desc,
                                             card.get("due"), bool(card.get("closed")), marker, own or None,
                                             labels.colour_only(card),
                                             tuple(filters.label_names(card)) if self.mapping.card_filter.labels
                                             else None)
            self.plan.cards_read += len(page)
            self._set_progress("reading board", self.plan.cards_read, 0)

    def _latest_comments(self, card_ids: set[str]) -> dict[str, str]:
        """The latest comment of each of these cards: the board's comments, newest first, a page of
        1000 at a time until every card is seen (a card not seen there: its own newest comment)."""
        found: dict[str, str] = {}
        before: str | None = None
        while len(found) < len(card_ids):
            page = self.trello.board_comments(self.workspace.trello_board_id, before=before)
            for action in page:
                card_id = str((((action.get("data") or {}).get("card")) or {}).get("id") or "")
                if card_id in card_ids and card_id not in found:
                    found[card_id] = comment_text(action)
            if len(page) < 1000:
                break
            before = page[-1]["id"]
        for card_id in card_ids - set(found):
            found[card_id] = comment_text(self.trello.latest_comment(card_id))
        return found

    def _members(self) -> members.Resolver:
        return members.Resolver(self.trello, self.workspace.id, self.workspace.trello_board_id,
                                self.mapping.member_emails)

    # ------------------------------------------------------------------ comparing

    def _busy_keys(self) -> set[str]:
        """Order keys of the workspace's live and bulk events that wait or run."""
        return set(self.session.scalars(select(Event.order_key).distinct().where(
            Event.workspace_id == self.workspace.id, Event.state.in_((PENDING, PROCESSING)),
            Event.lane.in_((int(Lane.LIVE), int(Lane.BULK))))).all())

    def _links(self) -> Iterator[Link]:
        """The links in chunks; the session holds them weakly, so one left unchanged is freed once compared."""
        query = select(Link).where(Link.workspace_id == self.workspace.id).order_by(Link.id)
        yield from self.session.scalars(query.execution_options(yield_per=LINKS_PER_FETCH))

    def _values(self, lead: SheetLead) -> dict[str, str]:
        return dict(zip(self.columns, lead.cells, strict=False))

    def _parse(self, card: CardLead) -> description.ParsedDescription:
        return description.parse(card.desc, self.mapping.description_columns)

    def _card_email(self, card: CardLead) -> str:
        if self.email_column not in self.mapping.description_columns:
            return ""
        return self._parse(card).fields.get(self.email_column, "").strip().casefold()

    def _compare(self, rows: dict[str, SheetLead], unidentified: list[SheetLead], cards: dict[str, CardLead]) -> None:
        by_marker: dict[str, str] = {}
        for marked_id, marked in cards.items():
            if marked.marker and marked.marker not in by_marker:
                by_marker[marked.marker] = marked_id
        card_id: str | None
        card: CardLead | None
        for link in self._links():
            self.linked_leads.add(link.lead_id)
            row = rows.pop(link.lead_id, None)
            card_id = link.card_id
            if f"lead:{link.lead_id}" in self.busy or (card_id and f"card:{card_id}" in self.busy) \
                    or link.sheet_marked_at is not None:
                if card_id:
                    cards.pop(card_id, None)  # its events, or its sheet writes, will do
                continue
            if card_id is None and link.lead_id in by_marker:  # created before an interruption
                card_id = by_marker[link.lead_id]
                self.plan.links_to_make += 1
                if not self.dry_run:
                    link.card_id = card_id
                    link.pending_op = None
            card = cards.pop(card_id, None) if card_id else None
            if self.filters.step(link, row, card):  # left or entered the workspace's filters
                continue
            if link.status == CARD_REMOVED and row is not None and wants_card_back(
                    self.workspace, self.mapping, self._values(row).get(self.mapping.status_column, "")):
                self.plan.cards_to_create += 1
                self.plan.note("cards_to_create", partial(self._lead_words, row, link.lead_id))
                if not self.dry_run:
                    self.revives.append((link, row))
                continue
            if link.status in (UNLINKED, ROW_REMOVED, CARD_REMOVED):
                continue
            if row is None and link.pending_op == PendingOp.APPEND_ROW and card is not None:
                self._append_row(link, card)
                continue
            if card_id is None:
                if row is not None:
                    self._create_card(row, link)
                continue
            if row is None and card is None:
                self._unlink(link, "both the row and the card are gone")
            elif row is None:
                self._row_gone(link)
            elif card is None:
                self._card_gone(link)
            else:
                self._compare_pair(link, row, card)
        refused_markers = self.filters.drop_refused_cards(cards)  # other workspaces' cards, or outside
        by_email: dict[str, str] = {}
        for unmarked_id, unmarked in cards.items():
            email = "" if unmarked.marker else self._card_email(unmarked)
            if email:
                by_email[email] = unmarked_id
        for lead in chain(rows.values(), unidentified):
            if self.filters.refusal(lead) or (lead.lead_id and lead.lead_id in refused_markers):
                self.filters.set_aside(lead, by_marker, by_email, cards)  # no card, and its card no row
                continue
            card_id = by_marker.get(lead.lead_id) if lead.lead_id else None
            if card_id not in cards:
                email = lead.email
                card_id = by_email.pop(email, None) if email else None
            if card_id and card_id in cards:
                self._link_pair(lead, cards.pop(card_id))
            else:
                self._create_card(lead, None)
        for card in cards.values():
            if card.closed or f"card:{card.id}" in self.busy:
                continue
            self._append_row(None, card)

    def _card_values(self, card: CardLead, parsed: description.ParsedDescription) -> dict[str, str]:
        status = self.mapping.status_for_list(card.list_id)
        values = {self.mapping.title_column: card.name, self.mapping.status_column: status or ""}
        for column in self.mapping.description_columns:
            values[column] = parsed.fields.get(column, "")
        if self.mapping.due_column:
            values[self.mapping.due_column] = due_from_trello(card.due)
        values.update(card.own or {})
        return values

    def _compare_pair(self, link: Link, row: SheetLead, card: CardLead) -> None:
        parsed = self._parse(card)
        if self.mapping.labels_column and CardExtra.of(link).colour_labels != card.colours and not self.dry_run:
            link.card_extra = replace(CardExtra.of(link), colour_labels=card.colours).to_json()  # as the card has them
        shadow = dict(link.shadow or {})
        new_shadow = dict(shadow)
        card_values = self._card_values(card, parsed)
        for column in self.mapping.custom_fields:  # a field the board lost: the card is taken to agree
            card_values.setdefault(column, cell_text(shadow.get(column, "")))
        row_cells: dict[str, str] = {}
        for column, sheet_value in zip(self.columns, row.cells, strict=False):
            old = cell_text(shadow.get(column, ""))
            sheet_same = sheet_value == old
            if self.mapping.direction(column) is not Direction.BOTH:
                self._one_way_pair(link, column, sheet_value, card_values[column], old, new_shadow, row_cells,
                                   missing=column in self.mapping.description_columns and column not in parsed.fields)
                continue
            if column == self.mapping.status_column:  # on the board the routing column names
                card_same = routing.status_matches(self.mapping, old, shadow, card.list_id)
                row_values = dict(zip(self.columns, row.cells, strict=False))
                agree = routing.status_matches(self.mapping, sheet_value, row_values, card.list_id)
            elif column in self.mapping.description_columns and column not in parsed.fields:
                card_same, agree = True, False  # the line was removed from the card: not a change
            else:
                card_same = self.same_on_card(column, card_values[column], old)
                agree = self.same_on_card(column, card_values[column], sheet_value)
            if sheet_same and card_same:
                continue
            if not sheet_same:
                if not card_same and not agree:
                    self._conflict(link, column, sheet_value, card_values[column])
                new_shadow[column] = sheet_value
            else:
                value = card_values[column]
                if column == self.mapping.status_column and not value:
                    self.plan.errors.append(f"{link.lead_id}: the card's list has no status")
                    continue
                new_shadow[column] = value
                row_cells[column] = value
        if self.mapping.due_column:
            self._check_due(row, self._values(row))
        self._fix_card(link.lead_id, card, parsed.preamble, new_shadow)
        if row_cells:
            self.plan.rows_to_update += 1
            self.plan.note("rows_to_update", lambda: self._lead_words(row, link.lead_id))
            for column, value in row_cells.items():
                self.cells.append((row.row, self.header.index(column) + 1, value))
        if new_shadow != shadow or link.row_number != row.row:
            self.shadow_updates.append((link, new_shadow, row.row, list(row_cells)))

    def _one_way_pair(self, link: Link, column: str, sheet_value: str, card_value: str, old: str,
                      new_shadow: dict[str, Any], row_cells: dict[str, str], *, missing: bool) -> None:
        """A one-way column: the side it syncs to is brought to the value of the side it syncs from;
        a change made on the receiving side is recorded as not passed on (never a conflict)."""
        card_same = missing or self.same_on_card(column, card_value, old)
        if self.mapping.direction(column) is Direction.TO_TRELLO:
            if sheet_value != old:
                new_shadow[column] = sheet_value  # ``_fix_card`` gives it to the card
            elif not card_same:
                self._one_way(link, column, card_value, Side.TRELLO, "the card was given the sheet's value again")
            return
        if not card_same:  # Trello → sheet: the card's value goes into the row
            new_shadow[column] = card_value
            if sheet_value != card_value:
                row_cells[column] = card_value
        elif sheet_value != old:
            self._one_way(link, column, sheet_value, Side.SHEETS, "the sheet was given the card's value again")
            row_cells[column] = old

    def same_on_card(self, column: str, card_value: str, old: str) -> bool:
        """Whether the card's value of ``column`` is ``old`` (a start date or "done" as Trello keeps it)."""
        if column == self.mapping.start_column:
            return due_to_trello(card_value) == due_to_trello(old)
        if column == self.mapping.due_done_column:
            return done_to_trello(card_value) == done_to_trello(old)
        if column == self.mapping.labels_column:  # the card shows the names the board has
            return labels.key(card_value) == self._known_labels(old)
        if column == self.mapping.members_column:  # the same board members, however the cell names them
            return self._members().key(card_value) == self._members().key(old)
        if column in self.mapping.custom_fields:  # as the field keeps it: 3 is 3.0, yes is TRUE
            found = self._custom_definitions().get(self.mapping.custom_fields[column])
            return bool(customfields.key(found, card_value) == customfields.key(found, old))
        if column == self.mapping.route_column:  # the board the card is on
            return routing.same_board(self.mapping, card_value, old)
        return card_value == old

    def _custom_definitions(self) -> customfields.Definitions:
        return customfields.definitions(self.trello, self.workspace.id, self.workspace.trello_board_id)

    def _custom_items(self, lead_id: str, card: CardLead, shadow: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The batch items that give the card the shadow's custom field values where they differ; a
        value a field cannot take is said (the card keeps its value)."""
        items: dict[str, dict[str, Any]] = {}
        by_id = self._custom_definitions()
        for column, field_id in self.mapping.custom_fields.items():
            found = by_id.get(field_id)
            if found is None or column not in (card.own or {}) or self.same_on_card(column, (card.own or {})[column],
                                                                                   cell_text(shadow.get(column, ""))):
                continue
            try:
                items[field_id] = customfields.to_item(found, shadow.get(column))
            except customfields.NotTaken as exc:
                self._custom_field_error(lead_id, f"{column} of lead {lead_id}: {exc}")
        return items

    def _custom_field_error(self, lead_id: str, words: str) -> None:
        if len(self.plan.warnings) < SAMPLES_KEPT:
            self.plan.warnings.append(words)
        if not self.dry_run:
            record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.ERROR,
                   lead_id=lead_id, outcome=Outcome.ERROR, message=words)

    def _known_labels(self, value: Any, board: str | None = None) -> frozenset[str]:
        """The names of a cell the card can show: those the board has (every one where the mapping
        makes the labels the board lacks)."""
        return labels.known_key(self.trello, self.workspace.id, board or self.workspace.trello_board_id, value,
                                make=self.mapping.create_labels)

    def _label_ids(self, lead_id: str, value: Any, board: str | None = None) -> list[str]:
        """The board's ids of a cell's label names (``board``: the card's, by default the
        workspace's); a name the board lacks is said (not invented), or made where the mapping says
        ``create_labels`` (a dry run makes nothing)."""
        ids, unknown = labels.resolve(self.trello, self.workspace.id, board or self.workspace.trello_board_id, value,
                                      make=self.mapping.create_labels and not self.dry_run)
        for name in unknown:
            words = (f"“{name}” in {self.mapping.labels_column} of lead {lead_id} is not a label on the board: "
                     "it was not added to the card")
            if len(self.plan.warnings) < SAMPLES_KEPT:
                self.plan.warnings.append(words)
            if not self.dry_run:
                record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.UNKNOWN_LABEL,
                       lead_id=lead_id, outcome=Outcome.ERROR, message=words)
        return ids

    def _member_ids(self, lead_id: str, value: Any) -> list[str]:
        """The board members a cell's names mean; a name no member answers to is said (not guessed)."""
        ids, unknown = self._members().resolve(value)
        for name in unknown:
            words = (f"“{name}” in {self.mapping.members_column} of lead {lead_id} is not a member of the board: "
                     "nobody was added to the card for it")
            if len(self.plan.warnings) < SAMPLES_KEPT:
                self.plan.warnings.append(words)
            if not self.dry_run:
                record(self.session, self.workspace.id, side=HistorySide.RECONCILE,
                       action=HistoryAction.UNKNOWN_MEMBER, lead_id=lead_id, outcome=Outcome.ERROR, message=words)
        return ids

    def _one_way(self, link: Link, column: str, value: str, side: Side, then: str) -> None:
        where, way = ("in the sheet", "Trello → sheet") if side is Side.SHEETS else ("on the card", "sheet → Trello")
        message = f"{column} changed {where} to {value!r} was not passed on: it syncs {way} only; {then}"
        self.plan.skipped.append(f"{link.lead_id}: {message}")
        if not self.dry_run:
            record(self.session, self.workspace.id, side=side.value, action=HistoryAction.ONE_WAY,
                   lead_id=link.lead_id, card_id=link.card_id, outcome=Outcome.SKIPPED,
                   changes={column: [value, None]}, message=message)

    def _fix_card(self, lead_id: str, card: CardLead, preamble: str, shadow: dict[str, Any]) -> None:
        """Send the card only the fields that differ from what the shadow says it should show."""
        desired = card_fields(self.mapping, lead_id, shadow, preamble)
        if desired["idList"] is None:
            desired.pop("idList")
            self.plan.errors.append(f"{lead_id}: status {shadow.get(self.mapping.status_column)!r} has no list")
        actual: dict[str, Any] = {"name": card.name, "desc": card.desc, "idList": card.list_id,
                                  "due": due_to_trello(due_from_trello(card.due))}
        if self.mapping.start_column:
            actual["start"] = due_to_trello((card.own or {}).get(self.mapping.start_column))
        if self.mapping.due_done_column:
            actual["dueComplete"] = done_to_trello((card.own or {}).get(self.mapping.due_done_column))
        update = {k: v for k, v in desired.items() if actual.get(k) != v}
        routing.with_board(self.workspace, self.mapping, update)
        column = self.mapping.labels_column
        board = routing.board_of_list(self.workspace, self.mapping, desired.get("idList") or card.list_id)
        if column and labels.key((card.own or {}).get(column)) != self._known_labels(shadow.get(column), board):
            # the card's colour-only labels have no words in the column: kept
            update["idLabels"] = list(dict.fromkeys([*self._label_ids(lead_id, shadow.get(column), board),
                                                     *card.colours]))
        column = self.mapping.members_column
        if column and self._members().key((card.own or {}).get(column)) != self._members().key(shadow.get(column)):
            update["idMembers"] = self._member_ids(lead_id, shadow.get(column))
        if self.mapping.custom_fields and (items := self._custom_items(lead_id, card, shadow)):
            update["customFields"] = items  # their own batched call, after the card's PUT
        if "desc" in update and self._same_desc(card.desc, lead_id, shadow, preamble):
            update.pop("desc")  # the same values in another layout (e.g. written before the block format)
        if update:
            self.plan.cards_to_update += 1
            self.plan.note("cards_to_update", lambda: f"card “{card.name}”")
            self.card_updates.append((card.id, update))

    def _new_card_custom_fields(self, link: Link, card_id: str, values: dict[str, str]) -> None:
        """A card made by the pass gets its row's non-empty custom fields in one batch call."""
        if not self.mapping.custom_fields:
            return
        by_id = self._custom_definitions()
        items: dict[str, dict[str, Any]] = {}
        for column, field_id in self.mapping.custom_fields.items():
            found = by_id.get(field_id)
            if found is None or not cell_text(values.get(column, "")).strip():
                continue
            try:
                items[field_id] = customfields.to_item(found, values.get(column))
            except customfields.NotTaken as exc:
                self._custom_field_error(link.lead_id, f"{column} of lead {link.lead_id}: {exc}")
        if items:
            self._set_custom_fields(card_id, items)

    def _set_custom_fields(self, card_id: str, items: dict[str, dict[str, Any]]) -> None:
        try:
            self.trello.set_card_custom_fields(card_id, list(items.values()))
        except TrelloBadRequest as exc:
            link = self.session.scalars(select(Link).where(Link.workspace_id == self.workspace.id,
                                                           Link.card_id == card_id)).first()
            lead_id = link.lead_id if link is not None else card_id
            self._custom_field_error(lead_id, f"the custom fields of lead {lead_id} were not written to its card: "
                                              + ("Custom Fields are not available on this Trello board (they need a "
                                                 "paid Trello plan or the Custom Fields Power-Up)"
                                                 if isinstance(exc, CustomFieldsUnavailable) else str(exc)))

    def _same_desc(self, desc: str, lead_id: str, shadow: dict[str, Any], preamble: str) -> bool:
        parsed = description.parse(desc, self.mapping.description_columns)
        return (parsed.lead_id == lead_id and parsed.preamble.strip() == (preamble or "").strip()
                and all(parsed.fields.get(c) == cell_text(shadow.get(c, "")) for c in self.mapping.description_columns))

    def _link_pair(self, lead: SheetLead, card: CardLead) -> None:
        """First sync: a row and a card that belong together (marker or email)."""
        self.plan.links_to_make += 1
        self.plan.note("links_to_make", lambda: f"{self._lead_words(lead)} ↔ card “{card.name}”")
        self._check_due(lead, self._values(lead))
        lead_id = lead.lead_id or card.marker or new_lead_id()
        if not lead.lead_id:
            self.cells.append((lead.row, self.header.index(self.workspace.lead_id_column) + 1, lead_id))
        shadow = self._values(lead)  # the sheet wins where they differ, but in the columns that sync Trello → sheet
        parsed = self._parse(card)
        preamble = parsed.preamble
        card_values = self._card_values(card, parsed)
        written: list[str] = []
        for column in self.columns:
            if self.mapping.direction(column) is Direction.TO_SHEET and shadow.get(column) != card_values[column]:
                shadow[column] = card_values[column]
                self.cells.append((lead.row, self.header.index(column) + 1, card_values[column]))
                written.append(column)
        self._fix_card(lead_id, card, preamble, shadow)
        if self.dry_run:
            return
        link = Link(workspace_id=self.workspace.id, lead_id=lead_id, card_id=card.id, shadow={},
                    field_times={}, card_extra=CardExtra(preamble=preamble, colour_labels=card.colours).to_json(),
                    row_number=lead.row)
        self.session.add(link)
        self.shadow_updates.append((link, shadow, lead.row, written))

    def _lead_words(self, lead: SheetLead, lead_id: str = "") -> str:
        """A row as the preview names it: its number and title."""
        title = self._values(lead).get(self.mapping.title_column, "").strip()
        return f"row {lead.row} “{title or lead_id or lead.lead_id}”"

    def _check_due(self, lead: SheetLead, values: dict[str, str]) -> None:
        """Note a due date the sync cannot read (it would be dropped from the card)."""
        column = self.mapping.due_column
        if not column or len(self.plan.warnings) >= SAMPLES_KEPT:
            return
        value = (values.get(column) or "").strip()
        if value and due_to_trello(value) is None:
            self.plan.warnings.append(f"{self._lead_words(lead)}: “{value}” in “{column}” is not a date the sync "
                                      "can use (write it like 2026-12-01); the card gets no due date")

    def _create_card(self, lead: SheetLead, link: Link | None) -> None:
        values = self._values(lead)
        if self.mapping.list_for_status(values.get(self.mapping.status_column, "")) is None:
            self.plan.errors.append(f"row {lead.row}: status {values.get(self.mapping.status_column)!r} "
                                    "has no Trello list")
            return
        self.plan.cards_to_create += 1
        self.plan.note("cards_to_create", lambda: self._lead_words(lead))
        self._check_due(lead, values)
        if self.dry_run:
            return
        lead_id = lead.lead_id or (link.lead_id if link else "") or new_lead_id()
        if not lead.lead_id:
            self.cells.append((lead.row, self.header.index(self.workspace.lead_id_column) + 1, lead_id))
        if link is None:
            # A queued creation's event is named up front, so the link is inserted knowing it.
            extra = CardExtra(pending_event=self._name_creation()) if self.queue_card_writes else CardExtra()
            link = Link(workspace_id=self.workspace.id, lead_id=lead_id, pending_op=PendingOp.CREATE_CARD, shadow={},
                        field_times={}, card_extra=extra.to_json(), row_number=lead.row,
                        sync_state=LinkSyncState.PENDING)
            self.session.add(link)
        fields = card_fields(self.mapping, lead_id, values, "")
        self.card_creates.append((link, fields, values))

    def _append_row(self, link: Link | None, card: CardLead) -> None:
        parsed = self._parse(card)
        values = self._card_values(card, parsed)
        if not values.get(self.mapping.status_column):
            self.plan.errors.append(f"card {card.id}: its list has no status; no row added")
            return
        self.plan.rows_to_append += 1
        self.plan.note("rows_to_append", lambda: f"card “{card.name}”")
        if self.dry_run:
            return
        if link is None:
            # A card carrying a linked lead's marker is a person's copy: a lead of its own.
            lead_id = card.marker if card.marker and card.marker not in self.linked_leads else new_lead_id()
            self.linked_leads.add(lead_id)
            link = Link(workspace_id=self.workspace.id, lead_id=lead_id, card_id=card.id,
                        pending_op=PendingOp.APPEND_ROW, shadow={}, field_times={},
                        card_extra=CardExtra(preamble=parsed.preamble if card.marker else card.desc.strip()).to_json(),
                        sync_state=LinkSyncState.PENDING)
            self.session.add(link)
        desc = description.render(values, self.mapping.description_columns, link.lead_id,
                                  CardExtra.of(link).preamble)
        if desc != card.desc:
            self.card_updates.append((card.id, {"desc": desc}))
        self.appends.append((link, values))

    def _row_gone(self, link: Link) -> None:
        self.plan.removed += 1
        if self.dry_run:
            return
        if self.workspace.row_removed_policy == RowPolicy.ARCHIVE and link.card_id is not None:
            self.card_updates.append((link.card_id, {"closed": True}))
            link.status = ROW_REMOVED
        else:
            link.status = UNLINKED
        record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.ROW_REMOVED,
               lead_id=link.lead_id, card_id=link.card_id, message="the row is gone from the sheet")

    def _card_gone(self, link: Link) -> None:
        self.plan.removed += 1
        if self.dry_run:
            return
        if self.workspace.card_removed_policy == CardPolicy.SET_STATUS:
            self.pending_status.append((link, self.workspace.card_removed_status))
            link.status = CARD_REMOVED
            link.card_extra = replace(CardExtra.of(link), removed="not on the board").to_json()
        else:
            link.status = UNLINKED
        record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.CARD_REMOVED,
               lead_id=link.lead_id, card_id=link.card_id, message="the card is archived, deleted or on another board")

    def _unlink(self, link: Link, why: str) -> None:
        self.plan.removed += 1
        if not self.dry_run:
            link.status = UNLINKED
            record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.UNLINK,
                   lead_id=link.lead_id, card_id=link.card_id, message=why)

    def _conflict(self, link: Link, column: str, sheet_value: str, card_value: str) -> None:
        message = f"{column}: kept {sheet_value!r} from the sheet over {card_value!r} from Trello"
        self.plan.conflicts.append(f"{link.lead_id}: {message}")
        if not self.dry_run:
            record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.CONFLICT,
                   lead_id=link.lead_id, card_id=link.card_id, outcome=Outcome.CONFLICT,
                   changes={column: [card_value, sheet_value]}, message=message)

    # ------------------------------------------------------------------ writing

    def _apply(self) -> None:
        self.session.commit()  # claim every new link (pending_op) before creating anything
        if self.queue_card_writes:
            self._queue_card_writes()
        else:
            self._write_cards()
        now = now_ms()
        for link, shadow, row, written in self.shadow_updates:
            # Only what changed is dated, and at the time both sides were read: an edit made
            # after that is newer and must still win.
            clocks = load_clocks(link.field_times)
            for column in shadow:
                clock = clocks.setdefault(column, FieldClock())
                if shadow.get(column) != (link.shadow or {}).get(column):
                    clock.t, clock.s = self.now_ms, HistorySide.RECONCILE
                if column in written:
                    clock.ws = now
            link.shadow = shadow
            link.field_times = {**(link.field_times or {}), **dump_clocks(clocks)}
            if row:
                link.row_number = row
            link.sync_state = LinkSyncState.SYNCED
            link.last_synced_at = datetime.now(timezone.utc)
        self.session.commit()
        for start in range(0, len(self.cells), CELLS_PER_WRITE):
            self.tab.write_cells(self.cells[start:start + CELLS_PER_WRITE])
        total, done = len(self.appends), 0
        for start in range(0, len(self.appends), ROWS_PER_APPEND):
            chunk = self.appends[start:start + ROWS_PER_APPEND]
            rows = [[{**values, self.workspace.lead_id_column: link.lead_id}.get(c, "") for c in self.header]
                    for link, values in chunk]
            first = self.tab.append_rows(rows, self.workspace.header_row)
            now = now_ms()
            for offset, (link, values) in enumerate(chunk):
                link.row_number = first + offset
                link.pending_op = None
                link.shadow = dict(values)
                link.field_times = dump_clocks({c: FieldClock(t=self.now_ms, s=Side.TRELLO, ws=now) for c in values})
                link.sync_state = LinkSyncState.SYNCED
                link.last_synced_at = datetime.now(timezone.utc)
            done += len(chunk)
            self._set_progress("adding rows", done, total)
            self.session.commit()
        if self.pending_status:
            from .sheet_writer import RowPatch, flush

            flush(self.tab, self.workspace.id, self.headers, self.workspace.lead_id_column,
                  [RowPatch(link.lead_id, {self.mapping.status_column: status})
                   for link, status in self.pending_status],
                  [], self.workspace.header_row)
            now = now_ms()
            for link, status in self.pending_status:
                clocks = load_clocks(link.field_times)
                clock = clocks.setdefault(self.mapping.status_column, FieldClock())
                clock.t, clock.s, clock.ws = self.now_ms, Side.TRELLO, now
                link.shadow = {**(link.shadow or {}), self.mapping.status_column: status}
                link.field_times = {**(link.field_times or {}), **dump_clocks(clocks)}
            self.session.commit()

    def _write_cards(self) -> None:
        """Make the card creations and updates here (the command line's pass)."""
        total = len(self.card_creates) + len(self.card_updates) + len(self.revives)
        done = 0
        for index, (link, fields, values) in enumerate(self.card_creates):
            column = self.mapping.labels_column
            card = self.trello.create_card(id_list=fields["idList"], name=fields["name"], desc=fields["desc"],
                                           due=fields.get("due"), start=fields.get("start"),
                                           due_complete=bool(fields.get("dueComplete")),
                                           id_labels=self._label_ids(link.lead_id, values.get(column),
                                                                     routing.board_of_list(self.workspace, self.mapping,
                                                                                           fields["idList"]))
                                           if column else None,
                                           id_members=self._member_ids(link.lead_id,
                                                                       values.get(self.mapping.members_column))
                                           if self.mapping.members_column else None)
            self._created(link, card, values)
            self._new_card_custom_fields(link, card["id"], values)
            done += 1
            if index % COMMIT_EVERY == COMMIT_EVERY - 1:
                self._set_progress("creating cards", done, total)
                self.session.commit()
        self._revive_cards()
        for card_id, update in self.card_updates:
            custom = update.pop("customFields", None)
            if update:
                self.trello.update_card(card_id, **update)
            if custom:
                self._set_custom_fields(card_id, custom)
            done += 1
            if done % COMMIT_EVERY == 0:
                self._set_progress("updating cards", done, total)
                self.session.commit()

    def _created(self, link: Link, card: dict[str, Any], values: dict[str, str]) -> None:
        landed = trello_time_ms(card, now_ms())
        link.card_id = card["id"]
        link.pending_op = None
        values = dict(values)
        column = self.mapping.card_url_column
        if column and card.get("shortUrl") and values.get(column) != card["shortUrl"]:
            values[column] = card["shortUrl"]  # the card's URL into its column (read-only)
            if link.row_number:
                self.cells.append((link.row_number, self.header.index(column) + 1, card["shortUrl"]))
        link.shadow = values
        link.field_times = dump_clocks({c: FieldClock(t=self.now_ms, s=Side.SHEETS, ts=self.now_ms, wt=landed)
                                        for c in values})
        link.sync_state = LinkSyncState.SYNCED
        link.last_synced_at = datetime.now(timezone.utc)

    def _revive_cards(self) -> None:
        for link, row in self.revives:
            shadow = self._values(row)
            column = self.mapping.labels_column
            board = routing.board_of_row(self.workspace, self.mapping, shadow) if self.mapping.routing else None
            card = revive_card(self.trello, self.mapping, link, shadow, CardExtra.of(link).preamble,
                               self._label_ids(link.lead_id, shadow.get(column), board) if column else None,
                               self._member_ids(link.lead_id, shadow.get(self.mapping.members_column))
                               if self.mapping.members_column else None, board)
            link.card_id = card["id"]
            link.status = LINKED
            link.card_extra = replace(CardExtra.of(link), removed=None).to_json()
            self.shadow_updates.append((link, shadow, row.row, []))

    def _queue_card_writes(self) -> None:
        """Queue the card creations and updates as bulk-lane events (the worker's pass): the event
        loop makes them at the providers' pace, fairly with every other workspace's work."""
        from .queue import Command, enqueue_command

        for link, _fields, values in self.card_creates:
            name = CardExtra.of(link).pending_event
            if not isinstance(name, str) or name not in self._named:
                # a link from before this pass (its old creation may be parked under that name)
                name = self._name_creation()
                link.card_extra = replace(CardExtra.of(link), pending_event=name).to_json()
            enqueue_command(self.session, self.workspace.id, Command.CREATE_CARD,
                            {"lead_id": link.lead_id, "values": values, "row": link.row_number,
                             "at": self.now_ms, "reconcile": self.source_event},
                            provider_event_id=name, lane=Lane.BULK)
        self._revive_cards()
        for card_id, update in self.card_updates:
            enqueue_command(self.session, self.workspace.id, Command.UPDATE_CARD,
                            {"card_id": card_id, "fields": update, "reconcile": self.source_event},
                            order_key=self._card_key(card_id), lane=Lane.BULK)
        queued = len(self.card_creates) + len(self.card_updates)
        if queued:
            progress = replace(SyncProgress.of(self.workspace), queued_card_writes=queued)
            self.workspace.sync_progress = progress.to_json()
        self.session.commit()

    def _name_creation(self) -> str:
        """A new card creation's event id (``provider_event_id``), known before it is queued."""
        name = f"create_card:{uuid.uuid4().hex}"  # as ``enqueue_command`` names a command
        self._named.add(name)
        return name

    def _card_key(self, card_id: str) -> str:
        """The order key of a card's lead, so the update joins that lead's group."""
        lead_id = self.session.scalars(select(Link.lead_id).where(Link.workspace_id == self.workspace.id,
                                                                   Link.card_id == card_id)).first()
        return f"lead:{lead_id}" if lead_id else f"card:{card_id}"

    def _record_summary(self) -> None:
        """One history line per pass that changed something, and one for what it could not do."""
        plan = self.plan
        if not plan.nothing_to_do:
            record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.RECONCILE,
                   changes=plan.as_dict(),
                   message=(f"created {plan.cards_to_create} cards, appended {plan.rows_to_append} rows, linked "
                            f"{plan.links_to_make}, updated {plan.cards_to_update} cards and {plan.rows_to_update} "
                            f"rows, {plan.removed} removed, {len(plan.conflicts)} conflicts"))
        if plan.errors:
            more = f" (and {len(plan.errors) - 5} more)" if len(plan.errors) > 5 else ""
            record(self.session, self.workspace.id, side=HistorySide.RECONCILE, action=HistoryAction.ERROR,
                   outcome=Outcome.ERROR,
                   message="; ".join(plan.errors[:5]) + more)

    def _set_progress(self, phase: str, done: int, total: int, finished: bool = False) -> None:
        progress = SyncProgress.of(self.workspace)
        if phase == "reading sheet" and done == 0:
            progress = SyncProgress(started_at=datetime.now(timezone.utc).isoformat(), dry_run=self.dry_run)
        progress = replace(progress, phase=phase, done=done, total=total)
        if finished:
            progress = replace(progress, finished_at=datetime.now(timezone.utc).isoformat(), plan=self.plan.as_dict())
        self.workspace.sync_progress = progress.to_json()
        if self.progress:
            self.progress(phase, done, total)


def reconcile(session: Session, workspace: Workspace, providers: Providers, headers: HeaderCache | None = None,
              *, dry_run: bool = False, progress: Progress | None = None, page_rows: int = 5000,
              queue_card_writes: bool = False, source_event: int | None = None) -> Plan:
    """Run one reconciliation pass over a workspace (see the module docstring)."""
    return Reconciler(session, workspace, providers, headers or HeaderCache(), dry_run=dry_run,
                      progress=progress, page_rows=page_rows, queue_card_writes=queue_card_writes,
                      source_event=source_event).run()
