"""Server-side security state: sign-in sessions, secrets of OAuth flows in progress, add-on nonces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigIntPK, EncryptedText, UTCDateTime, utcnow


class UserSession(Base):
    """One signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so a
    copy of the database opens no session. Deleting the row signs that browser out."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OAuthFlowState(Base):
    """What an OAuth flow in progress must keep secret (Trello's request-token secret, Google's PKCE
    verifier and nonce), encrypted, until the provider sends the browser back; the session cookie
    holds only a handle."""

    __tablename__ = "oauth_flow_states"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(EncryptedText)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AddonNonce(Base):
    """A nonce of a signed add-on API request, kept while its signature is fresh so it works once."""

    __tablename__ = "addon_nonces"
    __table_args__ = (UniqueConstraint("workspace_id", "nonce"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
