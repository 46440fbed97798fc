"""The web dashboard (``/app``): workspaces, connections, the new-workspace wizard, a workspace's page.

Server-rendered Jinja pages (``server/templates``), CSRF-protected forms, one small script for the
live status of a workspace and of a draft's preview (``server/static/workspace.js``). Every look-up
goes through ``server.dashboard.queries``, scoped by the signed-in user: a workspace that is not
theirs answers 404 on every route.
"""

from __future__ import annotations

# The views register themselves on ``bp`` when imported (Flask's blueprint pattern); they take
# ``bp`` from ``blueprint.py``, so the order of these imports does not matter.
from . import addon_connect, boards, history, mapping_edit, pages, picker, synced_sheet, wizard, workspace
from .blueprint import bp

__all__ = ["addon_connect", "boards", "bp", "history", "mapping_edit", "pages", "picker", "synced_sheet", "wizard",
           "workspace"]
