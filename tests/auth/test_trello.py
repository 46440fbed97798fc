"""Connect Trello accounts with OAuth 1.0a, end to end over HTTP against the Trello emulator."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import text

from server.extensions import db
from server.models import ProviderAccount, Workspace
from tests.conftest import make_app
from tests.sync.world import build_world
from tests.trello_site import connect_trello, sign_in


def test_connect_trello_end_to_end(site):
    ann = site.trello.add_member("ann", "Ann Example")
    bob = site.trello.add_member("bob", "Bob Example")
    browser = requests.Session()
    sign_in(browser, site.web.base_url, "ann@example.com")

    start = browser.post(site.web.base_url + "/app/connections/trello", allow_redirects=False)
    authorize = urlsplit(start.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == site.trello.base_url + "/1/OAuthAuthorizeToken"
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert (query["scope"], query["expiration"], query["name"]) == ("read,write", "never", "Leads Sync Test")
    assert query["oauth_token"]

    page = connect_trello(browser, site.web.base_url, site.trello, bob["id"])
    assert page.status_code == 200 and page.url == site.web.base_url + "/app/connections"
    assert "Trello account @bob is connected" in page.text

    [account] = site.accounts()
    grant = site.trello.oauth.grants[-1]
    assert (grant["idMember"], grant["scope"], grant["expiration"], grant["via"]) == \
        (bob["id"], ["read", "write"], "never", "oauth1")
    assert (account.provider_user_id, account.username, account.status) == (bob["id"], "bob", "ok")
    assert account.access_token == grant["token"] and account.access_token.startswith("ATTA")
    assert account.scopes == "read,write"
    with site.app.app_context():
        raw = db.session.execute(text("SELECT access_token FROM provider_accounts WHERE id = :id"),
                                 {"id": account.id}).scalar_one()
    assert grant["token"] not in raw  # encrypted at rest

    # The token works against the Trello API as bob.
    me = requests.get(site.trello.api_base_url + "/members/me",
                      params={"key": "emulator-key", "token": account.access_token}).json()
    assert me["id"] == bob["id"]

    # A second member makes a second account; reconnecting one updates it in place.
    connect_trello(browser, site.web.base_url, site.trello, ann["id"])
    connect_trello(browser, site.web.base_url, site.trello, bob["id"])
    accounts = site.accounts()
    assert sorted(a.username for a in accounts) == ["ann", "bob"]
    assert len({a.user_id for a in accounts}) == 1
    bob_account = next(a for a in accounts if a.username == "bob")
    assert bob_account.id == account.id and bob_account.access_token == site.trello.oauth.grants[-1]["token"]


def test_connecting_requires_sign_in(site):
    response = requests.post(site.web.base_url + "/app/connections/trello", allow_redirects=False)
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/app/login"


def test_denied_or_forged_callbacks_are_messages(site):
    ann = site.trello.add_member("ann")
    browser = requests.Session()
    sign_in(browser, site.web.base_url, "ann@example.com")
    denied = connect_trello(browser, site.web.base_url, site.trello, ann["id"], approve=False)
    assert "Access denied" in denied.text  # Trello's page; nothing comes back to us
    # A callback for a different request token than the one this session started.
    page = browser.get(site.web.base_url + "/auth/trello/callback", params={"oauth_token": "other", "oauth_verifier": "y"})
    assert page.url == site.web.base_url + "/app/connections"
    assert "different connection request" in page.text
    # A callback when no request is pending in this session (the pending one was used up).
    page = browser.get(site.web.base_url + "/auth/trello/callback", params={"oauth_token": "x", "oauth_verifier": "y"})
    assert page.url == site.web.base_url + "/app/connections"
    assert "expired or was opened in another browser" in page.text
    # Trello's callback without a verifier (the person did not approve).
    start = browser.post(site.web.base_url + "/app/connections/trello", allow_redirects=False)
    token = parse_qs(urlsplit(start.headers["Location"]).query)["oauth_token"][0]
    page = browser.get(site.web.base_url + "/auth/trello/callback", params={"oauth_token": token})
    assert "did not confirm the connection" in page.text
    # A verifier Trello never issued: the access-token call is refused.
    start = browser.post(site.web.base_url + "/app/connections/trello", allow_redirects=False)
    token = parse_qs(urlsplit(start.headers["Location"]).query)["oauth_token"][0]
    page = browser.get(site.web.base_url + "/auth/trello/callback", params={"oauth_token": token,
                                                                              "oauth_verifier": "forged"})
    assert page.url == site.web.base_url + "/app/connections"
    assert "Trello refused to complete the connection" in page.text
    assert site.accounts() == []


def test_wrong_api_secret_is_a_message(site):
    site.app.config["TRELLO_API_SECRET"] = "not-the-secret"
    browser = requests.Session()
    sign_in(browser, site.web.base_url, "ann@example.com")
    page = browser.post(site.web.base_url + "/app/connections/trello")
    assert page.url == site.web.base_url + "/app/connections"
    assert "Trello refused to start the connection" in page.text


def test_reconnecting_a_needs_reauth_account_reactivates_its_workspaces(sqlite_url):
    world = build_world(sqlite_url, make_app=make_app, config={"DEV_LOGIN_ENABLED": True})
    try:
        world.app.config["TRELLO_OAUTH_BASE_URL"] = world.trello.base_url + "/1"
        # The person revokes the app's token in Trello: the next card creation is refused.
        world.trello.revoke_token(world.token)
        world.add_row(Name="Ada", Email="ada@example.com", Status="New")
        world.settle()
        assert world.workspace().state == "needs_reauth"
        with world.app.app_context():
            account = db.session.get(ProviderAccount, world.workspace().trello_account_id)
            assert account.status == "needs_reauth"
            member_id, account_id = account.provider_user_id, account.id
        assert world.cards() == []

        browser = requests.Session()
        sign_in(browser, world.web.base_url, "ann@example.com")
        page = connect_trello(browser, world.web.base_url, world.trello, member_id)
        assert "Syncing resumed for 1 workspace" in page.text

        workspace = world.workspace()
        assert workspace.state == "active"
        with world.app.app_context():
            account = db.session.get(ProviderAccount, account_id)
            assert (account.status, account.status_detail) == ("ok", "")
            new_token = account.access_token
        assert new_token != world.token
        # The board webhook is back, owned by the new token (Trello deleted the revoked token's).
        hooks = [h for h in world.trello.webhooks() if h["idModel"] == world.board_id]
        assert [h["token"] for h in hooks] == [new_token]
        assert workspace.trello_webhook_id == hooks[0]["id"]

        world.settle()
        lead_id = world.rows()[0]["Lead ID"]
        assert world.card_for(lead_id)["name"] == "Ada"
        # And Trello → Sheets works again through the new webhook.
        world.trello.update_card(world.link(lead_id).card_id, idList=world.lists["Qualified"])
        world.settle()
        assert world.row_for(lead_id)["Status"] == "Qualified"
        with world.app.app_context():
            assert db.session.query(Workspace).count() == 1
    finally:
        world.stop()
