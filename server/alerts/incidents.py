"""Incidents: what is wrong with a workspace now, opened once and resolved once.

A *condition* is what a look at the workspace finds (sync stopped, webhook lost, events parked, a
grant about to expire). An incident is opened for a condition that has none open, and resolved when
its condition is gone; 50 parked events are one condition, so one incident and one alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AlertIncident, Event, Link, ProviderAccount, Workspace
from ..models.enums import AccountStatus, IncidentKind
from ..models.mapping import Mapping
from ..models.sync import PARKED
from ..models.workspace import ACTIVE, NEEDS_REAUTH
from ..sync.grants import account_label, expires_within
from ..sync.health_report import within
from ..sync.mapping import cell_text


@dataclass(frozen=True)
class Condition:
    kind: IncidentKind
    subject: str  # what it is about within the workspace ("" or an account id)
    summary: str  # one line, plain words, naming the workspace (and the lead)
    detail: str


@dataclass
class Changes:
    opened: list[AlertIncident]
    resolved: list[AlertIncident]


def _quote(name: str) -> str:
    """Straight quotes: a subject line of plain ASCII stays unencoded, readable in any mail client."""
    return f'"{name}"'


def lead_name(session: Session, workspace: Workspace, event: Event) -> str:
    """The lead an event is about, as a person knows it: its name, else its lead id or card."""
    kind, _, value = event.order_key.partition(":")
    title = Mapping.of_or_default(workspace).title_column
    if kind == "lead":
        link = session.scalars(select(Link).where(Link.workspace_id == workspace.id, Link.lead_id == value)).first()
        name = cell_text((link.shadow or {}).get(title, "")) if link is not None else ""
        if name:
            return name
    payload: dict[str, Any] = {}
    try:
        loaded = json.loads(event.payload or "{}")
        payload = loaded if isinstance(loaded, dict) else {}
    except ValueError:
        pass
    values = payload.get("values") if isinstance(payload.get("values"), dict) else {}
    card = ((payload.get("action") or {}).get("data") or {}).get("card") if isinstance(payload.get("action"), dict) \
        else None
    name = cell_text(values.get(title, "")) if values else ""
    if not name and isinstance(card, dict):
        name = str(card.get("name") or "")
    return name or (f"lead {value}" if kind == "lead" else f"card {value}" if kind == "card" else "a lead")


def _parked(session: Session, workspace: Workspace) -> Condition | None:
    count = session.scalar(select(func.count()).select_from(Event).where(Event.workspace_id == workspace.id,
                                                                         Event.state == PARKED)) or 0
    if not count:
        return None
    first = session.scalars(select(Event).where(Event.workspace_id == workspace.id, Event.state == PARKED)
                            .order_by(Event.id).limit(1)).one()
    lead = lead_name(session, workspace, first)
    more = f" and {count - 1} more change{'s' if count > 2 else ''}" if count > 1 else ""
    return Condition(IncidentKind.EVENTS_PARKED, "",
                     f"Changes to {_quote(lead)} could not be synced in {_quote(workspace.name)}",
                     f"The change to {_quote(lead)}{more} failed and stopped being retried: "
                     f"{first.last_error or 'no error recorded'}. Fix the cause, then press Retry on the "
                     "workspace page.")


def _routed_webhooks_lost(session: Session, workspace: Workspace, ws: str) -> list[Condition]:
    from ..trello.board_webhooks import rows_of

    lost = [row for row in rows_of(session, workspace.id) if row.webhook_active is False]
    if not lost:
        return []
    routing = Mapping.of_or_default(workspace).routing
    names = {b.board_id: b.board_name or b.board_id for b in routing.boards} if routing else {}
    return [Condition(IncidentKind.WEBHOOK_LOST, row.board_id,
                      f"Trello changes on {_quote(names.get(row.board_id, row.board_id))} are not reaching {ws}: "
                      "its webhook is lost",
                      f"{row.webhook_detail}. Changes made on that board are not synced until its webhook is "
                      "registered again; the worker keeps trying.") for row in lost]


def conditions_of(session: Session, workspace: Workspace, now: datetime, warn: timedelta) -> list[Condition]:
    """What is wrong with ``workspace`` now."""
    found: list[Condition] = []
    ws = _quote(workspace.name)
    if workspace.state == NEEDS_REAUTH:
        found.append(Condition(IncidentKind.SYNC_STOPPED, "", f"Sync stopped for {ws}: access needs to be renewed",
                               workspace.state_detail or "A provider refused the workspace's access."))
    if workspace.state == ACTIVE and workspace.webhook_active is False:
        found.append(Condition(IncidentKind.WEBHOOK_LOST, "",
                               f"Trello changes are not reaching {ws}: its webhook is lost",
                               f"{workspace.webhook_detail}. Changes made in Trello are not synced until the "
                               "webhook is registered again; the worker keeps trying."))
    if workspace.state == ACTIVE:  # each further board's webhook (several boards per sheet)
        found.extend(_routed_webhooks_lost(session, workspace, ws))
    parked = _parked(session, workspace)
    if parked is not None:
        found.append(parked)
    for account_id in {workspace.google_account_id, workspace.trello_account_id} - {None}:
        account = session.get(ProviderAccount, account_id)
        if account is not None and account.status == AccountStatus.OK and expires_within(account, now, warn):
            assert account.grant_expires_at is not None
            when = within(account.grant_expires_at, now) if account.grant_expires_at > now else "now"
            found.append(Condition(
                IncidentKind.GRANT_EXPIRING, str(account.id),
                f"The {account_label(account)} used by {ws} expires {when}",
                f"Its access expires on {account.grant_expires_at:%d %b %Y %H:%M} UTC and sync will stop then. "
                "Connect the account again on the Connections page to renew it."))
    return found


def open_incidents(session: Session, workspace_id: str) -> list[AlertIncident]:
    return list(session.scalars(select(AlertIncident).where(AlertIncident.workspace_id == workspace_id,
                                                            AlertIncident.resolved_at.is_(None))
                                .order_by(AlertIncident.id)).all())


def update_incidents(session: Session, workspace: Workspace, conditions: list[Condition], now: datetime) -> Changes:
    """Open an incident for each condition that has none open; resolve those whose condition is
    gone; refresh the detail of the others. The caller commits."""
    current = {(c.kind.value, c.subject): c for c in conditions}
    changes = Changes([], [])
    seen: set[tuple[str, str]] = set()
    for incident in open_incidents(session, workspace.id):
        key = (incident.kind, incident.subject)
        condition = current.get(key)
        if condition is None or key in seen:
            incident.resolved_at = now
            changes.resolved.append(incident)
            continue
        seen.add(key)
        incident.detail = condition.detail
    for key, condition in current.items():
        if key not in seen:
            incident = AlertIncident(workspace_id=workspace.id, kind=condition.kind.value, subject=condition.subject,
                                     summary=condition.summary, detail=condition.detail, opened_at=now,
                                     deliveries={}, send_failures=0, last_send_error="")
            session.add(incident)
            changes.opened.append(incident)
    return changes


__all__ = ["Changes", "Condition", "IncidentKind", "conditions_of", "lead_name", "open_incidents", "update_incidents"]
