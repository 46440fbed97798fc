"""Nonces of signed add-on API requests: each works once per workspace while its signature is fresh.

A signature is accepted for 5 minutes either side of its ``X-Timestamp``, so a nonce is kept until
``timestamp + FRESHNESS_WINDOW_S``; after that a replay fails the freshness check anyway and the row
can go. ``remember_nonce`` is one ``INSERT ... ON CONFLICT`` on the unique (workspace, nonce) pair,
so two web processes receiving the same replay at once cannot both win (on PostgreSQL the second
insert waits for the first to commit, then finds the row). Expired rows are deleted by
``purge_expired_nonces``: opportunistically from ``remember_nonce`` (at most once a minute per
process), and by ``server.maintenance.purge_expired`` for a worker or a scheduled job.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..database import rows_changed
from ..models import AddonNonce, utcnow
from ..sync.signatures import FRESHNESS_WINDOW_S

PURGE_EVERY_S = 60.0
_purge_lock = threading.Lock()
_last_purge = 0.0


def nonce_expiry(timestamp: str, now: datetime | None = None) -> datetime:
    """Until when a request signed at ``timestamp`` (Unix seconds, already checked) could be replayed."""
    signed_at = datetime.fromtimestamp(int(timestamp), timezone.utc)
    return max(signed_at, now or utcnow()) + timedelta(seconds=FRESHNESS_WINDOW_S + 1)


def remember_nonce(session: Session, workspace_id: str, nonce: str, *, expires_at: datetime,
                   now: datetime | None = None) -> bool:
    """Record the nonce; False when this workspace already used it (a replay). Caller commits.

    A row left over from an expired nonce is taken over: its request can no longer be replayed.
    """
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = AddonNonce.__table__
    values = insert(table).values(workspace_id=workspace_id, nonce=nonce, expires_at=expires_at)
    statement = values.on_conflict_do_update(
        index_elements=[table.c.workspace_id, table.c.nonce],
        set_={"expires_at": values.excluded.expires_at},
        where=table.c.expires_at < now,
    ).returning(table.c.id)   # a row back only when inserted (or an expired one taken over)
    fresh = session.execute(statement).first() is not None
    _maybe_purge(session, now)
    return fresh


def purge_expired_nonces(session: Session, now: datetime | None = None) -> int:
    """Delete the nonces whose requests can no longer be replayed; returns how many. Caller commits."""
    return rows_changed(session.execute(delete(AddonNonce).where(AddonNonce.expires_at < (now or utcnow()))))


def _maybe_purge(session: Session, now: datetime) -> None:
    global _last_purge
    with _purge_lock:
        if time.monotonic() - _last_purge < PURGE_EVERY_S:
            return
        _last_purge = time.monotonic()
    purge_expired_nonces(session, now)


__all__ = ["nonce_expiry", "remember_nonce", "purge_expired_nonces", "PURGE_EVERY_S"]
