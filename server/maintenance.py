"""Housekeeping of short-lived security rows, for a worker or a scheduled job (no Flask needed).

``purge_expired`` deletes the add-on nonces whose requests can no longer be replayed, the sign-in
sessions past their idle or absolute limit, and OAuth flows nobody came back from. Each is refused
anyway once expired, so this only keeps the tables small; the web processes also purge nonces and
flow states opportunistically as they insert them. ``flask --app server purge-expired`` runs it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy.orm import Session

from .addon.nonces import purge_expired_nonces
from .auth.flow_store import purge_expired_flow_states
from .auth.sessions import SessionPolicy, purge_expired_sessions
from .models import utcnow


def purge_expired(session: Session, config: Mapping[str, Any] | None = None,
                  now: datetime | None = None) -> dict[str, int]:
    """Delete expired nonces, sessions and OAuth flow states, commit, and say how many of each."""
    now = now or utcnow()
    counts = {
        "addon_nonces": purge_expired_nonces(session, now),
        "user_sessions": purge_expired_sessions(session, SessionPolicy.from_config(config or {}), now),
        "oauth_flow_states": purge_expired_flow_states(session, now),
    }
    session.commit()
    return counts


__all__ = ["purge_expired"]
