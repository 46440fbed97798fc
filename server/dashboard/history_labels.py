"""Plain words for the history log: actions, sides, outcomes, queued events and full-sync counts.

Pure functions over the stored values (no Flask, no database), so every label is unit-tested.
The tables are keyed by the values the sync writes (``server/sync``); an unknown value still
reads as words, never as a code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..models.enums import Command, EventSource, EventState, HistoryAction, HistorySide, Outcome, SheetEventKind

SIDE_LABELS: dict[str, str] = {
    HistorySide.SHEETS: "Sheet",
    HistorySide.TRELLO: "Trello",
    HistorySide.RECONCILE: "Full sync",
    HistorySide.SYSTEM: "System",
}

OUTCOME_LABELS: dict[str, str] = {
    Outcome.OK: "",
    Outcome.CONFLICT: "Conflict",
    Outcome.ERROR: "Failed",
    Outcome.SKIPPED: "Skipped",
}

_PROVIDER_WORDS = (("google", "Google"), ("sheet", "Google"), ("trello", "Trello"))


def _provider_in(message: str) -> str | None:
    lowered = message.lower()
    return next((name for word, name in _PROVIDER_WORDS if word in lowered), None)


def _conflict(side: str, outcome: str, message: str) -> str:
    # The entry is recorded from the side whose value lost; a full sync always keeps the sheet's.
    return "Conflict: kept Trello's value" if side == HistorySide.SHEETS else "Conflict: kept the sheet's value"


def _error(side: str, outcome: str, message: str) -> str:
    words: dict[str, str] = {
        HistorySide.SHEETS: "A change from the sheet could not be applied",
        HistorySide.TRELLO: "A change from Trello could not be applied",
        HistorySide.RECONCILE: "The full sync could not do everything",
    }
    return words.get(side, "Sync stopped on an error")


def _needs_reauth(side: str, outcome: str, message: str) -> str:
    provider = _provider_in(message)
    return f"Needs you to reconnect {provider}" if provider else "Needs you to reconnect an account"


def _update_row(side: str, outcome: str, message: str) -> str:
    return "Row could not be updated in the sheet" if outcome == Outcome.ERROR else "Row updated in the sheet"


def _card_removed(side: str, outcome: str, message: str) -> str:
    return "Card no longer on the board" if side == HistorySide.RECONCILE else "Card archived or deleted in Trello"


Label = str | Callable[[str, str, str], str]

#: action → plain words, or a function of (side, outcome, message) when the words depend on them.
ACTION_LABELS: dict[str, Label] = {
    HistoryAction.CREATE_CARD: "Card created in Trello",
    HistoryAction.APPEND_ROW: "Row added to the sheet",
    HistoryAction.UPDATE_CARD: "Card updated in Trello",
    HistoryAction.UPDATE_ROW: _update_row,
    HistoryAction.REVIVE_CARD: "Card brought back in Trello",
    HistoryAction.CARD_REOPENED: "Card back on the board",
    HistoryAction.DUE_NOT_A_DATE: "Due date not understood; the card's due date was kept",
    HistoryAction.ONE_WAY: "A change not passed on: the field syncs one way",
    HistoryAction.UNKNOWN_LABEL: "Label not on the board; not added to the card",
    HistoryAction.UNKNOWN_MEMBER: "Name not a board member; not added to the card",
    HistoryAction.UNKNOWN_ROUTE: "Routing value names no board; the card is on the main board",
    HistoryAction.CARD_REMOVED: _card_removed,
    HistoryAction.ROW_REMOVED: "Row deleted from the sheet",
    HistoryAction.ARCHIVE_CARD: "Row deleted, so its card was archived",
    HistoryAction.UNLINK: "Lead unlinked from its card",
    HistoryAction.DUPLICATE_REMOVED: "Duplicate card deleted in Trello",
    HistoryAction.STALE: "An older change was ignored",
    HistoryAction.CONFLICT: _conflict,
    HistoryAction.RECONCILE: "Sheet and board compared",
    HistoryAction.ERROR: _error,
    HistoryAction.NEEDS_REAUTH: _needs_reauth,
    HistoryAction.ROTATE_ADDON_SECRET: "Add-on secret rotated",
    HistoryAction.COMMENT: "Comment on the card",
    HistoryAction.MAPPING_CHANGED: "Mapping changed",
    HistoryAction.RELINK: "Links rebuilt from the lead ids",
    HistoryAction.FILTER_LEFT: "Left the workspace's filter",
    HistoryAction.FILTER_ENTERED: "Entered the workspace's filter",
}

#: What the action filter offers, in this order (values are ``History.action``).
ACTION_CHOICES: dict[str, str] = {
    HistoryAction.CREATE_CARD: "Cards created",
    HistoryAction.APPEND_ROW: "Rows added",
    HistoryAction.UPDATE_CARD: "Cards updated",
    HistoryAction.UPDATE_ROW: "Rows updated",
    HistoryAction.CONFLICT: "Conflicts",
    HistoryAction.STALE: "Older changes ignored",
    HistoryAction.CARD_REMOVED: "Cards removed",
    HistoryAction.ROW_REMOVED: "Rows removed",
    HistoryAction.ARCHIVE_CARD: "Cards archived",
    HistoryAction.UNLINK: "Leads unlinked",
    HistoryAction.REVIVE_CARD: "Cards brought back",
    HistoryAction.CARD_REOPENED: "Cards back on the board",
    HistoryAction.DUE_NOT_A_DATE: "Due dates not understood",
    HistoryAction.ONE_WAY: "One-way fields' changes not passed on",
    HistoryAction.UNKNOWN_LABEL: "Unknown labels",
    HistoryAction.UNKNOWN_MEMBER: "Unknown members",
    HistoryAction.UNKNOWN_ROUTE: "Unknown routing values",
    HistoryAction.DUPLICATE_REMOVED: "Duplicates deleted",
    HistoryAction.RECONCILE: "Full syncs",
    HistoryAction.ERROR: "Errors",
    HistoryAction.NEEDS_REAUTH: "Reconnect requests",
    HistoryAction.ROTATE_ADDON_SECRET: "Secret rotations",
    HistoryAction.COMMENT: "Comments",
    HistoryAction.MAPPING_CHANGED: "Mapping changes",
    HistoryAction.RELINK: "Relinks",
    HistoryAction.FILTER_LEFT: "Leads that left the filter",
    HistoryAction.FILTER_ENTERED: "Leads that entered the filter",
}

#: The side filter's choices (values are ``History.side``).
SIDE_CHOICES: dict[str, str] = {HistorySide.SHEETS: "Sheet", HistorySide.TRELLO: "Trello",
                                HistorySide.RECONCILE: "Full sync", HistorySide.SYSTEM: "System"}


def _words(code: str) -> str:
    """A code nobody listed (``some_action``, ``someAction``) as words."""
    spaced = "".join(f" {c.lower()}" if c.isupper() else c for c in code).replace("_", " ").strip()
    return spaced[:1].upper() + spaced[1:] if spaced else "Unknown"


def side_label(side: str) -> str:
    return SIDE_LABELS.get(side) or _words(side)


#: Actions whose label already says how they ended (no "Failed" tag after "could not be applied").
SELF_DESCRIBING = frozenset({HistoryAction.ERROR, HistoryAction.NEEDS_REAUTH, HistoryAction.CONFLICT,
                             HistoryAction.STALE})


def outcome_label(outcome: str, action: str = "") -> str:
    """The tag shown after the action's words; empty when it would only repeat them."""
    if action in SELF_DESCRIBING:
        return ""
    return OUTCOME_LABELS.get(outcome, _words(outcome))


