"""The states, kinds and policies the data model stores, as ``StrEnum``s (and the event lanes).

A ``StrEnum`` member *is* its string (``WorkspaceState.ACTIVE == "active"``), so the columns
keep holding the same text and a value read back as a plain ``str`` compares equal to its
member. Each enum names the column it is for.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

# --------------------------------------------------------------------------- events (``events``)


class EventState(StrEnum):
    """``Event.state``: where an event is; ``server/sync/queue.py`` makes every change of it."""

    PENDING = "pending"
    PROCESSING = "processing"  # claimed by a worker under a lease (locked_by, locked_until)
    DONE = "done"
    IGNORED = "ignored"
    PARKED = "parked"  # failed N times, or failed in a way retrying cannot fix; shown to the user


class Lane(IntEnum):
    """``Event.lane``: which work goes first: live edits before bulk work; jobs run on their own threads."""

    LIVE = 0  # webhooks of people's edits, and what a person asks for one lead
    BULK = 1  # big pastes, and the card creations and updates a reconciliation queues
    JOB = 2  # whole-workspace jobs (reconcile, preview), taken by the job runner only


class EventSource(StrEnum):
    """``Event.source``: who delivered the event."""

    SHEETS = "sheets"  # the add-on
    TRELLO = "trello"  # Trello's webhook
    SYSTEM = "system"  # a command a person or a job queued (its ``kind`` is a ``Command``)


class SheetEventKind(StrEnum):
    """``Event.kind`` of the add-on's events (Trello's are its action types, ``updateCard``…)."""

    ROW = "row"
    ROW_REMOVED = "row_removed"


class Command(StrEnum):
    """``Event.kind`` of ``system`` events: what a person (or a job) asks the worker to do."""

    RECONCILE = "reconcile"  # a full sync (a whole-workspace job)
    PREVIEW = "preview"  # a draft's dry run (a whole-workspace job the worker runs even for drafts)
    CREATE_CARD = "create_card"  # data: lead_id (and, from a reconciliation, the row's values)
    CREATE_LEAD = "create_lead"  # data: card_id
    UPDATE_CARD = "update_card"  # data: card_id, fields (a reconciliation's card repair)


# --------------------------------------------------------------------------- links (``links``)


class LinkStatus(StrEnum):
    """``Link.status``."""

    LINKED = "linked"
    UNLINKED = "unlinked"  # the user's policy cut the link; the lead id is remembered so nothing is recreated
    ROW_REMOVED = "row_removed"  # the row was deleted; its card archived by policy
    CARD_REMOVED = "card_removed"  # the card was archived/deleted/moved; the row shows the "removed" status


class LinkSyncState(StrEnum):
    """``Link.sync_state``: how the lead's last change went (the Power-Up and the add-on show it)."""

    SYNCED = "synced"
    PENDING = "pending"
    ERROR = "error"


class PendingOp(StrEnum):
    """``Link.pending_op``: a creation in flight (crash recovery looks for it)."""

    CREATE_CARD = "create_card"
    APPEND_ROW = "append_row"


# --------------------------------------------------------------------------- workspaces (``workspaces``)


class WorkspaceState(StrEnum):
    """``Workspace.state``."""

    ACTIVE = "active"
    PAUSED = "paused"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"
    # Saved by the wizard, not yet started: only its preview (a dry run) ever runs; see
    # ``server/sync/preview.py``.
    DRAFT = "draft"


class RowPolicy(StrEnum):
    """``Workspace.row_removed_policy``: what happens to a card when its row is deleted."""

    ARCHIVE = "archive"
    UNLINK = "unlink"


class CardPolicy(StrEnum):
    """``Workspace.card_removed_policy``: what happens to a row when its card is archived, deleted
    or moved off the board."""

    SET_STATUS = "set_status"
    UNLINK = "unlink"


class MemberRole(StrEnum):
    """``WorkspaceMember.role``."""

    MEMBER = "member"


class FieldKind(StrEnum):
    """What a mapped sheet column is on the card (``server.models.mapping.FieldMap.kind``)."""

    TITLE = "title"  # the card's name
    STATUS = "status"  # the card's list, through the status ⇄ list tables
    DESCRIPTION = "description"  # a "Column: value" line of the card's description
    DUE = "due"  # the card's due date
    START = "start"  # the card's start date
    DUE_DONE = "due_done"  # the card's "done" (``dueComplete``), a checkbox-like column
    CARD_URL = "card_url"  # the card's short URL, written into the sheet only (read-only)
    LABELS = "labels"  # the card's label names, comma-separated
    CUSTOM_FIELD = "custom_field"  # one of the board's Trello custom fields (``FieldMap.custom_field_id``)
    MEMBERS = "members"  # the card's members (an owner column), comma-separated names
    CHECKLIST = "checklist"  # the card's checklist progress ("3/5"), written into the sheet only (read-only)
    COMMENT = "comment"  # the card's latest comment, written into the sheet only (read-only)


