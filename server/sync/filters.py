"""Row and card filters in the engine: which leads a workspace syncs, and what leaving or entering means.

The filters are the mapping's (``server/models/filters.py``). The engine's rules:

- **A row** passes when every row condition holds and, where the card filter names its lists,
  its status goes to one of them (a row whose card would land outside the card filter is outside
  too). A row that does not pass gets no card. A linked row that stops passing follows the
  workspace's row-removed policy as if it were deleted (``archive``: its card is archived;
  ``unlink``: the card stays, unlinked) and its link remembers why (``card_extra``'s
  ``filter_out``); its edits are not synced meanwhile. A row that passes again brings its card
  back (unarchived, or linked again, with the row's values), or gets a new card when the old
  one is gone or taken by another workspace: never a second card.
- **A card** passes when it is in one of the card filter's lists (absent: the mapping's lists) and
  carries one of its labels (when it names some). A card made outside gets no row. A linked card
  moved (or relabelled) out follows the card-removed policy (``set_status``: the row gets the
  "removed" status; ``unlink``); moved back in, it is linked again with the status of its list.
- **Several workspaces on one board** (tabs of one sheet, say): a card is taken by a workspace only
  if no other workspace on the board holds it — linked there, or carrying the marker of a lead
  linked there, while it sits in that workspace's lists. So a card moved from tab A's lists to tab
  B's becomes B's row whatever order A and B apply the move in, and A follows its policy. With the
  default card filter a card in a list the mapping does not know is still an error to fix (the
  mapping editor offers it), unless another workspace on the board takes that list: then it is
  that workspace's card, and ignored here.

Reconciliation applies the same rules (``ReconcileFilters``), so a changed filter followed by a
full sync converges. The history says each leaving and entering in words naming the lead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..models import Link, Workspace
from ..models.card_extra import CardExtra
from ..models.enums import CardPolicy, HistoryAction, LinkSyncState, RowPolicy, WorkspaceState
from ..models.mapping import Mapping
from ..models.sync import CARD_REMOVED, LINKED, ROW_REMOVED, UNLINKED
from ..trello.errors import TrelloNotFound
from . import cards, description, queue, routing
from .cards import card_fields, now_ms, trello_time_ms
from .history import record
from .inbox import CARD_APPEARS
from .mapping import cell_text
from .merge import Change, FieldClock, Side, dump_clocks, load_clocks
from .observe import LABEL_ACTIONS
from .outcomes import SyncError

if TYPE_CHECKING:
    from ..models import Event
    from .leadwork import LeadWork
    from .reconcile import CardLead, Reconciler, SheetLead

FILTER_KEY = "filter_out"  # in ``Link.card_extra``: {"side": "row" | "card", "why": words}
OUTSIDE = "outside the filter"  # how ``CardExtra.removed`` starts for a card that left by a filter
ROW, CARD = "row", "card"


# --------------------------------------------------------------------------- what passes


def has_filters(mapping: Mapping) -> bool:
    return bool(mapping.row_filter) or bool(mapping.card_filter)


def row_passes(mapping: Mapping, values: dict[str, Any]) -> bool:
    return not row_refusal(mapping, values)


def row_refusal(mapping: Mapping, values: dict[str, Any]) -> str:
    """Why a row (``{column: cell}``) is outside the workspace's filters, in words; "" if it passes."""
    failing = mapping.row_filter.failing(values)
    if failing:
        return "its row does not meet " + " and ".join(f"“{c.words}”" for c in failing)
    lists = mapping.card_filter.lists
    if lists is not None:
        status = cell_text(values.get(mapping.status_column, ""))
        target = mapping.list_for_row(values)  # on the board the row's routing cell names
        if target is not None and target not in lists:
            return (f"its status “{status}” goes to the list “{mapping.list_names.get(target, target)}”, "
                    "which the card filter leaves out")
    return ""


def card_takes(mapping: Mapping, list_id: str | None, label_names: list[str] | tuple[str, ...] | None) -> bool:
    """Whether the card filter takes a card in ``list_id`` with these labels (None: not known, not checked)."""
    if not mapping.card_filter.takes_list(list_id, mapping.mapped_lists):
        return False
    return label_names is None or mapping.card_filter.takes_labels(label_names)


