"""Checking a mapping as a person submitted it (the wizard's and the mapping editor's forms).

Plain functions over plain values (no Flask): each returns what it accepted and a list of
problems in words naming the status, list or column concerned. An empty list means valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field

from ..models.enums import CardPolicy, Direction, RowPolicy
from ..models.mapping import FieldMap, column_fields
from .mapping import normalise_status

MAX_STATUS = 100
MAX_STATUS_ROWS = 100
EXTRA_STATUS_ROWS = 3


ROW_POLICIES = {RowPolicy.ARCHIVE: "Archive its card", RowPolicy.UNLINK: "Keep the card, stop syncing it"}
CARD_POLICIES = {CardPolicy.SET_STATUS: "Set the row's status to…", CardPolicy.UNLINK: "Keep the row, stop syncing it"}


def clean(text: object, limit: int = MAX_STATUS) -> str:
    """Spacing collapsed, cut to ``limit``."""
    return " ".join(str(text or "").split())[:limit]


@dataclass
class StatusAnswer:
    status_to_list: dict[str, str] = field(default_factory=dict)
    list_to_status: dict[str, str] = field(default_factory=dict)
    default_status: str = ""
    problems: list[str] = field(default_factory=list)


def status_pairs(get: Callable[[str], str | None]) -> list[tuple[str, str]]:
    """The (status, list id) rows of a statuses form: ``status_name_N``/``status_list_N`` then
    ``extra_status_N``/``extra_list_N``; ``get`` reads a form field (None when absent)."""
    pairs: list[tuple[str, str]] = []
    for prefix_name, prefix_list, limit in (("status_name_", "status_list_", MAX_STATUS_ROWS),
                                            ("extra_status_", "extra_list_", EXTRA_STATUS_ROWS + 10)):
        for index in range(limit):
            name = get(f"{prefix_name}{index}")
            if name is None:
                break
            pairs.append((name, get(f"{prefix_list}{index}") or ""))
    return pairs


def check_statuses(pairs: Sequence[tuple[str, str]], reverse: MappingType[str, str], default: str,
                   lists: Sequence[tuple[str, str]]) -> StatusAnswer:
    """Check the status → list rows, the list → status table and the empty-status default.

    Every status needs a list (nothing goes to a list by default); every list needs the status a
    card moved there writes, and that status must lead back to the same list.
    """
    names = dict(lists)
    out = StatusAnswer()
    seen: dict[str, str] = {}
    for raw_status, list_id in pairs:
        status = clean(raw_status)
        if not status:
            continue
        if list_id not in names:
            out.problems.append(f"Choose a list for the status “{status}”.")
            continue
        key = normalise_status(status)
        if key in seen:
            if seen[key] != list_id:
                out.problems.append(f"The status “{status}” is given two different lists; keep one.")
            continue
        seen[key] = list_id
        out.status_to_list[status] = list_id
    for list_id, name in lists:
        status = clean(reverse.get(list_id, ""))
        if not status:
            out.problems.append(f"Give the status a row takes when its card moves to “{name}”.")
            continue
        out.list_to_status[list_id] = status
        key = normalise_status(status)
        if key not in seen:
            seen[key] = list_id
            out.status_to_list[status] = list_id
        elif seen[key] != list_id:
            out.problems.append(f"“{status}” is the status for cards moved to “{name}”, but that status is "
                                f"mapped to another list (“{names.get(seen[key], '?')}”); map it to “{name}” or "
                                "choose another status.")
    if not out.status_to_list:
        out.problems.append("Map at least one status to a list.")
    default = clean(default)
    if default and normalise_status(default) not in seen:
        out.problems.append(f"The status for rows with an empty status (“{default}”) is not mapped to a list.")
    out.default_status = default or next(iter(out.status_to_list), "")
    return out


#: the choices of a column's direction, as the forms offer them
DIRECTION_CHOICES = {Direction.BOTH: "Both ways", Direction.TO_TRELLO: "Sheet → Trello only",
                     Direction.TO_SHEET: "Trello → sheet only"}
#: the optional one-column fields, as the forms name them: (form key, words for a problem)
OPTIONAL_COLUMNS = (("due_column", "due date"), ("start_column", "start date"),
                    ("due_done_column", "“done”"), ("card_url_column", "card link"), ("labels_column", "labels"),
                    ("members_column", "members"), ("checklist_column", "checklist progress"),
                    ("comment_column", "latest comment"))
MAX_MEMBER_EMAILS = 500
_EMAIL_LINE = re.compile(r"^([^\s=:@]+@[^\s=:]+)\s*(?:=|:|\s)\s*@?([^\s=:].*)$")


@dataclass
class ColumnAnswer:
    title_column: str = ""
    status_column: str = ""
    due_column: str | None = None
    description_columns: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    start_column: str | None = None
    due_done_column: str | None = None
    card_url_column: str | None = None
    labels_column: str | None = None
    directions: dict[str, Direction] = field(default_factory=dict)  # the one-way columns only
    custom_fields: dict[str, str] = field(default_factory=dict)  # column -> the board's custom field id
    members_column: str | None = None
    checklist_column: str | None = None
    comment_column: str | None = None
    member_emails: dict[str, str] = field(default_factory=dict)  # email -> member id or username

    def fields(self) -> tuple[FieldMap, ...]:
        """The synced columns these answers make, for ``Mapping(fields=...)``."""
        return column_fields(self.title_column, self.status_column, self.description_columns, self.due_column,
                             start=self.start_column, due_done=self.due_done_column, card_url=self.card_url_column,
                             labels=self.labels_column, directions=self.directions,
                             custom_fields=self.custom_fields, members=self.members_column,
                             checklist=self.checklist_column, comment=self.comment_column)


def directions_from_form(get: Callable[[str], str | None], columns: Sequence[str]) -> dict[str, str]:
    """The direction chosen for each column (form fields ``direction:<column>``), where one was."""
    out: dict[str, str] = {}
    for column in columns:
        value = get(f"direction:{column}")
        if value:
            out[column] = value
    return out


def member_emails_from_text(text: str) -> tuple[dict[str, str], list[str]]:
    """The email ⇄ member table as a person typed it: ``email = username`` entries separated by
    commas or semicolons (one line: the pages' forms take no line breaks); ``:`` or a space also
    separate an email from its member (a member id or full name works too); and the problems,
    naming the entry."""
    table: dict[str, str] = {}
    problems: list[str] = []
    for line in re.split(r"[,;\r\n]", str(text or "")):
        line = line.strip()
        if not line:
            continue
        found = _EMAIL_LINE.match(line)
        if found is None:
            problems.append(f"“{clean(line, 80)}” in the member table is not “email = Trello username”.")
            continue
        email, member = clean(found.group(1), 200).casefold(), clean(found.group(2), 100)
        table[email] = member
    if len(table) > MAX_MEMBER_EMAILS:
        problems.append(f"The member table takes at most {MAX_MEMBER_EMAILS} emails.")
    return table, problems


def member_emails_text(table: MappingType[str, str]) -> str:
    """The email ⇄ member table as the form shows it."""
    return ", ".join(f"{email} = {member}" for email, member in table.items())


def custom_fields_from_form(get: Callable[[str], str | None], field_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(column, custom field id) of each board custom field given a column (form fields
    ``custom_field:<field id>``), in the board's order."""
    return [(column, field_id) for field_id in field_ids if (column := get(f"custom_field:{field_id}") or "")]


def check_columns(columns: Sequence[str], title: str, status: str, due: str | None,
                  description: Sequence[str], *, start: str | None = None, due_done: str | None = None,
                  card_url: str | None = None, labels: str | None = None,
                  directions: MappingType[str, str] | None = None,
                  custom_fields: Sequence[tuple[str, str]] = (), members: str | None = None,
                  checklist: str | None = None, comment: str | None = None,
                  member_emails: str = "") -> ColumnAnswer:
    """Check the column choices against the sheet's header columns (``member_emails``: the
    email ⇄ member table as typed, ``member_emails_from_text``)."""
    out = ColumnAnswer(title_column=title, status_column=status, due_column=due or None,
                       start_column=start or None, due_done_column=due_done or None, card_url_column=card_url or None,
                       labels_column=labels or None, members_column=members or None,
                       checklist_column=checklist or None, comment_column=comment or None)
    out.member_emails, problems = member_emails_from_text(member_emails)
    out.problems.extend(problems)
    if title not in columns:
        out.problems.append("Choose the column that becomes the card title.")
    if status not in columns:
        out.problems.append("Choose the column that holds the status.")
    if title and title == status:
        out.problems.append("The title and the status must be different columns.")
    taken = [title, status]
    for key, words in OPTIONAL_COLUMNS:
        chosen = getattr(out, key)
        if chosen is None:
            continue
        if chosen not in columns or chosen in taken:
            out.problems.append(f"The {words} column must be another column (or none).")
        taken.append(chosen)
    for column, field_id in custom_fields:
        if column not in columns or column in taken:
            out.problems.append(f"“{clean(column)}” cannot hold a Trello custom field: it is not in the sheet or "
                                "already holds another field (choose another column, or none).")
            continue
        out.custom_fields[column] = field_id
        taken.append(column)
    unknown = [c for c in description if c not in columns]
    if unknown:
        out.problems.append(f"The sheet has no column “{clean(unknown[0])}” for the card description.")
    out.description_columns = [c for c in dict.fromkeys(description) if c in columns and c not in taken]
    synced = {title, *out.description_columns, *(getattr(out, key) for key, _ in OPTIONAL_COLUMNS),
              *out.custom_fields}
    for column, value in (directions or {}).items():
        try:
            direction = Direction(value)
        except ValueError:
            out.problems.append(f"Choose which way “{clean(column)}” syncs.")
            continue
        if column in synced and direction is not Direction.BOTH:
            out.directions[column] = direction
    return out


@dataclass
class PolicyAnswer:
    row_removed_policy: str = RowPolicy.ARCHIVE
    card_removed_policy: str = CardPolicy.SET_STATUS
    card_removed_status: str = "Archived"
    problems: list[str] = field(default_factory=list)


def check_policies(row_policy: str, card_policy: str, card_status: str) -> PolicyAnswer:
    out = PolicyAnswer()
    if row_policy in ROW_POLICIES:
        out.row_removed_policy = row_policy
    else:
        out.problems.append("Choose what happens to a card when its row is deleted.")
    if card_policy in CARD_POLICIES:
        out.card_removed_policy = card_policy
    else:
        out.problems.append("Choose what happens to a row when its card is archived or deleted.")
    status = clean(card_status)
    if card_policy == CardPolicy.SET_STATUS and not status:
        out.problems.append("Give the status a row takes when its card is archived or deleted.")
    out.card_removed_status = status or "Archived"
    return out


__all__ = [
    "CARD_POLICIES",
    "EXTRA_STATUS_ROWS",
    "ROW_POLICIES",
    "CardPolicy",
    "ColumnAnswer",
    "DIRECTION_CHOICES",
    "OPTIONAL_COLUMNS",
    "PolicyAnswer",
    "RowPolicy",
    "StatusAnswer",
    "check_columns",
    "check_policies",
    "check_statuses",
    "clean",
    "custom_fields_from_form",
    "directions_from_form",
    "member_emails_from_text",
    "member_emails_text",
    "status_pairs",
]
