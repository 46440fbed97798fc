"""Connect a Trello account with Trello's OAuth 1.0a flow (Authlib's ``OAuth1Session``).

- ``POST /app/connections/trello`` (signed in, CSRF): get a request token (signed with the API
  key and secret), keep its secret on the server (``flow_store``, encrypted; the session cookie,
  which anyone holding it can read, carries only the public request token), send the person to
  Trello's authorize page (``scope=read,write``, ``expiration`` from ``TRELLO_TOKEN_EXPIRATION``,
  ``never`` by default and recorded on the account, ``name=<app name>``).
- ``GET /auth/trello/callback``: trade the verifier for an access token, ask Trello who it
  belongs to (``/members/me``), store the account (token encrypted) for the signed-in user, and
  put back to work the workspaces that were waiting for this account.

A user may connect several Trello accounts (one row per member id). Every failure goes back to the
Connections page with a plain message.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

import requests
import structlog
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth1Session
from flask import Blueprint, flash, redirect, request, session, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ..config import current_settings
from ..extensions import db, db_session
from ..models import TRELLO, ProviderAccount, User, Workspace
from ..sync.grants import apply_terms, trello_terms
from ..trello.client import TrelloClient
from ..trello.errors import TrelloError
from .flow_store import put_flow_secret, take_flow_secret
from .oauth import after_reactivation, external_url, reactivate_workspaces, upsert_account
from .session import login_required, signed_in_user

log = structlog.get_logger(__name__)

bp = Blueprint("trello_connect", __name__)

FLOW_KEY = "trello_connect"
SCOPE = "read,write"


class ConnectError(Exception):
    """A connection that cannot complete; the message is shown as it is."""


# --------------------------------------------------------------------------- logic


def _timeout() -> float:
    return current_settings().outbound_timeout_s(15.0)


def _expiration() -> str:
    """Trello's ``expiration`` for new tokens (``TRELLO_TOKEN_EXPIRATION``), recorded on the account."""
    return current_settings().trello_token_expiration


def _endpoint(name: str) -> str:
    return current_settings().trello_oauth_base_url + "/" + name


def _oauth1(**kwargs: Any) -> OAuth1Session:
    settings = current_settings()
    return OAuth1Session(settings.trello_api_key, settings.trello_api_secret, **kwargs)


def _trello(token: str) -> TrelloClient:
    settings = current_settings()
    return TrelloClient(settings.trello_api_key, token, base_url=settings.trello_api_base_url, timeout=_timeout())


def start_connection(callback_url: str) -> tuple[str, dict[str, str]]:
    """Get a request token; returns (Trello's authorize URL, the pending request: its token and secret)."""
    settings = current_settings()
    if not settings.trello_api_key or not settings.trello_api_secret:
        raise ConnectError("Trello is not set up on this server (TRELLO_API_KEY or TRELLO_API_SECRET is empty).")
    client = _oauth1(redirect_uri=callback_url)
    try:
        token = client.fetch_request_token(_endpoint("OAuthGetRequestToken"), timeout=_timeout())
    except requests.RequestException as exc:
        raise ConnectError("Trello could not be reached. Please try again in a moment.") from exc
    except (OAuthError, ValueError) as exc:  # Authlib: the request-token call was refused or unreadable
        log.warning("trello_request_token_failed", error=str(exc))
        raise ConnectError("Trello refused to start the connection; check the server's Trello API key "
                           "and secret.") from exc
    url = client.create_authorization_url(_endpoint("OAuthAuthorizeToken"), token["oauth_token"], scope=SCOPE,
                                          expiration=_expiration(),
                                          name=settings.powerup_app_name)
    return url, {"token": token["oauth_token"], "secret": token["oauth_token_secret"]}


