"""Who is signed in: the session helpers every dashboard view uses."""

from .session import current_user, login_required, login_user, logout_everywhere, logout_user

__all__ = ["current_user", "login_required", "login_user", "logout_user", "logout_everywhere"]
