"""One-time connect codes: the dashboard shows one, the add-on trades it for the workspace secret.

A code is 12 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown in groups of
four (``ABCD-EFGH-JKMN``, about 59 bits). Only its SHA-256 is stored; a code works once and expires
(30 minutes by default). Users may type it in lower case, with or without dashes or spaces.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from ..models import Workspace

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GROUPS = 3
GROUP_SIZE = 4


def normalise_code(code: str) -> str:
    """Upper case, without separators: what is hashed."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_connect_code(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def new_connect_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_SIZE))
    return "-".join(raw[i:i + GROUP_SIZE] for i in range(0, len(raw), GROUP_SIZE))


def issue_connect_code(session: Session, workspace: Workspace, ttl_minutes: int = 30) -> str:
    """Give ``workspace`` a new one-time code (replacing any earlier one) and return it.

    The caller commits the session. The code itself is never stored.
    """
    code = new_connect_code()
    workspace.connect_code_hash = hash_connect_code(code)
    workspace.connect_code_expires_at = datetime.now(timezone.utc) + timedelta(minutes=ttl_minutes)
    session.add(workspace)
    return code


__all__ = ["issue_connect_code", "hash_connect_code", "normalise_code", "new_connect_code"]
