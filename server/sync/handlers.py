"""One handler per kind of event, behind a dispatch table.

A handler reads one event of a lead's group and feeds the group's ``LeadWork``: changes and
landings for the merge, or a structural step (create, appear, remove) it runs there. It never
commits the event: the processor does, with the lead's effects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog

from ..models import Event
from ..models.card_extra import CardExtra
from ..models.enums import HistoryAction, Outcome, PendingOp, SheetEventKind
from ..models.sync import CARD_REMOVED, IGNORED, LINKED, ROW_REMOVED
from ..trello.errors import TrelloNotFound
from . import cards, customfields, filters, labels, members, routing
from .cards import comment_text, now_ms
from .history import record
from .inbox import CARD_APPEARS
from .leadwork import LeadWork, mark_sheet
from .mapping import cell_text, due_to_trello
from .merge import Change, Landing, Side
from .observe import (
    CHECKLIST_ACTIONS,
    CLOCK_SKEW_MS,
    LABEL_ACTIONS,
    MEMBER_ACTIONS,
    action_time_ms,
    ledger_match,
    observe_update,
    provenance_is_ours,
    sheet_changes,
)
from .outcomes import Defer, SyncError
from .queue import PREVIEW, RECONCILE, SHEETS, SYSTEM, TRELLO, Command

Handler = Callable[[LeadWork, Event, dict[str, Any]], None]
log = structlog.get_logger(__name__)

CARD_LEAVES = {"deleteCard": "deleted in Trello", "moveCardFromBoard": "moved to another board"}


# --------------------------------------------------------------------------- the sheet


def sheet_row(work: LeadWork, event: Event, data: dict[str, Any]) -> None:
    """A row the add-on sent (edited, pasted, or new)."""
    mapping = work.mapping
    values = {str(k).strip(): cell_text(v) for k, v in (data.get("values") or {}).items()}
    if not any(values.get(column, "").strip() for column in mapping.synced_columns):
        work.done(event, "blank row", IGNORED)
        return
    status = values.get(mapping.status_column)
    changed = data.get("changed")
    if status is not None and (changed is None or mapping.status_column in changed):
        work.sheet_statuses.append(status)
    lead_id, needs_id = work.assign_lead_id(event, data)
    routing.note_unknown_route(work, event, lead_id, values, changed)
    link = work.link if work.link is not None and work.link.lead_id == lead_id else work.link_by_lead(lead_id)
    work.row_hint = data.get("row") or work.row_hint
    if filters.row_step(work, event, data, values, link):  # outside the row filter, leaving or entering it
        return
    if link is None or (link.card_id is None and link.pending_op == PendingOp.CREATE_CARD):
        _warn_about_due(work, event, lead_id, values, changed)
        work.create_card(event, lead_id, values, float(data["edited_at"]), data.get("row"),
                         id_row=data.get("row") if needs_id else None)
        return
    work.link = link
    if needs_id:
        mark_sheet(link, id_row=data.get("row"))
    if link.pending_op and link.card_id is None:
        raise Defer(0.5, "this lead's row is still being added")
    changes = sheet_changes(data, link, mapping, event.id)
    status_change = next((c for c in changes if c.field == mapping.status_column), None)
    if status_change is not None and mapping.list_for_status(status_change.value) is None \
            and link.status not in (CARD_REMOVED, ROW_REMOVED) \
            and cell_text(status_change.value) != cell_text(work.workspace.card_removed_status):
        raise SyncError(f"Status {status_change.value!r} has no Trello list in this workspace's mapping; "
                        "add it to the mapping or use a mapped status")
    if link.status not in (LINKED, CARD_REMOVED, ROW_REMOVED):
        work.done(event, "the lead is not linked to a card", IGNORED)
        return
    _warn_about_due(work, event, link.lead_id, values, changed)
    _warn_about_members(work, event, link, changes)
    work.add_changes(event, changes)


def _warn_about_members(work: LeadWork, event: Event, link: Any, changes: list[Change]) -> None:
    """Names a person just wrote into the members column that no board member answers to are said
    in the lead's history (the card gets the members that matched; nothing is guessed)."""
    column = work.mapping.members_column
    change = next((c for c in changes if c.field == column), None) if column else None
    if change is None or not work.mapping.takes_from_sheet(change.field):
        return
    before = members.key((link.shadow or {}).get(column))
    new = [n for n in members.names(change.value) if n.casefold() not in before]
    if new:
        _ids, unknown = work.member_resolver().resolve(", ".join(new))
        work.unknown_members(link.lead_id, {**(link.shadow or {}), column or "": change.value}, unknown, event)


