"""Liveness and readiness probes."""

from flask import Blueprint, jsonify

from .database import database_ready
from .extensions import db

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():  # type: ignore[no-untyped-def]
    """The process is up."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready():  # type: ignore[no-untyped-def]
    """The database answers."""
    ok, detail = database_ready(db.engine)
    return jsonify({"status": "ok" if ok else "unavailable", "database": detail}), 200 if ok else 503
