"""Create a synced sheet (``/app/sheets/new``): copy the template spreadsheet, whose bound script is
the add-on, into the signed-in person's Drive, then start the new-workspace wizard with the copy.

For people who cannot have the add-on installed for their whole domain. The copying is
``server.addon.template_copy``; this view picks the person's Google account, shows errors in plain
words and always offers Google's own "Make a copy" link as the way round.
"""

from __future__ import annotations

import structlog
from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from ..addon.template_copy import CopyFailed, clean_name, copy_template, manual_copy_url
from ..auth.session import login_required
from ..config import current_settings
from ..extensions import db_session
from ..models.accounts import GOOGLE
from ..sheets.errors import SheetsError
from . import queries
from .blueprint import bp
from .google import http_client, spreadsheet_url
from .helpers import user
from .wizard import SESSION_KEY

log = structlog.get_logger(__name__)


def _template_id() -> str:
    return current_settings().google_template_spreadsheet_id


def _page(status: int = 200, **context: object) -> Response:
    template = _template_id()
    accounts = queries.accounts_for_user(db_session(), user(), GOOGLE)
    body = render_template("dashboard/synced_sheet.html", template_id=template, accounts=accounts,
                           manual_copy_url=manual_copy_url(template) if template else None,
                           name=context.pop("name", "Leads"), **context)
    return current_app.make_response((body, status))


@bp.get("/sheets/new")
@login_required
def synced_sheet() -> ResponseReturnValue:
    """What "Create a synced sheet" does, and its button."""
    return _page()


@bp.post("/sheets/new")
@login_required
def synced_sheet_create() -> ResponseReturnValue:
    """Copy the template as the person, then open the wizard's first step with the copy filled in."""
    name = clean_name(request.form.get("name"))
    if not _template_id():
        return _page(404, error="Creating a synced sheet is not set up on this server "
                                "(GOOGLE_TEMPLATE_SPREADSHEET_ID is unset).", name=name)
    accounts = queries.accounts_for_user(db_session(), user(), GOOGLE)
    if not accounts:
        return _page(400, error="Connect a Google account first (Connections page): the copy is made in its Drive.",
                     name=name)
    account = queries.account_for_user(db_session(), user(), request.form.get("google_account") or accounts[0].id,
                                       GOOGLE)
    if account is None:
        return _page(404, error="Choose one of your connected Google accounts.", name=name)
    try:
        http = http_client(current_app, account).session
        copied = copy_template(http, current_app.config["GOOGLE_DRIVE_API_BASE_URL"], _template_id(), name,
                               timeout=current_settings().outbound_timeout_s(15.0))
    except (CopyFailed, SheetsError) as exc:
        log.info("synced_sheet_copy_failed", account_id=account.id, error=str(exc))
        return _page(502, error=f"Could not create “{name}”: {exc}", name=name)
    log.info("synced_sheet_created", account_id=account.id, spreadsheet_id=copied.id)
    session[SESSION_KEY] = {"spreadsheet_input": spreadsheet_url(copied.id)}
    session.modified = True
    flash(f"“{copied.name}” is in your Google Drive. Choose Next to set up its sync; then open it "
          f"({spreadsheet_url(copied.id)}), open Extensions › Leads Sync › Open sidebar and choose Connect to "
          "Leads Sync.", "success")
    return redirect(url_for("dashboard.new_workspace", step="sheet"))