def _warn_about_due(work: LeadWork, event: Event, lead_id: str, values: dict[str, str],
                    changed: list[str] | None) -> None:
    """A due or start date Trello cannot take is said in the history (the card keeps its date)."""
    for column, what in ((work.mapping.due_column, "due date"), (work.mapping.start_column, "start date")):
        value = values.get(column or "", "").strip()
        if not column or not value or (changed is not None and column not in changed) or due_to_trello(value):
            continue
        record(work.session, work.workspace.id, side=Side.SHEETS, action=HistoryAction.DUE_NOT_A_DATE,
               lead_id=lead_id, event_id=event.id, outcome=Outcome.ERROR,
               message=f"{column} {value!r} is not a date (write it like 2026-12-01): the card's {what} was "
                       "left as it was")


def sheet_row_removed(work: LeadWork, event: Event, data: dict[str, Any]) -> None:
    link = work.link if work.link is not None and work.link.lead_id == data["lead_id"] else \
        work.link_by_lead(data["lead_id"])
    if link is None or link.status != LINKED or link.card_id is None:
        work.done(event, "the row was not linked", IGNORED)
        return
    work.link = link
    work.remove_row(event, link)


# --------------------------------------------------------------------------- Trello


def _is_ours(work: LeadWork, event: Event, action: dict[str, Any]) -> bool:
    """By provenance where the app's id is known (then only by it); else by the ledger."""
    if event.echo:
        return True
    if work.ctx.settings.trello_app_id and work.ctx.trello_member:
        return provenance_is_ours(action, work.ctx.settings.trello_app_id, work.ctx.trello_member)
    ours = ledger_match(work.link, action)
    creator = action.get("appCreator")
    if ours and isinstance(creator, dict) and creator.get("id") and creator["id"] not in _APP_IDS_SEEN:
        _APP_IDS_SEEN.add(creator["id"])
        log.info("trello_app_id_seen", app_id=creator["id"],
                 hint="our own Trello writes carry this appCreator id: set TRELLO_APP_ID to it")
    return ours


_APP_IDS_SEEN: set[str] = set()


def trello_action(work: LeadWork, event: Event, action: dict[str, Any]) -> None:
    data = action.get("data") or {}
    card_id = (data.get("card") or {}).get("id")
    at = action_time_ms(action)
    link = work.link if work.link is not None and work.link.card_id == card_id else work.link_by_card(card_id)
    if link is not None:
        work.link = link
    ours = _is_ours(work, event, action)
    if not card_id:
        work.done(event, "the action names no card", IGNORED)
        return
    if event.kind in routing.MOVES and routing.moved_between_boards(work, event, action, link, ours=ours, at=at):
        return  # between two of the workspace's boards: the routing column follows the card
    if link is not None and filters.card_step(work, event, action, link, ours=ours, at=at):
        return  # the card left or entered the card filter, or is outside it
    if event.kind in CARD_APPEARS:
        if link is not None and not ours and event.kind == "moveCardToBoard" and cards.removed_from_board(link):
            work.card_reopened(link, (data.get("list") or {}).get("id"), at, event)  # moved back onto the board
            return
        if link is not None:
            work.done(event, "the card is already linked", IGNORED)
            return
        work.card_appeared(event, card_id, at, ours=ours)
        return
    if link is None:
        if event.kind == "updateCard" and _creations_in_flight(work):
            raise Defer(0.5, "waiting for card creations in flight")
        if filters.unlinked_card_enters(work, event, action, card_id, ours=ours, at=at):
            return  # moved into this workspace's filter (from another workspace's lists, say)
        work.done(event, "the card is not linked to a lead", IGNORED)
        return
    if event.kind in CARD_LEAVES:
        if link.status == LINKED and not ours:
            work.card_gone(link, CARD_LEAVES[event.kind], at, event)
        else:
            work.done(event, f"the link is {link.status}", IGNORED)
        return
    if event.kind == "commentCard":
        comment_recorded(work, event, action, link, at=at)
        return
    if event.kind in LABEL_ACTIONS:
        label_changed(work, event, action, link, ours=ours, at=at)
        return
    if event.kind in MEMBER_ACTIONS:
        member_changed(work, event, action, link, ours=ours, at=at)
        return
    if event.kind in CHECKLIST_ACTIONS:
        checklist_changed(work, event, link, at=at)
        return
    if event.kind == "updateCustomFieldItem":
        custom_field_changed(work, event, action, link, ours=ours, at=at)
        return
    if event.kind != "updateCard":
        work.done(event, "", IGNORED)
        return
    observed = observe_update(action, link, work.mapping, ours=ours, sheet_values=work.sheet_statuses,
                              event_id=event.id)
    routing.route_follows_list(work.mapping, action, link, observed, ours=ours, event_id=event.id)
    if observed.closed is True and not ours:
        if link.status == LINKED and _unarchived_by_us_since(work, link, at):
            work.done(event, "archived before our own write sent the card back to the board: it is open", IGNORED)
        elif link.status == LINKED:
            work.card_gone(link, "archived in Trello", at, event)
        else:
            work.done(event, f"the link is {link.status}", IGNORED)
        return
    if observed.closed is False and not ours and cards.removed_from_board(link):
        work.card_reopened(link, (data.get("list") or {}).get("id") or (data.get("card") or {}).get("idList"),
                           at, event)
    if link.status not in (LINKED, CARD_REMOVED):
        work.done(event, f"the link is {link.status}", IGNORED)
        return
    if observed.preamble is not None and not ours:
        work.preamble = observed.preamble
    work.add_changes(event, observed.changes, observed.landings)


