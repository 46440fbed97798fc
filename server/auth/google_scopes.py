"""Which Google scopes the server asks for: ``GOOGLE_SCOPE_MODE`` (``spreadsheets`` or ``drive.file``).

- ``spreadsheets`` (the default): every spreadsheet the person can open. A *sensitive* scope: the
  OAuth client needs Google's verification to leave Testing mode, where refresh tokens last 7 days.
- ``drive.file``: only files the person picked with Google Picker (or the app created). Not
  sensitive, so no review; the wizard shows a "Choose a spreadsheet" button that opens the Picker.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from ..sheets.errors import SheetsAuthError, SheetsNotFound

SPREADSHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"
DRIVE_FILE_SCOPE = "https://www.googleapis.com/auth/drive.file"
IDENTITY_SCOPES = "openid email profile"  # all three are non-sensitive


class GoogleScopeMode(StrEnum):
    SPREADSHEETS = "spreadsheets"
    DRIVE_FILE = "drive.file"


DATA_SCOPE = {GoogleScopeMode.SPREADSHEETS: SPREADSHEETS_SCOPE, GoogleScopeMode.DRIVE_FILE: DRIVE_FILE_SCOPE}


def scope_mode(config: Mapping[str, Any]) -> GoogleScopeMode:
    """The configured mode (``load_config`` has validated it)."""
    from ..config import Settings

    return GoogleScopeMode(Settings.from_config(config).google_scope_mode)


def google_scopes(config: Mapping[str, Any]) -> str:
    """The ``scope`` parameter of the consent request for the configured mode. With a template
    spreadsheet configured, ``spreadsheets`` mode asks for ``drive.file`` too: Drive's ``files.copy``
    needs it for "Create a synced sheet" (server/addon/template_copy.py)."""
    scopes = [IDENTITY_SCOPES, DATA_SCOPE[scope_mode(config)]]
    if scope_mode(config) is GoogleScopeMode.SPREADSHEETS and config.get("GOOGLE_TEMPLATE_SPREADSHEET_ID"):
        scopes.append(DRIVE_FILE_SCOPE)
    return " ".join(scopes)


def uses_picker(config: Mapping[str, Any]) -> bool:
    return scope_mode(config) is GoogleScopeMode.DRIVE_FILE




NO_PERMISSION = "The caller does not have permission"  # Sheets API's 403 for a file drive.file does not cover


def grant_gap_message(exc: Exception, config: Mapping[str, Any]) -> str | None:
    """Plain words when, in ``drive.file`` mode, Google refuses a spreadsheet the grant does not cover.

    Sheets answers 403 ``The caller does not have permission`` (and 404 ``Requested entity was not
    found`` for ids it will not even confirm); choosing the file again in Google Picker fixes both.
    None for any other failure, or in ``spreadsheets`` mode.
    """
    if not uses_picker(config):
        return None
    refused = isinstance(exc, SheetsAuthError) and getattr(exc, "status", None) == 403
    if not (refused or isinstance(exc, SheetsNotFound)):
        return None
    return cant_open_message(config)


def cant_open_message(config: Mapping[str, Any]) -> str:
    from ..config import Settings

    name = Settings.from_config(config).powerup_app_name
    return f"{name} can't open this spreadsheet: choose it again with Choose a spreadsheet."


__all__ = ["DRIVE_FILE_SCOPE", "NO_PERMISSION", "SPREADSHEETS_SCOPE", "GoogleScopeMode", "cant_open_message",
           "google_scopes", "grant_gap_message", "scope_mode", "uses_picker"]