def card_refusal(mapping: Mapping, list_id: str | None, label_names: list[str] | tuple[str, ...] | None,
                 list_name: str = "") -> str:
    """Why a card is outside the card filter, in words ("" if it is inside)."""
    if not mapping.card_filter.takes_list(list_id, mapping.mapped_lists):
        name = list_name or mapping.list_names.get(list_id or "", "")
        return (f"the card is in “{name}”, a list " if name else "the card is in a list ") + (
            "the card filter leaves out" if mapping.card_filter.lists is not None else "this workspace does not map")
    if label_names is not None and not mapping.card_filter.takes_labels(label_names):
        return "the card has none of the card filter's labels (" + ", ".join(
            f"“{n}”" for n in mapping.card_filter.labels) + ")"
    return ""


def label_names(card: dict[str, Any]) -> list[str]:
    return [str(lbl.get("name") or "") for lbl in card.get("labels") or [] if isinstance(lbl, dict)]


# --------------------------------------------------------------------------- the link's mark


@dataclass(frozen=True)
class Mark:
    side: str  # ROW or CARD: which side left the filter
    why: str
    at: float = 0.0  # provider time of the change that took it out (an older one arriving late is stale)


def mark_of(link: Link | None) -> Mark | None:
    """Why a lead is outside the filter (None while it is linked, or was removed otherwise)."""
    if link is None or link.status == LINKED:
        return None
    raw = CardExtra.of(link).unknown.get(FILTER_KEY)
    if not isinstance(raw, dict) or raw.get("side") not in (ROW, CARD):
        return None
    at = raw.get("at")
    return Mark(str(raw["side"]), str(raw.get("why") or ""),
                float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else 0.0)


def set_mark(link: Link, side: str, why: str, at: float = 0.0) -> None:
    extra = CardExtra.of(link)
    link.card_extra = replace(extra, removed=f"{OUTSIDE}: {why}",
                              unknown={**extra.unknown, FILTER_KEY: {"side": side, "why": why, "at": at}}).to_json()


def _newest(link: Link, side: Side, column: str | None = None) -> float:
    """The newest person change taken in from ``side`` (of ``column``, else of any field), and for
    Trello our own last write of it landing: a filter step older than that arrived late."""
    clocks = load_clocks(link.field_times)
    chosen = [clocks[column]] if column is not None and column in clocks else list(clocks.values())
    if side is Side.SHEETS:
        return max((c.ts for c in chosen), default=0.0)
    return max((max(c.tt, c.wt) for c in chosen), default=0.0)


def clear_mark(link: Link) -> None:
    extra = CardExtra.of(link)
    link.card_extra = replace(extra, removed=None,
                              unknown={k: v for k, v in extra.unknown.items() if k != FILTER_KEY}).to_json()


def lead_words(mapping: Mapping, link: Link, values: dict[str, Any] | None = None) -> str:
    """“Ada Lovelace” (L-…): the lead as the history names it."""
    title = cell_text((values or {}).get(mapping.title_column) or (link.shadow or {}).get(mapping.title_column))
    return f"“{title.strip()}” ({link.lead_id})" if title.strip() else link.lead_id


# --------------------------------------------------------------------------- other workspaces on the board


def sharing(session: Session, workspace: Workspace) -> list[Workspace]:
    """The other workspaces syncing the same board (drafts and disconnected ones do not count)."""
    return list(session.scalars(select(Workspace).where(
        Workspace.trello_board_id == workspace.trello_board_id, Workspace.id != workspace.id,
        Workspace.state.not_in((WorkspaceState.DISCONNECTED, WorkspaceState.DRAFT)))).all())


def _mapping(other: Workspace) -> Mapping:
    return Mapping.of_or_default(other)


def list_taken_elsewhere(session: Session, workspace: Workspace, list_id: str | None) -> Workspace | None:
    """Another workspace on the board whose card filter takes ``list_id``."""
    for other in sharing(session, workspace):
        m = _mapping(other)
        if m.card_filter.takes_list(list_id, m.mapped_lists):
            return other
    return None


