"""Server-side sign-in sessions, without Flask: start, check (idle and absolute expiry), end.

A browser's session cookie carries a random token; the ``user_sessions`` row holds its SHA-256,
when it was made and when it was last used. Checking a token refreshes ``last_seen_at`` (at most
once per ``touch_every``, so a page with many requests writes once) and deletes a row that has
expired, so signing out, "sign out everywhere" and expiry all take effect on the next request of
every copy of the cookie. Each function takes the SQLAlchemy session; the caller commits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Mapping

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from ..database import rows_changed
from ..models import UserSession, utcnow

MAX_TOKEN_LENGTH = 128


class SessionCheck(Enum):
    """What a session token turned out to be."""

    VALID = "valid"
    UNKNOWN = "unknown"      # never issued, signed out, or already deleted
    IDLE = "idle"            # unused for longer than the idle limit (now deleted)
    EXPIRED = "expired"      # older than the absolute limit (now deleted)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    touch_every: timedelta = timedelta(minutes=1)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionPolicy:
        """The policy of an app's config (``SESSION_IDLE_DAYS``, ``SESSION_MAX_DAYS``)."""
        from ..config import Settings

        settings = Settings.from_config(config)
        return cls(idle=timedelta(days=settings.session_idle_days), absolute=timedelta(days=settings.session_max_days))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def start_session(session: Session, user_id: int, now: datetime | None = None) -> str:
    """Record a new session for ``user_id``; returns the token for the cookie (never stored)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user_id, token_hash=token_hash(token), created_at=now, last_seen_at=now))
    session.flush()
    return token


def check_session(session: Session, token: Any, policy: SessionPolicy,
                  now: datetime | None = None) -> tuple[SessionCheck, UserSession | None]:
    """The session ``token`` opens, if it is still valid; an expired one is deleted."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return SessionCheck.UNKNOWN, None
    row = session.execute(select(UserSession).where(UserSession.token_hash == token_hash(token))).scalar_one_or_none()
    if row is None:
        return SessionCheck.UNKNOWN, None
    now = now or utcnow()
    if now - row.created_at > policy.absolute:
        session.delete(row)
        return SessionCheck.EXPIRED, None
    if now - row.last_seen_at > policy.idle:
        session.delete(row)
        return SessionCheck.IDLE, None
    if now - row.last_seen_at >= policy.touch_every:
        row.last_seen_at = now
    return SessionCheck.VALID, row


def end_session(session: Session, token: Any) -> None:
    """Sign out the browser holding ``token``."""
    if isinstance(token, str) and token:
        session.execute(delete(UserSession).where(UserSession.token_hash == token_hash(token)))


def end_all_sessions(session: Session, user_id: int) -> int:
    """Sign ``user_id`` out of every browser; returns how many sessions ended."""
    return rows_changed(session.execute(delete(UserSession).where(UserSession.user_id == user_id)))


def _expired(policy: SessionPolicy, now: datetime) -> ColumnElement[bool]:
    return or_(UserSession.created_at < now - policy.absolute, UserSession.last_seen_at < now - policy.idle)


def count_sessions(session: Session, user_id: int, policy: SessionPolicy, now: datetime | None = None) -> int:
    """How many browsers ``user_id`` is signed in on."""
    now = now or utcnow()
    return session.execute(select(func.count()).select_from(UserSession).where(
        UserSession.user_id == user_id, ~_expired(policy, now))).scalar_one()


def purge_expired_sessions(session: Session, policy: SessionPolicy, now: datetime | None = None) -> int:
    """Delete every expired session (they are refused anyway); returns how many."""
    return rows_changed(session.execute(delete(UserSession).where(_expired(policy, now or utcnow()))))


__all__ = ["SessionCheck", "SessionPolicy", "token_hash", "start_session", "check_session", "end_session",
           "end_all_sessions", "count_sessions", "purge_expired_sessions"]
