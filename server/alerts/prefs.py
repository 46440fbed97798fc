"""Who hears about a workspace's incidents, and how (the preferences form on the workspace page).

Without a row of their own the workspace's owner gets every alert by email as it happens; members
who saved preferences get what they chose. ``ALERT_EMAIL_TO`` adds addresses for every workspace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import AlertPreference, User, Workspace, WorkspaceMember
from ..models.enums import EmailMode

EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
MAX_EXTRA_EMAILS = 10
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class PreferenceError(ValueError):
    """A preferences form that cannot be saved; the message says what to fix."""


@dataclass
class Recipients:
    emails: list[str] = field(default_factory=list)
    slack_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PreferenceForm:
    email_mode: EmailMode
    extra_emails: tuple[str, ...]
    slack_webhook_url: str | None
    daily_digest: bool


def parse_form(form: dict[str, str]) -> PreferenceForm:
    """Check a submitted preferences form; raises ``PreferenceError`` naming the bad field."""
    try:
        mode = EmailMode(form.get("email_mode") or EmailMode.IMMEDIATE)
    except ValueError as exc:
        raise PreferenceError("Choose whether to get alert emails as they happen or not at all.") from exc
    extras = tuple(dict.fromkeys(e.strip().lower() for e in re.split(r"[,;\s]+", form.get("extra_emails") or "")
                                 if e.strip()))
    bad = [e for e in extras if len(e) > 320 or not EMAIL.match(e)]
    if bad:
        raise PreferenceError(f"{bad[0]} is not an email address; separate addresses with commas.")
    if len(extras) > MAX_EXTRA_EMAILS:
        raise PreferenceError(f"At most {MAX_EXTRA_EMAILS} extra addresses.")
    slack = (form.get("slack_webhook_url") or "").strip() or None
    if slack is not None:
        parts = urlsplit(slack)
        local = parts.scheme == "http" and parts.hostname in LOOPBACK  # a sink on this machine
        if (parts.scheme != "https" and not local) or not parts.netloc or len(slack) > 500:
            raise PreferenceError("The Slack webhook must be an https:// address (Slack: Incoming Webhooks).")
    return PreferenceForm(mode, extras, slack, form.get("daily_digest") in ("1", "on", "yes", "true"))


def preference_of(session: Session, workspace: Workspace, user_id: int) -> AlertPreference | None:
    return session.scalars(select(AlertPreference).where(AlertPreference.workspace_id == workspace.id,
                                                         AlertPreference.user_id == user_id)).first()


def save_preferences(session: Session, workspace: Workspace, user_id: int, form: PreferenceForm) -> AlertPreference:
    """Store one person's preferences for the workspace (the caller commits). ``slack_webhook_url``
    left empty keeps the saved one unless ``clear_slack``; the URL is a secret and never shown."""
    pref = preference_of(session, workspace, user_id)
    if pref is None:
        pref = AlertPreference(workspace_id=workspace.id, user_id=user_id)
        session.add(pref)
    pref.email_mode = form.email_mode.value
    pref.extra_emails = ", ".join(form.extra_emails)
    if form.slack_webhook_url is not None:
        pref.slack_webhook_url = form.slack_webhook_url
    pref.daily_digest = form.daily_digest
    return pref


def clear_slack(session: Session, workspace: Workspace, user_id: int) -> None:
    pref = preference_of(session, workspace, user_id)
    if pref is not None:
        pref.slack_webhook_url = None


def _may_see(session: Session, workspace: Workspace, user: User) -> bool:
    """Preferences of someone no longer owner or member are ignored (they were removed)."""
    if user.id == workspace.owner_id:
        return True
    return session.scalar(select(func.count()).select_from(WorkspaceMember).where(
        WorkspaceMember.workspace_id == workspace.id,
        func.lower(WorkspaceMember.email) == user.email.lower())) == 1


def recipients_of(session: Session, workspace: Workspace, global_emails: tuple[str, ...] = ()) -> Recipients:
    """Where a workspace's incident notices go."""
    result = Recipients(emails=list(global_emails))
    prefs = {p.user_id: p for p in session.scalars(select(AlertPreference).where(
        AlertPreference.workspace_id == workspace.id)).all()}
    owner = session.get(User, workspace.owner_id)
    if owner is not None and workspace.owner_id not in prefs:
        result.emails.append(owner.email)
    for user_id, pref in sorted(prefs.items()):
        user = session.get(User, user_id)
        if user is None or not _may_see(session, workspace, user):
            continue
        if pref.email_mode == EmailMode.IMMEDIATE:
            result.emails.append(user.email)
            result.emails.extend(e.strip() for e in pref.extra_emails.split(",") if e.strip())
        if pref.slack_webhook_url:
            result.slack_urls.append(pref.slack_webhook_url)
    result.emails = list(dict.fromkeys(e.lower() for e in result.emails))
    result.slack_urls = list(dict.fromkeys(result.slack_urls))
    return result


def digest_subscribers(session: Session) -> list[tuple[AlertPreference, Workspace, User]]:
    """Everyone who asked for a daily digest of a workspace they may still see."""
    rows = []
    for pref in session.scalars(select(AlertPreference).where(AlertPreference.daily_digest.is_(True))
                                .order_by(AlertPreference.id)).all():
        workspace = session.get(Workspace, pref.workspace_id)
        user = session.get(User, pref.user_id)
        if workspace is not None and user is not None and _may_see(session, workspace, user):
            rows.append((pref, workspace, user))
    return rows


__all__ = ["EmailMode", "PreferenceError", "PreferenceForm", "Recipients", "clear_slack", "digest_subscribers",
           "parse_form", "preference_of", "recipients_of", "save_preferences"]