def _unarchived_by_us_since(work: LeadWork, link: Any, at: float) -> bool:
    """Whether a person's archive at ``at`` was undone by a later write of ours that sent the card
    back to the board (a row leaving and entering the filter, or brought back, while the archive
    waited in the queue): the card is open now (one ``GET``, only then), so the archive is older
    than what Trello shows and is not the card leaving."""
    if not any((entry.get("body") or {}).get("closed") is False and entry.get("end", 0) + CLOCK_SKEW_MS >= at
               for entry in CardExtra.of(link).ledger):
        return False
    try:
        card = work.trello().get_card(link.card_id or "")
    except TrelloNotFound:
        return False
    return card.get("closed") is False


def label_changed(work: LeadWork, event: Event, action: dict[str, Any], link: Any, *, ours: bool, at: float) -> None:
    """A label added to or taken off a lead's card: the labels column with that name added or
    taken out (a person's change, or our own write landing)."""
    column = work.mapping.labels_column
    name = str(((action.get("data") or {}).get("label") or {}).get("name") or "").strip()
    if not column:
        work.done(event, "no column holds the labels", IGNORED)
        return
    if not name:  # no words in the column; the link remembers it, so a sheet edit keeps it on the card
        label_id = str(((action.get("data") or {}).get("label") or {}).get("id") or "")
        extra = CardExtra.of(link)
        kept = [i for i in extra.colour_labels if i != label_id]
        if LABEL_ACTIONS[event.kind] and label_id:
            kept.append(label_id)
        if tuple(kept) != extra.colour_labels:
            link.card_extra = replace(extra, colour_labels=tuple(kept)).to_json()
        work.done(event, "a label without a name has no words in the labels column", IGNORED)
        return
    if link.status not in (LINKED, CARD_REMOVED):
        work.done(event, f"the link is {link.status}", IGNORED)
        return
    base = work.labels_now if work.labels_now is not None else cell_text((link.shadow or {}).get(column))
    value = work.labels_now = labels.with_label(base, name, LABEL_ACTIONS[event.kind])
    if ours:
        work.add_changes(event, [], [Landing(column, value, at, Side.TRELLO)])
    else:
        work.add_changes(event, [Change(column, value, at, Side.TRELLO, event.id)])


