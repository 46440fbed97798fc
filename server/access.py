"""Who may see which workspace: plain look-ups shared by the Power-Up API and the dashboard.

A Trello member (the ``idMember`` of a Power-Up JWT) is known through the Trello accounts people
connected in the dashboard (``ProviderAccount``). A member may see a workspace when one of the
users holding that Trello account owns it, or was invited to it by email (``WorkspaceMember``).
Disconnected workspaces are never returned.
"""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from .models import TRELLO, Link, ProviderAccount, User, Workspace, WorkspaceBoard, WorkspaceMember
from .models.sync import LINKED
from .models.workspace import DISCONNECTED


def users_for_trello_member(session: Session, member_id: str) -> list[User]:
    """The users who connected the Trello account ``member_id`` (usually one, or none)."""
    if not member_id:
        return []
    statement = (
        select(User)
        .join(ProviderAccount, ProviderAccount.user_id == User.id)
        .where(ProviderAccount.provider == TRELLO, ProviderAccount.provider_user_id == member_id)
        .order_by(User.id)
    )
    return list(session.execute(statement).scalars().unique())


def _visible_workspaces(users: list[User]) -> Select[tuple[Workspace]]:
    """A SELECT of the workspaces ``users`` own or were invited to (oldest first)."""
    user_ids = [user.id for user in users]
    emails = [user.email.strip().lower() for user in users if user.email]
    invited = select(WorkspaceMember.workspace_id).where(func.lower(WorkspaceMember.email).in_(emails))
    return (
        select(Workspace)
        .where(or_(Workspace.owner_id.in_(user_ids), Workspace.id.in_(invited)))
        .where(Workspace.state != DISCONNECTED)
        .order_by(Workspace.created_at, Workspace.id)
    )


def workspaces_for_trello_member(session: Session, member_id: str) -> list[Workspace]:
    """Every workspace the Trello member may see."""
    users = users_for_trello_member(session, member_id)
    if not users:
        return []
    return list(session.execute(_visible_workspaces(users)).scalars())


def workspace_for_board(session: Session, member_id: str, board_id: str) -> Workspace | None:
    """The workspace linked to ``board_id`` that the member may see, or None.

    Should several visible workspaces use the same board, the oldest one answers.
    """
    users = users_for_trello_member(session, member_id)
    if not users or not board_id:
        return None
    routed = select(WorkspaceBoard.workspace_id).where(WorkspaceBoard.board_id == board_id)  # further boards
    statement = _visible_workspaces(users).where(or_(Workspace.trello_board_id == board_id,
                                                     Workspace.id.in_(routed))).limit(1)
    return session.execute(statement).scalars().first()


def workspace_linking_card(session: Session, member_id: str, board_id: str, card_id: str) -> Workspace | None:
    """Of the workspaces on ``board_id`` the member may see (several tabs may share a board, each
    with its own lists), the one whose lead the card is, or None."""
    users = users_for_trello_member(session, member_id)
    if not users or not board_id or not card_id:
        return None
    statement = (_visible_workspaces(users).join(Link, Link.workspace_id == Workspace.id)
                 .where(Workspace.trello_board_id == board_id, Link.card_id == card_id, Link.status == LINKED)
                 .limit(1))
    return session.execute(statement).scalars().first()


__all__ = ["users_for_trello_member", "workspace_for_board", "workspace_linking_card", "workspaces_for_trello_member"]
