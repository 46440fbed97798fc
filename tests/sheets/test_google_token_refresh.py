"""Google tokens in the worker: refresh and persist, revoked grants, and a service account.

A whole running system (``tests/sync/world.py``) plus the Google OIDC emulator: the worker's Sheets
writes go through google-auth credentials whose token URI is the emulator's token endpoint.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text

from emulators.google_oauth import GoogleOAuthEmulator
from server.extensions import db
from server.models import ProviderAccount, Workspace
from server.sheets.credentials import account_credentials, store_refreshed_token
from server.sync.settings import EngineSettings
from tests.conftest import make_app
from tests.sync.world import World, build_world

EMAIL = "ann@example.com"


@pytest.fixture
def google():
    emulator = GoogleOAuthEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


def _google_config(google: GoogleOAuthEmulator) -> dict[str, Any]:
    return {"GOOGLE_CLIENT_ID": google.client_id, "GOOGLE_CLIENT_SECRET": google.client_secret,
            "GOOGLE_SERVER_METADATA_URL": google.metadata_url, "GOOGLE_TOKEN_URI": google.token_endpoint}


@pytest.fixture
def world_with_google(sqlite_url, google):
    world = build_world(sqlite_url, make_app=make_app, config=_google_config(google))
    google.link_sheets(world.sheets)
    yield world
    world.stop()


def _google_account(world: World, change: Callable[[ProviderAccount], None] | None = None) -> ProviderAccount:
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        account = db.session.get(ProviderAccount, workspace.google_account_id)
        if change is not None:
            change(account)
            db.session.commit()
        db.session.expunge(account)
        return account


def _seed_grant(world: World, google: GoogleOAuthEmulator, *, access_token: str | None = None,
                expires_at: datetime) -> dict[str, Any]:
    """Give the workspace's Google account an emulator grant: refresh token, access token, expiry."""
    grant = google.issue_grant(EMAIL)
    sub = next(u["sub"] for u in google.users() if u["email"] == EMAIL)

    def change(account: ProviderAccount) -> None:
        account.provider_user_id = sub
        account.access_token = access_token or grant["access_token"]
        account.refresh_token = grant["refresh_token"]
        account.token_expires_at = expires_at

    _google_account(world, change)
    return grant


def _move_card_and_settle(world: World, status: str = "Qualified") -> str:
    """A lead gets a card; the card is moved in Trello; the worker must write the new status to the sheet."""
    world.add_row(Name="Ada", Email="ada@example.com", Status="New")
    world.settle()
    lead_id = world.rows()[0]["Lead ID"]
    world.person.update_card(world.link(lead_id).card_id, idList=world.lists[status])
    world.settle()
    return lead_id


def _wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_expired_access_token_is_refreshed_and_persisted(world_with_google, google):
    world = world_with_google
    # The stored access token is expired, and the Sheets API would refuse it anyway.
    world.sheets.revoke_token("stale-access-token")
    grant = _seed_grant(world, google, access_token="stale-access-token",
                        expires_at=datetime.now(timezone.utc) - timedelta(minutes=5))

    lead_id = _move_card_and_settle(world)

    assert world.row_for(lead_id)["Status"] == "Qualified"
    assert world.workspace().state == "active"
    refreshed = [t for t in google.issued_tokens() if t["kind"] == "access_token" and t["via"] == "refresh_token"]
    assert len(refreshed) == 1  # one refresh, then the cached credentials keep the new token
    new_token = refreshed[0]["value"]
    assert _wait_for(lambda: _google_account(world).access_token == new_token)
    account = _google_account(world)
    assert account.refresh_token == grant["refresh_token"]  # Google does not rotate it on refresh
    assert account.token_expires_at > datetime.now(timezone.utc) + timedelta(minutes=50)
    assert account.status == "ok"
    with world.app.app_context():
        raw = db.session.execute(text("SELECT access_token FROM provider_accounts WHERE id = :id"),
                                 {"id": account.id}).scalar_one()
    assert new_token not in raw  # stored encrypted


def test_a_fresh_token_is_used_without_refreshing(world_with_google, google):
    world = world_with_google
    _seed_grant(world, google, expires_at=datetime.now(timezone.utc) + timedelta(minutes=30))
    lead_id = _move_card_and_settle(world)
    assert world.row_for(lead_id)["Status"] == "Qualified"
    assert not [t for t in google.issued_tokens() if t["via"] == "refresh_token"]


@pytest.mark.parametrize("expired", [True, False], ids=["expired-token", "valid-token-revoked-at-sheets"])
def test_a_revoked_grant_makes_the_workspace_need_reauthorisation(world_with_google, google, expired):
    world = world_with_google
    now = datetime.now(timezone.utc)
    grant = _seed_grant(world, google, expires_at=now - timedelta(minutes=5) if expired else now + timedelta(minutes=30))
    world.add_row(Name="Ada", Email="ada@example.com", Status="New")
    world.settle()
    lead_id = world.rows()[0]["Lead ID"]
    # The person removes the app's access in their Google account: the grant (and its tokens) die.
    assert requests.post(google.base_url + "/revoke", data={"token": grant["refresh_token"]}).status_code == 200

    world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
    world.settle()

    workspace = world.workspace()
    assert workspace.state == "needs_reauth"
    assert "Google refused" in workspace.state_detail
    account = _google_account(world)
    assert account.status == "needs_reauth"
    assert world.row_for(lead_id)["Status"] == "New"  # not written, and not lost: it waits in
    link = world.link(lead_id)  # the lead's sheet outbox until someone signs in again
    assert link.sheet_pending == {"fields": ["Status"], "events": link.sheet_pending["events"]}
    assert link.shadow["Status"] == "Qualified"


