"""OAuth grants: when they expire, and what a refused one stops.

A grant is the long-lived part of a connected account: Google's refresh token, Trello's token.
Google clients in "Testing" publishing status issue refresh tokens that die after 7 days; a Trello
token lives as long as the ``expiration`` asked for on its authorize page. A grant the provider
refused stops every workspace that uses the account, not only the one that met the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..models import GOOGLE, ProviderAccount, Workspace
from ..models.enums import AccountStatus, GrantExpiry, HistoryAction, HistorySide, Outcome
from ..models.workspace import ACTIVE, NEEDS_REAUTH
from .history import record

log = structlog.get_logger(__name__)

GOOGLE_TESTING_LIFETIME = timedelta(days=7)
TRELLO_LIFETIMES: dict[str, timedelta | None] = {
    "1hour": timedelta(hours=1), "1day": timedelta(days=1), "30days": timedelta(days=30), "never": None,
}
BROKEN = AccountStatus.NEEDS_REAUTH  # ProviderAccount.status of a refused grant


EXPIRY_WORDS = {
    GrantExpiry.NEVER: "does not expire",
    GrantExpiry.GOOGLE_TESTING: "Google app in Testing mode: the grant lasts 7 days",
    GrantExpiry.TRELLO_TOKEN: "Trello token with a limited lifetime",
    GrantExpiry.UNKNOWN: "its expiry was not recorded when it was connected",
}


@dataclass(frozen=True)
class GrantTerms:
    issued_at: datetime
    expiry: GrantExpiry
    expires_at: datetime | None


def google_terms(issued_at: datetime, testing_mode: bool) -> GrantTerms:
    """Terms of a Google refresh token issued at ``issued_at``."""
    if testing_mode:
        return GrantTerms(issued_at, GrantExpiry.GOOGLE_TESTING, issued_at + GOOGLE_TESTING_LIFETIME)
    return GrantTerms(issued_at, GrantExpiry.NEVER, None)


def trello_terms(issued_at: datetime, expiration: str) -> GrantTerms:
    """Terms of a Trello token authorised with ``expiration`` (1hour, 1day, 30days, never)."""
    lifetime = TRELLO_LIFETIMES[expiration]
    if lifetime is None:
        return GrantTerms(issued_at, GrantExpiry.NEVER, None)
    return GrantTerms(issued_at, GrantExpiry.TRELLO_TOKEN, issued_at + lifetime)


def apply_terms(account: ProviderAccount, terms: GrantTerms) -> None:
    account.grant_issued_at = terms.issued_at
    account.grant_expiry = str(terms.expiry)
    account.grant_expires_at = terms.expires_at


def expires_within(account: ProviderAccount, now: datetime, warn: timedelta) -> bool:
    """True when the account's grant expires (or expired) before ``now + warn``."""
    return account.grant_expires_at is not None and account.grant_expires_at <= now + warn


def _workspaces_of(session: Session, account_id: int) -> list[Workspace]:
    return list(session.scalars(select(Workspace).where(
        or_(Workspace.google_account_id == account_id, Workspace.trello_account_id == account_id))
        .order_by(Workspace.id)).all())


def account_label(account: ProviderAccount) -> str:
    provider = "Google" if account.provider == GOOGLE else "Trello"
    return f"{provider} account {account.username or account.provider_user_id}"


def mark_account_broken(session: Session, account_id: int, message: str) -> list[str]:
    """The provider refused the account's grant: mark it and EVERY active workspace using it as
    needing re-authorisation (in the caller's transaction); returns the workspaces it changed."""
    account = session.get(ProviderAccount, account_id)
    if account is None:
        return []
    if account.status != BROKEN:
        account.status = BROKEN
        account.status_detail = message
    return _stop_workspaces(session, account)


def _stop_workspaces(session: Session, account: ProviderAccount) -> list[str]:
    changed = []
    detail = f"The {account_label(account)} needs to be connected again: {account.status_detail}".strip()
    for workspace in _workspaces_of(session, account.id):
        if workspace.state != ACTIVE:
            continue
        workspace.state = NEEDS_REAUTH
        workspace.state_detail = detail
        record(session, workspace.id, side=HistorySide.SYSTEM, action=HistoryAction.NEEDS_REAUTH, outcome=Outcome.ERROR,
               message=detail)
        changed.append(workspace.id)
    if changed:
        log.info("account_workspaces_stopped", account_id=account.id, workspaces=changed)
    return changed


def stop_workspaces_of_broken_accounts(session: Session) -> list[str]:
    """Catch up every active workspace whose account was marked broken elsewhere (a dashboard
    call, an older worker); the caller commits."""
    changed: list[str] = []
    for account in session.scalars(select(ProviderAccount).where(ProviderAccount.status == BROKEN)).all():
        changed.extend(_stop_workspaces(session, account))
    return changed


__all__ = [
    "EXPIRY_WORDS",
    "GrantExpiry",
    "GrantTerms",
    "account_label",
    "apply_terms",
    "expires_within",
    "google_terms",
    "mark_account_broken",
    "stop_workspaces_of_broken_accounts",
    "trello_terms",
]
