"""Errors raised by the Trello client, split by what the caller should do about them."""

from __future__ import annotations


class TrelloError(Exception):
    """Base class. ``transient`` errors are worth retrying later."""

    transient = False

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TrelloBadRequest(TrelloError):
    """400: our request was wrong (or a webhook callback check failed)."""


class TrelloAuthError(TrelloError):
    """401/403: the token was revoked or lacks access; the user must re-authorise."""


class TrelloNotFound(TrelloError):
    """404: the card, list, board or webhook does not exist (any more)."""


class TrelloRateLimited(TrelloError):
    """429: over Trello's limits; ``retry_after`` says how long to wait (seconds)."""

    transient = True

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class TrelloServerError(TrelloError):
    """5xx from Trello."""

    transient = True


class TrelloUnavailable(TrelloError):
    """Timeout or connection failure."""

    transient = True