class Direction(StrEnum):
    """Which way a mapped field's changes travel (``server.models.mapping.FieldMap.direction``)."""

    BOTH = "both"  # sheet → card and card → sheet (a field without a stored direction)
    TO_TRELLO = "to_trello"  # sheet → card only: a change made on the card is not taken into the sheet
    TO_SHEET = "to_sheet"  # card → sheet only: a change made in the sheet is not sent to the card


# --------------------------------------------------------------------------- accounts (``provider_accounts``)


class Provider(StrEnum):
    """``ProviderAccount.provider``."""

    GOOGLE = "google"
    TRELLO = "trello"


class AccountStatus(StrEnum):
    """``ProviderAccount.status``."""

    OK = "ok"
    NEEDS_REAUTH = "needs_reauth"  # revoked grant, 401 from the provider


class GrantExpiry(StrEnum):
    """``ProviderAccount.grant_expiry``: how a grant can expire."""

    NEVER = "never"
    GOOGLE_TESTING = "google_testing"  # a Testing-mode Google client: 7 days after consent
    TRELLO_TOKEN = "trello_token"  # the expiration asked for on Trello's authorize page
    UNKNOWN = "unknown"  # connected before this was recorded


# --------------------------------------------------------------------------- history (``history``)


class HistorySide(StrEnum):
    """``History.side``: where a history entry's change came from."""

    SHEETS = "sheets"
    TRELLO = "trello"
    RECONCILE = "reconcile"
    SYSTEM = "system"


class HistoryAction(StrEnum):
    """``History.action``: what the sync did (``server/dashboard/history_labels.py`` words each)."""

    CREATE_CARD = "create_card"
    APPEND_ROW = "append_row"
    UPDATE_CARD = "update_card"
    UPDATE_ROW = "update_row"
    REVIVE_CARD = "revive_card"
    CARD_REOPENED = "card_reopened"
    DUE_NOT_A_DATE = "due_not_a_date"
    ONE_WAY = "one_way"  # a change from a side its field does not take from, not passed on
    UNKNOWN_LABEL = "unknown_label"  # a label name the board does not have: not added
    UNKNOWN_MEMBER = "unknown_member"  # a name in the members column no board member answers to: not added
    UNKNOWN_ROUTE = "unknown_route"  # a routing value that names no board: the primary board
    CARD_REMOVED = "card_removed"
    ROW_REMOVED = "row_removed"
    ARCHIVE_CARD = "archive_card"
    UNLINK = "unlink"
    DUPLICATE_REMOVED = "duplicate_removed"
    STALE = "stale"
    CONFLICT = "conflict"
    RECONCILE = "reconcile"
    ERROR = "error"
    NEEDS_REAUTH = "needs_reauth"
    ROTATE_ADDON_SECRET = "rotate_addon_secret"
    COMMENT = "comment"
    MAPPING_CHANGED = "mapping_changed"
    RELINK = "relink"
    FILTER_LEFT = "filter_left"  # a row or card no longer in the workspace's filters: the removal policy
    FILTER_ENTERED = "filter_entered"  # a row or card back in them: its card or row again


class Outcome(StrEnum):
    """``History.outcome``."""

    OK = "ok"
    CONFLICT = "conflict"
    ERROR = "error"
    SKIPPED = "skipped"


# --------------------------------------------------------------------------- alerts (``alert_*``)


class IncidentKind(StrEnum):
    """``AlertIncident.kind``."""

    SYNC_STOPPED = "sync_stopped"  # needs re-authorisation
    WEBHOOK_LOST = "webhook_lost"  # Trello's webhook gone or deactivated, and not registered again
    EVENTS_PARKED = "events_parked"  # changes that failed for good until someone retries them
    GRANT_EXPIRING = "grant_expiring"  # an account's access expires soon


class EmailMode(StrEnum):
    """``AlertPreference.email_mode``."""

    IMMEDIATE = "immediate"  # an email when an incident opens and when it is resolved
    OFF = "off"


__all__ = [
    "AccountStatus",
    "CardPolicy",
    "Command",
    "Direction",
    "EmailMode",
    "EventSource",
    "EventState",
    "FieldKind",
    "GrantExpiry",
    "HistoryAction",
    "HistorySide",
    "IncidentKind",
    "Lane",
    "LinkStatus",
    "LinkSyncState",
    "MemberRole",
    "Outcome",
    "PendingOp",
    "Provider",
    "RowPolicy",
    "SheetEventKind",
    "WorkspaceState",
]