def custom_field_changed(work: LeadWork, event: Event, action: dict[str, Any], link: Any, *, ours: bool,
                         at: float) -> None:
    """A custom field of a lead's card set or cleared: the value of the column mapped to it (a
    person's change, or our own batch write landing)."""
    data = action.get("data") or {}
    field = data.get("customField") or {}
    field_id = str(field.get("id") or "")
    column = next((c for c, f in work.mapping.custom_fields.items() if f == field_id), None)
    if column is None:
        work.done(event, f"no column holds the custom field “{field.get('name') or field_id}”", IGNORED)
        return
    if link.status not in (LINKED, CARD_REMOVED):
        work.done(event, f"the link is {link.status}", IGNORED)
        return
    item = data.get("customFieldItem") or {}
    definition = dict(field)
    if field.get("type") == "list":  # the option's text is in the board's definition
        found = customfields.definition(work.trello(), work.workspace.id, work.workspace.trello_board_id, field_id)
        if found is None or (item.get("idValue") and not any(o.get("id") == item["idValue"]
                                                             for o in found.get("options") or [])):
            found = customfields.definitions(work.trello(), work.workspace.id, work.workspace.trello_board_id,
                                             missing=True).get(field_id)
        definition = found or definition
    value = customfields.to_cell(definition, item)
    if ours:
        work.add_changes(event, [], [Landing(column, value, at, Side.TRELLO)])
    else:
        work.add_changes(event, [Change(column, value, at, Side.TRELLO, event.id)])


def member_changed(work: LeadWork, event: Event, action: dict[str, Any], link: Any, *, ours: bool, at: float) -> None:
    """A member added to or taken off a lead's card: the members column with that person added
    (by full name) or taken out (whichever way the cell named them); a person's change, or our
    own write landing."""
    column = work.mapping.members_column
    data = action.get("data") or {}
    member_id = str(data.get("idMember") or (data.get("member") or {}).get("id") or "")
    if not column:
        work.done(event, "no column holds the card's members", IGNORED)
        return
    if not member_id:
        work.done(event, "the action names no member", IGNORED)
        return
    if link.status not in (LINKED, CARD_REMOVED):
        work.done(event, f"the link is {link.status}", IGNORED)
        return
    raw = action.get("member")
    subject: dict[str, Any] = raw if isinstance(raw, dict) else {}
    display = str(subject.get("fullName") or (data.get("member") or {}).get("name") or subject.get("username") or "")
    base = work.members_now if work.members_now is not None else cell_text((link.shadow or {}).get(column))
    value = work.members_now = work.member_resolver().with_member(base, member_id, display,
                                                                 MEMBER_ACTIONS[event.kind])
    if ours:
        work.add_changes(event, [], [Landing(column, value, at, Side.TRELLO)])
    else:
        work.add_changes(event, [Change(column, value, at, Side.TRELLO, event.id)])


def checklist_changed(work: LeadWork, event: Event, link: Any, *, at: float) -> None:
    """A lead's card's checklists changed (an item ticked, added or deleted; a checklist added or
    removed): its progress is read once for the group and goes into the checklist column."""
    column = work.mapping.checklist_column
    if not column:
        work.done(event, "no column holds the checklist progress", IGNORED)
        return
    if link.status not in (LINKED, CARD_REMOVED) or not link.card_id:
        work.done(event, f"the link is {link.status}", IGNORED)
        return
    if work.checklist_now is None:
        try:
            checked, total = work.trello().checklist_progress(link.card_id)
        except TrelloNotFound:
            work.done(event, "the card no longer exists", IGNORED)
            return
        work.checklist_now = f"{checked}/{total}" if total else ""
    work.add_changes(event, [Change(column, work.checklist_now, at, Side.TRELLO, event.id)])


COMMENT_MAX_CHARS = 500


def comment_recorded(work: LeadWork, event: Event, action: dict[str, Any], link: Any, *, at: float = 0.0) -> None:
    """A comment on a lead's card goes into the lead's history, and into the comment column where
    the mapping has one (the newest comment by Trello's time wins)."""
    text = str((action.get("data") or {}).get("text") or "").strip()
    author = (action.get("memberCreator") or {}).get("fullName") or "Someone"
    if len(text) > COMMENT_MAX_CHARS:
        text = text[:COMMENT_MAX_CHARS - 1] + "…"
    record(work.session, work.workspace.id, side=Side.TRELLO, action=HistoryAction.COMMENT, lead_id=link.lead_id,
           card_id=link.card_id, event_id=event.id, message=f"{author} commented on the card: {text}")
    column = work.mapping.comment_column
    if column and link.status in (LINKED, CARD_REMOVED):
        work.add_changes(event, [Change(column, comment_text(action), at or action_time_ms(action), Side.TRELLO,
                                        event.id)])
        return
    work.done(event, "comment recorded")


def _creations_in_flight(work: LeadWork) -> bool:
    from sqlalchemy import select

    from ..models import Link

    return work.session.scalars(select(Link.id).where(Link.workspace_id == work.workspace.id,
                                                      Link.pending_op.is_not(None)).limit(1)).first() is not None


