"""Sign in with Google, end to end over HTTP: the app on loopback, the Google OIDC emulator, a browser-like session."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import select, text

from emulators.common import RunningServer, serve_in_thread
from emulators.google_oauth import GoogleOAuthEmulator
from server.auth.oauth import safe_next
from server.config import ConfigError, load_config
from server.extensions import db
from server.models import GOOGLE, TRELLO, ProviderAccount, User, Workspace
from tests.conftest import make_app

SPREADSHEETS = "https://www.googleapis.com/auth/spreadsheets"


@dataclass
class Site:
    app: Any
    web: RunningServer
    google: GoogleOAuthEmulator

    @property
    def url(self) -> str:
        return self.web.base_url

    def start(self, browser: requests.Session, **params: str) -> str:
        """Begin sign-in; returns the emulator's authorize URL the app redirected to."""
        response = browser.get(self.url + "/auth/google/start", params=params or None, allow_redirects=False)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def sign_in(self, browser: requests.Session, email: str, **params: str) -> requests.Response:
        """The whole flow; Google's account chooser picks ``email`` (login_hint test hook)."""
        return browser.get(self.start(browser, **params) + "&login_hint=" + quote(email))

    def accounts(self) -> list[ProviderAccount]:
        return self._all(ProviderAccount)

    def users(self) -> list[User]:
        return self._all(User)

    def _all(self, model: Any) -> list[Any]:
        """Every row of ``model`` by id, detached so it can be read outside the app context."""
        with self.app.app_context():
            rows = db.session.scalars(select(model).order_by(model.id)).all()
            for row in rows:
                db.session.expunge(row)
            return list(rows)


def _google_config(google: GoogleOAuthEmulator) -> dict[str, Any]:
    return {"GOOGLE_CLIENT_ID": google.client_id, "GOOGLE_CLIENT_SECRET": google.client_secret,
            "GOOGLE_SERVER_METADATA_URL": google.metadata_url, "GOOGLE_TOKEN_URI": google.token_endpoint}


@pytest.fixture
def google():
    emulator = GoogleOAuthEmulator()
    emulator.start()
    emulator.add_user("ann@example.com", "Ann Example")
    yield emulator
    emulator.stop()


def _site(sqlite_url: str, google: GoogleOAuthEmulator, **config: Any) -> Site:
    app = make_app(sqlite_url, **{**_google_config(google), **config})
    web = serve_in_thread(app)
    app.config["PUBLIC_BASE_URL"] = web.base_url
    google.allow_redirect_uri(web.base_url + "/auth/google/callback")
    return Site(app, web, google)


@pytest.fixture
def site(sqlite_url, google):
    s = _site(sqlite_url, google)
    yield s
    s.web.stop()
    with s.app.app_context():
        db.engine.dispose()


