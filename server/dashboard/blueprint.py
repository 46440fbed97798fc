"""The dashboard's blueprint (``/app``), on its own so that the views can import it while the
package imports them (each view registers itself on ``bp`` when its module is imported)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/app")

__all__ = ["bp"]
