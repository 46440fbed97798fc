"""The web dashboard (``/app``): workspaces, connections, the new-workspace wizard, a workspace's page.

Server-rendered Jinja pages (``server/templates``), CSRF-protected forms, one small script for the
live status of a workspace and of a draft's preview (``server/static/workspace.js``). Every look-up
goes through ``server.dashboard.queries``, scoped by the signed-in user: a workspace that is not
theirs answers 404 on every route.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/app")

# The views register themselves on ``bp`` when imported (Flask's blueprint pattern), hence after it.
from . import (  # noqa: E402,F401
    addon_connect,
    history,
    mapping_edit,
    pages,
    picker,
    synced_sheet,
    wizard,
    workspace,
)

__all__ = ["bp"]
