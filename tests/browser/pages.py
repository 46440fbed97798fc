"""What the dashboard's browser tests share: signing a person in."""

from __future__ import annotations

from server.extensions import db
from server.models import User


def sign_in(context, page, world, email: str = "ann@example.com") -> str:
    """Sign in through ``/auth/dev-login`` when the app has it; else set the signed session cookie.

    Returns how it signed in ("dev-login" or "cookie").
    """
    base = world.web.base_url
    app = world.app
    has_dev_login = any(rule.rule.startswith("/auth/dev-login") for rule in app.url_map.iter_rules())
    if has_dev_login:
        page.goto(f"{base}/auth/dev-login?email={email}&next=/app")
        form_email = page.locator("input[name=email]")
        if form_email.count():
            form_email.first.fill(email)
            page.locator("form button[type=submit], form input[type=submit]").first.click()
            page.wait_for_load_state()
        page.goto(f"{base}/app")
        if "/app/login" not in page.url and page.locator(".account-email").count():
            return "dev-login"
    from server.auth.sessions import start_session

    with app.app_context():
        user_id = db.session.query(User.id).filter_by(email=email).scalar()
        token = start_session(db.session, user_id)   # a real server-side session, as signing in makes
        db.session.commit()
    value = app.session_interface.get_signing_serializer(app).dumps({"sid": token, "_permanent": True})
    context.add_cookies([{"name": app.config.get("SESSION_COOKIE_NAME", "session"), "value": value, "url": base}])
    return "cookie"
