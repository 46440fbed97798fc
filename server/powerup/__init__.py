"""The Trello Power-Up: its static pages (``/powerup/...``) and its JSON API (``/api/powerup/...``).

Every API call carries ``Authorization: Bearer <t.jwt()>``. The token says which Trello member
asks from which board; ``server.access`` says which workspace (if any) that member may see on
that board. Errors are JSON ``{"error": {"code", "message", "reason"}}`` in plain words.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import structlog
from flask import Blueprint, Response, abort, current_app, g, jsonify, request, send_file
from flask.typing import ResponseReturnValue
from markupsafe import escape

from ..access import users_for_trello_member, workspace_for_board, workspace_linking_card
from ..config import current_settings
from ..engine import commit_and_wake
from ..extensions import csrf, db, db_session
from ..models import Workspace
from ..models.enums import Command
from ..models.sync import Lane
from ..sync.last_heard import Caller, note_heard
from ..sync.queue import enqueue_command
from . import assets, leads
from .jwt import KeysUnavailable, TokenError, TrelloClaims, verify_powerup_token

log = structlog.get_logger(__name__)
bp = Blueprint("powerup", __name__)
csrf.exempt(bp)

TRELLO_ID = re.compile(r"^[0-9a-fA-F]{24}$")
API_PREFIX = "/api/powerup/"


class ApiError(Exception):
    def __init__(self, code: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


def _allowed_origins() -> tuple[str, ...]:
    return current_settings().powerup_allowed_origins


def _add_cors(response: Response, methods: str = "GET, OPTIONS") -> None:
    origin = request.headers.get("Origin", "").rstrip("/")
    response.vary.add("Origin")
    if origin and origin in _allowed_origins():
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = methods
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"


def _json(data: Any, status: int = 200) -> Response:
    """JSON keeping our key order (the lead's columns are in sheet-mapping order)."""
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), status=status,
                    mimetype="application/json")


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> ResponseReturnValue:
    return jsonify({"error": {"code": exc.code, "message": exc.message, "reason": exc.reason}}), exc.code


@bp.after_request
def _headers(response: Response) -> Response:
    if request.path.startswith(API_PREFIX):
        _add_cors(response, "GET, POST, OPTIONS")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# --------------------------------------------------------------------------- static pages


@bp.get("/powerup/", endpoint="powerup_index", defaults={"filename": "index.html"})
@bp.get("/powerup/<path:filename>")
def powerup_file(filename: str) -> ResponseReturnValue:
    """A Power-Up page (rendered, framable by Trello only) or asset (long-cached when versioned)."""
    path = assets.resolve(filename)
    if path is None:
        abort(404)
    if assets.is_html(path.name):
        settings = current_settings()
        body = assets.render_page(path, settings.trello_api_key, settings.powerup_app_name, assets.asset_version())
        library = settings.trello_powerup_library_url
        if library != assets.TRELLO_LIBRARY:  # the local demo's Trello emulator serves its own
            body = body.replace(f'src="{assets.TRELLO_LIBRARY}"', f'src="{escape(library)}"')
        response = Response(body, mimetype="text/html")
        ancestors = " ".join(settings.powerup_frame_ancestors)
        response.headers["Content-Security-Policy"] = (
            f"frame-ancestors {ancestors}; object-src 'none'; base-uri 'self'"
        )
        response.headers["Cache-Control"] = "no-cache"
        response.headers.pop("X-Frame-Options", None)
        return response
    response = send_file(path, conditional=True, max_age=None)
    response.headers["Cache-Control"] = (
        "public, max-age=31536000, immutable" if request.args.get("v") else "public, max-age=300"
    )
    _add_cors(response)
    return response


# --------------------------------------------------------------------------- authentication


def _claims() -> TrelloClaims:
    """The verified claims of this request's bearer token (cached on ``g``)."""
    if "powerup_claims" in g:
        return g.powerup_claims
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Sign in to Trello to see the lead.", "missing_token")
    settings = current_settings()
    powerup_id = settings.trello_powerup_id
    if not powerup_id:
        raise ApiError(503, "The Power-Up is not set up on this server yet (TRELLO_POWERUP_ID is missing).",
                       "not_configured")
    try:
        claims = verify_powerup_token(
            token.strip(), keys_url=settings.trello_jwt_keys_url, powerup_id=powerup_id,
            timeout=settings.outbound_timeout_s(10.0),
        )
    except TokenError as exc:
        raise ApiError(401, str(exc), exc.reason) from exc
    except KeysUnavailable as exc:
        log.warning("trello_jwt_keys_unavailable", error=str(exc))
        raise ApiError(503, "Leads Sync cannot check Trello sign-ins right now; try again in a minute.",
                       "keys_unavailable") from exc
    g.powerup_claims = claims
    return claims


