"""GOOGLE_SCOPE_MODE=drive.file: settings, the scope asked for, the Picker's token endpoint, and the
plain words when Google refuses a spreadsheet the grant does not cover.

Real HTTP throughout: the app's Google calls go to the OIDC emulator (token refresh) and the Sheets
emulator, which enforces the scopes of the tokens the OIDC emulator issued.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, text

from emulators.common import serve_in_thread
from emulators.google_oauth import GoogleOAuthEmulator
from server.auth.google_scopes import DRIVE_FILE_SCOPE, SPREADSHEETS_SCOPE
from server.config import ConfigError, load_config
from server.extensions import db
from server.models import GOOGLE, ProviderAccount, User, Workspace
from tests.conftest import make_app, sign_in_as
from tests.sync.world import World, build_world

EMAIL = "ann@example.com"
CANT_OPEN = "Leads Sync can't open this spreadsheet: choose it again with Choose a spreadsheet."
API_KEY = "AIzaSyTestPickerKey000000000000000000"


def _google_config(google: GoogleOAuthEmulator, mode: str = "drive.file") -> dict[str, Any]:
    config = {"GOOGLE_CLIENT_ID": google.client_id, "GOOGLE_CLIENT_SECRET": google.client_secret,
              "GOOGLE_SERVER_METADATA_URL": google.metadata_url, "GOOGLE_TOKEN_URI": google.token_endpoint,
              "GOOGLE_SCOPE_MODE": mode}
    if mode == "drive.file":
        config.update(GOOGLE_PICKER_API_KEY=API_KEY, GOOGLE_CLOUD_PROJECT_NUMBER=google.project_number)
    return config


@pytest.fixture
def google():
    emulator = GoogleOAuthEmulator()
    emulator.start()
    emulator.add_user(EMAIL, "Ann Example")
    yield emulator
    emulator.stop()


@pytest.fixture
def world(sqlite_url, google):
    w = build_world(sqlite_url, make_app=make_app, config=_google_config(google))
    google.link_sheets(w.sheets)
    yield w
    w.stop()


def _ann_account(world: World, google: GoogleOAuthEmulator, *, expires_in: timedelta = timedelta(hours=1),
                 access_token: str | None = None) -> dict[str, Any]:
    """Give the world's Google account (Ann's) a drive.file grant from the emulator."""
    grant = google.issue_grant(EMAIL, scope=f"openid email {DRIVE_FILE_SCOPE}")
    sub = next(u["sub"] for u in google.users() if u["email"] == EMAIL)
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        account = db.session.get(ProviderAccount, workspace.google_account_id)
        account.provider_user_id = sub
        account.access_token = access_token or grant["access_token"]
        account.refresh_token = grant["refresh_token"]
        account.token_expires_at = datetime.now(UTC) + expires_in
        account.scopes = grant["scope"]
        db.session.commit()
        return {**grant, "account_id": account.id, "user_id": workspace.owner_id}


def _client(world: World, user_id: int):
    client = world.app.test_client()
    sign_in_as(client, world.app, user_id)
    return client


def _flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


# --------------------------------------------------------------------------- settings


def _config(**overrides: Any) -> dict[str, Any]:
    return load_config("/tmp/leads-picker-test-instance", {"SQLALCHEMY_DATABASE_URI": "sqlite://", **overrides})


def test_scope_mode_defaults_to_spreadsheets_and_is_validated():
    assert _config()["GOOGLE_SCOPE_MODE"] == "spreadsheets"
    with pytest.raises(ConfigError, match="GOOGLE_SCOPE_MODE must be 'spreadsheets' or 'drive.file'"):
        _config(GOOGLE_SCOPE_MODE="drive")
    with pytest.raises(ConfigError, match="needs GOOGLE_PICKER_API_KEY"):
        _config(GOOGLE_SCOPE_MODE="drive.file", GOOGLE_CLOUD_PROJECT_NUMBER="123")
    with pytest.raises(ConfigError, match="needs GOOGLE_CLOUD_PROJECT_NUMBER"):
        _config(GOOGLE_SCOPE_MODE="drive.file", GOOGLE_PICKER_API_KEY=API_KEY)
    with pytest.raises(ConfigError, match="digits only"):
        _config(GOOGLE_SCOPE_MODE="drive.file", GOOGLE_PICKER_API_KEY=API_KEY,
                GOOGLE_CLOUD_PROJECT_NUMBER="my-project-id")
    config = _config(GOOGLE_SCOPE_MODE=" drive.file", GOOGLE_PICKER_API_KEY=API_KEY,
                     GOOGLE_CLOUD_PROJECT_NUMBER=" 123456789012 ")
    assert (config["GOOGLE_SCOPE_MODE"], config["GOOGLE_CLOUD_PROJECT_NUMBER"]) == ("drive.file", "123456789012")


def test_scope_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("GOOGLE_SCOPE_MODE", "drive.file")
    monkeypatch.setenv("GOOGLE_PICKER_API_KEY", API_KEY)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT_NUMBER", raising=False)
    with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT_NUMBER"):
        load_config("/tmp/leads-picker-test-instance", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})


# --------------------------------------------------------------------------- the consent request


@pytest.mark.parametrize("mode, data_scope", [("spreadsheets", SPREADSHEETS_SCOPE), ("drive.file", DRIVE_FILE_SCOPE)])
def test_connect_flow_asks_for_the_modes_scope(sqlite_url, google, mode, data_scope):
    app = make_app(sqlite_url, **_google_config(google, mode))
    web = serve_in_thread(app)
    try:
        app.config["PUBLIC_BASE_URL"] = web.base_url
        google.allow_redirect_uri(web.base_url + "/auth/google/callback")
        browser = requests.Session()
        start = browser.get(web.base_url + "/auth/google/start", allow_redirects=False, timeout=10)
        authorize = start.headers["Location"]
        scope = parse_qs(urlsplit(authorize).query)["scope"][0].split()
        assert set(scope) == {"openid", "email", "profile", data_scope}
        # Google grants what was asked; the account remembers it.
        page = browser.get(authorize + "&login_hint=ann%40example.com", timeout=10)
        assert page.url == web.base_url + "/app"
        with app.app_context():
            account = db.session.scalars(select(ProviderAccount).where(ProviderAccount.provider == GOOGLE)).one()
            assert data_scope in account.scopes.split()
            other = SPREADSHEETS_SCOPE if data_scope == DRIVE_FILE_SCOPE else DRIVE_FILE_SCOPE
            assert other not in account.scopes.split()
    finally:
        web.stop()
        with app.app_context():
            db.engine.dispose()


# --------------------------------------------------------------------------- the token endpoint


TOKEN_URL = "/app/google/picker-token.json"


def test_token_endpoint_gives_the_stored_token_while_it_is_fresh(world, google):
    seeded = _ann_account(world, google)
    client = _client(world, seeded["user_id"])
    response = client.post(TOKEN_URL, data={"account": seeded["account_id"]})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["access_token"] == seeded["access_token"]
    assert 3000 < body["expires_in"] <= 3600
    assert set(body) == {"access_token", "expires_in"}  # never the refresh token


def test_token_endpoint_refreshes_a_token_about_to_expire_and_stores_it(world, google):
    seeded = _ann_account(world, google, expires_in=timedelta(minutes=2))
    client = _client(world, seeded["user_id"])
    response = client.post(TOKEN_URL, data={"account": seeded["account_id"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    fresh = response.get_json()["access_token"]
    refreshed = [t["value"] for t in google.issued_tokens() if t["via"] == "refresh_token"]
    assert refreshed == [fresh] and fresh != seeded["access_token"]
    assert seeded["refresh_token"] not in response.get_data(as_text=True)
    with world.app.app_context():
        account = db.session.get(ProviderAccount, seeded["account_id"])
        assert account.access_token == fresh
        assert account.token_expires_at > datetime.now(UTC) + timedelta(minutes=50)
        raw = db.session.execute(text("SELECT access_token FROM provider_accounts WHERE id = :id"),
                                 {"id": seeded["account_id"]}).scalar_one()
        assert fresh not in raw  # stored encrypted


def test_token_endpoint_is_scoped_to_the_signed_in_users_accounts(world, google):
    seeded = _ann_account(world, google)
    anonymous = world.app.test_client()
    refused = anonymous.post(TOKEN_URL, data={"account": seeded["account_id"]})
    assert refused.status_code == 401
    assert seeded["access_token"] not in refused.get_data(as_text=True)

    with world.app.app_context():
        bob = User(email="bob@example.com", name="Bob")
        db.session.add(bob)
        db.session.commit()
        bob_id = bob.id
    other = _client(world, bob_id)
    for account in (seeded["account_id"], "nope", ""):
        response = other.post(TOKEN_URL, data={"account": account})
        assert response.status_code == 404
        assert "not connected to your sign-in" in response.get_json()["error"]["message"]
        assert seeded["access_token"] not in response.get_data(as_text=True)
    assert other.get(TOKEN_URL).status_code == 405


def test_token_endpoint_says_when_google_refuses_the_refresh(world, google):
    seeded = _ann_account(world, google, expires_in=timedelta(minutes=-5))
    google.revoke(seeded["refresh_token"])
    client = _client(world, seeded["user_id"])
    response = client.post(TOKEN_URL, data={"account": seeded["account_id"]})
    assert response.status_code == 401
    assert "Reconnect Google on the Connections page" in response.get_json()["error"]["message"]
    with world.app.app_context():
        assert db.session.get(ProviderAccount, seeded["account_id"]).status == "needs_reauth"


def test_token_endpoint_does_not_exist_in_spreadsheets_mode(sqlite_url, google):
    app = make_app(sqlite_url, **_google_config(google, "spreadsheets"))
    with app.app_context():
        user = User(email=EMAIL, name="Ann")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    client = app.test_client()
    sign_in_as(client, app, user_id)
    assert client.post(TOKEN_URL, data={"account": 1}).status_code == 404
    page = client.get("/app/workspaces/new?step=sheet").get_data(as_text=True)
    assert "Choose a spreadsheet" not in page and "picker.js" not in page
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- wizard and workspace page


def test_wizard_shows_the_picker_and_its_csp_only_on_the_sheet_step(world, google):
    seeded = _ann_account(world, google)
    client = _client(world, seeded["user_id"])
    response = client.get("/app/workspaces/new?step=sheet")
    page = response.get_data(as_text=True)
    assert "Choose a spreadsheet" in page and "/static/picker.js" in page
    assert f'data-api-key="{API_KEY}"' in page and f'data-app-id="{google.project_number}"' in page
    csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert csp["script-src"] == "'self' https://apis.google.com https://docs.google.com"
    assert csp["frame-src"] == "'self' https://apis.google.com https://docs.google.com"
    assert csp["frame-ancestors"] == "'none'"
    other = client.get("/app").headers["Content-Security-Policy"]
    assert "apis.google.com" not in other and "docs.google.com" not in other


def test_wizard_says_to_choose_a_spreadsheet_the_grant_does_not_cover(world, google):
    seeded = _ann_account(world, google)
    client = _client(world, seeded["user_id"])
    form = {"step": "sheet", "spreadsheet": world.spreadsheet_id, "google_account": seeded["account_id"]}
    refused = client.post("/app/workspaces/new", data=form)
    assert refused.headers["Location"].endswith("step=sheet")
    assert _flashes(client) == [CANT_OPEN]
    client.get("/app/workspaces/new?step=sheet")  # the flash is shown (and consumed)

    assert google.pick_file(seeded["access_token"], world.spreadsheet_id, google.project_number)
    accepted = client.post("/app/workspaces/new", data=form)
    assert accepted.headers["Location"].endswith("step=tab")
    assert "Leads" in client.get("/app/workspaces/new?step=tab").get_data(as_text=True)


def test_workspace_page_says_so_and_choosing_again_resumes(world, google):
    seeded = _ann_account(world, google)
    world.add_row(Name="Ada", Email="ada@example.com", Status="New")
    world.settle()  # the card is made (no Sheets call: the add-on gave the row its Lead ID)
    lead_id = world.rows()[0]["Lead ID"]
    world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
    world.settle()  # writing the new status to the sheet: Google refuses the file drive.file does not cover
    assert world.workspace().state == "needs_reauth", world.workspace().state_detail
    assert "The caller does not have permission" in world.workspace().state_detail

    client = _client(world, seeded["user_id"])
    page = client.get(f"/app/workspaces/{world.workspace_id}").get_data(as_text=True)
    assert CANT_OPEN in html.unescape(page)
    assert f"/app/workspaces/{world.workspace_id}/choose-spreadsheet" in page
    choose = client.get(f"/app/workspaces/{world.workspace_id}/choose-spreadsheet")
    assert "Choose a spreadsheet" in choose.get_data(as_text=True)
    assert "https://apis.google.com" in choose.headers["Content-Security-Policy"]

    # Another spreadsheet is refused; the same one, still not picked, says so again.
    url = f"/app/workspaces/{world.workspace_id}/choose-spreadsheet"
    client.post(url, data={"spreadsheet": "1AnotherSpreadsheet0000000"})
    assert "That is another spreadsheet" in _flashes(client)[0]
    client.get(url)
    client.post(url, data={"spreadsheet": world.spreadsheet_id})
    assert _flashes(client) == [CANT_OPEN]
    client.get(url)

    assert google.pick_file(seeded["access_token"], world.spreadsheet_id, google.project_number)
    done = client.post(url, data={"spreadsheet": world.spreadsheet_id})
    assert done.headers["Location"].endswith(f"/app/workspaces/{world.workspace_id}")
    assert _flashes(client) == ["Leads Sync can open the spreadsheet again; syncing resumed."]
    assert world.workspace().state == "active"
    world.settle()
    assert world.row_for(lead_id)["Status"] == "Qualified"
