"""Who is signed in: the session helpers every dashboard view uses.

The signed session cookie holds a random session token (``sid``), nothing else about the sign-in;
``server.auth.sessions`` checks it against ``user_sessions`` on each request (idle and absolute
expiry, refreshed on use). Signing out deletes that row, so a copy of the cookie taken earlier stops
working at once; "sign out everywhere" deletes all of the user's rows.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable

import structlog
from flask import Flask, abort, current_app, g, jsonify, redirect, request, session, url_for

from ..extensions import db, db_session
from ..models import User, utcnow
from . import sessions
from .sessions import SessionCheck, SessionPolicy

log = structlog.get_logger(__name__)

SESSION_KEY = "sid"
SIGNED_OUT = "You are signed out (or your session expired); sign in again."


def _policy() -> SessionPolicy:
    return SessionPolicy.from_config(current_app.config)


def login_user(user: User) -> None:
    """Start a fresh session for ``user`` (the old session's data is dropped). The caller commits."""
    previous = session.get(SESSION_KEY)
    session.clear()
    sessions.end_session(db_session(), previous)   # a sign-in never inherits an earlier session
    session[SESSION_KEY] = sessions.start_session(db_session(), user.id)
    session.permanent = True
    user.last_login_at = utcnow()
    g.pop("current_user", None)


def logout_user() -> None:
    """End this browser's session on the server and forget the cookie's data."""
    sessions.end_session(db_session(), session.get(SESSION_KEY))
    db.session.commit()
    session.clear()
    g.current_user = None


def logout_everywhere(user: User) -> int:
    """End every session of ``user`` (this browser's too); returns how many ended."""
    ended = sessions.end_all_sessions(db_session(), user.id)
    db.session.commit()
    session.clear()
    g.current_user = None
    log.info("signed_out_everywhere", user_id=user.id, sessions=ended)
    return ended


def _resolve() -> User | None:
    token = session.get(SESSION_KEY)
    if token is None:
        return None
    state, row = sessions.check_session(db_session(), token, _policy())
    db.session.commit()   # the refreshed last use, or the deletion of an expired session
    if state is not SessionCheck.VALID or row is None:
        session.pop(SESSION_KEY, None)
        if state in (SessionCheck.IDLE, SessionCheck.EXPIRED):
            log.info("session_expired", reason=state.value)
        return None
    return db.session.get(User, row.user_id)


def current_user() -> User | None:
    if "current_user" not in g:
        g.current_user = _resolve()
    return g.current_user


def signed_in_user() -> User:
    """The signed-in user, in a view wrapped in ``login_required`` (which answers 401 before this)."""
    found = current_user()
    if found is None:  # pragma: no cover - login_required runs first
        abort(401)
    return found


def count_signed_in_browsers(user: User) -> int:
    return sessions.count_sessions(db_session(), user.id, _policy())


def _wants_json() -> bool:
    if request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anonymous visitors to the sign-in page, then back where they were going (401 for JSON)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if _wants_json():
                return jsonify({"error": {"code": 401, "message": SIGNED_OUT}}), 401
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def init_sessions(app: Flask) -> None:
    """Check the session at the start of every request that carries the cookie, before a view writes
    anything (the check commits its own refresh)."""
    cookie_name = app.config.get("SESSION_COOKIE_NAME", "session")

    @app.before_request
    def _load_signed_in_user() -> None:
        if request.endpoint != "static" and request.cookies.get(cookie_name):
            current_user()


__all__ = ["SESSION_KEY", "login_user", "logout_user", "logout_everywhere", "current_user", "signed_in_user",
           "login_required", "count_signed_in_browsers", "init_sessions"]
