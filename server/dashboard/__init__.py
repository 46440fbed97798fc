"""The web dashboard (``/app``): workspaces, connections, the new-workspace wizard, a workspace's page.

Server-rendered Jinja pages (``server/templates``), CSRF-protected forms, one small script for the
live status of a workspace and of a draft's preview (``server/static/workspace.js``). Every look-up
goes through ``server.dashboard.queries``, scoped by the signed-in user: a workspace that is not
theirs answers 404 on every route.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/app")

from . import pages, wizard, workspace  # noqa: E402,F401  (register the views)
from . import addon_connect, synced_sheet  # noqa: E402,F401  (add-on connect popup, Create a synced sheet)

__all__ = ["bp"]

from . import mapping_edit  # noqa: F401  (the mapping editor)
