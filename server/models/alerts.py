"""Alert incidents (one per outage, not per event) and who wants to hear about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, EncryptedText, UTCDateTime, utcnow
from .enums import EmailMode


class AlertIncident(Base):
    """Something that stopped or threatens the sync of a workspace, from when it was seen until it
    cleared. A new incident of the same kind and subject opens only after the previous resolved."""

    __tablename__ = "alert_incidents"
    __table_args__ = (Index("ix_alert_incidents_open", "workspace_id", "kind", "subject", "resolved_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # IncidentKind
    # What it is about within the workspace: an account id for a grant, "" otherwise.
    subject: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(Text, default="")  # plain words, names the workspace (and lead)
    detail: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Delivery of the opening and resolution notices: sent times, failed tries (retried next round).
    # ``deliveries`` remembers each channel a notice reached ({"opened": ["email:ann@…", "slack:3f…"]}),
    # so a retry after a partial failure does not send it twice.
    deliveries: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    send_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_send_error: Mapped[str] = mapped_column(Text, default="")


class AlertPreference(Base):
    """One person's alert settings for one workspace (the owner's defaults apply without a row)."""

    __tablename__ = "alert_preferences"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email_mode: Mapped[str] = mapped_column(String(16), default=EmailMode.IMMEDIATE)
    extra_emails: Mapped[str] = mapped_column(Text, default="")  # comma-separated
    slack_webhook_url: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)  # a secret URL
    daily_digest: Mapped[bool] = mapped_column(Boolean, default=False)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