def _check_id(value: str, what: str) -> str:
    if not TRELLO_ID.match(value):
        raise ApiError(404, f"That is not a Trello {what} id.", "not_found")
    return value


def _known_member(claims: TrelloClaims) -> None:
    if not users_for_trello_member(db_session(), claims.member_id):
        raise ApiError(403, "Your Trello account is not connected to Leads Sync yet: open the dashboard, "
                            "sign in and connect Trello.", "unknown_member")


def _board_workspace(claims: TrelloClaims) -> Workspace:
    """The workspace of the token's board that its member may see; 403/404 otherwise."""
    _known_member(claims)
    workspace = workspace_for_board(db_session(), claims.member_id, claims.board_id)
    if workspace is None:
        raise ApiError(404, "This board is not connected to Leads Sync, or you have no access to its workspace.",
                       "board_not_connected")
    if note_heard(db_session(), workspace, Caller.POWERUP, datetime.now(timezone.utc)):  # connection health
        db.session.commit()
    return workspace


def _card_workspace(card_id: str) -> Workspace:
    claims = _claims()
    _check_id(card_id, "card")
    try:
        state = json.loads(claims.state) if claims.state else {}
    except ValueError:
        state = {}
    if isinstance(state, dict) and state.get("card") not in (None, card_id):
        raise ApiError(403, "This sign-in was issued for another card; reopen the card.", "wrong_card")
    workspace = _board_workspace(claims)
    if leads.find_link(db_session(), workspace, card_id) is None:
        # another tab syncing the same board may hold this card (each tab takes its own lists)
        other = workspace_linking_card(db_session(), claims.member_id, claims.board_id, card_id)
        if other is not None:
            return other
        if leads.card_on_another_board(db_session(), claims.board_id, card_id):
            raise ApiError(404, "This card is not on a board connected to Leads Sync.", "card_not_on_board")
    return workspace


def _board_claims(board_id: str) -> TrelloClaims:
    claims = _claims()
    _check_id(board_id, "board")
    if board_id != claims.board_id:
        raise ApiError(403, "This sign-in was issued on another board; reopen the board.", "wrong_board")
    return claims


def _dashboard_url() -> str:
    return f"{current_settings().public_base_url}/app"


# --------------------------------------------------------------------------- API


@bp.get("/api/powerup/cards/<card_id>")
def card(card_id: str) -> ResponseReturnValue:
    """The lead linked to a card, its sync state and badge; or what can be done when unlinked."""
    workspace = _card_workspace(card_id)
    return _json(leads.card_view(db_session(), workspace, card_id))


@bp.post("/api/powerup/cards/<card_id>/lead")
def create_lead(card_id: str) -> ResponseReturnValue:
    """Queue the creation of a sheet row for an unlinked card."""
    workspace = _card_workspace(card_id)
    view = leads.card_view(db_session(), workspace, card_id)
    if view["linked"]:
        raise ApiError(409, "This card is already linked to a lead.", "already_linked")
    if not view["can_create"]:
        raise ApiError(409, "A lead cannot be created for this card (it was unlinked, or the workspace is paused).",
                       "cannot_create")
    queued = leads.queue_create_lead(db_session(), workspace, card_id)
    commit_and_wake(current_app, db_session())
    return jsonify({"queued": True, "already_queued": not queued}), 202


@bp.get("/api/powerup/boards/<board_id>")
def board(board_id: str) -> ResponseReturnValue:
    """Which workspace (if any) the board is linked to, for the settings popup."""
    claims = _board_claims(board_id)
    _known_member(claims)
    workspace = workspace_for_board(db_session(), claims.member_id, board_id)
    return jsonify(leads.board_view(workspace, _dashboard_url()))


@bp.post("/api/powerup/boards/<board_id>/sync")
def sync_board(board_id: str) -> ResponseReturnValue:
    """Sync now: queue a reconciliation of the board's workspace."""
    workspace = _board_workspace(_board_claims(board_id))
    enqueue_command(db_session(), workspace.id, Command.RECONCILE)
    commit_and_wake(current_app, db_session(), Lane.JOB)
    return jsonify({"queued": True, "workspace": leads.workspace_summary(workspace)}), 202


__all__ = ["bp"]
