"""``GET /metrics``: 404 unless ``METRICS_ENABLED``; then only with ``Authorization: Bearer <METRICS_TOKEN>``."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST

from ..extensions import db
from ..models.base import utcnow
from .exposition import render
from .instruments import http_answered

bp = Blueprint("metrics", __name__)


def bearer_ok(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` as its bearer token (constant time)."""
    scheme, _, given = (header or "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bp.after_app_request
def count_answer(response: Response) -> Response:
    """Count every answer by its route pattern (never the raw path: ids would make endless series)."""
    rule = request.url_rule
    http_answered(rule.rule if rule is not None else "unmatched", request.method, response.status_code)
    return response


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    config = current_app.config
    if not config["METRICS_ENABLED"]:
        abort(404)
    if not bearer_ok(request.headers.get("Authorization"), config["METRICS_TOKEN"]):
        response = current_app.response_class(
            '{"error": {"code": 401, "name": "Unauthorized", "message": '
            '"send the metrics token as Authorization: Bearer <METRICS_TOKEN>"}}',
            status=401, mimetype="application/json")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    clock = current_app.extensions.get("leads_clock", utcnow)
    body = render(db.engine, clock, config["READY_WORKER_MAX_AGE_S"])
    return Response(body, content_type=CONTENT_TYPE_LATEST)
