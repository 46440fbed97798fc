"""A workspace: one sheet tab kept in sync with its main Trello board (and any further boards,
``server/models/boards.py``), and who may see it."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, EncryptedText, UTCDateTime, utcnow
from .enums import CardPolicy, MemberRole, RowPolicy, WorkspaceState

# Workspace.state values (``WorkspaceState``; the short names are kept, each the enum member)
ACTIVE, PAUSED, NEEDS_REAUTH, DISCONNECTED, DRAFT = (WorkspaceState.ACTIVE, WorkspaceState.PAUSED,
                                                     WorkspaceState.NEEDS_REAUTH, WorkspaceState.DISCONNECTED,
                                                     WorkspaceState.DRAFT)


def new_workspace_id() -> str:
    return "ws_" + secrets.token_hex(8)


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=new_workspace_id)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    google_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider_accounts.id", ondelete="SET NULL"), nullable=True
    )
    trello_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider_accounts.id", ondelete="SET NULL"), nullable=True
    )
    # Google side
    spreadsheet_id: Mapped[str] = mapped_column(String(128))
    sheet_name: Mapped[str] = mapped_column(String(200))
    # The tab's numeric id (Sheets ``properties.sheetId``, the ``gid`` in its URL); None until seen.
    sheet_gid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    header_row: Mapped[int] = mapped_column(Integer, default=1)
    lead_id_column: Mapped[str] = mapped_column(String(100), default="Lead ID")
    # Trello side
    trello_board_id: Mapped[str] = mapped_column(String(32), index=True)
    trello_webhook_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    trello_webhook_callback: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Which column is which card field, and statuses ⇄ lists: read and written only through its
    # typed form, ``server.models.mapping.Mapping`` (``Mapping.of(workspace)``, ``.to_json()``).
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What happens when a row disappears (``RowPolicy``) and when a card is archived, deleted or
    # moved off the board (``CardPolicy``).
    row_removed_policy: Mapped[str] = mapped_column(String(16), default=RowPolicy.ARCHIVE)
    card_removed_policy: Mapped[str] = mapped_column(String(16), default=CardPolicy.SET_STATUS)
    card_removed_status: Mapped[str] = mapped_column(String(100), default="Archived")
    # HMAC key the add-on signs its events with (encrypted at rest).
    addon_secret: Mapped[str] = mapped_column(EncryptedText, default=lambda: secrets.token_hex(32))
    # After a rotation (``server/addon/secrets.py``): the secret it replaced, accepted until
    # ``addon_secret_previous_until`` and then recognised only to tell the add-on to reconnect.
    addon_secret_previous: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    addon_secret_previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    addon_secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    connect_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    connect_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=ACTIVE)  # WorkspaceState
    state_detail: Mapped[str] = mapped_column(Text, default="")
    # The last full sync's or preview's progress: read and written through
    # ``server.models.sync_progress.SyncProgress`` (``SyncProgress.of(workspace)``, ``.to_json()``).
    sync_progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Connection health (``server/sync/health_report.py``): when the add-on and the Power-Up last
    # made a verified call, and what the worker's last look at the Trello webhook found.
    addon_last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    powerup_last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    webhook_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    webhook_active: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    webhook_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    webhook_detail: Mapped[str] = mapped_column(Text, default="", server_default="")
    webhook_reregistered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    members: Mapped[list["WorkspaceMember"]] = relationship(
        back_populates="workspace", cascade="all, delete-orphan"
    )


def is_draft(workspace: Workspace) -> bool:
    """Saved by the wizard, not yet started: nothing but its preview may run."""
    return workspace.state == DRAFT


class WorkspaceMember(Base):
    """Someone invited (by email) to see and run a workspace besides its owner."""

    __tablename__ = "workspace_members"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(16), default=MemberRole.MEMBER)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    workspace: Mapped[Workspace] = relationship(back_populates="members")
