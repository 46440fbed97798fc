"""Errors raised by the Sheets client, split by what the caller should do about them."""

from __future__ import annotations


class SheetsError(Exception):
    transient = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SheetsBadRequest(SheetsError):
    """400: e.g. the tab was renamed, so its range no longer parses."""


class SheetsAuthError(SheetsError):
    """401/403: the Google grant was revoked or lacks access to the spreadsheet."""


class SheetsNotFound(SheetsError):
    """404: the spreadsheet does not exist (any more)."""


class SheetsRateLimited(SheetsError):
    transient = True

    def __init__(self, message: str, retry_after: float = 10.0) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class SheetsServerError(SheetsError):
    transient = True


class SheetsUnavailable(SheetsError):
    """Timeout or connection failure."""

    transient = True


def sheets_error_message(exc: Exception) -> str:
    """Plain words for a Sheets failure the user can act on."""
    if isinstance(exc, SheetsNotFound):
        return ("Google Sheets cannot find that spreadsheet. Check the URL, and that the Google account you "
                "connected can open it.")
    if isinstance(exc, SheetsAuthError):
        if exc.status == 401:
            return ("Google refused the connected account's access (it may have been revoked). Reconnect Google "
                    "on the Connections page, then try again.")
        return ("The connected Google account has no access to this spreadsheet. Share the spreadsheet with that "
                "account (as an editor), or connect the account that owns it.")
    if isinstance(exc, SheetsRateLimited):
        return "Google Sheets is busy (quota reached); wait a minute and try again."
    if isinstance(exc, SheetsUnavailable):
        return "Google Sheets did not answer; try again in a moment."
    if isinstance(exc, SheetsBadRequest):
        return f"Google Sheets refused the request: {exc}"
    return f"Google Sheets answered with an error: {exc}"
