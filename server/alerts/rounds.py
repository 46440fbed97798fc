"""One alert round: bring the incidents up to date, send their notices, send due digests.

Run by the worker's periodic jobs on a thread of its own (``runner.py``), never inside a request
and never on the event loop. Everything takes ``now``, so tests drive it with a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ..models import AlertIncident, Event, Workspace
from ..models.sync import DONE, PARKED, PENDING, PROCESSING
from ..models.workspace import DISCONNECTED, DRAFT
from ..sync.grants import stop_workspaces_of_broken_accounts
from .channels import Channels, DeliveryError, slack_key
from .incidents import conditions_of, open_incidents, update_incidents
from .messages import Notice, digest_notice, opened_notice, resolved_notice
from .prefs import digest_subscribers, recipients_of

log = structlog.get_logger(__name__)

OPENED, RESOLVED = "opened", "resolved"
DIGEST_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class AlertSettings:
    base_url: str = "http://127.0.0.1:5000"
    warn: timedelta = timedelta(days=2)
    global_emails: tuple[str, ...] = ()
    email_enabled: bool = False

    @classmethod
    def from_config(cls, config: Any) -> AlertSettings:
        """What the alert rounds need of an app's config."""
        from ..config import Settings

        settings = Settings.from_config(config)
        emails = tuple(e.strip().lower() for e in settings.alert_email_to.split(",") if e.strip())
        return cls(base_url=settings.public_base_url, warn=timedelta(days=settings.grant_warn_days),
                   global_emails=emails, email_enabled=bool(settings.mail_server))


@dataclass
class RoundReport:
    opened: int = 0
    resolved: int = 0
    sent: int = 0
    failed: int = 0
    digests: int = 0
    stopped: list[str] = field(default_factory=list)


def run_round(session_factory: sessionmaker, channels: Channels, settings: AlertSettings, now: datetime) -> RoundReport:
    """One round; a failure to deliver is recorded on the incident and tried again next round."""
    report = RoundReport()
    with session_factory() as session:
        report.stopped = stop_workspaces_of_broken_accounts(session)
        session.commit()
        for workspace in session.scalars(select(Workspace).order_by(Workspace.id)).all():
            quiet = workspace.state in (DRAFT, DISCONNECTED)
            conditions = [] if quiet else conditions_of(session, workspace, now, settings.warn)
            changes = update_incidents(session, workspace, conditions, now)
            session.commit()
            report.opened += len(changes.opened)
            report.resolved += len(changes.resolved)
            for incident in changes.opened:
                log.info("alert_incident_opened", workspace_id=workspace.id, kind=incident.kind,
                         incident_id=incident.id)
            for incident in changes.resolved:
                log.info("alert_incident_resolved", workspace_id=workspace.id, kind=incident.kind,
                         incident_id=incident.id)
        _send_notices(session, channels, settings, now, report)
        _send_digests(session, channels, settings, now, report)
    return report


def _send_notices(session: Session, channels: Channels, settings: AlertSettings, now: datetime,
                  report: RoundReport) -> None:
    unsent = session.scalars(select(AlertIncident).where(
        (AlertIncident.opened_sent_at.is_(None) & AlertIncident.resolved_sent_at.is_(None))
        | (AlertIncident.resolved_at.is_not(None) & AlertIncident.resolved_sent_at.is_(None)))
        .order_by(AlertIncident.id)).all()
    for incident in unsent:
        workspace = session.get(Workspace, incident.workspace_id)
        assert workspace is not None  # incidents go with their workspace (ON DELETE CASCADE)
        if incident.opened_sent_at is None and incident.resolved_at is not None:
            incident.resolved_sent_at = now  # over before anyone was told: nothing to resolve
        elif incident.opened_sent_at is None:
            if _deliver(session, channels, settings, incident, workspace, OPENED,
                        opened_notice(incident, workspace, settings.base_url), report):
                incident.opened_sent_at = now
        elif _deliver(session, channels, settings, incident, workspace, RESOLVED,
                      resolved_notice(incident, workspace, settings.base_url), report):
            incident.resolved_sent_at = now
        session.commit()


def _deliver(session: Session, channels: Channels, settings: AlertSettings, incident: AlertIncident,
             workspace: Workspace, phase: str, notice: Notice, report: RoundReport) -> bool:
    """Send ``notice`` to every channel it has not reached yet; True when none failed."""
    recipients = recipients_of(session, workspace, settings.global_emails)
    targets: list[tuple[str, Callable[[], None]]] = []
    if settings.email_enabled:
        targets += [(f"email:{a}", partial(channels.email, a, notice)) for a in recipients.emails]
    targets += [(slack_key(u), partial(channels.slack, u, notice)) for u in recipients.slack_urls]
    done = set((incident.deliveries or {}).get(phase, []))
    errors = []
    for key, send in targets:
        if key in done:
            continue
        try:
            send()
        except DeliveryError as exc:
            errors.append(f"{key.split(':')[0]}: {exc}")
            log.warning("alert_delivery_failed", workspace_id=workspace.id, incident_id=incident.id, phase=phase,
                        channel=key if key.startswith("slack:") else "email", error=str(exc))
            continue
        done.add(key)
        report.sent += 1
    incident.deliveries = {**(incident.deliveries or {}), phase: sorted(done)}
    if errors:
        incident.send_failures += 1
        incident.last_send_error = "; ".join(errors)[:1000]
        report.failed += 1
        return False
    incident.last_send_error = ""
    return True


def _counts(session: Session, workspace: Workspace, since: datetime) -> dict[str, int]:
    done = session.scalar(select(func.count()).select_from(Event).where(
        Event.workspace_id == workspace.id, Event.state == DONE, Event.processed_at >= since)) or 0
    waiting: dict[str, int] = {str(state): int(count) for state, count in session.execute(
        select(Event.state, func.count()).where(Event.workspace_id == workspace.id,
                                                Event.state.in_((PENDING, PROCESSING, PARKED)))
        .group_by(Event.state)).all()}
    return {"done": int(done), "pending": int(waiting.get(PENDING, 0) + waiting.get(PROCESSING, 0)),
            "parked": int(waiting.get(PARKED, 0))}


def _send_digests(session: Session, channels: Channels, settings: AlertSettings, now: datetime,
                  report: RoundReport) -> None:
    if not settings.email_enabled:
        return
    for pref, workspace, user in digest_subscribers(session):
        if pref.last_digest_at is not None and now - pref.last_digest_at < DIGEST_EVERY:
            continue
        since = now - DIGEST_EVERY
        resolved = list(session.scalars(select(AlertIncident).where(
            AlertIncident.workspace_id == workspace.id, AlertIncident.resolved_at >= since)
            .order_by(AlertIncident.id)).all())
        notice = digest_notice(workspace, open_incidents(session, workspace.id), resolved,
                               _counts(session, workspace, since), settings.base_url, now)
        try:
            channels.email(user.email, notice)
        except DeliveryError as exc:
            log.warning("alert_digest_failed", workspace_id=workspace.id, user_id=user.id, error=str(exc))
            continue
        pref.last_digest_at = now
        session.commit()
        report.digests += 1


__all__ = ["AlertSettings", "RoundReport", "run_round"]
