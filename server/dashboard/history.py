"""A workspace's history page (search, filters, pages) and one lead's timeline.

Thin views: the filters are checked and the pages read by ``history_search``, the entries put
in words by ``history_entries``. The workspace is found through the signed-in user (404 when it
is not theirs); a filter value the page cannot use answers 400 with the reason on the page.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, render_template, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ..auth.session import login_required
from ..extensions import db_session
from ..models import Workspace
from . import history_entries as entries
from . import history_search as search
from .blueprint import bp
from .google import spreadsheet_url
from .helpers import trello_board_url, workspace_or_404
from .history_labels import ACTION_CHOICES, SIDE_CHOICES


def _session() -> Session:
    return db_session()


def _page(template: str, *, status_code: int = 200, **context: Any) -> Response:
    return current_app.make_response((render_template(template, **context), status_code))


def _links(ws: Workspace) -> dict[str, Any]:
    return {"sheet_link": spreadsheet_url(ws.spreadsheet_id, ws.sheet_gid),
            "board_link": trello_board_url(ws.trello_board_id)}


@bp.get("/workspaces/<workspace_id>/history")
@login_required
def history(workspace_id: str) -> Response:
    """Every entry of the retention period: searched, filtered, a page at a time (newest first)."""
    ws = workspace_or_404(workspace_id)
    common: dict[str, Any] = {"ws": ws, "side_choices": SIDE_CHOICES, "action_choices": ACTION_CHOICES, **_links(ws)}
    try:
        filters = search.parse_filters(request.args)
        cursor = search.parse_cursor(request.args)
    except search.FilterError as problem:
        return _page("dashboard/history.html", status_code=400, filters=search.HistoryFilters(), error=str(problem),
                     entries=[], page=None, **common)
    page = search.history_page(_session(), ws, filters, cursor)
    return _page("dashboard/history.html", filters=filters, error="", page=page,
                 entries=entries.entry_views(_session(), ws, page.entries), **common)


@bp.get("/workspaces/<workspace_id>/leads/<lead_id>")
@login_required
def lead(workspace_id: str, lead_id: str) -> Response:
    """One lead: its row, card and fields now, and every history entry of it in time order."""
    ws = workspace_or_404(workspace_id)
    if not search.valid_lead_id(lead_id):
        abort(404)
    link = search.lead_link(_session(), ws, lead_id)
    waiting = search.lead_events(_session(), ws, lead_id)
    if link is None and not waiting and not search.lead_has_history(_session(), ws, lead_id):
        abort(404)
    try:
        after = search.parse_cursor(request.args).after
    except search.FilterError:
        after = None  # a mangled page position: start at the lead's first entry
    timeline = search.lead_timeline(_session(), ws, lead_id, after=after)
    view = entries.lead_page_view(ws, lead_id, link, entries.recorded_title(ws, timeline.entries), waiting)
    return _page("dashboard/lead.html", ws=ws, view=view, timeline=timeline, after=after,
                 entries=entries.entry_views(_session(), ws, timeline.entries),
                 waiting=entries.parked_views(_session(), ws, waiting), **_links(ws))
