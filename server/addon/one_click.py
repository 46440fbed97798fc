"""One-click connect: the sidebar's "Connect to Leads Sync" button, without a typed code.

1. The add-on makes a *connect nonce* (32 random hex digits, kept in its user properties) and opens
   ``/app/addon/connect?nonce=…&spreadsheet=…&sheet=…`` in a popup.
2. There the signed-in person chooses one of their workspaces that syncs this spreadsheet
   (``approve``): the nonce itself becomes that workspace's one-time connect code (only its SHA-256
   is stored, in ``Workspace.connect_code_hash``, like a code made on the dashboard) for
   ``APPROVAL_TTL`` minutes.
3. The add-on polls ``POST /api/addon/connect/poll`` with the nonce (``poll``): ``waiting`` until the
   approval, then the same answer as ``/api/addon/connect`` (workspace id, secret …), once. The
   used nonce is remembered (in ``addon_nonces``) so the same popup link cannot approve again.

Nothing here imports Flask: the views in ``server.dashboard.addon_connect`` and ``server.addon``
call these functions and turn their results or ``ConnectRefused`` into pages and JSON.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from ..models import AddonNonce, Workspace
from ..models.workspace import DISCONNECTED, is_draft
from .codes import hash_connect_code
from .nonces import remember_nonce

NONCE = re.compile(r"^[0-9a-f]{32}$")
APPROVAL_TTL = timedelta(minutes=10)
USED_PREFIX = "connect:"
USED_KEEP = timedelta(days=1)


class PollState(StrEnum):
    WAITING = "waiting"
    CONNECTED = "connected"


class Refusal(StrEnum):
    """Why a one-click connect was refused; the value is the HTTP status the views answer with."""

    MALFORMED = "400"
    NOT_FOUND = "404"
    CONFLICT = "409"
    EXPIRED = "410"


class ConnectRefused(Exception):
    """A refusal in plain words, with the HTTP status to answer with."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def status(self) -> int:
        return int(self.reason.value)


@dataclass(frozen=True)
class ConnectRequest:
    """What the popup link carries: the add-on's nonce, its spreadsheet and current tab."""

    nonce: str
    spreadsheet_id: str
    sheet: str


def parse_request(nonce: object, spreadsheet_id: object, sheet: object) -> ConnectRequest:
    """Check the popup link's (or the poll's) fields; ``ConnectRefused`` (400) says which is wrong."""
    if not isinstance(nonce, str) or not NONCE.match(nonce.strip().lower()):
        raise ConnectRefused(Refusal.MALFORMED,
                             "This connect link is incomplete (its nonce must be 32 hexadecimal digits). "
                             "Open it again with the sidebar's Connect to Leads Sync button.")
    if not isinstance(spreadsheet_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", spreadsheet_id.strip()):
        raise ConnectRefused(Refusal.MALFORMED, "This connect link names no spreadsheet. Open it again with the "
                                                "sidebar's Connect to Leads Sync button.")
    sheet_name = sheet.strip() if isinstance(sheet, str) else ""
    return ConnectRequest(nonce.strip().lower(), spreadsheet_id.strip(), sheet_name[:200])


def _used_key(nonce: str) -> str:
    return USED_PREFIX + nonce


def _already_used(session: Session, workspace_id: str, nonce: str, now: datetime) -> bool:
    found = session.execute(select(AddonNonce.id).where(
        AddonNonce.workspace_id == workspace_id, AddonNonce.nonce == _used_key(nonce), AddonNonce.expires_at >= now))
    return found.first() is not None


def choosable(workspace: Workspace, spreadsheet_id: str) -> str | None:
    """Why ``workspace`` cannot be chosen for this spreadsheet, or None when it can."""
    if is_draft(workspace):
        return "its setup is not finished (start it on the dashboard first)"
    if workspace.state == DISCONNECTED:
        return "it is disconnected (reconnect it on the dashboard first)"
    if not hmac.compare_digest(workspace.spreadsheet_id.encode(), spreadsheet_id.encode()):
        return "it syncs another spreadsheet"
    return None


def approve(session: Session, workspace: Workspace, request: ConnectRequest, *,
            now: datetime | None = None) -> datetime:
    """The signed-in person chose ``workspace`` (already scoped to them) for the add-on's request.

    The nonce becomes the workspace's one-time connect code (replacing an earlier code) until the
    returned expiry. Caller commits.
    """
    now = now or datetime.now(UTC)
    problem = choosable(workspace, request.spreadsheet_id)
    if problem:
        status = Refusal.CONFLICT
        raise ConnectRefused(status, f"The workspace \u201c{workspace.name}\u201d cannot be connected here: {problem}.")
    if _already_used(session, workspace.id, request.nonce, now):
        raise ConnectRefused(Refusal.CONFLICT, "This connect link was already used. Choose Connect to Leads Sync "
                                               "in the sidebar again for a new one.")
    expires = now + APPROVAL_TTL
    workspace.connect_code_hash = hash_connect_code(request.nonce)
    workspace.connect_code_expires_at = expires
    session.add(workspace)
    return expires


def poll(session: Session, request: ConnectRequest, *, now: datetime | None = None) -> Workspace | None:
    """The workspace approved for this nonce, its code used up (once); None while nobody approved.

    Raises ``ConnectRefused``: 410 when the approval expired, 409 when it was for another
    spreadsheet. Caller commits.
    """
    now = now or datetime.now(UTC)
    code_hash = hash_connect_code(request.nonce)
    workspace = session.execute(
        select(Workspace).where(Workspace.connect_code_hash == code_hash)).scalar_one_or_none()
    if workspace is None:
        return None
    expires = workspace.connect_code_expires_at
    if expires is None or expires <= now:
        raise ConnectRefused(Refusal.EXPIRED, "The connection was approved more than "
                                              f"{int(APPROVAL_TTL.total_seconds() // 60)} minutes ago and has "
                                              "expired. Choose Connect to Leads Sync in the sidebar again.")
    if not hmac.compare_digest(workspace.spreadsheet_id.encode(), request.spreadsheet_id.encode()):
        raise ConnectRefused(Refusal.CONFLICT, f"The workspace \u201c{workspace.name}\u201d syncs a different "
                                               "spreadsheet; connect from that spreadsheet.")
    consumed = cast("CursorResult[Any]", session.execute(
        update(Workspace)
        .where(Workspace.id == workspace.id, Workspace.connect_code_hash == code_hash)
        .values(connect_code_hash=None, connect_code_expires_at=None)
        .execution_options(synchronize_session=False)
    )).rowcount
    if consumed != 1:   # a simultaneous poll won
        return None
    remember_nonce(session, workspace.id, _used_key(request.nonce), expires_at=now + USED_KEEP, now=now)
    session.refresh(workspace)
    return workspace


__all__ = [
    "APPROVAL_TTL",
    "NONCE",
    "ConnectRefused",
    "ConnectRequest",
    "PollState",
    "Refusal",
    "approve",
    "choosable",
    "parse_request",
    "poll",
]
