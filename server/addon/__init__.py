"""The Google Sheets add-on's API (``/api/addon/...``).

``POST /api/addon/connect`` trades a one-time connect code (made on the dashboard, see
``codes.issue_connect_code``) for the workspace id and its signing secret; ``POST
/api/addon/connect/poll`` hands out the same once a person approved the add-on's nonce in the
connect popup (one-click connect, ``one_click``). Every other view is
wrapped in ``signed``: headers ``X-Workspace`` (the workspace id), ``X-Timestamp`` (Unix seconds),
``X-Nonce`` (new for every request, accepted once: ``nonces``) and ``X-Signature`` =
hex(HMAC-SHA256(secret, timestamp + "\n" + nonce + "\n" + METHOD + "\n" + target + "\n" + raw
body)), where target is the path relative to the server address (``request.path``) plus ``"?"``
and the raw query string when there is one; a GET signs the empty body. The canonical form is
written down in ``server.sync.signatures``. After a rotation of the secret the previous one is
accepted for a grace period (``secrets``; the answer then carries ``X-Secret-Rotated: 1``). Answers
are JSON; errors are ``{"error": {"code", "message"}}`` in plain words (plus ``"reason":
"secret_rotated"`` when the add-on must reconnect).
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime, timezone
from functools import wraps
from typing import Any, Callable

import structlog
from flask import Blueprint, Response, current_app, jsonify, make_response, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select, update

from ..config import current_settings
from ..database import rows_changed
from ..extensions import csrf, db, db_session
from ..ids import is_clean
from ..models import Link, ProviderAccount, Workspace
from ..models.enums import Command, LinkSyncState
from ..models.mapping import Mapping
from ..models.sync import UNLINKED
from ..models.workspace import DISCONNECTED
from ..sync import customfields
from ..sync.inbox import MAX_LEAD_ID_LENGTH
from ..sync.last_heard import Caller, note_heard
from ..sync.queue import enqueue_command
from ..sync.signatures import SignatureError, verify_addon_request
from ..trello.client import TrelloClient
from ..trello.errors import TrelloAuthError, TrelloError, TrelloNotFound
from . import one_click
from .codes import hash_connect_code, issue_connect_code, normalise_code
from .nonces import nonce_expiry, remember_nonce
from .secrets import ROTATED_HEADER, SecretMatch, check_signature, refusal

log = structlog.get_logger(__name__)
bp = Blueprint("addon", __name__, url_prefix="/api/addon")
csrf.exempt(bp)

LEAD_ID = re.compile(r"^[^\s/]{1,%d}$" % MAX_LEAD_ID_LENGTH)
CODE_NOT_VALID = ("This connect code is not valid: it may be mistyped or already used. Codes work once; "
                  "make a new one on the dashboard (Workspace › Add-on and Power-Up setup › Make a connect code), "
                  "or use the sidebar's Connect to Leads Sync button instead.")
CODE_EXPIRED = "This connect code has expired (codes last 30 minutes); make a new one on the dashboard."
UNKNOWN_WORKSPACE = "unknown workspace: it may have been deleted; connect the add-on again"
REPLAYED = ("this request was already received (its X-Nonce was used before), so it was not done again; the add-on "
            "sends a new nonce with every request, so this one was replayed")
MAX_WORKSPACE_ID_LENGTH = 40


class NoTrelloAccount(Exception):
    """The workspace has no Trello account (or its token is missing)."""


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": status, "message": message}}), status


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --------------------------------------------------------------------------- connect


@bp.post("/connect")
def connect() -> ResponseReturnValue:
    """``{code, spreadsheet_id, sheet}`` → ``{workspace_id, secret, sheet, lead_id_column, webhook_url, ...}``."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object with code, spreadsheet_id and sheet.")
    for key in ("code", "spreadsheet_id", "sheet"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            return _error(400, f"{key} is missing: it must be a non-empty string.")
    code = normalise_code(data["code"])
    if not 8 <= len(code) <= 32:
        return _error(404, CODE_NOT_VALID)
    code_hash = hash_connect_code(code)
    workspace = db.session.execute(
        select(Workspace).where(Workspace.connect_code_hash == code_hash)
    ).scalar_one_or_none()
    if workspace is None or not hmac.compare_digest(workspace.connect_code_hash or "", code_hash):
        log.info("addon_connect_refused", reason="unknown code")
        return _error(404, CODE_NOT_VALID)
    expires = workspace.connect_code_expires_at
    if expires is None or expires <= datetime.now(timezone.utc):
        log.info("addon_connect_refused", workspace_id=workspace.id, reason="expired code")
        return _error(404, CODE_EXPIRED)
    if not hmac.compare_digest(data["spreadsheet_id"].strip().encode(), workspace.spreadsheet_id.encode()):
        log.info("addon_connect_refused", workspace_id=workspace.id, reason="other spreadsheet")
        return _error(409, f"This code belongs to the workspace \u201c{workspace.name}\u201d, which syncs a "
                           "different spreadsheet. Open that spreadsheet and connect from there, or change "
                           "the workspace's spreadsheet on the dashboard.")
    # Consume the code (one-time), safely against two simultaneous connects with the same code.
    consumed = rows_changed(db.session.execute(
        update(Workspace)
        .where(Workspace.id == workspace.id, Workspace.connect_code_hash == code_hash)
        .values(connect_code_hash=None, connect_code_expires_at=None)
        .execution_options(synchronize_session=False)
    ))
    if consumed != 1:
        db.session.rollback()
        return _error(404, CODE_NOT_VALID)
    db.session.commit()
    log.info("addon_connected", workspace_id=workspace.id, sheet=data["sheet"])
    return jsonify(_credentials(workspace))


def _credentials(workspace: Workspace) -> dict[str, Any]:
    """What a connected add-on keeps: the workspace, its signing secret and the webhook address."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return {
        "workspace_id": workspace.id,
        "workspace_name": workspace.name,
        "secret": workspace.addon_secret,
        "sheet": workspace.sheet_name,
        "header_row": workspace.header_row or 1,
        "lead_id_column": workspace.lead_id_column,
        "webhook_url": f"{base}/webhooks/sheets/{workspace.id}",
    }


@bp.post("/connect/poll")
def connect_poll() -> ResponseReturnValue:
    """One-click connect (``one_click``): ``{nonce, spreadsheet_id, sheet}`` → 202 ``{"state": "waiting"}``
    until someone approves the nonce in the popup, then (once) 200 with what ``/connect`` answers."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object with nonce, spreadsheet_id and sheet.")
    try:
        wanted = one_click.parse_request(data.get("nonce"), data.get("spreadsheet_id"), data.get("sheet"))
        workspace = one_click.poll(db_session(), wanted)
    except one_click.ConnectRefused as refused:
        db.session.rollback()
        log.info("addon_connect_poll_refused", reason=refused.reason.name)
        return _error(refused.status, refused.message)
    if workspace is None:
        db.session.rollback()
        return jsonify({"state": one_click.PollState.WAITING}), 202
    db.session.commit()
    log.info("addon_connected", workspace_id=workspace.id, sheet=wanted.sheet, one_click=True)
    return jsonify({"state": one_click.PollState.CONNECTED, **_credentials(workspace)})