def finish_connection(pending: dict[str, str] | None, args: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Trade the verifier for an access token and ask Trello whose it is; returns (token, member)."""
    if not pending:
        raise ConnectError("This Trello connection link has expired or was opened in another browser. "
                           "Please start again.")
    if not secrets.compare_digest(args.get("oauth_token", ""), pending["token"]):
        raise ConnectError("Trello answered for a different connection request. Please start again.")
    verifier = args.get("oauth_verifier", "")
    if not verifier:
        raise ConnectError("Trello did not confirm the connection (it was probably cancelled). Nothing was changed.")
    client = _oauth1(token=pending["token"], token_secret=pending["secret"])
    try:
        access = client.fetch_access_token(_endpoint("OAuthGetAccessToken"), verifier=verifier, timeout=_timeout())
        value = access["oauth_token"]
        member = _trello(value).me()
    except requests.RequestException as exc:
        raise ConnectError("Trello could not be reached. Please try again in a moment.") from exc
    except TrelloError as exc:
        raise ConnectError(f"Trello refused the new connection: {exc}") from exc
    except (OAuthError, ValueError, KeyError) as exc:
        log.warning("trello_access_token_failed", error=str(exc))
        raise ConnectError("Trello refused to complete the connection. Please start again.") from exc
    return value, {**member, "token_secret": access.get("oauth_token_secret")}


def record_trello_account(session: Session, user: User, token: str,
                          member: dict[str, Any]) -> tuple[ProviderAccount, list[Workspace]]:
    """Create or update the user's account for this Trello member; reactivate its workspaces."""
    account, _ = upsert_account(session, user, TRELLO, str(member["id"]), username=str(member.get("username") or ""),
                                access_token=token, token_secret=member.get("token_secret") or None,
                                refresh_token=None, token_expires_at=None, scopes=SCOPE)
    apply_terms(account, trello_terms(datetime.now(timezone.utc), _expiration()))
    return account, reactivate_workspaces(session, account)


def repair_webhooks(workspaces: list[Workspace], token: str) -> None:
    """Re-register board webhooks with the new token (Trello deletes a revoked token's webhooks)."""
    from ..trello import board_webhooks
    from ..trello.webhooks import ensure_board_webhook

    client = _trello(token)
    for workspace in workspaces:
        try:
            ensure_board_webhook(workspace, client, current_settings().public_base_url)
            for row in board_webhooks.rows_of(db_session(), workspace.id):  # the further boards' too
                board_webhooks.check(row, client, current_settings().public_base_url)
        except (TrelloError, requests.RequestException) as exc:  # the worker's periodic check retries
            log.info("trello_webhook_repair_failed", workspace_id=workspace.id, error=str(exc))


# --------------------------------------------------------------------------- views


def _connections() -> Response:
    return redirect(url_for("dashboard.connections"))


def _secret_key(request_token: str) -> str:
    return "trello_request_secret:" + request_token


def remember_pending(pending: dict[str, str]) -> None:
    """The request token in the cookie, its secret on the server."""
    put_flow_secret(db_session(), _secret_key(pending["token"]), pending["secret"])
    db.session.commit()
    session[FLOW_KEY] = {"token": pending["token"]}


def take_pending() -> dict[str, str] | None:
    """This browser's pending connection with its secret, used up; None when there is none (or it expired)."""
    flow = session.pop(FLOW_KEY, None)
    token = flow.get("token") if isinstance(flow, dict) else None
    if not isinstance(token, str) or not token:
        return None
    secret = take_flow_secret(db_session(), _secret_key(token))
    db.session.commit()
    return {"token": token, "secret": secret} if secret else None


@bp.post("/app/connections/trello")
@login_required
def connect() -> Response:
    try:
        url, pending = start_connection(external_url("trello_connect.callback"))
    except ConnectError as exc:
        flash(str(exc), "error")
        return _connections()
    remember_pending(pending)
    return redirect(url)


@bp.get("/auth/trello/callback")
@login_required
def callback() -> Response:
    pending = take_pending()
    try:
        token, member = finish_connection(pending, request.args.to_dict())
        account, reactivated = record_trello_account(db_session(), signed_in_user(), token, member)
        db.session.commit()
    except ConnectError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _connections()
    except IntegrityError:  # the same account connected twice at once
        db.session.rollback()
        flash("This Trello account was being connected twice at the same time. Please check it below.", "error")
        return _connections()
    repair_webhooks(reactivated, token)
    after_reactivation(db_session(), reactivated)
    log.info("trello_connected", account_id=account.id, member_id=account.provider_user_id)
    flash(f"Trello account @{account.username} is connected.", "success")
    if reactivated:
        flash(f"Syncing resumed for {len(reactivated)} workspace(s) that were waiting for Trello.", "success")
    return _connections()


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> Response:
    flash("Nothing was changed: the form had expired or came from another site. Please try again.", "error")
    return _connections()


__all__ = ["bp", "ConnectError", "start_connection", "finish_connection", "record_trello_account"]
