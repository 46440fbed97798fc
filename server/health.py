"""Liveness and readiness probes."""

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from .extensions import db
from .metrics.readiness import Thresholds, check
from .models.base import utcnow

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> ResponseReturnValue:
    """The process is up (liveness: nothing else is looked at)."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready() -> ResponseReturnValue:
    """The database answers, a sync worker was heard from lately, live edits are not piling up."""
    config = current_app.config
    thresholds = Thresholds(worker_max_age_s=config["READY_WORKER_MAX_AGE_S"],
                            backlog_max_age_s=config["READY_BACKLOG_MAX_AGE_S"])
    result = check(db.engine, thresholds, current_app.extensions.get("leads_clock", utcnow))
    return jsonify(result.as_json()), 200 if result.ok else 503
