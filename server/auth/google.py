"""Sign in with Google (OpenID Connect through Authlib), sign out, and a dev-only sign-in.

Routes (blueprint ``auth``, no prefix):

- ``GET /app/login``: the sign-in page.
- ``GET|POST /auth/google/start``: to Google's consent page (``access_type=offline``,
  ``prompt=consent`` so that Google sends a refresh token). Signed in already, it *connects* the
  Google account to the current user instead of switching users (the Connections page posts here).
- ``GET /auth/google/callback``: Authlib exchanges the code and verifies the ID token; the user is
  found or created by verified email, the Google account stored (tokens encrypted), and the user
  signed in. Every failure lands on the sign-in (or Connections) page with a plain message.
- ``POST /auth/logout``: sign out (CSRF-protected form).
- ``GET|POST /auth/dev-login``: exists only when ``DEV_LOGIN_ENABLED`` and not production.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import requests
import structlog
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ..extensions import db, db_session
from ..models import GOOGLE, ProviderAccount, User, Workspace
from ..sync.grants import apply_terms, google_terms
from .oauth import (
    after_reactivation,
    external_url,
    find_or_create_user,
    google_client,
    reactivate_workspaces,
    safe_next,
    upsert_account,
)
from .session import current_user, login_user, logout_user

log = structlog.get_logger(__name__)

bp = Blueprint("auth", __name__)

FLOW_KEY = "google_sign_in"


class SignInError(Exception):
    """A sign-in that cannot complete; the message is shown to the person as it is."""


# --------------------------------------------------------------------------- logic


def google_configured() -> bool:
    return bool(current_app.config.get("GOOGLE_CLIENT_ID"))


def dev_login_allowed(config: Any) -> bool:
    return bool(config.get("DEV_LOGIN_ENABLED")) and config.get("APP_ENV") != "production"


def exchange_google_code() -> dict[str, Any]:
    """Let Authlib check the state, exchange the code and verify the ID token; plain errors."""
    error = request.args.get("error")
    if error == "access_denied":
        raise SignInError("You cancelled the Google sign-in, so nothing was changed.")
    try:
        token = google_client().authorize_access_token()
    except MismatchingStateError as exc:
        raise SignInError("This sign-in link has expired or was opened in another browser. "
                          "Please start again.") from exc
    except OAuthError as exc:
        raise SignInError(f"Google did not sign you in ({exc.error or 'unknown error'}). Please try again.") from exc
    except requests.RequestException as exc:
        raise SignInError("Google could not be reached. Please try again in a moment.") from exc
    except Exception as exc:  # a bad ID token, malformed answers: never a 500
        log.warning("google_sign_in_failed", error=repr(exc))
        raise SignInError("Google's answer could not be verified, so you were not signed in. "
                          "Please try again.") from exc
    claims = token.get("userinfo")
    if not claims or not claims.get("sub"):
        raise SignInError("Google did not confirm who you are, so you were not signed in.")
    return token


def _expiry(token: dict[str, Any]) -> datetime | None:
    expires_at = token.get("expires_at")
    if isinstance(expires_at, (int, float)):
        return datetime.fromtimestamp(expires_at, timezone.utc)
    return None


def record_google_account(session: Session, token: dict[str, Any],
                          connect_to: User | None) -> tuple[User, ProviderAccount, list[Workspace]]:
    """Find or create the user (or use ``connect_to``), store the Google account, reactivate workspaces."""
    claims = token["userinfo"]
    email = str(claims.get("email") or "").strip()
    if not email or claims.get("email_verified") not in (True, "true"):
        raise SignInError("Google did not confirm your email address, so it cannot be used to sign in.")
    user = connect_to or find_or_create_user(session, email, str(claims.get("name") or ""))
    fields: dict[str, Any] = {"username": email, "access_token": token.get("access_token"),
                              "token_expires_at": _expiry(token), "scopes": str(token.get("scope") or "")}
    if token.get("refresh_token"):  # Google sends one only on consent; keep the old one otherwise
        fields["refresh_token"] = token["refresh_token"]
    account, _ = upsert_account(session, user, GOOGLE, str(claims["sub"]), **fields)
    if token.get("refresh_token"):  # a new grant: when it dies depends on the client's publishing status
        apply_terms(account, google_terms(datetime.now(timezone.utc),
                                          bool(current_app.config.get("GOOGLE_OAUTH_TESTING_MODE"))))
    return user, account, reactivate_workspaces(session, account)


# --------------------------------------------------------------------------- views


def _login_page(message: str | None = None, status: int = 200) -> tuple[str, int]:
    next_url = safe_next(request.args.get("next"), "")
    return render_template("auth/login.html", message=message, next=next_url or None,
                           google_configured=google_configured(),
                           dev_login=dev_login_allowed(current_app.config)), status


@bp.get("/app/login")
def login() -> ResponseReturnValue:
    if current_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    return _login_page()


@bp.route("/auth/google/start", methods=["GET", "POST"])
def google_start() -> Response:
    signed_in = current_user()
    default = url_for("dashboard.connections") if signed_in else "/app"
    next_url = safe_next(request.values.get("next"), default)
    if not google_configured():
        flash("Google sign-in is not set up on this server (GOOGLE_CLIENT_ID is empty).", "error")
        return redirect(url_for("auth.login"))
    session[FLOW_KEY] = {"next": next_url, "connect_user_id": signed_in.id if signed_in else None}
    try:
        return google_client().authorize_redirect(external_url("auth.google_callback"),
                                                  access_type="offline", prompt="consent")
    except Exception as exc:  # noqa: BLE001 - discovery document unreachable or malformed
        log.warning("google_discovery_failed", error=repr(exc))
        flash("Google's sign-in service could not be reached. Please try again in a moment.", "error")
        return redirect(url_for("dashboard.connections") if signed_in else url_for("auth.login"))


@bp.get("/auth/google/callback")
def google_callback() -> Response:
    flow = session.pop(FLOW_KEY, None) or {}
    signed_in = current_user()
    connect_to = signed_in if signed_in is not None and flow.get("connect_user_id") == signed_in.id else None
    failure_page = url_for("dashboard.connections") if connect_to else url_for("auth.login")
    signed_in_now = False
    try:
        token = exchange_google_code()
        user, account, reactivated = record_google_account(db_session(), token, connect_to)
        if connect_to is None:
            login_user(user)
            signed_in_now = True
        db.session.commit()
    except (SignInError, IntegrityError) as exc:  # IntegrityError: two sign-ins racing to create the same rows
        db.session.rollback()
        if signed_in_now:  # the user row may not exist after the rollback
            logout_user()
        flash(str(exc) if isinstance(exc, SignInError) else "Signing in did not complete. Please try again.",
              "error")
        return redirect(failure_page)
    after_reactivation(db_session(), reactivated)
    log.info("google_signed_in", user_id=user.id, account_id=account.id, connected=connect_to is not None)
    if connect_to is not None:
        flash(f"Google account {account.username} is connected.", "success")
    if reactivated:
        flash(f"Syncing resumed for {len(reactivated)} workspace(s) that were waiting for Google.", "success")
    return redirect(safe_next(flow.get("next")))


@bp.post("/auth/logout")
def logout() -> Response:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.errorhandler(CSRFError)
def _csrf_refused(exc: CSRFError) -> ResponseReturnValue:
    return _login_page("Nothing was changed: the form had expired or came from another site. "
                       "Reload the page and try again.", 400)


def dev_login() -> ResponseReturnValue:
    """Sign in as any email address (local demo and browser tests only)."""
    next_url = safe_next(request.values.get("next"), "")
    if request.method == "GET":
        return render_template("auth/dev_login.html", next=next_url, email=request.args.get("email", ""), message=None)
    email = (request.form.get("email") or "").strip()
    if "@" not in email or len(email) > 320 or any(ch.isspace() for ch in email):
        return render_template("auth/dev_login.html", next=next_url, email=email,
                               message="Enter an email address such as ann@example.com."), 400
    user = find_or_create_user(db_session(), email)
    login_user(user)
    db.session.commit()
    return redirect(next_url or "/app")


@bp.record_once
def _register_dev_login(state: BlueprintSetupState) -> None:
    """The dev-only sign-in route exists only when it is switched on (and never in production)."""
    if dev_login_allowed(state.app.config):
        state.add_url_rule("/auth/dev-login", "dev_login", dev_login, methods=["GET", "POST"])


__all__ = ["bp", "SignInError", "exchange_google_code", "record_google_account", "dev_login_allowed"]