def holder(session: Session, workspace: Workspace, card_id: str, list_id: str | None,
           marker: str | None) -> Workspace | None:
    """Another workspace on the board that holds the card: it sits in that workspace's lists and is
    linked there (or carries the marker of a lead linked, or being given a card, there)."""
    for other in sharing(session, workspace):
        m = _mapping(other)
        if not m.card_filter.takes_list(list_id, m.mapped_lists):
            continue
        found = session.scalars(select(Link).where(
            Link.workspace_id == other.id,
            or_(Link.card_id == card_id, Link.lead_id == marker) if marker else Link.card_id == card_id)).all()
        if any(link.status == LINKED and (link.card_id is not None or link.pending_op) for link in found):
            return other
    return None


def linked_elsewhere(session: Session, workspace: Workspace, card_id: str) -> bool:
    """Whether another workspace on the board has the card linked now (it took it over)."""
    others = [w.id for w in sharing(session, workspace)]
    if not others:
        return False
    return session.scalars(select(Link.id).where(Link.workspace_id.in_(others), Link.card_id == card_id,
                                                 Link.status == LINKED).limit(1)).first() is not None


def marker_of_other(session: Session, workspace: Workspace, lead_id: str) -> bool:
    """Whether ``lead_id`` is a lead of another workspace on the board (a card moved over from it)."""
    others = [w.id for w in sharing(session, workspace)]
    if not others:
        return False
    return session.scalars(select(Link.id).where(Link.workspace_id.in_(others), Link.lead_id == lead_id)
                           .limit(1)).first() is not None


# --------------------------------------------------------------------------- the sheet's events


def row_step(work: LeadWork, event: Event, data: dict[str, Any], values: dict[str, str], link: Link | None) -> bool:
    """A row event as the filters see it; True when they decided it (the handler stops there)."""
    mapping = work.mapping
    mark = mark_of(link)
    if not has_filters(mapping) and mark is None:
        return False
    why = row_refusal(mapping, values)
    at = float(data.get("edited_at") or 0.0)
    if link is None:
        if why:
            work.done(event, f"the row is outside the filter: {why}", "ignored")
            return True
        return False
    if mark is not None and mark.side == ROW:
        if why:
            work.done(event, f"the row is still outside the filter: {why}", "ignored")
        elif at and at < mark.at:
            work.done(event, "an older edit arrived after the one that took the row out of the filter", "ignored")
        else:
            _row_enters(work, event, data, values, link)
        return True
    if not why:
        return False
    if link.status == LINKED and link.card_id is not None and not link.pending_op:
        if at and at < _newest(link, Side.SHEETS):
            work.done(event, "an older edit arrived after a newer one: the filter is decided by the newer", "ignored")
            return True
        _row_leaves(work, event, link, values, why, at)
        return True
    if link.status == CARD_REMOVED:
        work.done(event, f"the row is outside the filter: {why}", "ignored")  # never brings a card back
        return True
    return False


def _row_leaves(work: LeadWork, event: Event, link: Link, values: dict[str, str], why: str, at: float) -> None:
    """A linked row that no longer passes: the row-removed policy, as if the row were deleted."""
    name = lead_words(work.mapping, link, values)
    if work.workspace.row_removed_policy == RowPolicy.ARCHIVE:
        try:
            cards.write_card(work.trello(), link, closed=True)
            work.ctx.outbound("trello", event.id)
        except TrelloNotFound:
            pass
        link.status = ROW_REMOVED
        then = "its card was archived; it comes back when the row passes the filter again"
    else:
        link.status = UNLINKED
        then = "its card was unlinked (left on the board); it is linked again when the row passes the filter again"
    set_mark(link, ROW, why, at)
    work.link = link
    # Changes of this group taken in before the row left are not passed on (the card is out; the row's
    # values travel again when it enters): the merge must not bring the card back for them.
    for earlier in work.merged:
        work.outcome.setdefault(earlier.id, ("done", "the row then left the filter"))
    work.merged.clear()
    work.changes.clear()
    work.landings.clear()
    work.synced(link)
    record(work.session, work.workspace.id, side=Side.SHEETS, action=HistoryAction.FILTER_LEFT, lead_id=link.lead_id,
           card_id=link.card_id, event_id=event.id, message=f"{name} left the workspace's filter: {why}; {then}")
    work.done(event)