def action_label(action: str, side: str = "", outcome: str = Outcome.OK, message: str = "") -> str:
    label = ACTION_LABELS.get(action)
    if label is None:
        return _words(action)
    return label if isinstance(label, str) else label(side, outcome, message or "")


# --------------------------------------------------------------------------- queued events

#: (source, kind) of a queued event → what it is.
EVENT_LABELS: dict[tuple[str, str], str] = {
    (EventSource.SHEETS, SheetEventKind.ROW): "Row change from the sheet",
    (EventSource.SHEETS, SheetEventKind.ROW_REMOVED): "Row deleted in the sheet",
    (EventSource.TRELLO, "createCard"): "Card created in Trello",
    (EventSource.TRELLO, "copyCard"): "Card copied in Trello",
    (EventSource.TRELLO, "updateCard"): "Card changed in Trello",
    (EventSource.TRELLO, "deleteCard"): "Card deleted in Trello",
    (EventSource.TRELLO, "moveCardFromBoard"): "Card moved to another board",
    (EventSource.TRELLO, "moveCardToBoard"): "Card moved onto the board",
    (EventSource.TRELLO, "convertToCardFromCheckItem"): "Checklist item turned into a card",
    (EventSource.TRELLO, "emailCard"): "Card emailed to the board",
    (EventSource.TRELLO, "commentCard"): "Comment added in Trello",
    (EventSource.TRELLO, "addLabelToCard"): "Label added in Trello",
    (EventSource.TRELLO, "removeLabelFromCard"): "Label taken off in Trello",
    (EventSource.TRELLO, "updateCustomFieldItem"): "Custom field changed in Trello",
    (EventSource.TRELLO, "addMemberToCard"): "Member added in Trello",
    (EventSource.TRELLO, "removeMemberFromCard"): "Member taken off in Trello",
    (EventSource.TRELLO, "updateCheckItemStateOnCard"): "Checklist item ticked or unticked in Trello",
    (EventSource.TRELLO, "addChecklistToCard"): "Checklist added in Trello",
    (EventSource.TRELLO, "removeChecklistFromCard"): "Checklist removed in Trello",
    (EventSource.TRELLO, "createCheckItem"): "Checklist item added in Trello",
    (EventSource.TRELLO, "deleteCheckItem"): "Checklist item deleted in Trello",
    (EventSource.SYSTEM, Command.RECONCILE): "Full sync",
    (EventSource.SYSTEM, Command.PREVIEW): "Preview of the first sync",
    (EventSource.SYSTEM, Command.CREATE_CARD): "Creating the lead's card",
    (EventSource.SYSTEM, Command.CREATE_LEAD): "Adding the card's row",
    (EventSource.SYSTEM, Command.UPDATE_CARD): "Repairing the card",
}