def test_signing_in_again_after_revocation_resumes_the_sync(sqlite_url, google):
    world = build_world(sqlite_url, make_app=make_app, config=_google_config(google))
    try:
        google.link_sheets(world.sheets)
        google.allow_redirect_uri(world.web.base_url + "/auth/google/callback")
        grant = _seed_grant(world, google, expires_at=datetime.now(timezone.utc) - timedelta(minutes=5))
        world.add_row(Name="Ada", Email="ada@example.com", Status="New")
        world.settle()
        lead_id = world.rows()[0]["Lead ID"]
        google.revoke(grant["refresh_token"])
        world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
        world.settle()
        assert world.workspace().state == "needs_reauth"

        browser = requests.Session()
        start = browser.get(world.web.base_url + "/auth/google/start", allow_redirects=False)
        page = browser.get(start.headers["Location"] + "&login_hint=ann%40example.com")
        assert page.url == world.web.base_url + "/app"
        assert "Syncing resumed for 1 workspace" in page.text
        assert world.workspace().state == "active"
        assert _google_account(world).status == "ok"

        world.settle()
        assert world.row_for(lead_id)["Status"] == "Qualified"
    finally:
        world.stop()


# --------------------------------------------------------------------------- service account


def _service_account(google: GoogleOAuthEmulator, *, register: bool = True) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    email = "leads-sync@demo-project.iam.gserviceaccount.com"
    if register:
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        google.register_service_account(email, public, key_id="key-1")
    return json.dumps({
        "type": "service_account", "project_id": "demo-project", "private_key_id": "key-1", "private_key": pem,
        "client_email": email, "client_id": "1234567890",
        "auth_uri": google.base_url + "/o/oauth2/v2/auth", "token_uri": google.token_endpoint,
    })


def _use_service_account(world: World) -> None:
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.google_account_id = None
        db.session.commit()


def test_service_account_writes_to_the_sheet(sqlite_url, google):
    world = build_world(sqlite_url, make_app=make_app,
                        config={**_google_config(google), "GOOGLE_SERVICE_ACCOUNT_JSON": _service_account(google)})
    try:
        google.link_sheets(world.sheets)
        _use_service_account(world)
        lead_id = _move_card_and_settle(world)
        assert world.row_for(lead_id)["Status"] == "Qualified"
        assert [t["via"] for t in google.issued_tokens()] == ["jwt_bearer"]
        assert google.issued_tokens()[0]["email"] == "leads-sync@demo-project.iam.gserviceaccount.com"
    finally:
        world.stop()


def test_service_account_with_an_unknown_key_needs_reauthorisation(sqlite_url, google):
    world = build_world(sqlite_url, make_app=make_app,
                        config={**_google_config(google),
                                "GOOGLE_SERVICE_ACCOUNT_JSON": _service_account(google, register=False)})
    try:
        _use_service_account(world)
        world.add_row(Name="Ada", Email="ada@example.com", Status="New")
        world.settle()
        lead_id = world.rows()[0]["Lead ID"]
        world.person.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
        world.settle()
        assert world.workspace().state == "needs_reauth"
        assert google.issued_tokens() == []
    finally:
        world.stop()


# --------------------------------------------------------------------------- units


def test_account_credentials_without_refresh_token_are_plain_bearer_credentials():
    account = ProviderAccount(access_token="tok", refresh_token=None, token_expires_at=None)
    credentials = account_credentials(account, EngineSettings(), lambda token, expiry: None)
    assert type(credentials).__module__ == "google.oauth2.credentials"
    assert credentials.token == "tok" and credentials.refresh_token is None


def test_account_credentials_report_each_refresh(google):
    grant = google.issue_grant(EMAIL)
    settings = EngineSettings(google_client_id=google.client_id, google_client_secret=google.client_secret,
                              google_token_uri=google.token_endpoint)
    account = ProviderAccount(access_token="old", refresh_token=grant["refresh_token"],
                              token_expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    seen: list[tuple[str, datetime | None]] = []
    credentials = account_credentials(account, settings, lambda token, expiry: seen.append((token, expiry)))
    assert credentials.expired
    from google.auth.transport.requests import Request

    credentials.refresh(Request())
    assert seen and seen[0][0] == credentials.token != "old"
    assert seen[0][1] is not None and seen[0][1].tzinfo is not None


def test_an_older_refresh_never_overwrites_a_newer_one(app):
    from sqlalchemy.orm import sessionmaker

    with app.app_context():
        from server.models import User

        user = User(email="x@example.com")
        db.session.add(user)
        db.session.flush()
        account = ProviderAccount(user_id=user.id, provider="google", provider_user_id="1", access_token="a")
        db.session.add(account)
        db.session.commit()
        factory = sessionmaker(bind=db.engine)
        later = datetime.now(timezone.utc) + timedelta(hours=1)
        assert store_refreshed_token(factory, account.id, "newer", later)
        assert not store_refreshed_token(factory, account.id, "older", later - timedelta(minutes=5))
        db.session.expire_all()
        assert db.session.get(ProviderAccount, account.id).access_token == "newer"
