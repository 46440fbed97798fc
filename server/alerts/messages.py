"""What an alert says: plain words naming the workspace (and the lead), a link to act on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..models import AlertIncident, Workspace
from ..sync.health_report import ago

PREFIX = "Leads Sync: "


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str

    def slack_payload(self) -> dict[str, Any]:
        """An incoming-webhook message: ``text`` is the notification, the blocks what Slack shows."""
        return {"text": self.subject,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{self.subject}*"}},
                           {"type": "section", "text": {"type": "plain_text", "text": self.text}}]}


def workspace_url(base_url: str, workspace: Workspace) -> str:
    return f"{base_url.rstrip('/')}/app/workspaces/{workspace.id}"


def opened_notice(incident: AlertIncident, workspace: Workspace, base_url: str) -> Notice:
    return Notice(PREFIX + incident.summary,
                  f"{incident.summary}.\n\n{incident.detail}\n\n"
                  f"Open the workspace: {workspace_url(base_url, workspace)}\n"
                  "You get one message when this starts and one when it is over.")


def resolved_notice(incident: AlertIncident, workspace: Workspace, base_url: str) -> Notice:
    assert incident.resolved_at is not None
    lasted = ago(incident.opened_at, incident.resolved_at).removesuffix(" ago")
    return Notice(PREFIX + f"Resolved: {incident.summary}",
                  f"Resolved: {incident.summary} (after {lasted}, at {incident.resolved_at:%d %b %Y %H:%M} UTC).\n\n"
                  f"Workspace: {workspace_url(base_url, workspace)}")


def digest_notice(workspace: Workspace, open_now: list[AlertIncident], resolved_today: list[AlertIncident],
                  counts: dict[str, int], base_url: str, now: datetime) -> Notice:
    """The daily digest of one workspace."""
    if open_now:
        headline = f"{len(open_now)} problem{'s' if len(open_now) != 1 else ''} open"
    else:
        headline = "all well"
    lines = [f'Daily summary of "{workspace.name}" on {now:%d %b %Y}: {headline}.', ""]
    lines += [f"Open since {i.opened_at:%d %b %H:%M} UTC: {i.summary}" for i in open_now]
    lines += [f"Resolved: {i.summary}" for i in resolved_today]
    totals = (f"Changes synced in the last day: {counts.get('done', 0)}; waiting: {counts.get('pending', 0)}; "
              f"parked: {counts.get('parked', 0)}.")
    lines += ["", totals, "", f"Workspace: {workspace_url(base_url, workspace)}"]
    return Notice(PREFIX + f'Daily summary of "{workspace.name}": {headline}', "\n".join(lines))


__all__ = ["Notice", "digest_notice", "opened_notice", "resolved_notice", "workspace_url"]
