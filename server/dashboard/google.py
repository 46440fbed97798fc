"""What the workspace wizard reads from Google Sheets, through gspread's HTTP client.

``SpreadsheetReader.tabs()`` costs ONE metadata call (titles and grid sizes of every tab);
``headers()`` reads the header row of several tabs in ONE ``values.batchGet``;
``column_values()`` reads one column of one tab in one call. Errors are the Sheets client's
(``SheetsAuthError`` for 401/403, ``SheetsNotFound`` for 404, ...), which the views turn into
plain words (``sheets_error_message``; in ``drive.file`` mode a 403/404 on the spreadsheet says to
choose it again with Google Picker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, current_app
from gspread.http_client import HTTPClient

from ..auth.google_scopes import grant_gap_message
from ..config import settings_of
from ..models import ProviderAccount
from ..sheets.client import SheetTab, call_sheets, column_letter, quote_sheet
from ..sheets.errors import SheetsAuthError, SheetsError
from ..sheets.errors import sheets_error_message as _plain_message
from ..sync.mapping import cell_text

# https://docs.google.com/spreadsheets/d/<id>/edit#gid=0 (also /u/1/ and ?usp=... variants)
_URL_ID = re.compile(r"/spreadsheets/(?:u/\d+/)?d/([A-Za-z0-9_-]{10,})")
_BARE_ID = re.compile(r"^[A-Za-z0-9_-]{10,128}$")
MAX_STATUSES = 50


def parse_spreadsheet_id(text: str | None) -> str | None:
    """The spreadsheet id in a Google Sheets URL, or a bare id; None when it is neither."""
    value = (text or "").strip()
    if not value:
        return None
    match = _URL_ID.search(value)
    if match:
        return match.group(1)
    if "/" in value or "." in value or " " in value:
        return None
    return value if _BARE_ID.match(value) else None


def sheets_error_message(exc: Exception) -> str:
    """Plain words for a Sheets failure; "choose it again" when ``drive.file`` does not cover the file."""
    return grant_gap_message(exc, current_app.config) or _plain_message(exc)


def spreadsheet_url(spreadsheet_id: str, gid: int | None = None) -> str:
    """The spreadsheet in Google Sheets, opened on the tab ``gid`` when it is known."""
    url = f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit"
    return url if gid is None else f"{url}#gid={gid}"


@dataclass
class Tab:
    title: str
    sheet_id: int | None  # properties.sheetId: the tab's gid in URLs (None: not known)
    rows: int
    columns: int
    header: list[str] = field(default_factory=list)


class SpreadsheetReader:
    """Read-only views of one spreadsheet for the wizard."""

    def __init__(self, http: HTTPClient, spreadsheet_id: str) -> None:
        self.http = http
        self.spreadsheet_id = spreadsheet_id
        self.title = ""
        self.calls = 0

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        return call_sheets(method, *args)

    def tabs(self) -> list[Tab]:
        """Every tab (title, id, grid size) in ONE metadata call; sets ``title``."""
        data = self._call(self.http.fetch_sheet_metadata, self.spreadsheet_id,
                          {"includeGridData": "false", "fields": "properties.title,sheets.properties"})
        self.title = str((data.get("properties") or {}).get("title") or "")
        tabs = []
        for sheet in data.get("sheets", []):
            properties = sheet.get("properties", {})
            if properties.get("sheetType", "GRID") != "GRID":
                continue
            grid = properties.get("gridProperties", {})
            tabs.append(Tab(title=str(properties.get("title", "")), sheet_id=int(properties.get("sheetId", 0)),
                            rows=int(grid.get("rowCount", 1000)), columns=int(grid.get("columnCount", 26))))
        return tabs

    def headers(self, tabs: list[Tab], header_row: int = 1) -> list[Tab]:
        """Fill each tab's ``header`` from row ``header_row`` in ONE ``values.batchGet``."""
        readable = [t for t in tabs if t.rows >= header_row]
        if not readable:
            return tabs
        ranges = [f"{quote_sheet(t.title)}!{header_row}:{header_row}" for t in readable]
        data = self._call(self.http.values_batch_get, self.spreadsheet_id, ranges,
                          {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"})
        for tab, value_range in zip(readable, data.get("valueRanges", []), strict=False):
            rows = value_range.get("values", [])
            tab.header = [str(h).strip() for h in rows[0]] if rows else []
        return tabs

    def column_values(self, tab: SheetTab, header: list[str], column: str, header_row: int = 1,
                      limit: int = MAX_STATUSES) -> list[str]:
        """The distinct non-empty values of ``column`` below the header (first spelling kept, ≤ ``limit``)."""
        if column not in header:
            return []
        letter = column_letter(header.index(column) + 1)
        rows, _ = tab.grid_size()
        if rows <= header_row:
            return []
        values = tab.get(f"{letter}{header_row + 1}:{letter}{rows}")
        seen: dict[str, str] = {}
        for row in values:
            text = " ".join(cell_text(row[0]).split()) if row else ""
            key = text.casefold()
            if text and key not in seen:
                seen[key] = text
                if len(seen) >= limit:
                    break
        return list(seen.values())


# --------------------------------------------------------------------------- clients


def http_client(app: Flask, account: ProviderAccount | None) -> HTTPClient:
    """gspread's HTTP client acting as ``account`` (or the service account when None)."""
    from ..engine import providers
    from ..sheets.http import BaseUrlHTTPClient

    pool = providers(app)
    if account is None and not pool.settings.google_service_account_json:
        raise SheetsAuthError("no Google account is connected", 401)
    credentials = pool._google_credentials(account)  # the engine's own credential building
    settings = settings_of(app)
    return BaseUrlHTTPClient(credentials, base_url=settings.sheets_api_base_url,
                             timeout=settings.outbound_timeout_s(15.0))


def reader(app: Flask, account: ProviderAccount | None, spreadsheet_id: str) -> SpreadsheetReader:
    return SpreadsheetReader(http_client(app, account), spreadsheet_id)


def sheet_tab(app: Flask, account: ProviderAccount | None, spreadsheet_id: str, sheet_name: str) -> SheetTab:
    return SheetTab(http_client(app, account), spreadsheet_id, sheet_name)


__all__ = ["parse_spreadsheet_id", "spreadsheet_url", "Tab", "SpreadsheetReader", "sheets_error_message",
           "http_client", "reader", "sheet_tab", "SheetsError"]
