"""One sheet tab, read and written through gspread's HTTP client.

Only the ``values`` endpoints are used, so no call is spent on spreadsheet metadata, except
``grid_size()`` (one metadata read per reconciliation), which also notes the tab's numeric id
(``sheet_id``, the ``gid`` of its URL). Every write uses ``valueInputOption=RAW``: user-visible
text such as ``=IMPORTRANGE(...)`` stays text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import requests
from google.auth.exceptions import RefreshError, TransportError
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from .errors import (
    SheetsAuthError,
    SheetsBadRequest,
    SheetsError,
    SheetsNotFound,
    SheetsRateLimited,
    SheetsServerError,
    SheetsUnavailable,
)

# Waits before a request; may return a callable to run once the request has ended.
Throttle = Callable[[], Callable[[], None] | None]


def column_letter(index: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def quote_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


_RANGE_START = re.compile(r"![A-Z]+(\d+)")


class SheetTab:
    """Reads and writes one tab of one spreadsheet."""

    def __init__(self, http: HTTPClient, spreadsheet_id: str, sheet_name: str, *,
                 read_throttle: Throttle | None = None, write_throttle: Throttle | None = None) -> None:
        self.http = http
        self.spreadsheet_id = spreadsheet_id
        self.sheet_name = sheet_name
        self.read_throttle = read_throttle
        self.write_throttle = write_throttle
        self.calls = 0
        # The tab's ``properties.sheetId`` as last seen by ``grid_size()``; None until then.
        self.sheet_id: int | None = None

    def a1(self, cells: str) -> str:
        return f"{quote_sheet(self.sheet_name)}!{cells}"

    # ------------------------------------------------------------------ reads

    def batch_get(self, ranges: Sequence[str]) -> list[list[list[Any]]]:
        """Values of each A1 range (relative to this tab), rows padded by nobody: ragged lists."""
        data = self._call("read", self.http.values_batch_get, self.spreadsheet_id, [self.a1(r) for r in ranges],
                          {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"})
        return [vr.get("values", []) for vr in data.get("valueRanges", [])]

    def get(self, cells: str) -> list[list[Any]]:
        data = self._call("read", self.http.values_get, self.spreadsheet_id, self.a1(cells),
                          {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"})
        return data.get("values", [])

    def grid_size(self) -> tuple[int, int]:
        """(rows, columns) of this tab's grid; reads beyond it are refused by Google.

        The same answer carries the tab's numeric id, kept in ``sheet_id`` at no extra cost.
        """
        data = self._call("read", self.http.fetch_sheet_metadata, self.spreadsheet_id,
                          {"includeGridData": "false", "fields": "sheets.properties"})
        for sheet in data.get("sheets", []):
            properties = sheet.get("properties", {})
            if properties.get("title") == self.sheet_name:
                if isinstance(properties.get("sheetId"), int):
                    self.sheet_id = properties["sheetId"]
                grid = properties.get("gridProperties", {})
                return int(grid.get("rowCount", 1000)), int(grid.get("columnCount", 26))
        raise SheetsBadRequest(f"the spreadsheet has no tab named {self.sheet_name!r}")

    def header(self, header_row: int = 1) -> list[str]:
        rows = self.get(f"{header_row}:{header_row}")
        return [str(h).strip() for h in rows[0]] if rows else []

    # ------------------------------------------------------------------ writes

    def write_cells(self, cells: Sequence[tuple[int, int, Any]]) -> int:
        """Write ``(row, column, value)`` cells (1-based) in ONE ``values.batchUpdate``; returns cells written."""
        if not cells:
            return 0
        data = [{"range": self.a1(f"{column_letter(col)}{row}"), "values": [[_cell(value)]]}
                for row, col, value in cells]
        result = self._call("write", self.http.values_batch_update, self.spreadsheet_id,
                            {"valueInputOption": "RAW", "data": data})
        return int(result.get("totalUpdatedCells", len(cells)))

    def append_rows(self, rows: Sequence[Sequence[Any]], header_row: int = 1) -> int:
        """Append rows after the table in ONE call; returns the sheet row number of the first one."""
        result = self._call("write", self.http.values_append, self.spreadsheet_id, self.a1(f"A{header_row}"),
                            {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
                            {"values": [[_cell(v) for v in row] for row in rows], "majorDimension": "ROWS"})
        updated = (result.get("updates") or {}).get("updatedRange", "")
        match = _RANGE_START.search(updated)
        if not match:
            raise SheetsServerError(f"append answered without an updated range: {updated!r}")
        return int(match.group(1))

    # ------------------------------------------------------------------ transport

    def _call(self, kind: str, method: Callable[..., Any], *args: Any) -> Any:
        throttle = self.read_throttle if kind == "read" else self.write_throttle
        finish = throttle() if throttle is not None else None
        self.calls += 1
        try:
            return call_sheets(method, *args)
        finally:
            if finish is not None:
                finish()


def call_sheets(method: Callable[..., Any], *args: Any) -> Any:
    """Call a gspread HTTP-client method, turning every failure into a ``SheetsError``."""
    try:
        return method(*args)
    except APIError as exc:
        raise _error_for(exc) from exc
    except RefreshError as exc:  # the grant was revoked (invalid_grant), or Google's token endpoint failed
        detail = str(exc.args[0] if exc.args else exc)[:300]
        if exc.retryable:
            raise SheetsUnavailable(f"Google could not refresh the access token: {detail}") from exc
        raise SheetsAuthError(f"Google refused to refresh the access token: {detail}", 401) from exc
    except TransportError as exc:
        raise SheetsUnavailable("cannot reach Google's token endpoint") from exc
    except requests.Timeout as exc:
        raise SheetsUnavailable("Google Sheets did not answer in time") from exc
    except requests.ConnectionError as exc:
        raise SheetsUnavailable("cannot reach Google Sheets") from exc


def _cell(value: Any) -> Any:
    return "" if value is None else value


def _error_for(exc: APIError) -> SheetsError:
    code = exc.code if isinstance(exc.code, int) else exc.response.status_code
    message = str(exc.error.get("message", ""))[:300]
    if code == 429:
        retry = exc.response.headers.get("Retry-After")
        try:
            delay = float(retry) if retry else 10.0
        except ValueError:
            delay = 10.0
        return SheetsRateLimited(f"Google Sheets quota exceeded: {message}", delay)
    if code in (401, 403):
        return SheetsAuthError(f"Google refused access to the spreadsheet: {message}", code)
    if code == 404:
        return SheetsNotFound(f"spreadsheet not found: {message}", code)
    if code >= 500 or code < 0:
        return SheetsServerError(f"Google Sheets error {code}: {message}", code)
    return SheetsBadRequest(f"Google Sheets refused the request ({code}): {message}", code)
