"""Secrets of OAuth flows in progress, kept on the server (encrypted) instead of in the cookie.

Flask's session cookie is signed, not encrypted: anyone holding it can read it. While a person is
at Trello's or Google's consent page the flow needs a secret back (Trello's OAuth 1.0a request-token
secret; Google's PKCE code verifier and OpenID nonce), so that secret waits in ``oauth_flow_states``
under a key derived from what the cookie and the provider's redirect carry, and is taken (read and
deleted) when the browser comes back. ``AuthlibStateCache`` plugs the same table into Authlib, which
then keeps only an expiry marker in the cookie.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..database import rows_changed
from ..models import OAuthFlowState, utcnow

FLOW_TTL = timedelta(hours=1)


def put_flow_secret(session: Session, key: str, value: str, ttl: timedelta = FLOW_TTL,
                    now: datetime | None = None) -> None:
    """Keep ``value`` under ``key`` until ``ttl`` from now (replacing an earlier value). Caller commits."""
    now = now or utcnow()
    purge_expired_flow_states(session, now)
    session.execute(delete(OAuthFlowState).where(OAuthFlowState.key == key))
    session.add(OAuthFlowState(key=key, value=value, expires_at=now + ttl))
    session.flush()


def peek_flow_secret(session: Session, key: str, now: datetime | None = None) -> str | None:
    row = session.get(OAuthFlowState, key)
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    return row.value


def take_flow_secret(session: Session, key: str, now: datetime | None = None) -> str | None:
    """The value under ``key`` if it has not expired; it is deleted either way (one use). Caller commits."""
    value = peek_flow_secret(session, key, now)
    session.execute(delete(OAuthFlowState).where(OAuthFlowState.key == key))
    return value


def purge_expired_flow_states(session: Session, now: datetime | None = None) -> int:
    """Delete abandoned flows (the person never came back from the consent page)."""
    return rows_changed(session.execute(delete(OAuthFlowState).where(OAuthFlowState.expires_at < (now or utcnow()))))


class AuthlibStateCache:
    """Authlib's ``cache`` interface (``get``/``set``/``delete``) on ``oauth_flow_states``.

    Authlib still binds the flow to the browser: it writes ``{"exp": ...}`` under the same key in
    the session and only reads the cache when the cookie has that key.
    """

    def _session(self) -> Session:
        from ..extensions import db_session

        return db_session()

    def get(self, key: str) -> str | None:
        return peek_flow_secret(self._session(), key)

    def set(self, key: str, value: str, expires_in: Any = None) -> None:
        ttl = timedelta(seconds=float(expires_in)) if expires_in else FLOW_TTL
        session = self._session()
        put_flow_secret(session, key, value, ttl)
        session.commit()

    def delete(self, key: str) -> None:
        session = self._session()
        session.execute(delete(OAuthFlowState).where(OAuthFlowState.key == key))
        session.commit()


__all__ = ["FLOW_TTL", "put_flow_secret", "peek_flow_secret", "take_flow_secret", "purge_expired_flow_states",
           "AuthlibStateCache"]