# --------------------------------------------------------------------------- signed calls


def signed_target() -> str:
    """What the add-on signs as the request's target: the path the app routes on (relative to the
    application root, so the same behind a proxy that strips a prefix or with ``SCRIPT_NAME``),
    then ``"?"`` and the query string as sent, if there is one."""
    query = request.query_string.decode("utf-8", "replace")
    return request.path + ("?" + query if query else "")


def _signed_workspace() -> tuple[Workspace, SecretMatch] | tuple[Response, int]:
    """The workspace named by ``X-Workspace`` if the request is signed with its secret (or, in the
    grace period after a rotation, its previous one) and its nonce is new."""
    workspace_id = (request.headers.get("X-Workspace") or "").strip()
    if not workspace_id:
        return _error(401, "missing X-Workspace header")
    if len(workspace_id) > MAX_WORKSPACE_ID_LENGTH or not is_clean(workspace_id):
        return _error(404, UNKNOWN_WORKSPACE)
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        return _error(404, UNKNOWN_WORKSPACE)
    timestamp, nonce = request.headers.get("X-Timestamp"), request.headers.get("X-Nonce")
    target, body = signed_target(), request.get_data(cache=True)

    def verify(secret: str) -> None:
        verify_addon_request(secret, request.method, target, body, timestamp, request.headers.get("X-Signature"),
                             nonce)

    try:
        match = check_signature(verify, workspace.addon_secret, workspace.addon_secret_previous,
                                workspace.addon_secret_previous_until)
    except SignatureError as exc:
        log.info("addon_request_refused", workspace_id=workspace_id, method=request.method, path=request.path,
                 reason=str(exc))
        return jsonify(refusal(exc)), 401
    assert timestamp is not None and nonce is not None   # verified above
    if not remember_nonce(db_session(), workspace.id, nonce, expires_at=nonce_expiry(timestamp)):
        db.session.rollback()
        log.warning("addon_request_replayed", workspace_id=workspace_id, method=request.method, path=request.path)
        return _error(409, REPLAYED)
    note_heard(db_session(), workspace, Caller.ADDON, datetime.now(timezone.utc))  # connection health
    db.session.commit()
    if match is SecretMatch.PREVIOUS:
        log.info("addon_request_with_previous_secret", workspace_id=workspace_id, path=request.path)
    return workspace, match


