"""The add-on's signing secret: rotation, and checking a signature against the current secret and,
during a grace period, the one it replaced.

A rotation keeps the old secret in ``addon_secret_previous`` with ``addon_secret_previous_until``
(now + grace): until then it opens the add-on API and the sheets webhook like the new one, so
deliveries the add-on made (or retries from its outbox) just before the rotation still land. After
that a request signed with it is refused with ``SecretRotated`` (401, ``"reason": "secret_rotated"``),
which the add-on turns into "reconnect with a new connect code" in its sidebar and menu. Only the
last replaced secret is remembered; older ones are just wrong signatures.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Callable

from sqlalchemy import Text, bindparam, select, type_coerce
from sqlalchemy.engine import Connection

from .. import crypto
from ..models import Workspace, utcnow
from ..sync.signatures import SignatureError, SignatureMismatch

ROTATED_REASON = "secret_rotated"
ROTATED_MESSAGE = ("this workspace's add-on secret was changed on the dashboard, so this spreadsheet's requests are "
                   "refused; ask the workspace's owner for a new connect code, then choose Leads Sync \u203a Connect "
                   "to server\u2026 in the spreadsheet (every row is sent again, nothing is lost)")
ROTATED_HEADER = "X-Secret-Rotated"

Verify = Callable[[str], None]


class SecretMatch(Enum):
    """Which secret a request was signed with."""

    CURRENT = "current"
    PREVIOUS = "previous"   # the replaced secret, within its grace period


class SecretRotated(SignatureError):
    """Signed with the secret a rotation replaced, after its grace period: the add-on must reconnect."""

    reason = ROTATED_REASON

    def __init__(self) -> None:
        super().__init__(ROTATED_MESSAGE)


def new_secret() -> str:
    return secrets.token_hex(32)


def rotate(workspace: Workspace, *, grace: timedelta, now: datetime | None = None) -> None:
    """Give the workspace a new secret; the current one stays valid for ``grace``."""
    now = now or utcnow()
    workspace.addon_secret_previous = workspace.addon_secret
    workspace.addon_secret_previous_until = now + grace
    workspace.addon_secret_rotated_at = now
    workspace.addon_secret = new_secret()


def in_grace(until: datetime | None, now: datetime | None = None) -> bool:
    return until is not None and (now or utcnow()) < until


def check_signature(verify: Verify, current: str, previous: str | None, previous_until: datetime | None,
                    now: datetime | None = None) -> SecretMatch:
    """Which secret ``verify`` accepts: the current one, else the previous one while in grace.

    ``verify(secret)`` raises ``SignatureMismatch`` for a wrong secret and any other ``SignatureError``
    for a problem no secret fixes (stale, missing header, out-of-date add-on), which is raised as is.
    """
    try:
        verify(current)
        return SecretMatch.CURRENT
    except SignatureMismatch:
        if not previous:
            raise
    return _check_previous(verify, previous, previous_until, now)


def _check_previous(verify: Verify, previous: str, until: datetime | None, now: datetime | None) -> SecretMatch:
    try:
        verify(previous)
    except SignatureMismatch:
        raise SignatureMismatch() from None
    if in_grace(until, now):
        return SecretMatch.PREVIOUS
    raise SecretRotated()


# The sheets webhook reads the current secret in its own one-statement look-up; the previous one
# is read only when the current one does not match (after a rotation), through this statement.
_PREVIOUS_SECRET = select(
    type_coerce(Workspace.addon_secret_previous, Text).label("secret"),
    Workspace.addon_secret_previous_until.label("until"),
).where(Workspace.id == bindparam("workspace_id"))


def check_sheets_signature(connection: Connection, workspace_id: str, current: str, verify: Verify,
                           now: datetime | None = None) -> SecretMatch:
    """``check_signature`` for the webhook, whose cached look-up has only the current secret: the
    previous one (ciphertext, decrypted through the per-process cache) is read when that fails."""
    try:
        verify(current)
        return SecretMatch.CURRENT
    except SignatureMismatch:
        row = connection.execute(_PREVIOUS_SECRET, {"workspace_id": workspace_id}).one_or_none()
        if row is None or not row.secret:
            raise
    return _check_previous(verify, crypto.decrypt_cached(row.secret), row.until, now)


def refusal(exc: SignatureError) -> dict[str, Any]:
    """The JSON body of a 401 for ``exc``; a rotated-out secret says so in ``reason``."""
    error: dict[str, Any] = {"code": 401, "message": str(exc)}
    if isinstance(exc, SecretRotated):
        error["reason"] = exc.reason
    return {"error": error}


__all__ = ["ROTATED_REASON", "ROTATED_MESSAGE", "ROTATED_HEADER", "SecretMatch", "SecretRotated", "new_secret",
           "rotate", "in_grace", "check_signature", "check_sheets_signature", "refusal"]
