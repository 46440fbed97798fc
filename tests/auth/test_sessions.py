"""Revocable sessions: a copied cookie dies with its sign-out, "sign out everywhere", idle and absolute
expiry, and no secret in the cookie while Trello is being connected."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select

from server.extensions import db
from server.models import User, Workspace
from tests.conftest import make_app
from tests.trello_site import sign_in as sign_in_over_http

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def dev_app(sqlite_url):
    app = make_app(sqlite_url, DEV_LOGIN_ENABLED=True)
    yield app
    with app.app_context():
        db.engine.dispose()


def sign_in(app, email: str = "ann@example.com"):
    """A browser signed in through the real sign-in view."""
    browser = app.test_client()
    response = browser.post("/auth/dev-login", data={"email": email})
    assert response.status_code == 302 and response.headers["Location"] == "/app"
    return browser


def copy_cookie(app, browser):
    """Another browser holding a copy of ``browser``'s session cookie (what a thief would have)."""
    thief = app.test_client()
    thief.set_cookie("session", browser.get_cookie("session").value)
    return thief


def owned_workspace(app, email: str = "ann@example.com") -> str:
    with app.app_context():
        owner = db.session.execute(select(User).where(User.email == email)).scalar_one()
        workspace = Workspace(name="Pipeline", owner_id=owner.id, spreadsheet_id="s1", sheet_name="Leads",
                              trello_board_id="b" * 24)
        db.session.add(workspace)
        db.session.commit()
        return workspace.id