_SOURCE_WORDS: dict[str, str] = {EventSource.SHEETS: "Change from the sheet", EventSource.TRELLO: "Change in Trello",
                                  EventSource.SYSTEM: "Sync task"}


def event_label(source: str, kind: str) -> str:
    return EVENT_LABELS.get((source, kind)) or _SOURCE_WORDS.get(source) or _words(kind)


EVENT_STATE_LABELS: dict[str, str] = {
    EventState.PENDING: "Waiting to be applied",
    EventState.PROCESSING: "Being applied now",
    EventState.DONE: "Applied",
    EventState.IGNORED: "Nothing to do",
    EventState.PARKED: "Parked: failed, needs you",
}


def event_state_label(state: str) -> str:
    return EVENT_STATE_LABELS.get(state) or _words(state)


def event_reference(event_id: int | None) -> str:
    """How an event is referred to: never "#7", which reads like a sheet row."""
    return f"event {event_id}" if event_id else ""


# --------------------------------------------------------------------------- a full sync's counts


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


#: counter → how a non-zero count reads, in the order the sentence lists them.
_SYNC_PARTS: tuple[tuple[str, Callable[[int], str]], ...] = (
    ("links_to_make", lambda n: f"linked {_count(n, 'lead', 'leads')}"),
    ("cards_to_create", lambda n: f"created {_count(n, 'card', 'cards')}"),
    ("rows_to_append", lambda n: f"added {_count(n, 'row', 'rows')} to the sheet"),
    ("cards_to_update", lambda n: f"updated {_count(n, 'card', 'cards')}"),
    ("rows_to_update", lambda n: f"updated {_count(n, 'row', 'rows')}"),
    ("removed", lambda n: f"found {_count(n, 'lead', 'leads')} removed on one side"),
    ("conflicts", lambda n: f"settled {_count(n, 'conflict', 'conflicts')} (the sheet's value kept)"),
    ("errors", lambda n: f"could not handle {_count(n, 'lead', 'leads')}"),
)


def _as_int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


#: A relink's counters (``flask relink``), in the same way.
_RELINK_PARTS: tuple[tuple[str, Callable[[int], str]], ...] = (
    ("linked", lambda n: f"linked {_count(n, 'lead', 'leads')} by their lead ids"),
    ("relinked", lambda n: f"moved {_count(n, 'link', 'links')} to the card with the lead's id"),
    ("cards_to_update", lambda n: f"updated {_count(n, 'card', 'cards')}"),
    ("sheet_only", lambda n: f"found {_count(n, 'lead', 'leads')} only in the sheet"),
    ("trello_only", lambda n: f"found {_count(n, 'lead', 'leads')} only in Trello"),
    ("rows_without_id", lambda n: f"found {_count(n, 'row', 'rows')} without a lead id"),
    ("cards_without_marker", lambda n: f"found {_count(n, 'card', 'cards')} without a lead id"),
    ("problems", lambda n: f"could not relink {_count(n, 'lead', 'leads')}"),
)


def _sentence(parts_table: tuple[tuple[str, Callable[[int], str]], ...], counts: Mapping[str, Any]) -> str:
    parts = [render(_as_int(counts.get(key))) for key, render in parts_table if _as_int(counts.get(key))]
    if not parts:
        return "Nothing needed to change"
    if len(parts) == len(parts_table):
        return ", ".join(parts)
    return ", ".join([*parts, "nothing else changed"])


def _capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def relink_sentence(counts: Mapping[str, Any]) -> str:
    """``{"linked": 3, "relinked": 1, ...}`` → "Linked 3 leads by their lead ids, moved 1 link …"."""
    return _capitalised(_sentence(_RELINK_PARTS, counts))


def full_sync_sentence(counts: Mapping[str, Any]) -> str:
    """``{"links_to_make": 12, "cards_to_create": 3, ...}`` → "Linked 12 leads, created 3 cards,
    nothing else changed"."""
    sentence = _sentence(_SYNC_PARTS, counts)
    read = [_count(_as_int(counts.get(key)), one, many) for key, one, many in
            (("rows_read", "row", "rows"), ("cards_read", "card", "cards")) if key in counts]
    if read:
        sentence += f" (read {' and '.join(read)})"
    return _capitalised(sentence)


# --------------------------------------------------------------------------- field changes


def _text(value: Any, limit: int = 60) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quoted(value: Any) -> str:
    text = _text(value)
    return f"“{text}”" if text else "(empty)"


def _change_line(action: str, side: str, name: str, value: Any) -> str:
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        return f"{name}: {_text(value)}"
    old, new = value
    if action == HistoryAction.CONFLICT:  # [the value that lost, the value kept]
        lost = "Trello" if side != HistorySide.SHEETS else "the sheet"
        return f"{name}: kept {_quoted(new)}; {lost}'s {_quoted(old)} was not applied"
    if action == HistoryAction.STALE:  # [the late value, None]
        return f"{name}: {_quoted(old)} arrived late and was not applied"
    if old is None or old == "":
        return f"{name}: {_quoted(new)}"
    return f"{name}: {_quoted(old)} → {_quoted(new)}"


def change_lines(action: str, side: str, changes: Any) -> list[str]:
    """The entry's field changes as lines; a full sync's counters as one sentence."""
    if not isinstance(changes, dict) or not changes:
        return []
    if action == HistoryAction.RECONCILE:
        return [full_sync_sentence(changes)]
    if action == HistoryAction.RELINK:
        return [relink_sentence(changes)]
    return [_change_line(action, side, str(name), value) for name, value in changes.items()]


#: Actions whose stored message only repeats what the label and change lines already say.
MESSAGE_SHOWN_BY_LINES = frozenset({"reconcile", "relink", "conflict"})


def shown_message(action: str, message: str) -> str:
    return "" if action in MESSAGE_SHOWN_BY_LINES else (message or "")


# --------------------------------------------------------------------------- links


def row_url(spreadsheet_id: str, gid: int | None, row: int | None) -> str | None:
    """The lead's row in Google Sheets (its tab, the row selected), when the row is known."""
    if not spreadsheet_id or not row or row < 1:
        return None
    return f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit#gid={gid or 0}&range=A{row}"


def card_url(card_id: str | None) -> str | None:
    """The card in Trello (Trello opens a card by its id as by its short link)."""
    return f"https://trello.com/c/{card_id}" if card_id else None


__all__ = [
    "ACTION_CHOICES",
    "ACTION_LABELS",
    "EVENT_LABELS",
    "EVENT_STATE_LABELS",
    "OUTCOME_LABELS",
    "SELF_DESCRIBING",
    "SIDE_CHOICES",
    "SIDE_LABELS",
    "Outcome",
    "action_label",
    "card_url",
    "change_lines",
    "event_label",
    "event_reference",
    "event_state_label",
    "full_sync_sentence",
    "outcome_label",
    "relink_sentence",
    "row_url",
    "shown_message",
    "side_label",
]
