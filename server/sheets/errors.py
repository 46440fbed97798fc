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
