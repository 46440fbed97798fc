"""JSON error answers for API clients; never an HTML traceback."""

from __future__ import annotations

import structlog
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from .crypto import DecryptionError

log = structlog.get_logger(__name__)


def wants_html() -> bool:
    """Dashboard pages get HTML errors; everything else (APIs, webhooks) gets JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    prefers_html = best == "text/html" and request.accept_mimetypes[best] > request.accept_mimetypes["application/json"]
    return prefers_html and request.path.startswith("/app")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        response = exc.get_response()
        if wants_html():
            return response
        body = {"error": {"code": exc.code, "name": exc.name, "message": exc.description}}
        result = jsonify(body)
        result.status_code = exc.code or 500
        for header in ("Allow", "Retry-After"):
            if header in response.headers:
                result.headers[header] = response.headers[header]
        return result

    @app.errorhandler(DecryptionError)
    def _undecryptable(exc: DecryptionError) -> ResponseReturnValue:
        # The operator's problem, not the caller's: 503 makes Trello and the add-on retry later,
        # so nothing is lost while the key is put back.
        log.error("secret_not_decryptable", path=request.path)
        return jsonify({"error": {"code": 503, "name": "Service Unavailable",
                                  "message": "The server cannot decrypt a stored secret with its TOKEN_ENCRYPTION_KEY; "
                                             "its operator must restore the key that encrypted it."}}), 503

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled_error", path=request.path)
        return jsonify({"error": {"code": 500, "name": "Internal Server Error",
                                  "message": "The server hit an unexpected error; it has been logged."}}), 500
