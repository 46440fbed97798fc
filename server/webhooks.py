"""Webhook endpoints: verify, store, answer. They never call Trello or Google.

``POST /webhooks/sheets/<workspace>`` takes the add-on's signed batches;
``HEAD``/``POST /webhooks/trello/<workspace>`` take Trello's deliveries.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import structlog
from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import ColumnElement, Row, Select, Text, bindparam, select, type_coerce
from sqlalchemy.orm import QueryableAttribute

from . import crypto
from .addon.secrets import ROTATED_HEADER, SecretMatch, check_sheets_signature, refusal
from .config import current_settings
from .engine import commit_and_wake
from .extensions import csrf, db, db_session
from .models import ProviderAccount, Workspace, WorkspaceBoard
from .models.sync import Lane
from .models.workspace import DISCONNECTED
from .sync.inbox import (
    PayloadError,
    is_bulk_delivery,
    parse_sheets_payload,
    parse_trello_payload,
    store_sheets_event,
    store_trello_event,
)
from .sync.queue import pending_bulk
from .sync.signatures import SignatureError, verify_addon, verify_trello

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)
log = structlog.get_logger(__name__)


def _json_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": status, "message": message}}), status


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON ({exc.__class__.__name__}: {exc})") from exc


def _intake_query(*columns: QueryableAttribute[Any] | ColumnElement[Any]) -> Select[Any]:
    return select(Workspace.id, Workspace.state, *columns).where(Workspace.id == bindparam("workspace_id"))


# Built once, only the columns each webhook needs, run through Core: the full ORM load was a
# quarter of each request's CPU, building the statement and the ORM's result handling a fifth.
# The add-on secret comes as stored (ciphertext) and is decrypted through a per-process cache.
_SHEETS_INTAKE = _intake_query(type_coerce(Workspace.addon_secret, Text).label("addon_secret"),
                               Workspace.spreadsheet_id, Workspace.sheet_name)
_TRELLO_INTAKE = (_intake_query(Workspace.trello_board_id, Workspace.trello_webhook_callback,
                                 ProviderAccount.provider_user_id.label("trello_member"))
                  .outerjoin(ProviderAccount, ProviderAccount.id == Workspace.trello_account_id))
_EXISTS = _intake_query()
# A further board's deliveries (several boards per sheet): its own webhook's callback is what Trello signs.
_BOARD_INTAKE = (_intake_query(WorkspaceBoard.board_id, WorkspaceBoard.webhook_callback,
                               ProviderAccount.provider_user_id.label("trello_member"))
                 .join(WorkspaceBoard, (WorkspaceBoard.workspace_id == Workspace.id)
                       & (WorkspaceBoard.board_id == bindparam("board_id")))
                 .outerjoin(ProviderAccount, ProviderAccount.id == Workspace.trello_account_id))


def _workspace_for_intake(query: Select[Any], workspace_id: str) -> Row[Any] | None:
    return db.session.connection().execute(query, {"workspace_id": workspace_id}).one_or_none()


def _stored(lane: int = Lane.LIVE) -> None:
    commit_and_wake(current_app, db_session(), lane)


@bp.post("/sheets/<workspace_id>")
def sheets(workspace_id: str) -> ResponseReturnValue:
    # The previous add-on secret (after a rotation) is read only when the current one does not match.

    workspace = _workspace_for_intake(_SHEETS_INTAKE, workspace_id)
    if workspace is None:
        return _json_error(404, "unknown workspace")
    body = request.get_data(cache=False)
    timestamp, signature = request.headers.get("X-Timestamp"), request.headers.get("X-Signature")
    try:
        match = check_sheets_signature(db.session.connection(), workspace_id,
                                       crypto.decrypt_cached(workspace.addon_secret),
                                       lambda secret: verify_addon(secret, body, timestamp, signature))
    except SignatureError as exc:
        log.info("sheets_webhook_refused", workspace_id=workspace_id, reason=str(exc))
        return jsonify(refusal(exc)), 401
    if workspace.state == DISCONNECTED:
        return _json_error(410, "this workspace is disconnected; reconnect the add-on from the dashboard")
    try:
        data = parse_sheets_payload(_decode(body))
    except PayloadError as exc:
        return _json_error(400, str(exc))
    if data["spreadsheet_id"] != workspace.spreadsheet_id or data["sheet"] != workspace.sheet_name:
        return _json_error(400, "spreadsheet_id and sheet do not match this workspace")
    settings = current_settings()
    live_max_rows, max_bulk = settings.live_max_rows, settings.max_queued_bulk
    if is_bulk_delivery(data, live_max_rows) and \
            pending_bulk(db_session(), workspace.id) + len(data.get("rows", [])) > max_bulk:
        return _json_error(429, f"this workspace already has {max_bulk} or more rows waiting to sync; try again "
                                "once they are done (the add-on keeps this delivery and sends it again)")
    result = store_sheets_event(db_session(), workspace.id, data, live_max_rows=live_max_rows,
                                future_skew_s=settings.future_skew_s)
    _stored()
    response = jsonify({"stored": result.stored, "duplicates": result.duplicates})
    if match is SecretMatch.PREVIOUS:   # stored; the add-on should reconnect before the grace period ends
        response.headers[ROTATED_HEADER] = "1"
    return response


@bp.route("/trello/<workspace_id>", methods=["HEAD"])
def trello_check(workspace_id: str) -> ResponseReturnValue:
    """Trello sends HEAD when a webhook is registered and expects 200."""
    if _workspace_for_intake(_EXISTS, workspace_id) is None:
        abort(404)
    return "", 200


@bp.post("/trello/<workspace_id>")
def trello(workspace_id: str) -> ResponseReturnValue:
    body = request.get_data(cache=False)
    workspace = _workspace_for_intake(_TRELLO_INTAKE, workspace_id)
    callback = (workspace.trello_webhook_callback if workspace and workspace.trello_webhook_callback
                else current_app.config["PUBLIC_BASE_URL"] + request.path)
    if not verify_trello(current_app.config["TRELLO_API_SECRET"], body, callback,
                         request.headers.get("X-Trello-Webhook")):
        log.info("trello_webhook_refused", workspace_id=workspace_id)
        return _json_error(401, "X-Trello-Webhook signature does not match")
    if workspace is None or workspace.state == DISCONNECTED:
        # 410 Gone makes Trello delete a webhook that outlived its workspace.
        return _json_error(410, "no such workspace")
    try:
        data = parse_trello_payload(_decode(body))
    except PayloadError as exc:
        return _json_error(400, str(exc))
    result = store_trello_event(db_session(), workspace.id, data, board_id=workspace.trello_board_id,
                                app_id=current_settings().trello_app_id, member_id=workspace.trello_member)
    # An echo of our own write is no one's edit: it wakes an idle worker, never preempts one.
    _stored(Lane.BULK if result.echo else Lane.LIVE)
    return jsonify({"stored": result.stored, "duplicates": result.duplicates})


@bp.route("/trello/<workspace_id>/boards/<board_id>", methods=["HEAD"])
def trello_board_check(workspace_id: str, board_id: str) -> ResponseReturnValue:
    """HEAD of a further board's callback (Trello checks it when the webhook is registered)."""
    if _workspace_for_intake(_EXISTS, workspace_id) is None:
        abort(404)
    return "", 200


