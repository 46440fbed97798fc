"""One-click connect: the popup (``/app/addon/connect``, signed in, CSRF) approves the add-on's nonce
for one of the person's workspaces; the add-on's poll (``/api/addon/connect/poll``) then gets the
credentials once. Wrong input answers 400/404/409/410 in plain words, never 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from server.extensions import db
from server.models import User, Workspace
from tests.conftest import make_app, sign_in_as

NONCE = "0123456789abcdef0123456789abcdef"
SHEET_ID = "sheet-one-click"


def _seed(app) -> dict[str, object]:
    with app.app_context():
        ann = User(email="ann@example.com", name="Ann")
        bob = User(email="bob@example.com", name="Bob")
        db.session.add_all([ann, bob])
        db.session.flush()
        mine = Workspace(name="Pipeline", owner_id=ann.id, spreadsheet_id=SHEET_ID, sheet_name="Leads",
                         trello_board_id="b" * 24, state="active")
        other_sheet = Workspace(name="Hiring", owner_id=ann.id, spreadsheet_id="another-sheet", sheet_name="Leads",
                                trello_board_id="c" * 24, state="active")
        bobs = Workspace(name="Bob's deals", owner_id=bob.id, spreadsheet_id=SHEET_ID, sheet_name="Leads",
                         trello_board_id="d" * 24, state="active")
        db.session.add_all([mine, other_sheet, bobs])
        db.session.commit()
        return {"ann": ann.id, "bob": bob.id, "mine": mine.id, "other_sheet": other_sheet.id, "bobs": bobs.id,
                "secret": mine.addon_secret}


def _link(nonce: str = NONCE, spreadsheet: str = SHEET_ID) -> str:
    return f"/app/addon/connect?nonce={nonce}&spreadsheet={spreadsheet}&sheet=Leads"


def _approve(client, workspace_id: str, nonce: str = NONCE, spreadsheet: str = SHEET_ID, **extra: str):
    return client.post("/app/addon/connect", data={"nonce": nonce, "spreadsheet": spreadsheet, "sheet": "Leads",
                                                   "workspace_id": workspace_id, **extra})


def _poll(client, nonce: str = NONCE, spreadsheet: str = SHEET_ID):
    return client.post("/api/addon/connect/poll", json={"nonce": nonce, "spreadsheet_id": spreadsheet, "sheet": "Leads"})


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_popup_lists_only_the_signed_in_users_workspaces(app, client):
    ids = _seed(app)
    anonymous = client.get(_link())
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    sign_in_as(client, app, ids["ann"])
    page = client.get(_link())
    assert page.status_code == 200
    text = _text(page)
    assert "Pipeline" in text and "Hiring" in text and "Bob's deals" not in text.replace("&#39;", "'")
    assert "cannot be chosen: it syncs another spreadsheet" in text
    assert page.headers["Cache-Control"] == "no-store"
    # the link's nonce never leaves in a Referer: other sites get the origin only
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_one_click_connect_hands_the_credentials_over_once(app, client):
    ids = _seed(app)
    sign_in_as(client, app, ids["ann"])
    waiting = _poll(client)
    assert waiting.status_code == 202 and waiting.get_json() == {"state": "waiting"}
    approved = _approve(client, ids["mine"])
    assert approved.status_code == 200
    assert "Connected to “Pipeline”" in _text(approved)
    answer = _poll(client)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["state"] == "connected" and body["workspace_id"] == ids["mine"] and body["secret"] == ids["secret"]
    assert body["webhook_url"].endswith(f"/webhooks/sheets/{ids['mine']}") and body["sheet"] == "Leads"
    # one-time: the same nonce gives nothing again, and its link cannot approve again
    again = _poll(client)
    assert again.status_code == 202 and "secret" not in again.get_json()
    reuse = _approve(client, ids["mine"])
    assert reuse.status_code == 409 and "already used" in _text(reuse)
    assert _poll(client).status_code == 202


def test_another_users_workspace_is_404_and_changes_nothing(app, client):
    ids = _seed(app)
    sign_in_as(client, app, ids["ann"])
    refused = _approve(client, ids["bobs"])
    assert refused.status_code == 404 and "not yours" in _text(refused)
    unknown = _approve(client, "ws_doesnotexist")
    assert unknown.status_code == 404
    with app.app_context():
        assert db.session.get(Workspace, ids["bobs"]).connect_code_hash is None
    assert _poll(client).status_code == 202


def test_a_workspace_of_another_spreadsheet_is_refused_with_its_name(app, client):
    ids = _seed(app)
    sign_in_as(client, app, ids["ann"])
    refused = _approve(client, ids["other_sheet"])
    assert refused.status_code == 409
    assert "“Hiring” cannot be connected here: it syncs another spreadsheet" in _text(refused)
    assert _poll(client).status_code == 202


@pytest.mark.parametrize("nonce, spreadsheet", [("short", SHEET_ID), ("Z" * 32, SHEET_ID), (NONCE, ""),
                                                (NONCE, "bad id/../x")])
def test_malformed_links_are_400_with_a_message(app, client, nonce, spreadsheet):
    ids = _seed(app)
    sign_in_as(client, app, ids["ann"])
    page = client.get(_link(nonce, spreadsheet))
    assert page.status_code == 400 and "Connect to Leads Sync button" in _text(page)
    assert _approve(client, ids["mine"], nonce, spreadsheet).status_code == 400
    poll = _poll(client, nonce, spreadsheet)
    assert poll.status_code == 400 and "Connect to Leads Sync" in poll.get_json()["error"]["message"]


@pytest.mark.parametrize("body", [None, "not json", [1, 2], {"nonce": 5}])
def test_poll_with_a_bad_body_is_400(app, client, body):
    _seed(app)
    if isinstance(body, str) or body is None:
        response = client.post("/api/addon/connect/poll", data=body or "", content_type="application/json")
    else:
        response = client.post("/api/addon/connect/poll", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == 400


def test_an_expired_approval_says_so(app, client):
    ids = _seed(app)
    sign_in_as(client, app, ids["ann"])
    assert _approve(client, ids["mine"]).status_code == 200
    with app.app_context():
        ws = db.session.get(Workspace, ids["mine"])
        ws.connect_code_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    expired = _poll(client)
    assert expired.status_code == 410
    assert "expired" in expired.get_json()["error"]["message"]


def test_a_poll_from_another_spreadsheet_gets_no_secret(app, client):
    ids = _seed(app)
    sign_in_as(client, app, ids["ann"])
    assert _approve(client, ids["mine"]).status_code == 200
    wrong = _poll(client, spreadsheet="someone-elses-sheet")
    assert wrong.status_code == 409 and "secret" not in wrong.get_json()
    assert _poll(client).status_code == 200


def test_drafts_and_disconnected_workspaces_cannot_be_chosen(app, client):
    ids = _seed(app)
    with app.app_context():
        db.session.get(Workspace, ids["mine"]).state = "disconnected"
        db.session.commit()
    sign_in_as(client, app, ids["ann"])
    refused = _approve(client, ids["mine"])
    assert refused.status_code == 409 and "disconnected" in _text(refused)


def test_the_popup_form_needs_its_csrf_token(sqlite_url):
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    ids = _seed(app)
    sign_in_as(client, app, ids["ann"])
    refused = _approve(client, ids["mine"])
    assert refused.status_code == 400
    with app.app_context():
        assert db.session.get(Workspace, ids["mine"]).connect_code_hash is None
    page = client.get(_link())
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    accepted = _approve(client, ids["mine"], csrf_token=token)
    assert accepted.status_code == 200
    # the add-on's poll is an API call without cookies: no CSRF token needed
    assert app.test_client().post("/api/addon/connect/poll", json={
        "nonce": NONCE, "spreadsheet_id": SHEET_ID, "sheet": "Leads"}).status_code == 200
    with app.app_context():
        db.engine.dispose()
