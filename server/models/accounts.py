"""People and the provider accounts (Google, Trello) they connected."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, EncryptedText, UTCDateTime, utcnow
from .enums import AccountStatus, GrantExpiry, Provider

# ProviderAccount.provider values (``Provider``; the short names are kept, each the enum member)
GOOGLE, TRELLO = Provider.GOOGLE, Provider.TRELLO


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    accounts: Mapped[list["ProviderAccount"]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ProviderAccount(Base):
    """An OAuth grant: tokens are encrypted at rest (see ``EncryptedText``)."""

    __tablename__ = "provider_accounts"
    __table_args__ = (UniqueConstraint("user_id", "provider", "provider_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))  # Provider
    provider_user_id: Mapped[str] = mapped_column(String(128))
    username: Mapped[str] = mapped_column(String(200), default="")
    access_token: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    token_secret: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scopes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.OK)  # AccountStatus
    status_detail: Mapped[str] = mapped_column(Text, default="")
    # When the grant (the refresh token, or Trello's token) was issued and how it can expire
    # (``GrantExpiry``); ``grant_expires_at`` is None for a grant that does not.
    grant_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    grant_expiry: Mapped[str] = mapped_column(String(24), default=GrantExpiry.UNKNOWN, server_default="unknown")
    grant_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="accounts")