def signed(view: Callable[..., Any] | None = None, *, allow_disconnected: bool = False) -> Any:
    """The prologue of every signed view: the request must be signed with the secret of the
    workspace named by ``X-Workspace`` (401 / 404) and carry a nonce not used before (409), the
    workspace must not be disconnected (410, unless ``allow_disconnected``), and a ``lead_id`` in
    the path must be a plausible id (400). The view is called as ``view(workspace, **view_args)``;
    everything it reads is scoped to that workspace."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(**view_args: Any) -> Any:
            found = _signed_workspace()
            if not isinstance(found[0], Workspace):
                return found
            workspace, match = found
            if workspace.state == DISCONNECTED and not allow_disconnected:
                return _error(410, "this workspace is disconnected from the sheet and the board; reconnect it "
                                   "on the dashboard, then connect the add-on again")
            lead_id = view_args.get("lead_id")
            if lead_id is not None and not LEAD_ID.match(lead_id):
                return _error(400, f"lead id must be 1 to {MAX_LEAD_ID_LENGTH} characters without spaces or slashes")
            response = make_response(view(workspace, **view_args))
            if match is SecretMatch.PREVIOUS:   # accepted, but the add-on should reconnect soon
                response.headers[ROTATED_HEADER] = "1"
            return response

        return wrapper

    return decorate(view) if view is not None else decorate


def trello_client_for(workspace: Workspace) -> TrelloClient:
    """A Trello client acting with the workspace's connected Trello account."""
    account = db.session.get(ProviderAccount, workspace.trello_account_id) if workspace.trello_account_id else None
    if account is None or not account.access_token:
        raise NoTrelloAccount("no Trello account is connected to this workspace")
    settings = current_settings()
    return TrelloClient(settings.trello_api_key, account.access_token, base_url=settings.trello_api_base_url,
                        timeout=settings.outbound_timeout_s(10.0))


def fetch_card(workspace: Workspace, card_id: str) -> dict[str, Any]:
    """The card as Trello returns it with its list, members, badges and custom field items, in one
    call (tests replace this function)."""
    return trello_client_for(workspace).get_card_details(card_id, list=True, members=True)


def custom_fields_view(workspace: Workspace, card: dict[str, Any]) -> list[dict[str, str]]:
    """The card's values of the workspace's custom field columns, by column name, in the mapping's
    order (those the card has a value for); the board's field definitions are read once per
    workspace and cached (``server.sync.customfields``). Nothing when Trello does not answer."""
    mapping = Mapping.of_or_default(workspace)
    if not mapping.custom_fields or not isinstance(card.get("customFieldItems"), list):
        return []
    try:
        values = customfields.card_values(trello_client_for(workspace), workspace.id, workspace.trello_board_id,
                                          mapping, card)
    except (TrelloError, NoTrelloAccount) as exc:
        log.info("addon_custom_fields_failed", workspace_id=workspace.id, error=str(exc))
        return []
    return [{"name": column, "value": values[column]} for column in mapping.custom_fields if values.get(column)]


def card_view(card: dict[str, Any]) -> dict[str, Any]:
    """The fields the sidebar shows, from a Trello card."""
    lst = card.get("list") if isinstance(card.get("list"), dict) else None
    return {
        "id": card.get("id"),
        "name": card.get("name") or "",
        "url": card.get("url") or card.get("shortUrl") or f"https://trello.com/c/{card.get('id')}",
        "closed": bool(card.get("closed")),
        "list": {"id": lst.get("id"), "name": lst.get("name") or ""} if lst else None,
        "labels": [{"name": label.get("name") or "", "color": label.get("color")}
                   for label in card.get("labels") or [] if isinstance(label, dict)],
        "start": card.get("start"),
        "due": card.get("due"),
        "dueComplete": bool(card.get("dueComplete")),
        "checklist": _checklist(card),
        "members": [{"fullName": m.get("fullName") or "", "username": m.get("username") or ""}
                    for m in card.get("members") or [] if isinstance(m, dict)],
        "dateLastActivity": card.get("dateLastActivity"),
        "customFields": [],  # filled by ``custom_fields_view`` (it needs the workspace's mapping)
    }