def _row_enters(work: LeadWork, event: Event, data: dict[str, Any], values: dict[str, str], link: Link) -> None:
    """A row back in the filter: its card brought back (or a new one if it is gone or another
    workspace's now) with the row's values, and the link linked again."""
    mapping, trello = work.mapping, work.trello()
    old = {k: cell_text(v) for k, v in (link.shadow or {}).items()}
    shadow = {c: values[c] if c in values else old.get(c, "") for c in mapping.synced_columns}
    status = shadow.get(mapping.status_column, "")
    if mapping.list_for_status(status) is None:
        raise SyncError(f"Status {status!r} has no Trello list in this workspace's mapping; the card was not "
                        "brought back")
    at = float(data.get("edited_at") or now_ms())
    extra = CardExtra.of(link)
    fields = card_fields(mapping, link.lead_id, shadow, extra.preamble)
    if mapping.labels_column:
        fields["idLabels"] = work.label_ids(link.lead_id, shadow)
    work.link = link
    card: dict[str, Any] | None = None
    if link.card_id and not linked_elsewhere(work.session, work.workspace, link.card_id):
        try:  # on the board the routing cell names now: ``idBoard`` in the same PUT
            card = cards.write_card(trello, link, closed=False,
                                    **routing.with_board(work.workspace, mapping, fields))
        except TrelloNotFound:
            card = None
    made = card is None or card.get("idBoard") not in (None, *routing.board_ids(work.workspace, mapping))
    if made:
        card = cards.create_card(trello, link, fields)
    assert card is not None
    work.ctx.outbound("trello", event.id)
    link.card_id = card["id"]
    link.status = LINKED
    link.pending_op = None
    clear_mark(link)
    work._card_url_into(link, shadow, card)
    if made:
        queue.settle_creation_echoes(work.session, work.workspace.id, card["id"], CARD_APPEARS)
        if mapping.custom_fields:
            work._custom_fields_of_new_card(link, shadow)
    elif mapping.custom_fields:
        changed = [c for c in mapping.custom_fields if shadow.get(c, "") != old.get(c, "")]
        items = work.custom_items(link.lead_id, shadow, changed) if changed else {}
        if items:
            work.write_custom_fields(link, items)
    landed = trello_time_ms(card, now_ms())
    link.shadow = shadow
    link.field_times = {**(link.field_times or {}),
                        **dump_clocks({c: FieldClock(t=at, s=Side.SHEETS.value, ts=at, wt=landed) for c in shadow})}
    link.row_number = data.get("row") or link.row_number
    work.synced(link)
    record(work.session, work.workspace.id, side=Side.SHEETS, action=HistoryAction.FILTER_ENTERED,
           lead_id=link.lead_id, card_id=card["id"], event_id=event.id,
           changes={k: [old.get(k), v] for k, v in shadow.items() if v != old.get(k, "")},
           message=f"{lead_words(mapping, link, shadow)} entered the workspace's filter: "
                   + ("a new card was made for it" if made else "its card is back and shows the row's values"))
    work.done(event)


# --------------------------------------------------------------------------- Trello's events


def _list_name(action: dict[str, Any]) -> str:
    data = action.get("data") or {}
    for key in ("listAfter", "list"):
        if isinstance(data.get(key), dict) and data[key].get("name"):
            return str(data[key]["name"])
    return ""


def _now_in(action: dict[str, Any], kind: str) -> tuple[bool, str | None]:
    """(whether the action says where the card is now, that list)."""
    data = action.get("data") or {}
    if kind == "updateCard" and isinstance(data.get("listAfter"), dict):
        return True, data["listAfter"].get("id")
    if kind == "updateCard" and "idList" in (data.get("old") or {}):
        return True, (data.get("card") or {}).get("idList")
    if kind == "moveCardToBoard":
        return True, (data.get("list") or {}).get("id") or (data.get("card") or {}).get("idList")
    return False, None


