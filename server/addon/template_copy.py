"""Create a synced sheet: copy the template spreadsheet (its bound script is the built add-on) into
the person's Drive with Drive v3 ``files.copy``, for people who cannot install an add-on domain-wide.

The copy keeps the template's tabs and its bound script; the person then opens it, opens the
sidebar and chooses Connect to Leads Sync. Errors come back as ``CopyFailed`` in plain words; the
page always offers Google's own *Make a copy* link (``manual_copy_url``) as the way round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
MAX_NAME = 200
TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{10,200}$")


class _Poster(Protocol):
    """What ``copy_template`` needs of an HTTP session (``requests.Session`` and the like)."""

    def post(self, url: str, *, params: dict[str, str], json: Any, timeout: float) -> Any: ...


class CopyFailed(Exception):
    """Google refused or could not be reached; ``str()`` says what to do."""


@dataclass(frozen=True)
class DriveFile:
    id: str
    name: str
    mime_type: str


def manual_copy_url(template_id: str) -> str:
    """Google's own "Make a copy" page for the template (needs no API and no extra scope)."""
    return f"https://docs.google.com/spreadsheets/d/{template_id}/copy"


def clean_name(text: str | None) -> str:
    name = " ".join((text or "").split())[:MAX_NAME]
    return name or "Leads"


_REFUSALS = {
    401: "Google no longer accepts your sign-in for this; reconnect your Google account on the Connections page.",
    403: "Google refused to copy the template for your account (the template may not be shared with you, or your "
         "sign-in lacks Drive access: sign out and in again to grant it).",
    404: "The template spreadsheet was not found, or is not shared with you: ask the administrator to share it "
         "(Anyone with the link: Viewer).",
    429: "Google is limiting requests right now; try again in a minute.",
}


def copy_template(http: _Poster, drive_base_url: str, template_id: str, name: str, *,
                  timeout: float = 15.0) -> DriveFile:
    """``POST {drive}/files/{template}/copy`` as the person (``http`` is their authorised session)."""
    if not TEMPLATE_ID.match(template_id or ""):
        raise CopyFailed("No template spreadsheet is configured (GOOGLE_TEMPLATE_SPREADSHEET_ID).")
    try:
        response = http.post(f"{drive_base_url.rstrip('/')}/files/{template_id}/copy",
                             params={"fields": "id,name,mimeType", "supportsAllDrives": "true"},
                             json={"name": clean_name(name)}, timeout=timeout)
    except Exception as exc:   # requests' and google-auth's transport errors alike
        raise CopyFailed(f"Google Drive could not be reached ({type(exc).__name__}); try again in a minute.") from exc
    if response.status_code != 200:
        message = (_REFUSALS.get(response.status_code)
                   or f"Google Drive answered HTTP {response.status_code}; try again.")
        raise CopyFailed(message)
    try:
        body = response.json()
        found = DriveFile(id=str(body["id"]), name=str(body.get("name") or ""),
                          mime_type=str(body.get("mimeType") or ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise CopyFailed("Google Drive's answer had no file id; try again.") from exc
    if found.mime_type and found.mime_type != SPREADSHEET_MIME:
        raise CopyFailed("The template is not a Google Sheets spreadsheet; ask the administrator to fix the setting.")
    return found


__all__ = ["CopyFailed", "DriveFile", "clean_name", "copy_template", "manual_copy_url"]
