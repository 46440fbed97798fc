"""Trello REST client (requests) and its errors."""

from .cardfields import CustomFieldsUnavailable
from .client import TrelloClient
from .errors import (
    TrelloAuthError,
    TrelloBadRequest,
    TrelloError,
    TrelloNotFound,
    TrelloRateLimited,
    TrelloServerError,
    TrelloUnavailable,
)

__all__ = ["TrelloClient", "TrelloError", "TrelloAuthError", "TrelloBadRequest", "TrelloNotFound",
           "TrelloRateLimited", "TrelloServerError", "TrelloUnavailable", "CustomFieldsUnavailable"]