def card_step(work: LeadWork, event: Event, action: dict[str, Any], link: Link, *, ours: bool, at: float) -> bool:
    """A linked card's action as the filters see it; True when they decided it."""
    mapping = work.mapping
    mark = mark_of(link)
    kind = event.kind
    moved, list_id = _now_in(action, kind)
    labelled = kind in LABEL_ACTIONS and bool(mapping.card_filter.labels)
    if mark is None and (ours or not (moved or labelled)):
        return False  # most actions: no look-up at all
    if mark is not None and mark.side == ROW:
        work.done(event, "the lead's row is outside the filter", "ignored")  # the card waits for its row
        return True
    if ours or not (moved or labelled):
        if mark is not None:  # a card outside the filter: nothing of it syncs
            work.done(event, "the card is outside the filter", "ignored")
            return True
        return False
    names: list[str] | None = None
    if mapping.card_filter.labels and (moved or labelled):
        try:
            card = work.trello().get_card(link.card_id or "")
        except TrelloNotFound:
            return False  # gone: the card's own deletion follows
        names, list_id = label_names(card), list_id or card.get("idList")
    inside = card_takes(mapping, list_id, names)
    if link.status == LINKED and not inside:
        explicit = bool(mapping.card_filter)
        if not explicit and list_taken_elsewhere(work.session, work.workspace, list_id) is None:
            return False  # an unmapped list: the engine's own error, which the mapping editor offers
        if at < _newest(link, Side.TRELLO, mapping.status_column):
            work.done(event, "an older move arrived after a newer one: the card's list is the newer's", "ignored")
            return True
        _card_leaves(work, event, link, at, card_refusal(mapping, list_id, names, _list_name(action)))
        return True
    if mark is not None and inside and at < mark.at:
        work.done(event, "an older move arrived after the one that took the card out of the filter", "ignored")
        return True
    if mark is not None and inside:
        _card_enters(work, event, link, list_id, at, _list_name(action))
        return True
    if mark is not None:
        work.done(event, "the card is still outside the filter", "ignored")
        return True
    return False


def _shares_board(work: LeadWork) -> bool:
    cache = work.__dict__.setdefault("_filters_sharing", {})
    if "v" not in cache:
        cache["v"] = bool(sharing(work.session, work.workspace))
    return bool(cache["v"])


def _card_leaves(work: LeadWork, event: Event, link: Link, at: float, why: str) -> None:
    """A linked card no longer in the card filter: the card-removed policy."""
    name = lead_words(work.mapping, link)
    set_mark(link, CARD, why, at)
    if work.workspace.card_removed_policy != CardPolicy.SET_STATUS:
        link.status = UNLINKED
        record(work.session, work.workspace.id, side=Side.TRELLO, action=HistoryAction.FILTER_LEFT,
               lead_id=link.lead_id, card_id=link.card_id, event_id=event.id,
               message=f"{name} left the workspace's filter: {why}; the lead was unlinked, its row kept")
        work.done(event)
        return
    status = work.workspace.card_removed_status
    link.status = CARD_REMOVED
    record(work.session, work.workspace.id, side=Side.TRELLO, action=HistoryAction.FILTER_LEFT,
           lead_id=link.lead_id, card_id=link.card_id, event_id=event.id,
           message=f"{name} left the workspace's filter: {why}; its row's status is set to “{status}” "
                   "(moving the card back into the filter links it again)")
    work.add_changes(event, [Change(work.mapping.status_column, status, at, Side.TRELLO, event.id)])


def _card_enters(work: LeadWork, event: Event, link: Link, list_id: str | None, at: float, list_name: str) -> None:
    """A card of a lead back in the card filter: linked again, its row given the status of its list."""
    status = cards.status_for_list(work.mapping, list_id, *work.sheet_statuses)
    name = list_name or work.mapping.list_names.get(list_id or "", "")
    link.status = LINKED
    clear_mark(link)
    link.sync_state = LinkSyncState.SYNCED
    record(work.session, work.workspace.id, side=Side.TRELLO, action=HistoryAction.FILTER_ENTERED,
           lead_id=link.lead_id, card_id=link.card_id, event_id=event.id,
           message=f"{lead_words(work.mapping, link)} entered the workspace's filter: its card is in "
                   + (f"“{name}” again and linked" if name else "a synced list again and linked"))
    if status is not None:
        work.add_changes(event, [Change(work.mapping.status_column, status, at, Side.TRELLO, event.id)])
    else:
        work.done(event)


