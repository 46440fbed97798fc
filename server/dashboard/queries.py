"""Dashboard look-ups, every one scoped by the signed-in user (and by workspace below that).

A user sees a workspace they own or were invited to (``WorkspaceMember`` by email, compared
without regard to case). Unlike ``server.access`` (the Power-Up's look-ups), disconnected
workspaces are listed too: their owner must be able to reconnect or delete them. Anything that
belongs to a workspace (events, members, history) is fetched through the workspace id, so an id
taken from another workspace finds nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from ..models import Event, History, ProviderAccount, User, Workspace, WorkspaceMember
from ..models.enums import Outcome
from ..models.sync import PARKED, PENDING, PROCESSING

HISTORY_LIMIT = 25  # the workspace page's summary; the history page has the rest
CONFLICT_LIMIT = 10
PARKED_LIMIT = 100


def _email(user: User) -> str:
    return (user.email or "").strip().lower()


def visible_workspaces(user: User) -> Select[Any]:
    """A SELECT of the workspaces ``user`` owns or was invited to (newest first)."""
    invited = select(WorkspaceMember.workspace_id).where(func.lower(WorkspaceMember.email) == _email(user))
    return (
        select(Workspace)
        .where(or_(Workspace.owner_id == user.id, Workspace.id.in_(invited)))
        .order_by(Workspace.created_at.desc(), Workspace.id)
    )


def workspaces_for_user(session: Session, user: User) -> list[Workspace]:
    return list(session.execute(visible_workspaces(user)).scalars())


def workspace_for_user(session: Session, user: User, workspace_id: str) -> Workspace | None:
    """The workspace if ``user`` may see it, else None (the caller answers 404)."""
    if not workspace_id or len(workspace_id) > 40:
        return None
    statement = visible_workspaces(user).where(Workspace.id == workspace_id)
    return session.execute(statement).scalars().first()


def is_owner(user: User, workspace: Workspace) -> bool:
    return workspace.owner_id == user.id


# --------------------------------------------------------------------------- accounts


def accounts_for_user(session: Session, user: User, provider: str | None = None) -> list[ProviderAccount]:
    statement = select(ProviderAccount).where(ProviderAccount.user_id == user.id)
    if provider:
        statement = statement.where(ProviderAccount.provider == provider)
    return list(session.execute(statement.order_by(ProviderAccount.provider, ProviderAccount.id)).scalars())


def account_for_user(session: Session, user: User, account_id: Any, provider: str) -> ProviderAccount | None:
    try:
        account_id = int(account_id)
    except (TypeError, ValueError):
        return None
    statement = select(ProviderAccount).where(ProviderAccount.id == account_id, ProviderAccount.user_id == user.id,
                                              ProviderAccount.provider == provider)
    return session.execute(statement).scalar_one_or_none()


# --------------------------------------------------------------------------- inside a workspace


def event_in_workspace(session: Session, workspace: Workspace, event_id: int) -> Event | None:
    statement = select(Event).where(Event.id == event_id, Event.workspace_id == workspace.id)
    return session.execute(statement).scalar_one_or_none()


def member_in_workspace(session: Session, workspace: Workspace, member_id: int) -> WorkspaceMember | None:
    statement = select(WorkspaceMember).where(WorkspaceMember.id == member_id,
                                              WorkspaceMember.workspace_id == workspace.id)
    return session.execute(statement).scalar_one_or_none()


def members_of(session: Session, workspace: Workspace) -> list[WorkspaceMember]:
    statement = select(WorkspaceMember).where(WorkspaceMember.workspace_id == workspace.id)
    return list(session.execute(statement.order_by(WorkspaceMember.email)).scalars())


def member_by_email(session: Session, workspace: Workspace, email: str) -> WorkspaceMember | None:
    statement = select(WorkspaceMember).where(WorkspaceMember.workspace_id == workspace.id,
                                              func.lower(WorkspaceMember.email) == email.strip().lower())
    return session.execute(statement).scalars().first()


def owner_of(session: Session, workspace: Workspace) -> User | None:
    return session.get(User, workspace.owner_id)


def history_of(session: Session, workspace: Workspace, limit: int = HISTORY_LIMIT) -> list[History]:
    statement = (select(History).where(History.workspace_id == workspace.id)
                 .order_by(History.id.desc()).limit(limit))
    return list(session.execute(statement).scalars())


def conflicts_of(session: Session, workspace: Workspace, limit: int = CONFLICT_LIMIT) -> list[History]:
    statement = (select(History).where(History.workspace_id == workspace.id, History.outcome == Outcome.CONFLICT)
                 .order_by(History.id.desc()).limit(limit))
    return list(session.execute(statement).scalars())


def last_history_id(session: Session, workspace: Workspace) -> int:
    value = session.execute(select(func.max(History.id)).where(History.workspace_id == workspace.id)).scalar()
    return int(value or 0)


def parked_events(session: Session, workspace: Workspace, limit: int = PARKED_LIMIT) -> list[Event]:
    statement = (select(Event).where(Event.workspace_id == workspace.id, Event.state == PARKED)
                 .order_by(Event.id.desc()).limit(limit))
    return list(session.execute(statement).scalars())


def event_counts(session: Session, workspace: Workspace) -> dict[str, int]:
    """How many of the workspace's events wait, run, or are parked."""
    statement = (select(Event.state, func.count()).where(Event.workspace_id == workspace.id,
                                                         Event.state.in_((PENDING, PROCESSING, PARKED)))
                 .group_by(Event.state))
    counts: dict[str, int] = {PENDING: 0, PROCESSING: 0, PARKED: 0}
    for state, count in session.execute(statement):
        counts[state] = int(count)
    return counts


def workspace_summaries(session: Session, workspaces: list[Workspace]) -> dict[str, dict[str, int]]:
    """Pending and parked counts of several workspaces in one query."""
    ids = [w.id for w in workspaces]
    result: dict[str, dict[str, int]] = {i: {PENDING: 0, PROCESSING: 0, PARKED: 0} for i in ids}
    if not ids:
        return result
    statement = (select(Event.workspace_id, Event.state, func.count())
                 .where(Event.workspace_id.in_(ids), Event.state.in_((PENDING, PROCESSING, PARKED)))
                 .group_by(Event.workspace_id, Event.state))
    for workspace_id, state, count in session.execute(statement):
        result[workspace_id][state] = int(count)
    return result


__all__ = [
    "visible_workspaces", "workspaces_for_user", "workspace_for_user", "is_owner", "accounts_for_user",
    "account_for_user", "event_in_workspace", "member_in_workspace", "members_of", "member_by_email", "owner_of",
    "history_of", "conflicts_of", "last_history_id", "parked_events", "event_counts", "workspace_summaries",
]