@bp.post("/trello/<workspace_id>/boards/<board_id>")
def trello_board(workspace_id: str, board_id: str) -> ResponseReturnValue:
    """A delivery of one of the workspace's further boards: verified against that board's own
    callback URL, stored like the primary board's (an action about another board is kept as ignored)."""
    body = request.get_data(cache=False)
    row = db.session.connection().execute(_BOARD_INTAKE, {"workspace_id": workspace_id,
                                                          "board_id": board_id}).one_or_none()
    callback = (row.webhook_callback if row is not None and row.webhook_callback
                else current_app.config["PUBLIC_BASE_URL"] + request.path)
    if not verify_trello(current_app.config["TRELLO_API_SECRET"], body, callback,
                         request.headers.get("X-Trello-Webhook")):
        log.info("trello_webhook_refused", workspace_id=workspace_id, board_id=board_id)
        return _json_error(401, "X-Trello-Webhook signature does not match")
    if row is None or row.state == DISCONNECTED:
        return _json_error(410, "no such workspace board")  # 410 Gone: Trello deletes the webhook
    try:
        data = parse_trello_payload(_decode(body))
    except PayloadError as exc:
        return _json_error(400, str(exc))
    result = store_trello_event(db_session(), row.id, data, board_id=row.board_id,
                                app_id=current_settings().trello_app_id, member_id=row.trello_member)
    _stored(Lane.BULK if result.echo else Lane.LIVE)
    return jsonify({"stored": result.stored, "duplicates": result.duplicates})
