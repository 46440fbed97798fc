"""Connection health of a workspace, in plain words: the add-on, the Power-Up, the Trello webhook
and each connected account's grant. Pure: it reads what was recorded and a clock, calls nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ..models import ProviderAccount, Workspace, WorkspaceBoard
from .grants import BROKEN, EXPIRY_WORDS, GrantExpiry, account_label


class Health(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class HealthLine:
    key: str  # addon, powerup, webhook, google, trello
    label: str
    health: Health
    text: str


@dataclass(frozen=True)
class HealthReport:
    lines: tuple[HealthLine, ...]

    @property
    def worst(self) -> Health:
        order = (Health.PROBLEM, Health.WARNING, Health.UNKNOWN, Health.OK)
        return next((h for h in order if any(line.health == h for line in self.lines)), Health.OK)

    def line(self, key: str) -> HealthLine:
        return next(line for line in self.lines if line.key == key)


def ago(then: datetime, now: datetime) -> str:
    """``then`` relative to ``now`` in words: "just now", "5 minutes ago", "3 days ago"."""
    seconds = max(0.0, (now - then).total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def within(then: datetime, now: datetime) -> str:
    """How long until ``then``, in words: "in 2 days", "in 5 hours"."""
    seconds = max(0.0, (then - now).total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            return f"in {count} {unit}{'' if count == 1 else 's'}"
    return "in less than a minute"


def _day(value: datetime) -> str:
    return value.strftime("%d %b %Y %H:%M UTC")


def addon_line(workspace: Workspace, now: datetime) -> HealthLine:
    seen = workspace.addon_last_seen_at
    if seen is None:
        return HealthLine("addon", "Google Sheets add-on", Health.UNKNOWN,
                          "Not heard from yet: open the sheet and choose Leads Sync › Connect to server….")
    return HealthLine("addon", "Google Sheets add-on", Health.OK, f"Last heard from {ago(seen, now)}.")


def powerup_line(workspace: Workspace, now: datetime) -> HealthLine:
    seen = workspace.powerup_last_seen_at
    if seen is None:
        return HealthLine("powerup", "Trello Power-Up", Health.UNKNOWN,
                          "Not used on this board yet: enable the Leads Sync Power-Up from the board's Power-Ups menu.")
    return HealthLine("powerup", "Trello Power-Up", Health.OK, f"Enabled on the board, last used {ago(seen, now)}.")


def webhook_line(workspace: Workspace | WorkspaceBoard, now: datetime, key: str = "webhook",
                 label: str = "Trello webhook") -> HealthLine:
    """The primary board's webhook (on the workspace), or a further board's (``WorkspaceBoard``)."""
    checked = workspace.webhook_checked_at
    if checked is None:
        return HealthLine(key, label, Health.UNKNOWN, "Not checked yet (the worker checks it hourly).")
    detail = workspace.webhook_detail or ("active" if workspace.webhook_active else "not active")
    text = f"{detail[0].upper()}{detail[1:]} (checked {ago(checked, now)})."
    if not workspace.webhook_active:
        return HealthLine(key, label, Health.PROBLEM,
                          text + " Trello changes are not arriving; the worker tries again at its next check.")
    recently_fixed = workspace.webhook_reregistered_at is not None and workspace.webhook_reregistered_at >= checked
    return HealthLine(key, label, Health.WARNING if recently_fixed else Health.OK, text)


def account_line(key: str, account: ProviderAccount | None, now: datetime, warn: timedelta,
                 service_account: bool = False) -> HealthLine:
    provider = "Google" if key == "google" else "Trello"
    label = f"{provider} account"
    if account is None and service_account:
        return HealthLine(key, label, Health.OK, "The server's Google service account is used "
                                                 "(GOOGLE_SERVICE_ACCOUNT_JSON; no grant expires).")
    if account is None:
        return HealthLine(key, label, Health.PROBLEM, f"No {provider} account is connected to this workspace.")
    name = account_label(account)
    if account.status == BROKEN:
        return HealthLine(key, label, Health.PROBLEM,
                          f"{provider} refused the {name}: connect it again on the Connections page.")
    expires = account.grant_expires_at
    if expires is not None and expires <= now:
        return HealthLine(key, label, Health.PROBLEM,
                          f"The {name}'s access expired on {_day(expires)}: connect it again on the Connections page.")
    if expires is not None and expires <= now + warn:
        return HealthLine(key, label, Health.WARNING,
                          f"The {name}'s access expires {within(expires, now)} ({_day(expires)}): "
                          "connect it again on the Connections page before then.")
    kind = GrantExpiry(account.grant_expiry) if account.grant_expiry in set(GrantExpiry) else GrantExpiry.UNKNOWN
    how = f"expires on {_day(expires)}" if expires is not None else EXPIRY_WORDS[kind]
    return HealthLine(key, label, Health.OK, f"The {name} is valid ({how}).")


def build_report(workspace: Workspace, google: ProviderAccount | None, trello: ProviderAccount | None,
                 now: datetime, warn: timedelta, *, google_service_account: bool = False,
                 boards: Sequence[tuple[WorkspaceBoard, str]] = ()) -> HealthReport:
    """Everything the workspace page's *Connection health* block shows, worst first in its badge;
    ``google_service_account``: the server reads sheets as its service account when a workspace has
    no Google account."""
    return HealthReport((
        addon_line(workspace, now),
        powerup_line(workspace, now),
        webhook_line(workspace, now),
        *(webhook_line(row, now, f"webhook:{row.board_id}", f"Trello webhook of “{name}”") for row, name in boards),
        account_line("google", google, now, warn, google_service_account),
        account_line("trello", trello, now, warn),
    ))


__all__ = ["Health", "HealthLine", "HealthReport", "account_line", "ago", "build_report", "within"]
