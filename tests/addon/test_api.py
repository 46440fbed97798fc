"""The add-on API: connect codes, signed calls, the card lookup and queued commands."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

import server.addon as addon_api
from server.addon.codes import hash_connect_code, issue_connect_code
from server.extensions import db
from server.models import Event, Link, ProviderAccount, User, Workspace
from server.sync.signatures import OUTDATED_ADDON, addon_request_signature, addon_signature
from server.trello.errors import TrelloNotFound, TrelloServerError

CODE_FORMAT = re.compile(r"^[A-HJ-KMNP-Z2-9]{4}-[A-HJ-KMNP-Z2-9]{4}-[A-HJ-KMNP-Z2-9]{4}$")


# --------------------------------------------------------------------------- helpers


def make_workspace(app, name: str = "Pipeline", spreadsheet_id: str = "sheet-123", email: str = "ann@example.com",
                   trello_token: str | None = None) -> dict[str, Any]:
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            user = User(email=email, name="Ann")
            db.session.add(user)
            db.session.flush()
        account_id = None
        if trello_token:
            account = ProviderAccount(user_id=user.id, provider="trello", provider_user_id=f"m-{name}",
                                      access_token=trello_token)
            db.session.add(account)
            db.session.flush()
            account_id = account.id
        workspace = Workspace(name=name, owner_id=user.id, spreadsheet_id=spreadsheet_id, sheet_name="Leads",
                              trello_board_id="b" * 24, trello_account_id=account_id)
        db.session.add(workspace)
        db.session.flush()
        code = issue_connect_code(db.session, workspace)
        db.session.commit()
        return {"id": workspace.id, "secret": workspace.addon_secret, "code": code}


def signed_headers(workspace_id: str, secret: str, method: str, target: str, body: bytes = b"",
                   timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """Headers of an add-on API call (a fresh nonce each time); ``target`` is the path (and query)
    relative to the server address."""
    ts = timestamp or str(int(time.time()))
    nonce = nonce or uuid.uuid4().hex
    return {"X-Workspace": workspace_id, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": addon_request_signature(secret, ts, nonce, method, target, body),
            "Content-Type": "application/json"}


def signed_get(client, ws: dict[str, Any], path: str):
    return client.get(path, headers=signed_headers(ws["id"], ws["secret"], "GET", path))


def signed_post(client, ws: dict[str, Any], path: str, body: bytes = b"{}"):
    return client.post(path, data=body, headers=signed_headers(ws["id"], ws["secret"], "POST", path, body))


def connect(client, code: str, spreadsheet_id: str = "sheet-123", sheet: str = "Leads"):
    return client.post("/api/addon/connect", json={"code": code, "spreadsheet_id": spreadsheet_id, "sheet": sheet})


def events(app, workspace_id: str) -> list[Event]:
    with app.app_context():
        rows = db.session.execute(select(Event).where(Event.workspace_id == workspace_id).order_by(Event.id)).scalars()
        return [r for r in rows]


# --------------------------------------------------------------------------- codes


def test_issue_connect_code_is_typeable_hashed_and_expires(app):
    ws = make_workspace(app)
    assert CODE_FORMAT.match(ws["code"]), ws["code"]
    with app.app_context():
        workspace = db.session.get(Workspace, ws["id"])
        assert workspace.connect_code_hash == hash_connect_code(ws["code"])
        assert ws["code"] not in workspace.connect_code_hash
        left = workspace.connect_code_expires_at - datetime.now(timezone.utc)
        assert timedelta(minutes=29) < left <= timedelta(minutes=30)
        other = issue_connect_code(db.session, workspace, ttl_minutes=5)
        db.session.commit()
        assert other != ws["code"]
    # the new code replaced the old one
    assert connect(app.test_client(), ws["code"]).status_code == 404


# --------------------------------------------------------------------------- connect


def test_connect_answers_the_workspace_settings_and_consumes_the_code(app, client):
    ws = make_workspace(app)
    response = connect(client, ws["code"])
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data == {
        "workspace_id": ws["id"], "workspace_name": "Pipeline", "secret": ws["secret"], "sheet": "Leads",
        "header_row": 1, "lead_id_column": "Lead ID",
        "webhook_url": f"http://127.0.0.1:5000/webhooks/sheets/{ws['id']}",
    }
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        workspace = db.session.get(Workspace, ws["id"])
        assert workspace.connect_code_hash is None and workspace.connect_code_expires_at is None
    reused = connect(client, ws["code"])
    assert reused.status_code == 404
    assert "not valid" in reused.get_json()["error"]["message"]


def test_codes_are_forgiving_about_case_dashes_and_spaces(app, client):
    ws = make_workspace(app)
    typed = " " + ws["code"].lower().replace("-", " ") + " "
    assert connect(client, typed).status_code == 200


def test_wrong_code_is_404_in_plain_words(app, client):
    make_workspace(app)
    response = connect(client, "AAAA-BBBB-CCCC")
    assert response.status_code == 404
    message = response.get_json()["error"]["message"]
    assert "not valid" in message and "dashboard" in message
    assert connect(client, "x").status_code == 404


def test_expired_code_is_404_and_says_expired(app, client):
    ws = make_workspace(app)
    with app.app_context():
        workspace = db.session.get(Workspace, ws["id"])
        workspace.connect_code_expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
        db.session.commit()
    response = connect(client, ws["code"])
    assert response.status_code == 404
    assert "expired" in response.get_json()["error"]["message"]


def test_code_for_another_spreadsheet_is_refused_and_not_consumed(app, client):
    ws = make_workspace(app)
    response = connect(client, ws["code"], spreadsheet_id="some-other-sheet")
    assert response.status_code == 409
    assert "different spreadsheet" in response.get_json()["error"]["message"]
    assert "secret" not in response.get_json()
    assert connect(client, ws["code"]).status_code == 200


@pytest.mark.parametrize("body, problem", [
    (b"not json", "JSON object"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"spreadsheet_id": "sheet-123", "sheet": "Leads"}).encode(), "code"),
    (json.dumps({"code": "AAAA-BBBB-CCCC", "sheet": "Leads"}).encode(), "spreadsheet_id"),
    (json.dumps({"code": "AAAA-BBBB-CCCC", "spreadsheet_id": "s", "sheet": 3}).encode(), "sheet"),
])
def test_connect_bad_body_is_400_naming_the_problem(client, body, problem):
    response = client.post("/api/addon/connect", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert problem in response.get_json()["error"]["message"]


def test_connect_needs_no_csrf_token(sqlite_url):
    from tests.conftest import make_app

    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    ws = make_workspace(app)
    assert connect(app.test_client(), ws["code"]).status_code == 200
    assert signed_post(app.test_client(), ws, "/api/addon/sync").status_code == 202


# --------------------------------------------------------------------------- signatures


def test_signed_lead_lookup_of_an_unlinked_lead(app, client):
    ws = make_workspace(app)
    response = signed_get(client, ws, "/api/addon/leads/L-0123456789ab")
    assert response.status_code == 200
    assert response.get_json() == {
        "linked": False, "lead_id": "L-0123456789ab", "card": None, "card_url": None, "card_error": None,
        "sync": {"state": "not_linked", "last_synced_at": None, "error": ""},
        "workspace": {"id": ws["id"], "name": "Pipeline"},
    }


def test_wrong_signature_is_401(app, client):
    ws = make_workspace(app)
    headers = signed_headers(ws["id"], ws["secret"], "GET", "/api/addon/leads/L-0123456789ab")
    headers["X-Signature"] = "0" * 64
    response = client.get("/api/addon/leads/L-0123456789ab", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == "signature does not match"
    # a signature over another body does not cover this one
    headers = signed_headers(ws["id"], ws["secret"], "POST", "/api/addon/sync", b'{"a":1}')
    assert client.post("/api/addon/sync", data=b'{"a":2}', headers=headers).status_code == 401
    assert events(app, ws["id"]) == []


def replay(client, method: str, path: str, headers: dict[str, str], body: bytes = b""):
    return client.open(path, method=method, data=body or None, headers=headers)


def test_a_captured_get_signature_opens_no_other_call(app, client, monkeypatch):
    """The sidebar's look-up signs an empty body: replayed on another lead, another endpoint or with
    another method it is refused, and nothing is read, fetched or queued."""
    ws = make_workspace(app)
    with app.app_context():
        db.session.add(Link(workspace_id=ws["id"], lead_id="L-bbbbbbbbbbbb", card_id="c" * 24, shadow={}))
        db.session.commit()
    fetched: list[str] = []
    monkeypatch.setattr(addon_api, "fetch_card", lambda workspace, card_id: fetched.append(card_id) or {"id": card_id})
    captured = signed_headers(ws["id"], ws["secret"], "GET", "/api/addon/leads/L-0123456789ab")
    assert client.get("/api/addon/leads/L-0123456789ab", headers=captured).status_code == 200
    for method, path in [
        ("GET", "/api/addon/leads/L-bbbbbbbbbbbb"),          # another lead
        ("POST", "/api/addon/leads/L-0123456789ab/card"),    # another endpoint, same lead
        ("POST", "/api/addon/leads/L-bbbbbbbbbbbb/card"),
        ("POST", "/api/addon/sync"),
        ("POST", "/api/addon/disconnect"),
        ("HEAD", "/api/addon/leads/L-0123456789ab"),         # another method, same path
        ("GET", "/api/addon/leads/L-0123456789ab?x=1"),      # another query
    ]:
        response = replay(client, method, path, captured)
        assert response.status_code == 401, (method, path, response.status_code)
        if method != "HEAD":
            assert response.get_json()["error"]["message"] == "signature does not match"
    assert fetched == []
    assert events(app, ws["id"]) == []


def test_signatures_cover_the_method(app, client):
    ws = make_workspace(app)
    # a signature made for POST on the look-up's own path does not open the GET, and vice versa
    as_post = signed_headers(ws["id"], ws["secret"], "POST", "/api/addon/leads/L-0123456789ab")
    assert client.get("/api/addon/leads/L-0123456789ab", headers=as_post).status_code == 401
    as_get = signed_headers(ws["id"], ws["secret"], "GET", "/api/addon/sync", b"{}")
    assert client.post("/api/addon/sync", data=b"{}", headers=as_get).status_code == 401
    assert events(app, ws["id"]) == []


def test_signatures_cover_the_query_string(app, client):
    ws = make_workspace(app)
    path = "/api/addon/leads/L-0123456789ab"
    with_query = signed_headers(ws["id"], ws["secret"], "GET", path + "?fields=a%2Cb")
    assert client.get(path + "?fields=a%2Cb", headers=with_query).status_code == 200
    assert client.get(path, headers=with_query).status_code == 401
    assert client.get(path + "?fields=a%2Cc", headers=with_query).status_code == 401
    assert client.get(path + "?fields=a,b", headers=with_query).status_code == 401   # signed as sent, not decoded
    without = signed_headers(ws["id"], ws["secret"], "GET", path)
    assert client.get(path + "?fields=a%2Cb", headers=without).status_code == 401
    assert client.get(path + "?", headers=without).status_code == 200   # an empty query is no query
    body = b"{}"
    signed_sync = signed_headers(ws["id"], ws["secret"], "POST", "/api/addon/sync", body)
    assert client.post("/api/addon/sync?then=create_card", data=body, headers=signed_sync).status_code == 401
    assert events(app, ws["id"]) == []


def test_a_percent_encoded_lead_id_signs_its_decoded_path(app, client):
    ws = make_workspace(app)
    sent = "/api/addon/leads/L-caf%C3%A9%2B1"       # what encodeURIComponent('L-café+1') gives
    headers = signed_headers(ws["id"], ws["secret"], "GET", "/api/addon/leads/L-café+1")
    response = client.get(sent, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lead_id"] == "L-café+1"
    assert client.get(sent, headers=signed_headers(ws["id"], ws["secret"], "GET", sent)).status_code == 401


def test_behind_a_proxy_the_path_is_signed_relative_to_the_server_address(app, client):
    """PUBLIC_BASE_URL https://x.example.com/leads, the proxy moving /leads into SCRIPT_NAME: the add-on
    signs the path after its server address, which is the path the app routes on."""
    ws = make_workspace(app)
    base = "https://x.example.com/leads"
    path = "/api/addon/leads/L-0123456789ab"
    relative = signed_headers(ws["id"], ws["secret"], "GET", path)
    response = client.get(path, base_url=base, headers=relative)
    assert response.status_code == 200, response.get_json()
    with_prefix = signed_headers(ws["id"], ws["secret"], "GET", "/leads" + path)
    assert client.get(path, base_url=base, headers=with_prefix).status_code == 401
    body = b"{}"
    queued = client.post("/api/addon/sync", base_url=base, data=body,
                         headers=signed_headers(ws["id"], ws["secret"], "POST", "/api/addon/sync", body))
    assert queued.status_code == 202


def test_an_add_on_signing_the_old_way_is_told_to_update(app, client):
    ws = make_workspace(app)
    ts = str(int(time.time()))
    old = {"X-Workspace": ws["id"], "X-Timestamp": ts, "X-Signature": addon_signature(ws["secret"], ts, b"{}"),
           "Content-Type": "application/json"}
    response = client.post("/api/addon/sync", data=b"{}", headers=old)
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == OUTDATED_ADDON
    assert "Code.js" in OUTDATED_ADDON
    assert events(app, ws["id"]) == []


def test_stale_timestamp_is_401(app, client):
    ws = make_workspace(app)
    old = str(int(time.time()) - 301)
    response = client.get("/api/addon/leads/L-0123456789ab",
                          headers=signed_headers(ws["id"], ws["secret"], "GET", "/api/addon/leads/L-0123456789ab",
                                                 timestamp=old))
    assert response.status_code == 401
    assert "5 minutes" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("drop", ["X-Workspace", "X-Timestamp", "X-Signature"])
def test_missing_headers_are_401(app, client, drop):
    ws = make_workspace(app)
    headers = signed_headers(ws["id"], ws["secret"], "GET", "/api/addon/leads/L-0123456789ab")
    del headers[drop]
    response = client.get("/api/addon/leads/L-0123456789ab", headers=headers)
    assert response.status_code == 401
    assert "missing" in response.get_json()["error"]["message"]


def test_unknown_workspace_is_404(app, client):
    ws = make_workspace(app)
    response = client.get("/api/addon/leads/L-0123456789ab",
                          headers=signed_headers("ws_nope", ws["secret"], "GET", "/api/addon/leads/L-0123456789ab"))
    assert response.status_code == 404
    assert "unknown workspace" in response.get_json()["error"]["message"]


def test_a_disconnected_workspace_answers_410_and_queues_nothing(app, client):
    ws = make_workspace(app)
    with app.app_context():
        db.session.get(Workspace, ws["id"]).state = "disconnected"
        db.session.commit()
    for response in (signed_get(client, ws, "/api/addon/leads/L-0123456789ab"),
                     signed_post(client, ws, "/api/addon/sync"),
                     signed_post(client, ws, "/api/addon/leads/L-0123456789ab/card")):
        assert response.status_code == 410
        assert "reconnect it on the dashboard" in response.get_json()["error"]["message"]
    assert events(app, ws["id"]) == []
    # the add-on can still remove its triggers and settings
    assert signed_post(client, ws, "/api/addon/disconnect").status_code == 200


def test_bad_lead_id_is_400(app, client):
    ws = make_workspace(app)
    assert signed_get(client, ws, "/api/addon/leads/" + "x" * 65).status_code == 400


def test_cross_workspace_access_is_refused(app, client, monkeypatch):
    a = make_workspace(app, name="A", spreadsheet_id="sheet-a")
    b = make_workspace(app, name="B", spreadsheet_id="sheet-b", email="bob@example.com")
    with app.app_context():
        db.session.add(Link(workspace_id=b["id"], lead_id="L-bbbbbbbbbbbb", card_id="c" * 24, shadow={}))
        db.session.commit()
    monkeypatch.setattr(addon_api, "fetch_card", lambda workspace, card_id: {"id": card_id, "name": "B's secret deal"})
    # A's secret, claiming to be B
    forged = signed_headers(b["id"], a["secret"], "GET", "/api/addon/leads/L-bbbbbbbbbbbb")
    response = client.get("/api/addon/leads/L-bbbbbbbbbbbb", headers=forged)
    assert response.status_code == 401
    body = b"{}"
    for path in ("/api/addon/leads/L-bbbbbbbbbbbb/card", "/api/addon/sync"):
        forged_post = signed_headers(b["id"], a["secret"], "POST", path, body)
        assert client.post(path, data=body, headers=forged_post).status_code == 401
    assert events(app, b["id"]) == []
    # A, honestly signed, only ever sees its own workspace's links
    own = signed_get(client, a, "/api/addon/leads/L-bbbbbbbbbbbb").get_json()
    assert own["linked"] is False and own["card"] is None
    # B sees its card
    assert signed_get(client, b, "/api/addon/leads/L-bbbbbbbbbbbb").get_json()["card"]["name"] == "B's secret deal"


# --------------------------------------------------------------------------- the card lookup


TRELLO_CARD = {
    "id": "5f1a2b3c4d5e6f7a8b9c0d1e", "name": "Ann Lee — Acme", "url": "https://trello.com/c/AbCd1234/12-ann-lee",
    "shortUrl": "https://trello.com/c/AbCd1234", "closed": False, "due": "2030-01-15T17:00:00.000Z",
    "dueComplete": False, "dateLastActivity": "2024-05-01T10:00:00.000Z", "idList": "l" * 24,
    "labels": [{"id": "x", "idBoard": "b", "name": "Hot", "color": "red"}, {"id": "y", "name": "", "color": "sky"}],
    "list": {"id": "l" * 24, "name": "Contacted"},
    "members": [{"id": "m", "fullName": "Bob Roy", "username": "bobroy", "initials": "BR"}],
    "start": "2029-12-01T09:00:00.000Z", "badges": {"checkItems": 5, "checkItemsChecked": 3, "comments": 1},
}


def test_linked_lead_shows_its_card_and_sync_state(app, client, monkeypatch):
    ws = make_workspace(app)
    synced = datetime(2024, 5, 1, 10, 0, 5, tzinfo=timezone.utc)
    with app.app_context():
        db.session.add(Link(workspace_id=ws["id"], lead_id="L-0123456789ab", card_id=TRELLO_CARD["id"], shadow={},
                            sync_state="synced", last_synced_at=synced))
        db.session.commit()
    asked: list[str] = []

    def fake_fetch(workspace, card_id):
        asked.append(card_id)
        assert workspace.id == ws["id"]
        return TRELLO_CARD

    monkeypatch.setattr(addon_api, "fetch_card", fake_fetch)
    data = signed_get(client, ws, "/api/addon/leads/L-0123456789ab").get_json()
    assert asked == [TRELLO_CARD["id"]]
    assert data["linked"] is True
    assert data["card"] == {
        "id": TRELLO_CARD["id"], "name": "Ann Lee — Acme", "url": "https://trello.com/c/AbCd1234/12-ann-lee",
        "closed": False, "list": {"id": "l" * 24, "name": "Contacted"},
        "labels": [{"name": "Hot", "color": "red"}, {"name": "", "color": "sky"}],
        "start": "2029-12-01T09:00:00.000Z", "due": "2030-01-15T17:00:00.000Z", "dueComplete": False,
        "checklist": {"checked": 3, "total": 5},
        "members": [{"fullName": "Bob Roy", "username": "bobroy"}],
        "dateLastActivity": "2024-05-01T10:00:00.000Z", "customFields": [],
    }
    assert data["card_url"] == TRELLO_CARD["url"]
    assert data["sync"] == {"state": "synced", "last_synced_at": "2024-05-01T10:00:05Z", "error": ""}


def test_card_lookup_failures_are_explained(app, client, monkeypatch):
    ws = make_workspace(app)
    with app.app_context():
        db.session.add(Link(workspace_id=ws["id"], lead_id="L-0123456789ab", card_id="c" * 24, shadow={},
                            sync_state="error", last_error="Status 'Maybe' has no Trello list"))
        db.session.commit()

    def gone(workspace, card_id):
        raise TrelloNotFound("card not found", 404)

    monkeypatch.setattr(addon_api, "fetch_card", gone)
    data = signed_get(client, ws, "/api/addon/leads/L-0123456789ab").get_json()
    assert data["linked"] is True and data["card"] is None
    assert "no longer exists" in data["card_error"]
    assert data["sync"]["state"] == "error" and "no Trello list" in data["sync"]["error"]

    def down(workspace, card_id):
        raise TrelloServerError("Trello answered 503", 503)

    monkeypatch.setattr(addon_api, "fetch_card", down)
    data = signed_get(client, ws, "/api/addon/leads/L-0123456789ab").get_json()
    assert data["card"] is None and data["card_url"] == "https://trello.com/c/" + "c" * 24
    assert "did not answer" in data["card_error"]


def test_card_lookup_without_a_trello_account(app, client):
    ws = make_workspace(app)
    with app.app_context():
        db.session.add(Link(workspace_id=ws["id"], lead_id="L-0123456789ab", card_id="c" * 24, shadow={}))
        db.session.commit()
    data = signed_get(client, ws, "/api/addon/leads/L-0123456789ab").get_json()
    assert data["card"] is None and "No Trello account" in data["card_error"]


def test_card_lookup_through_the_real_trello_client(sqlite_url):
    """fetch_card with the TrelloClient against the Trello emulator on loopback."""
    from emulators.trello import TrelloEmulator
    from tests.conftest import make_app

    emulator = TrelloEmulator("emulator-key", "emulator-secret")
    emulator.start()
    try:
        member = emulator.add_member("bobroy", "Bob Roy")
        token = emulator.issue_token(member["id"])
        board = emulator.add_board("Leads", member["id"], lists=("New", "Contacted"))
        contacted = board["lists"][1]
        card = emulator.add_card(contacted["id"], "Ann Lee")
        label_id = emulator.state.boards[board["id"]].label_ids[0]
        emulator.update_card(card["id"], idMembers=[member["id"]], idLabels=[label_id])
        app = make_app(sqlite_url, TRELLO_API_BASE_URL=emulator.api_base_url)
        ws = make_workspace(app, trello_token=token)
        with app.app_context():
            db.session.add(Link(workspace_id=ws["id"], lead_id="L-0123456789ab", card_id=card["id"], shadow={}))
            db.session.commit()
        data = signed_get(app.test_client(), ws, "/api/addon/leads/L-0123456789ab").get_json()
        assert data["card_error"] is None, data
        shown = data["card"]
        assert shown["id"] == card["id"] and shown["name"] == "Ann Lee"
        assert shown["list"] == {"id": contacted["id"], "name": "Contacted"}
        assert shown["members"] == [{"fullName": "Bob Roy", "username": "bobroy"}]
        assert len(shown["labels"]) == 1 and shown["labels"][0]["color"]
        assert shown["url"].startswith("https://trello.com/c/")
        assert shown["dateLastActivity"]
    finally:
        emulator.stop()


def test_the_card_shows_its_checklist_and_custom_fields_by_column_through_the_real_client(sqlite_url):
    """One card read (badges and customFieldItems with it); the board's field definitions read once."""
    from emulators.trello import TrelloEmulator
    from server.models import Workspace
    from server.sync import customfields
    from tests.conftest import make_app

    emulator = TrelloEmulator("emulator-key", "emulator-secret")
    emulator.start()
    try:
        member = emulator.add_member("bobroy", "Bob Roy")
        token = emulator.issue_token(member["id"])
        board = emulator.add_board("Leads", member["id"], lists=("New", "Contacted"))
        emulator.set_custom_fields(board["id"], True)
        deal = emulator.add_custom_field(board["id"], "Deal", "number")
        stage = emulator.add_custom_field(board["id"], "Stage", "list", ("Hot", "Cold"))
        emulator.add_custom_field(board["id"], "Unmapped", "text")
        card = emulator.add_card(board["lists"][0]["id"], "Ann Lee")
        emulator.set_custom_field_item(card["id"], deal["id"], value={"number": "12500"})
        emulator.set_custom_field_item(card["id"], stage["id"], id_value=stage["options"][0]["id"])
        emulator.add_checklist(card["id"], "Steps", ["call", "demo"])
        app = make_app(sqlite_url, TRELLO_API_BASE_URL=emulator.api_base_url)
        ws = make_workspace(app, trello_token=token)
        with app.app_context():
            workspace = db.session.get(Workspace, ws["id"])
            workspace.trello_board_id = board["id"]
            workspace.mapping = {"title_column": "Name", "status_column": "Status",
                                 "custom_fields": {"Deal size": deal["id"], "Stage": stage["id"], "Met": "f" * 24}}
            db.session.add(Link(workspace_id=ws["id"], lead_id="L-0123456789ab", card_id=card["id"], shadow={}))
            db.session.commit()
        customfields.forget(ws["id"])
        emulator.reset_stats()
        data = signed_get(app.test_client(), ws, "/api/addon/leads/L-0123456789ab").get_json()
        assert data["card_error"] is None, data
        assert data["card"]["customFields"] == [{"name": "Deal size", "value": "12500"},
                                                {"name": "Stage", "value": "Hot"}]
        assert data["card"]["checklist"] == {"checked": 0, "total": 2}
        calls = {k: v for k, v in emulator.stats()["calls"].items() if v}
        assert calls == {"GET /1/cards/{id}": 1, "GET /1/boards/{id}/customFields": 1}
    finally:
        emulator.stop()


# --------------------------------------------------------------------------- commands


def test_create_card_now_and_sync_now_are_queued(app, client):
    ws = make_workspace(app)
    created = signed_post(client, ws, "/api/addon/leads/L-0123456789ab/card", b'{"lead_id":"L-0123456789ab"}')
    assert created.status_code == 202
    assert created.get_json() == {"queued": True, "command": "create_card", "lead_id": "L-0123456789ab"}
    synced = signed_post(client, ws, "/api/addon/sync")
    assert synced.status_code == 202
    stored = events(app, ws["id"])
    assert [(e.source, e.kind, e.order_key, e.state) for e in stored] == [
        ("system", "create_card", "lead:L-0123456789ab", "pending"),
        ("system", "reconcile", "workspace:reconcile", "pending"),
    ]
    assert json.loads(stored[0].payload) == {"lead_id": "L-0123456789ab"}


def test_disconnect_answers_ok(app, client):
    ws = make_workspace(app)
    response = signed_post(client, ws, "/api/addon/disconnect")
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    assert client.post("/api/addon/disconnect", data=b"{}").status_code == 401
