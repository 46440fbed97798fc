"""Session-based sign-in: one signed cookie holds the user id (Flask's session)."""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import g, redirect, request, session, url_for

from ..extensions import db
from ..models import User, utcnow


def login_user(user: User) -> None:
    """Start a fresh session for ``user`` (the old session's data is dropped)."""
    session.clear()
    session["user_id"] = user.id
    session.permanent = True
    user.last_login_at = utcnow()
    g.pop("current_user", None)


def logout_user() -> None:
    session.clear()
    g.pop("current_user", None)


def current_user() -> User | None:
    if "current_user" not in g:
        user_id = session.get("user_id")
        g.current_user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    return g.current_user


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anonymous visitors to the sign-in page, then back where they were going."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped
