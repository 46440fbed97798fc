"""Scopes in the emulators: what a Google access token may do with a spreadsheet.

Google checks two things on a Sheets API v4 call:

- the token's scopes: ``spreadsheets`` or ``drive`` reach every spreadsheet the user can open; the
  ``.readonly`` variants only read; ``drive.file`` reaches only the files this OAuth client's
  project was given by the user, through Google Picker (with ``setAppId`` = the project number) or
  by creating them. A token without any of these scopes answers 403 "Request had insufficient
  authentication scopes.";
- for ``drive.file``, the file itself: a spreadsheet the user never picked (or the app never
  created) answers 403 ``PERMISSION_DENIED`` "The caller does not have permission" (what the real
  Sheets API answers; the Drive API says 404 there instead).

``FileGrants`` keeps the picked/created files per (OAuth client, Google user); the OAuth emulator
owns one, records Picker picks in it (``GoogleOAuthEmulator.pick_file``) and hands ``check`` to a
linked ``SheetsEmulator``. A bearer token the OAuth emulator never issued is not checked (the
Sheets emulator alone accepts any token, as before).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum

from .sheets_model import ApiError

_AUTH = "https://www.googleapis.com/auth/"
INSUFFICIENT_SCOPES = "Request had insufficient authentication scopes."
NO_PERMISSION = "The caller does not have permission"


class Access(StrEnum):
    """What a token's scopes allow on spreadsheets."""

    ALL = "all"            # spreadsheets, drive
    READ_ALL = "read_all"  # spreadsheets.readonly, drive.readonly
    PICKED = "picked"      # drive.file
    NONE = "none"


SCOPE_ACCESS = {
    _AUTH + "spreadsheets": Access.ALL,
    _AUTH + "drive": Access.ALL,
    _AUTH + "spreadsheets.readonly": Access.READ_ALL,
    _AUTH + "drive.readonly": Access.READ_ALL,
    _AUTH + "drive.file": Access.PICKED,
}
_RANK = [Access.ALL, Access.READ_ALL, Access.PICKED, Access.NONE]


@dataclass(frozen=True)
class TokenGrant:
    """Who an access token acts for, for which OAuth client, with which scopes."""

    client_id: str
    sub: str
    scopes: frozenset[str]

    def access(self, write: bool) -> Access:
        """The widest access the scopes give for a read (or a write)."""
        kinds = {SCOPE_ACCESS.get(s, Access.NONE) for s in self.scopes}
        if write:
            kinds.discard(Access.READ_ALL)
        return next((k for k in _RANK if k in kinds), Access.NONE)


class FileGrants:
    """The files each (OAuth client, Google user) may reach with ``drive.file``: picked or created."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str], set[str]] = {}

    def grant(self, client_id: str, sub: str, file_id: str) -> None:
        with self._lock:
            self._files.setdefault((client_id, sub), set()).add(file_id)

    def files(self, client_id: str, sub: str) -> set[str]:
        with self._lock:
            return set(self._files.get((client_id, sub), set()))

    def check(self, token: TokenGrant | None, file_id: str, write: bool) -> None:
        """Raise Google's 403 unless ``token`` may read (or write) ``file_id``; None: not our token, allowed."""
        if token is None:
            return
        access = token.access(write)
        if access is Access.NONE:
            raise ApiError(403, INSUFFICIENT_SCOPES)
        if access is Access.PICKED and file_id not in self.files(token.client_id, token.sub):
            raise ApiError(403, NO_PERMISSION)


__all__ = ["INSUFFICIENT_SCOPES", "NO_PERMISSION", "Access", "FileGrants", "TokenGrant"]