def unlinked_card_enters(work: LeadWork, event: Event, action: dict[str, Any], card_id: str, *, ours: bool,
                         at: float) -> bool:
    """A card no lead of this workspace has, moved (or labelled) into the filter: it appears here."""
    mapping = work.mapping
    if ours:
        return False
    moved, list_id = _now_in(action, event.kind)
    labelled = event.kind in LABEL_ACTIONS and bool(mapping.card_filter.labels)
    if not (moved or labelled):
        return False
    if moved and not mapping.card_filter.takes_list(list_id, mapping.mapped_lists):
        return False
    if not has_filters(mapping) and not _shares_board(work):
        return False  # without filters, a card moved between mapped lists was never outside
    work.card_appeared(event, card_id, at, ours=ours)
    return True


def card_refused(work: LeadWork, card: dict[str, Any]) -> str:
    """Why a card that appeared is not this workspace's ("" if it is): outside the card filter, or
    held by another workspace on the board."""
    mapping = work.mapping
    list_id = card.get("idList")
    shares = _shares_board(work)
    if not has_filters(mapping) and not shares:
        return ""
    if not mapping.card_filter.takes_list(list_id, mapping.mapped_lists):
        if mapping.card_filter:
            return card_refusal(mapping, list_id, None)
        other = list_taken_elsewhere(work.session, work.workspace, list_id) if shares else None
        if other is not None:
            return f"the card is in a list of the workspace “{other.name}” on the same board"
        return ""  # an unmapped list: the engine's own error
    if not mapping.card_filter.takes_labels(label_names(card)):
        return card_refusal(mapping, list_id, label_names(card))
    if shares:
        marker = description.find_lead_id(card.get("desc") or "")
        other = holder(work.session, work.workspace, str(card.get("id")), list_id, marker)
        if other is not None:
            return f"the card is linked by the workspace “{other.name}” on the same board"
    return ""


def foreign_marker(work: LeadWork, lead_id: str | None) -> bool:
    """Whether a card's marker names a lead of another workspace on the board (the card moved over)."""
    if not lead_id or not _shares_board(work) or work.link_by_lead(lead_id) is not None:
        return False
    return marker_of_other(work.session, work.workspace, lead_id)


def release_if_taken(session: Session, workspace: Workspace, mapping: Mapping, link: Link) -> None:
    """Before a lead's card is brought back: a card another workspace on the board holds now is
    not taken back (a new card is made instead)."""
    if not link.card_id or not (CardExtra.of(link).removed or "").startswith(OUTSIDE):
        return
    if linked_elsewhere(session, workspace, link.card_id):
        link.card_extra = replace(CardExtra.of(link), removed="taken by another workspace").to_json()


# --------------------------------------------------------------------------- reconciliation