def _checklist(card: dict[str, Any]) -> dict[str, int]:
    """Checklist progress from the card's ``badges`` (Trello counts the items and the ticked ones)."""
    badges = card.get("badges")
    if not isinstance(badges, dict):
        badges = {}
    total, checked = badges.get("checkItems"), badges.get("checkItemsChecked")
    return {"checked": checked if isinstance(checked, int) else 0, "total": total if isinstance(total, int) else 0}


def _sync_state(link: Link | None) -> dict[str, Any]:
    if link is None:
        return {"state": "not_linked", "last_synced_at": None, "error": ""}
    if link.status == UNLINKED:
        return {"state": "unlinked", "last_synced_at": _iso(link.last_synced_at), "error": ""}
    if link.sync_state == LinkSyncState.ERROR:
        state = LinkSyncState.ERROR
    elif link.sync_state == LinkSyncState.SYNCED and not link.pending_op and link.card_id:
        state = LinkSyncState.SYNCED
    else:
        state = LinkSyncState.PENDING
    return {"state": state, "last_synced_at": _iso(link.last_synced_at),
            "error": (link.last_error or "") if state == LinkSyncState.ERROR else ""}


@bp.get("/leads/<lead_id>")
@signed
def lead(workspace: Workspace, lead_id: str) -> ResponseReturnValue:
    """The Trello card linked to a lead, for the sidebar."""
    link = db.session.execute(
        select(Link).where(Link.workspace_id == workspace.id, Link.lead_id == lead_id)
    ).scalar_one_or_none()
    linked = link is not None and bool(link.card_id) and link.status != UNLINKED
    body: dict[str, Any] = {"linked": linked, "lead_id": lead_id, "card": None, "card_url": None,
                            "card_error": None, "sync": _sync_state(link),
                            "workspace": {"id": workspace.id, "name": workspace.name}}
    if linked:
        assert link is not None and link.card_id
        body["card_url"] = f"https://trello.com/c/{link.card_id}"
        try:
            fetched = fetch_card(workspace, link.card_id)
            body["card"] = card_view(fetched)
            body["card"]["customFields"] = custom_fields_view(workspace, fetched)
            body["card_url"] = body["card"]["url"]
        except NoTrelloAccount:
            body["card_error"] = "No Trello account is connected to this workspace; connect one on the dashboard."
        except TrelloNotFound:
            body["card_url"] = None
            body["card_error"] = "The linked card no longer exists in Trello (deleted, or moved to another board)."
        except TrelloAuthError:
            body["card_error"] = "Trello refused this workspace's access; reconnect Trello on the dashboard."
        except TrelloError as exc:
            log.info("addon_card_fetch_failed", workspace_id=workspace.id, card_id=link.card_id, error=str(exc))
            body["card_error"] = "Trello did not answer just now; the card will show again in a moment."
    return jsonify(body)


@bp.post("/leads/<lead_id>/card")
@signed
def create_card(workspace: Workspace, lead_id: str) -> ResponseReturnValue:
    """Create card now: queue a ``create_card`` command for the worker."""
    enqueue_command(db_session(), workspace.id, Command.CREATE_CARD, {"lead_id": lead_id})
    _commit_and_wake()
    log.info("addon_create_card_queued", workspace_id=workspace.id, lead_id=lead_id)
    return jsonify({"queued": True, "command": Command.CREATE_CARD, "lead_id": lead_id}), 202


@bp.post("/sync")
@signed
def sync_now(workspace: Workspace) -> ResponseReturnValue:
    """Sync now: queue a reconciliation of the workspace."""
    enqueue_command(db_session(), workspace.id, Command.RECONCILE)
    _commit_and_wake()
    log.info("addon_sync_queued", workspace_id=workspace.id)
    return jsonify({"queued": True, "command": Command.RECONCILE}), 202


@bp.post("/disconnect")
@signed(allow_disconnected=True)
def disconnect(workspace: Workspace) -> ResponseReturnValue:
    """The add-on removed its triggers and settings from the spreadsheet (no state kept yet)."""
    log.info("addon_disconnected", workspace_id=workspace.id)
    return jsonify({"ok": True})


def _commit_and_wake() -> None:
    from ..engine import commit_and_wake

    commit_and_wake(current_app, db_session())


__all__ = ["bp", "issue_connect_code", "fetch_card", "card_view"]