class _Forms(HTMLParser):
    """Collects each form's fields (inputs, and the button pressed is left to the caller)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append({})
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1][attributes["name"] or ""] = attributes.get("value") or ""


def _forms(page: str) -> list[dict[str, str]]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


# --------------------------------------------------------------------------- sign-in


def test_sign_in_through_the_google_emulator(site):
    browser = requests.Session()
    authorize = site.start(browser)
    # Discovery gave Authlib the emulator's endpoints; the request asks for what the app needs.
    assert authorize.startswith(site.google.base_url + "/o/oauth2/v2/auth?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert query["client_id"] == site.google.client_id
    assert query["redirect_uri"] == site.url + "/auth/google/callback"
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert set(query["scope"].split()) == {"openid", "email", "profile", SPREADSHEETS}
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] and query["nonce"]

    page = browser.get(authorize + "&login_hint=ann%40example.com")
    assert page.status_code == 200
    assert page.url == site.url + "/app"
    assert "ann@example.com" in page.text  # the dashboard knows who is signed in

    [user] = site.users()
    assert user.email == "ann@example.com" and user.name == "Ann Example" and user.last_login_at is not None
    [account] = site.accounts()
    sub = next(u["sub"] for u in site.google.users() if u["email"] == "ann@example.com")
    issued = {t["kind"]: t["value"] for t in site.google.issued_tokens()}
    assert (account.provider, account.provider_user_id, account.username) == (GOOGLE, sub, "ann@example.com")
    assert account.user_id == user.id and account.status == "ok"
    assert account.access_token == issued["access_token"]
    assert account.refresh_token == issued["refresh_token"]
    assert SPREADSHEETS in account.scopes.split()
    assert account.token_expires_at is not None
    # Tokens are encrypted at rest: the raw column holds neither token.
    with site.app.app_context():
        raw_access, raw_refresh = db.session.execute(
            text("SELECT access_token, refresh_token FROM provider_accounts")).one()
    assert issued["refresh_token"] not in raw_refresh and issued["access_token"] not in raw_access
    assert raw_refresh != issued["refresh_token"]


def test_account_chooser_page_works_with_a_form_post(site):
    browser = requests.Session()
    authorize = site.start(browser)
    chooser = browser.get(authorize)
    assert chooser.status_code == 200 and "Choose an account" in chooser.text
    form = next(f for f in _forms(chooser.text) if f.get("email") == "ann@example.com")
    page = browser.post(authorize, data=form)
    assert page.url == site.url + "/app" and "ann@example.com" in page.text


def test_a_second_sign_in_updates_the_account_instead_of_duplicating_it(site):
    site.sign_in(requests.Session(), "ann@example.com")
    [first] = site.accounts()
    page = site.sign_in(requests.Session(), "ann@example.com")
    assert page.url == site.url + "/app"
    assert len(site.users()) == 1
    [second] = site.accounts()
    assert second.id == first.id
    latest = [t["value"] for t in site.google.issued_tokens() if t["kind"] == "access_token"][-1]
    assert second.access_token == latest != first.access_token
    assert second.refresh_token != first.refresh_token  # prompt=consent: a new refresh token every time


def test_email_is_matched_case_insensitively(site):
    with site.app.app_context():
        db.session.add(User(email="Ann@Example.com", name="Ann"))
        db.session.commit()
    site.sign_in(requests.Session(), "ann@example.com")
    [user] = site.users()
    [account] = site.accounts()
    assert account.user_id == user.id


@pytest.mark.parametrize("target, landing", [
    ("https://evil.example/steal", "/app"),
    ("//evil.example/steal", "/app"),
    ("/\\evil.example", "/app"),
    ("javascript:alert(1)", "/app"),
    ("/app/connections", "/app/connections"),
])
def test_next_is_followed_only_for_same_origin_paths(site, target, landing):
    page = site.sign_in(requests.Session(), "ann@example.com", next=target)
    assert page.url == site.url + landing


def test_safe_next_rules():
    assert safe_next("/app/workspaces/ws_1?tab=history") == "/app/workspaces/ws_1?tab=history"
    for bad in (None, "", "http://evil.example", "//evil.example", "/\\evil", "\\\\evil", "app", "/app\n/x",
                "https:/evil.example"):
        assert safe_next(bad) == "/app", bad


def test_denied_consent_lands_on_the_sign_in_page_with_a_message(site):
    browser = requests.Session()
    page = browser.get(site.start(browser) + "&deny=1")
    assert page.status_code == 200
    assert page.url == site.url + "/app/login"
    assert "You cancelled the Google sign-in" in page.text
    assert site.users() == [] and site.accounts() == []


def test_a_forged_or_stale_state_is_refused_with_a_message(site):
    browser = requests.Session()
    authorize = site.start(browser)
    answer = browser.get(authorize + "&login_hint=ann%40example.com", allow_redirects=False)
    callback = answer.headers["Location"]
    params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    forged = site.url + "/auth/google/callback?" + urlencode({**params, "state": "forged-state"})
    page = browser.get(forged)
    assert page.url == site.url + "/app/login"
    assert "expired or was opened in another browser" in page.text
    # The same callback in a browser that never started a sign-in is refused too.
    page = requests.Session().get(callback)
    assert page.url == site.url + "/app/login" and "expired" in page.text
    assert site.users() == []


def test_token_exchange_failure_is_a_message_not_a_500(site):
    site.google.faults.add(path=r"^/token$", methods=["POST"], status=400, times=1,
                           body={"error": "invalid_grant", "error_description": "Bad Request"})
    page = site.sign_in(requests.Session(), "ann@example.com")
    assert page.status_code == 200 and page.url == site.url + "/app/login"
    assert "Google did not sign you in (invalid_grant)" in page.text
    assert site.users() == []


def test_an_unverified_email_cannot_sign_in(site):
    site.google.add_user("eve@example.com", "Eve", email_verified=False)
    page = site.sign_in(requests.Session(), "eve@example.com")
    assert page.url == site.url + "/app/login"
    assert "did not confirm your email address" in page.text
    assert site.users() == []


def test_signed_in_user_connects_another_google_account_without_switching(site):
    site.google.add_user("ann.work@example.com", "Ann at work")
    browser = requests.Session()
    site.sign_in(browser, "ann@example.com")
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(site.url + "/app/connections").text)
    response = browser.post(site.url + "/auth/google/start", data={"csrf_token": token.group(1) if token else ""},
                            allow_redirects=False)
    page = browser.get(response.headers["Location"] + "&login_hint=ann.work%40example.com")
    assert page.url == site.url + "/app/connections"
    assert "Google account ann.work@example.com is connected" in page.text
    [user] = site.users()
    assert sorted(a.username for a in site.accounts()) == ["ann.work@example.com", "ann@example.com"]
    assert all(a.user_id == user.id for a in site.accounts())


def test_signing_in_again_reactivates_workspaces_waiting_for_google(site):
    sub = site.google.add_user("ann@example.com")
    with site.app.app_context():
        user = User(email="ann@example.com", name="Ann")
        db.session.add(user)
        db.session.flush()
        google = ProviderAccount(user_id=user.id, provider=GOOGLE, provider_user_id=sub, username="ann@example.com",
                                 access_token="old", refresh_token="revoked", status="needs_reauth",
                                 status_detail="Google refused to refresh the access token")
        trello = ProviderAccount(user_id=user.id, provider=TRELLO, provider_user_id="m1", username="ann",
                                 access_token="t", status="ok")
        broken_trello = ProviderAccount(user_id=user.id, provider=TRELLO, provider_user_id="m2", username="ann2",
                                        access_token="t2", status="needs_reauth")
        db.session.add_all([google, trello, broken_trello])
        db.session.flush()
        common = dict(owner_id=user.id, google_account_id=google.id, spreadsheet_id="s", sheet_name="Leads",
                      trello_board_id="b", mapping={})
        waiting = Workspace(name="Waiting", trello_account_id=trello.id, state="needs_reauth", **common)
        also_trello = Workspace(name="Trello too", trello_account_id=broken_trello.id, state="needs_reauth", **common)
        paused = Workspace(name="Paused", trello_account_id=trello.id, state="paused", **common)
        db.session.add_all([waiting, also_trello, paused])
        db.session.commit()
        ids = waiting.id, also_trello.id, paused.id
        google_id = google.id
    page = site.sign_in(requests.Session(), "ann@example.com")
    assert "Syncing resumed for 1 workspace" in page.text
    with site.app.app_context():
        states = [db.session.get(Workspace, i).state for i in ids]
        account = db.session.get(ProviderAccount, google_id)
        assert (account.status, account.status_detail) == ("ok", "")
        assert account.refresh_token != "revoked"
    assert states == ["active", "needs_reauth", "paused"]


# --------------------------------------------------------------------------- the login page, dev login, logout


def test_login_page_without_google_configured_says_so(client):
    page = client.get("/app/login")
    assert page.status_code == 200
    assert "GOOGLE_CLIENT_ID is empty" in page.get_data(as_text=True)
    response = client.get("/auth/google/start")
    assert response.status_code == 302 and response.headers["Location"].endswith("/app/login")


def test_login_page_offers_google_sign_in(site):
    page = requests.get(site.url + "/app/login?next=/app/connections")
    assert page.status_code == 200
    assert "Sign in with Google" in page.text
    assert 'href="/auth/google/start?next=/app/connections"' in page.text
    assert "Developer sign-in" not in page.text


def test_dashboard_sends_anonymous_visitors_to_sign_in_and_back(site):
    browser = requests.Session()
    response = browser.get(site.url + "/app/connections", allow_redirects=False)
    assert response.status_code == 302
    login = response.headers["Location"]
    assert urlsplit(login).path == "/app/login"
    next_target = parse_qs(urlsplit(login).query)["next"][0]
    page = site.sign_in(browser, "ann@example.com", next=next_target)
    assert page.url == site.url + "/app/connections"


def test_dev_login_is_absent_by_default(client):
    assert client.get("/auth/dev-login").status_code == 404
    assert client.post("/auth/dev-login", data={"email": "x@example.com"}).status_code == 404


def test_dev_login_when_enabled(sqlite_url):
    app = make_app(sqlite_url, DEV_LOGIN_ENABLED=True)
    client = app.test_client()
    assert "Developer sign-in" in client.get("/app/login").get_data(as_text=True)
    assert client.get("/auth/dev-login").status_code == 200
    assert client.post("/auth/dev-login", data={"email": "not an email"}).status_code == 400
    response = client.post("/auth/dev-login", data={"email": "dev@example.com", "next": "//evil.example"})
    assert response.status_code == 302 and response.headers["Location"] == "/app"
    assert client.get("/app").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(User.email)) == "dev@example.com"
        db.engine.dispose()


def test_dev_login_is_refused_in_production(tmp_path: Path, monkeypatch):
    production = {"APP_ENV": "production", "SECRET_KEY": "a-long-production-secret-key",
                  "TOKEN_ENCRYPTION_KEY": "x" * 44, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}"}
    with pytest.raises(ConfigError, match="DEV_LOGIN_ENABLED"):
        load_config(str(tmp_path), {**production, "DEV_LOGIN_ENABLED": True})
    monkeypatch.setenv("DEV_LOGIN_ENABLED", "1")
    with pytest.raises(ConfigError, match="DEV_LOGIN_ENABLED"):
        load_config(str(tmp_path), production)
    monkeypatch.delenv("DEV_LOGIN_ENABLED")
    assert load_config(str(tmp_path), production)["DEV_LOGIN_ENABLED"] is False


def test_logout_requires_a_post_with_a_csrf_token(sqlite_url):
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True, DEV_LOGIN_ENABLED=True)
    client = app.test_client()
    form = client.get("/auth/dev-login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert client.post("/auth/dev-login", data={"email": "ann@example.com", "csrf_token": token}).status_code == 302
    assert client.get("/app").status_code == 200

    assert client.get("/auth/logout").status_code == 405
    refused = client.post("/auth/logout")
    assert refused.status_code == 400
    assert "the form had expired" in refused.get_data(as_text=True)
    assert client.get("/app").status_code == 200  # still signed in

    page = client.get("/app").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/app/login")
    assert "You are signed out" in client.get("/app/login").get_data(as_text=True)
    assert client.get("/app").status_code == 302
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- the emulator itself


def test_emulator_refuses_unknown_clients_and_unregistered_redirects(google):
    base = google.base_url + "/o/oauth2/v2/auth"
    common = {"response_type": "code", "scope": "openid email", "state": "s"}
    unknown = requests.get(base, params={**common, "client_id": "nope", "redirect_uri": "http://127.0.0.1/cb"},
                           allow_redirects=False)
    assert unknown.status_code == 401 and "invalid_client" in unknown.text
    google.allow_redirect_uri("http://127.0.0.1:1/cb")
    wrong = requests.get(base, params={**common, "client_id": google.client_id,
                                       "redirect_uri": "http://evil.example/cb"}, allow_redirects=False)
    assert wrong.status_code == 400 and "redirect_uri_mismatch" in wrong.text
    ok = requests.get(base, params={**common, "client_id": google.client_id, "redirect_uri": "http://127.0.0.1:1/cb",
                                    "login_hint": "ann@example.com"}, allow_redirects=False)
    assert ok.status_code == 302
    location = parse_qs(urlsplit(ok.headers["Location"]).query)
    assert location["state"] == ["s"] and location["code"]
    # No access_type=offline / prompt=consent: no refresh token; a code works once.
    form = {"grant_type": "authorization_code", "code": location["code"][0], "redirect_uri": "http://127.0.0.1:1/cb"}
    bad_secret = requests.post(google.token_endpoint, data=form, auth=(google.client_id, "wrong"))
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    answer = requests.post(google.token_endpoint, data=form, auth=(google.client_id, google.client_secret)).json()
    assert "refresh_token" not in answer and answer["id_token"] and answer["expires_in"] > 0
    again = requests.post(google.token_endpoint, data=form, auth=(google.client_id, google.client_secret))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    info = requests.get(google.base_url + "/v1/userinfo", headers={"Authorization": "Bearer " + answer["access_token"]})
    assert info.json()["email"] == "ann@example.com"


def test_emulator_refresh_and_revocation(google):
    grant = google.issue_grant("ann@example.com")
    form = {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"],
            "client_id": google.client_id, "client_secret": google.client_secret}
    refreshed = requests.post(google.token_endpoint, data=form)
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != grant["access_token"]
    assert requests.post(google.base_url + "/revoke", data={"token": grant["access_token"]}).status_code == 200
    revoked = requests.post(google.token_endpoint, data=form)
    assert revoked.status_code == 400
    assert revoked.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    assert requests.post(google.base_url + "/revoke", data={"token": grant["access_token"]}).status_code == 400
    assert all(t["revoked"] for t in google.issued_tokens())