class ReconcileFilters:
    """The filters in a full sync (and a preview's dry run): the same rules as the events'."""

    def __init__(self, rec: Reconciler) -> None:
        self.rec = rec
        self.mapping = rec.mapping
        self.on = has_filters(self.mapping) or bool(sharing(rec.session, rec.workspace))
        self.extra_columns = tuple(c for c in self.mapping.row_filter.columns if c not in rec.columns)
        self._held: set[str] | None = None  # card ids and markers other workspaces on the board link
        self._held_markers: set[str] = set()
        self._held_lists: set[str] = set()  # the lists those workspaces take
        self.rows_left = self.rows_entered = self.cards_left = self.cards_entered = 0

    # reading

    def positions(self, header: list[str]) -> list[int]:
        """Where the filter's own columns (those not synced) are in the header; -1: not there (empty)."""
        return [header.index(c) if c in header else -1 for c in self.extra_columns]

    def row_values(self, lead: SheetLead) -> dict[str, str]:
        return dict(zip((*self.rec.columns, *self.extra_columns), lead.cells, strict=False))

    def refusal(self, lead: SheetLead) -> str:
        return row_refusal(self.mapping, self.row_values(lead)) if self.on else ""

    def _load_others(self) -> None:
        """Read once a pass: what the other workspaces on the board link, and their lists (one query each)."""
        if self._held is None:
            self._held = set()
            for other in sharing(self.rec.session, self.rec.workspace):
                m = _mapping(other)
                for card_id, lead_id in self.rec.session.execute(select(Link.card_id, Link.lead_id).where(
                        Link.workspace_id == other.id, Link.status == LINKED)):
                    if card_id:
                        self._held.add(card_id)
                    self._held_markers.add(lead_id)
                self._held_lists |= set(m.card_filter.lists if m.card_filter.lists is not None else m.mapped_lists)

    def _others_hold(self, card: CardLead) -> bool:
        self._load_others()
        return card.list_id in self._held_lists and (card.id in (self._held or ())
                                                      or (card.marker or "") in self._held_markers)

    def card_refusal(self, card: CardLead) -> str:
        """Why a card is not this workspace's ("" if it is)."""
        if not self.on:
            return ""
        mapping = self.mapping
        if not mapping.card_filter.takes_list(card.list_id, mapping.mapped_lists):
            self._load_others()
            if mapping.card_filter or card.list_id in self._held_lists:  # another tab's list: its card
                return card_refusal(mapping, card.list_id, None)
            return ""
        if mapping.card_filter.labels and not mapping.card_filter.takes_labels(card.label_names or ()):
            return card_refusal(mapping, card.list_id, card.label_names or ())
        if self._others_hold(card):
            return "the card is linked by another workspace on the same board"
        return ""

    # a linked lead

    def step(self, link: Link, row: SheetLead | None, card: CardLead | None) -> bool:
        """A link as the filters see it; True when they decided it (the pass goes on to the next)."""
        if not self.on and mark_of(link) is None:
            return False
        mark = mark_of(link)
        if mark is not None and mark.side == ROW:
            if row is not None and not self.refusal(row):
                self._row_enters(link, row)
            return True
        if mark is not None and mark.side == CARD:
            if card is not None and not card.closed and not self.card_refusal(card) and row is not None \
                    and not self.refusal(row):
                self._card_enters(link, row, card)
                return True
            if row is not None and self.refusal(row):
                return True  # outside on both sides: nothing comes back
            if not self.rec.dry_run:  # a listed status typed again brings a card: not another workspace's
                release_if_taken(self.rec.session, self.rec.workspace, self.mapping, link)
            return False  # the usual removed-card rules
        if link.status == CARD_REMOVED and row is not None and self.refusal(row):
            return True  # its card was archived or deleted, and its row is outside: never a card back (as ``row_step``)
        if link.status != LINKED or link.card_id is None or row is None:
            return False
        values = self.row_values(row)
        if self.mapping.row_filter.failing(values):  # the row's own conditions first
            self._row_leaves(link, row, row_refusal(self.mapping, values))
            return True
        if card is not None and not card.closed:  # a card sitting outside the card filter: the card's policy
            why = self.card_refusal(card)
            if why and (self.mapping.card_filter or not self.mapping.card_filter.takes_list(
                    card.list_id, self.mapping.mapped_lists)):
                self._card_leaves(link, why)
                return True
        why = self.refusal(row)  # a status sending the card outside the card filter
        if why:
            self._row_leaves(link, row, why)
            return True
        return False

    def _row_leaves(self, link: Link, row: SheetLead, why: str) -> None:
        rec = self.rec
        rec.plan.removed += 1
        self.rows_left += 1
        rec.plan.note("rows_leaving_filter", lambda: rec._lead_words(row, link.lead_id))
        if rec.dry_run:
            return
        if rec.workspace.row_removed_policy == RowPolicy.ARCHIVE and link.card_id is not None:
            rec.card_updates.append((link.card_id, {"closed": True}))
            link.status = ROW_REMOVED
            then = "its card was archived"
        else:
            link.status = UNLINKED
            then = "its card was unlinked (left on the board)"
        set_mark(link, ROW, why)
        record(rec.session, rec.workspace.id, side="reconcile", action=HistoryAction.FILTER_LEFT,
               lead_id=link.lead_id, card_id=link.card_id,
               message=f"{lead_words(self.mapping, link, rec._values(row))} left the workspace's filter: {why}; "
                       f"{then}")

    def _row_enters(self, link: Link, row: SheetLead) -> None:
        rec = self.rec
        values = rec._values(row)
        if self.mapping.list_for_status(values.get(self.mapping.status_column, "")) is None:
            rec.plan.errors.append(f"row {row.row}: status {values.get(self.mapping.status_column)!r} has no "
                                   "Trello list")
            return
        rec.plan.cards_to_create += 1
        self.rows_entered += 1
        rec.plan.note("cards_to_create", lambda: rec._lead_words(row, link.lead_id))
        if rec.dry_run:
            return
        release_if_taken(rec.session, rec.workspace, self.mapping, link)  # then ``revive_card`` makes a new one
        rec.revives.append((link, row))
        record(rec.session, rec.workspace.id, side="reconcile", action=HistoryAction.FILTER_ENTERED,
               lead_id=link.lead_id, card_id=link.card_id,
               message=f"{lead_words(self.mapping, link, values)} entered the workspace's filter: its card is "
                       "brought back with the row's values")
        extra_now = CardExtra.of(link)
        link.card_extra = replace(extra_now, unknown={k: v for k, v in extra_now.unknown.items()
                                                      if k != FILTER_KEY}).to_json()

    def _card_leaves(self, link: Link, why: str) -> None:
        rec = self.rec
        rec.plan.removed += 1
        self.cards_left += 1
        rec.plan.note("cards_leaving_filter", lambda: lead_words(self.mapping, link))
        if rec.dry_run:
            return
        if rec.workspace.card_removed_policy == CardPolicy.SET_STATUS:
            rec.pending_status.append((link, rec.workspace.card_removed_status))
            link.status = CARD_REMOVED
            then = f"its row's status is set to “{rec.workspace.card_removed_status}”"
        else:
            link.status = UNLINKED
            then = "the lead was unlinked, its row kept"
        set_mark(link, CARD, why)
        record(rec.session, rec.workspace.id, side="reconcile", action=HistoryAction.FILTER_LEFT,
               lead_id=link.lead_id, card_id=link.card_id,
               message=f"{lead_words(self.mapping, link)} left the workspace's filter: {why}; {then}")

    def _card_enters(self, link: Link, row: SheetLead, card: CardLead) -> None:
        rec = self.rec
        self.cards_entered += 1
        rec.plan.links_to_make += 1
        rec.plan.note("links_to_make", lambda: f"{rec._lead_words(row, link.lead_id)} ↔ card “{card.name}”")
        if not rec.dry_run:
            link.status = LINKED
            clear_mark(link)
            record(rec.session, rec.workspace.id, side="reconcile", action=HistoryAction.FILTER_ENTERED,
                   lead_id=link.lead_id, card_id=link.card_id,
                   message=f"{lead_words(self.mapping, link)} entered the workspace's filter: its card is in a "
                           "synced list again and linked")
        rec._compare_pair(link, row, card)

    # unlinked rows and cards

    def set_aside(self, lead: SheetLead, by_marker: dict[str, str], by_email: dict[str, str],
                  found: dict[str, CardLead]) -> None:
        """A row outside the filter gets no card, and the card that is its (by marker or email) no row."""
        for card_id in (by_marker.get(lead.lead_id) if lead.lead_id else None,
                        by_email.pop(lead.email, None) if lead.email else None):
            if card_id:
                found.pop(card_id, None)

    def drop_refused_cards(self, found: dict[str, CardLead]) -> set[str]:
        """Take the cards that are not this workspace's out of the pass; the markers they carry."""
        if not self.on:
            return set()
        markers: set[str] = set()
        for card_id in [k for k, c in found.items() if self.card_refusal(c)]:
            card = found.pop(card_id)
            if card.marker:
                markers.add(card.marker)
        return markers


__all__ = [
    "CARD",
    "FILTER_KEY",
    "Mark",
    "OUTSIDE",
    "ROW",
    "ReconcileFilters",
    "card_refused",
    "card_refusal",
    "card_step",
    "card_takes",
    "foreign_marker",
    "has_filters",
    "mark_of",
    "release_if_taken",
    "row_passes",
    "row_refusal",
    "row_step",
    "unlinked_card_enters",
]