def sessions_of(app, email: str = "ann@example.com") -> list:
    from server.models import UserSession

    with app.app_context():
        rows = db.session.execute(select(UserSession).join(User, User.id == UserSession.user_id)
                                  .where(User.email == email).order_by(UserSession.id)).scalars().all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def is_sign_in_redirect(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/app/login")


# --------------------------------------------------------------------------- sign-out ends the session


def test_a_cookie_copied_before_sign_out_is_refused_after_it(dev_app):
    browser = sign_in(dev_app)
    workspace_id = owned_workspace(dev_app)
    thief = copy_cookie(dev_app, browser)
    assert thief.get("/app").status_code == 200, "the copy works while the session lives"

    assert browser.post("/auth/logout").status_code == 302

    assert is_sign_in_redirect(thief.get("/app"))
    assert is_sign_in_redirect(thief.get(f"/app/workspaces/{workspace_id}"))
    status = thief.get(f"/app/workspaces/{workspace_id}/status.json")
    assert status.status_code == 401 and status.is_json
    assert "signed out" in status.get_json()["error"]["message"]
    # nor can it mint a connect code (and trade it for the add-on's secret)
    assert is_sign_in_redirect(thief.post(f"/app/workspaces/{workspace_id}/connect-code"))
    with dev_app.app_context():
        assert db.session.get(Workspace, workspace_id).connect_code_hash is None
    # the dashboard's own sign-out form ends the session the same way
    browser = sign_in(dev_app)
    thief = copy_cookie(dev_app, browser)
    browser.post("/app/sign-out")
    assert is_sign_in_redirect(thief.get("/app"))
    assert sessions_of(dev_app) == [], "signing out deletes the session on the server"


def test_sign_out_everywhere_ends_every_browsers_session(dev_app):
    laptop, phone = sign_in(dev_app), sign_in(dev_app)
    other_user = sign_in(dev_app, "bob@example.com")
    workspace_id = owned_workspace(dev_app)
    # a code made from a session (maybe a stolen one) before signing out everywhere
    code = phone.post(f"/app/workspaces/{workspace_id}/connect-code").get_data(as_text=True)
    code = code.split('id="connect-code">')[1].split("<")[0]
    page = laptop.get("/app/connections").get_data(as_text=True)
    assert "Sign out everywhere" in page and "2 browsers" in page

    response = laptop.post("/app/sign-out-everywhere")
    assert is_sign_in_redirect(response)
    assert is_sign_in_redirect(phone.get("/app"))
    assert is_sign_in_redirect(laptop.get("/app"))
    assert sessions_of(dev_app) == []
    assert other_user.get("/app").status_code == 200, "another person's sessions are untouched"
    redeemed = dev_app.test_client().post("/api/addon/connect", json={"code": code, "spreadsheet_id": "s1",
                                                                      "sheet": "Leads"})
    assert redeemed.status_code == 404, "the unused connect code died with the sessions"


def test_sign_out_everywhere_needs_a_csrf_token(sqlite_url):
    app = make_app(sqlite_url, DEV_LOGIN_ENABLED=True, WTF_CSRF_ENABLED=True)
    browser = app.test_client()
    form = browser.get("/auth/dev-login").get_data(as_text=True)
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    browser.post("/auth/dev-login", data={"email": "ann@example.com", "csrf_token": token})
    phone = copy_cookie(app, browser)
    refused = browser.post("/app/sign-out-everywhere")
    assert refused.status_code == 400
    assert phone.get("/app").status_code == 200, "nothing changed"
    page = browser.get("/app/connections").get_data(as_text=True)
    token = page.split('action="/app/sign-out-everywhere"')[1].split('name="csrf_token" value="')[1].split('"')[0]
    assert is_sign_in_redirect(browser.post("/app/sign-out-everywhere", data={"csrf_token": token}))
    assert is_sign_in_redirect(phone.get("/app"))
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- expiry


def _age(app, *, last_seen: timedelta | None = None, created: timedelta | None = None) -> None:
    """Move the stored timestamps of every session into the past."""
    from server.models import UserSession

    with app.app_context():
        now = datetime.now(timezone.utc)
        for row in db.session.execute(select(UserSession)).scalars():
            if last_seen is not None:
                row.last_seen_at = now - last_seen
            if created is not None:
                row.created_at = now - created
        db.session.commit()


def test_an_idle_session_expires_and_use_slides_the_expiry(sqlite_url):
    app = make_app(sqlite_url, DEV_LOGIN_ENABLED=True, SESSION_IDLE_DAYS=2, SESSION_MAX_DAYS=10)
    browser = sign_in(app)
    _age(app, last_seen=timedelta(days=2, hours=-1))      # idle for almost two days: still valid
    assert browser.get("/app").status_code == 200
    [row] = sessions_of(app)
    assert datetime.now(timezone.utc) - row.last_seen_at < timedelta(minutes=1), "use refreshed it"
    _age(app, last_seen=timedelta(days=2, minutes=1))     # idle for longer than two days
    assert is_sign_in_redirect(browser.get("/app"))
    assert sessions_of(app) == [], "the expired session is deleted"

    browser = sign_in(app)
    _age(app, created=timedelta(days=10, minutes=1), last_seen=timedelta(minutes=5))   # used, but too old
    assert is_sign_in_redirect(browser.get("/app"))
    assert app.permanent_session_lifetime == timedelta(days=10), "the cookie does not outlive the session"
    with app.app_context():
        db.engine.dispose()


def test_session_rules_with_an_injected_clock(app):
    from server.auth.sessions import (
        SessionCheck,
        SessionPolicy,
        check_session,
        end_session,
        purge_expired_sessions,
        start_session,
        token_hash,
    )
    from server.models import UserSession

    policy = SessionPolicy(idle=timedelta(days=7), absolute=timedelta(days=30), touch_every=timedelta(minutes=1))
    with app.app_context():
        user = User(email="ann@example.com")
        db.session.add(user)
        db.session.flush()
        token = start_session(db.session, user.id, now=NOW)
        db.session.commit()
        [row] = db.session.execute(select(UserSession)).scalars().all()
        assert row.token_hash == token_hash(token) and token not in row.token_hash

        def check(at: datetime) -> SessionCheck:
            return check_session(db.session, token, policy, now=at)[0]

        assert check(NOW + timedelta(days=6)) is SessionCheck.VALID          # refreshes last_seen_at
        assert check(NOW + timedelta(days=12)) is SessionCheck.VALID         # 6 days after the last use
        assert check(NOW + timedelta(days=12, seconds=30)) is SessionCheck.VALID
        assert row.last_seen_at == NOW + timedelta(days=12), "touched at most once a minute"
        assert check(NOW + timedelta(days=19, minutes=1)) is SessionCheck.IDLE
        assert check(NOW + timedelta(days=19, minutes=2)) is SessionCheck.UNKNOWN, "an expired session is gone"

        token = start_session(db.session, user.id, now=NOW)
        for day in range(6, 30, 6):
            assert check(NOW + timedelta(days=day)) is SessionCheck.VALID
        assert check(NOW + timedelta(days=30, seconds=1)) is SessionCheck.EXPIRED

        assert check_session(db.session, "", policy, now=NOW)[0] is SessionCheck.UNKNOWN
        assert check_session(db.session, "nope", policy, now=NOW)[0] is SessionCheck.UNKNOWN
        stale = start_session(db.session, user.id, now=NOW - timedelta(days=40))
        fresh = start_session(db.session, user.id, now=NOW)
        assert purge_expired_sessions(db.session, policy, now=NOW) == 1
        assert check_session(db.session, stale, policy, now=NOW)[0] is SessionCheck.UNKNOWN
        end_session(db.session, fresh)
        assert check_session(db.session, fresh, policy, now=NOW)[0] is SessionCheck.UNKNOWN


def test_session_settings_are_validated(tmp_path, monkeypatch):
    from server.config import ConfigError, load_config

    monkeypatch.setenv("SESSION_IDLE_DAYS", "3")
    monkeypatch.setenv("SESSION_MAX_DAYS", "9")
    config = load_config(str(tmp_path))
    assert (config["SESSION_IDLE_DAYS"], config["SESSION_MAX_DAYS"]) == (3.0, 9.0)
    monkeypatch.setenv("SESSION_IDLE_DAYS", "0")
    with pytest.raises(ConfigError, match="SESSION_IDLE_DAYS"):
        load_config(str(tmp_path))
    monkeypatch.setenv("SESSION_IDLE_DAYS", "12")
    with pytest.raises(ConfigError, match="SESSION_MAX_DAYS"):
        load_config(str(tmp_path))


# --------------------------------------------------------------------------- nothing secret in the cookie


def test_the_cookie_holds_no_secret_while_trello_is_being_connected(site):
    ann = site.trello.add_member("ann", "Ann Example")
    browser = requests.Session()
    sign_in_over_http(browser, site.web.base_url, "ann@example.com")
    start = browser.post(site.web.base_url + "/app/connections/trello", allow_redirects=False)
    assert start.status_code == 302
    request_token = requests.utils.urlparse(start.headers["Location"]).query.split("oauth_token=")[1].split("&")[0]
    token_secret = site.trello.oauth._requests[request_token]["secret"]
    cookie = browser.cookies["session"]
    decoded = site.app.session_interface.get_signing_serializer(site.app).loads(cookie)
    assert token_secret not in cookie and token_secret not in repr(decoded)
    assert "secret" not in repr(decoded).lower()
    # and the connection still completes with the secret kept on the server
    from tests.trello_site import connect_trello

    page = connect_trello(browser, site.web.base_url, site.trello, ann["id"])
    assert "Trello account @ann is connected" in page.text


def test_the_cookie_holds_no_pkce_verifier_while_google_signs_in(sqlite_url):
    from emulators.google_oauth import GoogleOAuthEmulator
    from tests.auth.test_google import _site

    google = GoogleOAuthEmulator()
    google.start()
    google.add_user("ann@example.com", "Ann Example")
    site = _site(sqlite_url, google)
    try:
        browser = requests.Session()
        authorize = site.start(browser)
        decoded = site.app.session_interface.get_signing_serializer(site.app).loads(browser.cookies["session"])
        assert "code_verifier" not in repr(decoded) and "nonce" not in repr(decoded)
        page = browser.get(authorize + "&login_hint=ann%40example.com")
        assert page.url == site.url + "/app" and "ann@example.com" in page.text
    finally:
        site.web.stop()
        google.stop()
        with site.app.app_context():
            db.engine.dispose()