# --------------------------------------------------------------------------- commands


def create_card_command(work: LeadWork, event: Event, data: dict[str, Any]) -> None:
    """"Create card now" (the sidebar, the Power-Up) or a reconciliation's creation (with values)."""
    lead_id = data["lead_id"]
    link = work.link_by_lead(lead_id)
    if link is not None and link.card_id is not None:
        work.done(event, "the lead already has a card")
        return
    values = data.get("values")
    row = data.get("row")
    if values is None:
        from .sheet_writer import locate_rows

        tab = work.ctx.providers.sheet(work.session, work.workspace)
        header, rows = locate_rows(tab, work.workspace.id, work.ctx.headers, work.workspace.lead_id_column,
                                   work.workspace.header_row)
        row = rows.get(lead_id)
        if row is None:
            raise SyncError(f"lead {lead_id} is not in the sheet")
        cells = (tab.get(f"{row}:{row}") or [[]])[0]
        values = {column: cell_text(cells[i]) if i < len(cells) else "" for i, column in enumerate(header)}
        if link is None and (why := filters.row_refusal(work.mapping, values)):  # asked from the sidebar
            work.done(event, f"the row is outside the workspace's filter ({why}): no card was made", IGNORED)
            return
    work.create_card(event, lead_id, {k: cell_text(v) for k, v in values.items()},
                     float(data.get("at") or now_ms()), row)


def create_lead_command(work: LeadWork, event: Event, data: dict[str, Any]) -> None:
    """"Create lead" on a card (the Power-Up): the card gets a row."""
    if work.link_by_card(data["card_id"]) is not None:
        work.done(event, "the card already has a lead")
        return
    work.card_appeared(event, data["card_id"], now_ms(), ours=False)


def update_card_command(work: LeadWork, event: Event, data: dict[str, Any]) -> None:
    """A reconciliation's repair of one card (queued in the bulk lane)."""
    link = work.link_by_card(data["card_id"])
    fields = data.get("fields") or {}
    if link is None or not fields:
        work.done(event, "nothing to update", IGNORED)
        return
    work.link = link
    fields = dict(fields)
    custom = fields.pop("customFields", None)  # the custom fields' own batched call, after the PUT
    card: dict[str, Any] = {}
    try:
        if fields:
            card = cards.write_card(work.trello(), link, **fields)
        if custom:
            work.write_custom_fields(link, custom)
    except TrelloNotFound:
        work.done(event, "the card no longer exists", IGNORED)
        return
    work.ctx.outbound("trello", event.id)
    landed = cards.trello_time_ms(card, now_ms())
    from .merge import dump_clocks, load_clocks

    clocks = load_clocks(link.field_times)
    for name in work.mapping.synced_columns:
        if name in clocks:
            clocks[name].wt = max(clocks[name].wt, landed)
    link.field_times = {**(link.field_times or {}), **dump_clocks(clocks)}
    work.done(event)


def job_command(work: LeadWork, event: Event, data: dict[str, Any]) -> None:
    """Whole-workspace jobs run on the job runner, never in a lead's group."""
    raise SyncError(f"{event.kind} is a job; the event loop does not run it")


COMMANDS: dict[str, Handler] = {
    Command.CREATE_CARD: create_card_command,
    Command.CREATE_LEAD: create_lead_command,
    Command.UPDATE_CARD: update_card_command,
    RECONCILE: job_command,
    PREVIEW: job_command,
}


def command(work: LeadWork, event: Event, data: dict[str, Any]) -> None:
    handler = COMMANDS.get(event.kind)
    if handler is None:
        work.done(event, f"unknown command {event.kind}", IGNORED)
        return
    handler(work, event, data)


HANDLERS: dict[tuple[str, str], Handler] = {
    (SHEETS, SheetEventKind.ROW): sheet_row,
    (SHEETS, SheetEventKind.ROW_REMOVED): sheet_row_removed,
    (TRELLO, "*"): trello_action,
    (SYSTEM, "*"): command,
}


def handler_for(event: Event) -> Handler | None:
    return HANDLERS.get((event.source, event.kind)) or HANDLERS.get((event.source, "*"))


def payload_of(event: Event) -> dict[str, Any]:
    data = json.loads(event.payload)
    return data if isinstance(data, dict) else {}
