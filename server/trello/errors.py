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


def trello_error_message(exc: Exception) -> str:
    """Plain words for a Trello failure the user can act on (the dashboard shows them)."""
    if isinstance(exc, TrelloAuthError):
        return ("Trello refused the connected account's token (it may have been revoked). Reconnect Trello on the "
                "Connections page, then try again.")
    if isinstance(exc, TrelloNotFound):
        return "Trello cannot find that board, or the connected account is not a member of it."
    if isinstance(exc, TrelloRateLimited):
        return "Trello is rate-limiting requests right now; wait a few seconds and try again."
    if isinstance(exc, TrelloUnavailable):
        return "Trello did not answer; try again in a moment."
    if isinstance(exc, TrelloBadRequest):
        return f"Trello refused the request: {exc}"
    return f"Trello answered with an error: {exc}"
