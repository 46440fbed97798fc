"""The Power-Up API trusts only Trello's RS256 tokens, shows only what the member may see, and the
Power-Up pages carry the headers Trello's iframes need."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from server.extensions import db
from server.models import Event
from server.powerup.jwt import clear_key_cache
from tests.conftest import make_app
from tests.powerup_support import (
    BOARD_ID,
    ERROR_CARD,
    INVITED_MEMBER_ID,
    LINKED_CARD,
    OTHER_BOARD_CARD,
    OTHER_BOARD_ID,
    PLUGIN_ID,
    SHEET_GID,
    STRANGER_MEMBER_ID,
    UNLINKED_CARD,
    KeyServer,
    b64,
    claims,
    new_key,
    public_jwk,
    public_pem,
    seed,
    sign,
)

KEY = new_key()


@pytest.fixture(scope="module")
def keys():
    server = KeyServer({"keys": [public_pem(KEY)]}).start()  # the shape Trello serves: PEM strings
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app(keys, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('powerup') / 'app.db'}"
    app = make_app(url, TRELLO_POWERUP_ID=PLUGIN_ID, TRELLO_JWT_KEYS_URL=keys.url,
                   POWERUP_APP_NAME='Leads "Sync" <b>', PUBLIC_BASE_URL="https://leads.example.com")
    with app.app_context():
        seed(db)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    clear_key_cache()
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get_card(client, card_id: str, token: str):
    return client.get(f"/api/powerup/cards/{card_id}", headers=bearer(token))


def assert_refused(response, status: int, reason: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == status and error["message"]
    if reason:
        assert error["reason"] == reason
    text = response.get_data(as_text=True)
    assert "Ada" not in text and "Secret" not in text and "lead" not in response.get_json()


# --------------------------------------------------------------------------- tokens


def test_good_token_returns_the_linked_lead(client):
    body = get_card(client, LINKED_CARD, sign(KEY, state=json.dumps({"card": LINKED_CARD}))).get_json()
    assert body["linked"] is True
    assert body["workspace"] == {"id": "ws_ours", "name": "Acme leads"}
    lead = body["lead"]
    assert lead["lead_id"] == "L-ada" and lead["status"] == "Qualified" and lead["row"] == 7
    assert list(lead["fields"]) == ["Name", "Email", "Company", "Notes"]  # mapping order, no status/ID
    assert lead["sheet_url"] == f"https://docs.google.com/spreadsheets/d/sheet-123/edit#gid={SHEET_GID}&range=A7"
    assert body["sync"]["state"] == "synced" and body["sync"]["last_synced_at"].endswith("Z")
    assert body["badge"] == {"text": "Qualified", "color": "blue", "list_id": "l2"}  # the list Qualified goes to


def test_sheet_url_opens_the_workspaces_tab_at_the_row():
    from server.powerup.leads import sheet_url

    base = "https://docs.google.com/spreadsheets/d/s%2F1/edit"
    assert sheet_url("s/1", 12, 987) == f"{base}#gid=987&range=A12"
    assert sheet_url("s/1", 12, 0) == f"{base}#gid=0&range=A12"
    assert sheet_url("s/1", None, 987) == f"{base}#gid=987"
    assert sheet_url("s/1", 12) == f"{base}#gid=0&range=A12"  # gid unknown: the first tab, as before


def test_error_state_and_badge_colours(client):
    body = get_card(client, ERROR_CARD, sign(KEY)).get_json()
    assert body["sync"]["state"] == "error"
    assert "protected" in body["sync"]["error"]
    assert body["badge"] == {"text": "Won", "color": "green", "list_id": "l3"}


def test_invited_member_sees_the_workspace(client):
    body = get_card(client, LINKED_CARD, sign(KEY, idMember=INVITED_MEMBER_ID)).get_json()
    assert body["linked"] is True


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"iss": "not-trello"}, "wrong_issuer"),
    ({"idPlugin": "5e66784c606cb1160a8f5dc1"}, "wrong_powerup"),
    ({"exp": int(time.time()) - 60}, "token_expired"),
    ({"iat": int(time.time()) + 600}, "token_not_yet_valid"),
    ({"idMember": None}, "invalid_token"),
])
def test_bad_claims_are_refused(client, overrides, reason):
    assert_refused(get_card(client, LINKED_CARD, sign(KEY, **overrides)), 401, reason)


def test_expiry_has_a_small_leeway(client):
    assert get_card(client, LINKED_CARD, sign(KEY, exp=int(time.time()) - 10)).status_code == 200


def test_missing_or_garbled_token(client):
    assert_refused(client.get(f"/api/powerup/cards/{LINKED_CARD}"), 401, "missing_token")
    assert_refused(get_card(client, LINKED_CARD, "not-a-jwt"), 401, "malformed_token")
    assert_refused(get_card(client, LINKED_CARD, "a.b.c"), 401, "malformed_token")


def test_tampered_signature_is_refused(client):
    header, _, signature = sign(KEY).split(".")
    forged = f"{header}.{b64(claims(idMember=STRANGER_MEMBER_ID))}.{signature}"
    assert_refused(get_card(client, LINKED_CARD, forged), 401, "bad_signature")
    assert_refused(get_card(client, LINKED_CARD, sign(new_key())), 401, "bad_signature")


def test_hs256_and_none_are_refused(client):
    payload = b64(claims())
    head = b64({"alg": "HS256", "typ": "JWT"})
    mac = hmac.new(public_pem(KEY).encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert_refused(get_card(client, LINKED_CARD, f"{head}.{payload}.{b64(mac)}"), 401, "bad_algorithm")
    none = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    assert_refused(get_card(client, LINKED_CARD, none), 401, "bad_algorithm")


def test_unknown_kid_triggers_one_refetch(app, client):
    k1, k2, k3 = KEY, new_key(), new_key()
    jwks = KeyServer({"keys": [public_jwk(k1, "k1")]}).start()
    previous = app.config["TRELLO_JWT_KEYS_URL"]
    app.config["TRELLO_JWT_KEYS_URL"] = jwks.url
    try:
        assert get_card(client, LINKED_CARD, sign(k1, kid="k1")).status_code == 200
        assert get_card(client, LINKED_CARD, sign(k1, kid="k1")).status_code == 200
        assert jwks.fetches == 1  # cached
        jwks.body = {"keys": [public_jwk(k1, "k1"), public_jwk(k2, "k2")]}  # Trello rotates
        assert get_card(client, LINKED_CARD, sign(k2, kid="k2")).status_code == 200
        assert jwks.fetches == 2  # one refetch for the unknown kid
        for _ in range(3):  # forged kids cannot make us hammer the key endpoint
            assert_refused(get_card(client, LINKED_CARD, sign(k3, kid="k3")), 401, "bad_signature")
        assert jwks.fetches == 2
        assert get_card(client, LINKED_CARD, sign(k1, kid="k2")).status_code == 401  # kid names the key
    finally:
        app.config["TRELLO_JWT_KEYS_URL"] = previous
        jwks.stop()


def test_unreachable_key_endpoint_is_503_not_500(app, client):
    previous = app.config["TRELLO_JWT_KEYS_URL"]
    app.config["TRELLO_JWT_KEYS_URL"] = "http://127.0.0.1:9/keys"
    try:
        assert_refused(get_card(client, LINKED_CARD, sign(KEY)), 503, "keys_unavailable")
    finally:
        app.config["TRELLO_JWT_KEYS_URL"] = previous


# --------------------------------------------------------------------------- who sees what


def test_card_of_another_board_is_not_shown(client):
    assert_refused(get_card(client, OTHER_BOARD_CARD, sign(KEY)), 404, "card_not_on_board")


def test_board_of_a_workspace_the_member_may_not_see(client):
    token = sign(KEY, idBoard=OTHER_BOARD_ID)
    assert_refused(get_card(client, OTHER_BOARD_CARD, token), 404, "board_not_connected")
    response = client.get(f"/api/powerup/boards/{OTHER_BOARD_ID}", headers=bearer(token))
    assert response.get_json()["linked"] is False and "Secret" not in response.get_data(as_text=True)
    assert_refused(client.post(f"/api/powerup/boards/{OTHER_BOARD_ID}/sync", headers=bearer(token)), 404)


def test_token_for_another_board_or_card(client):
    response = client.get(f"/api/powerup/boards/{OTHER_BOARD_ID}", headers=bearer(sign(KEY)))
    assert_refused(response, 403, "wrong_board")
    token = sign(KEY, state=json.dumps({"card": ERROR_CARD}))
    assert_refused(get_card(client, LINKED_CARD, token), 403, "wrong_card")


def test_unknown_member_is_told_to_connect(client):
    assert_refused(get_card(client, LINKED_CARD, sign(KEY, idMember="5e645dc2c4205e14162184ff")), 403,
                   "unknown_member")


def test_unlinked_card_and_create_lead(app, client):
    token = sign(KEY, state=json.dumps({"card": UNLINKED_CARD}))
    body = get_card(client, UNLINKED_CARD, token).get_json()
    assert body == {"linked": False, "workspace": {"id": "ws_ours", "name": "Acme leads"}, "can_create": True,
                    "create_queued": False, "reason": ""}
    first = client.post(f"/api/powerup/cards/{UNLINKED_CARD}/lead", headers=bearer(token))
    assert first.status_code == 202 and first.get_json() == {"queued": True, "already_queued": False}
    again = client.post(f"/api/powerup/cards/{UNLINKED_CARD}/lead", headers=bearer(token))
    assert again.status_code == 202 and again.get_json()["already_queued"] is True
    assert get_card(client, UNLINKED_CARD, token).get_json()["create_queued"] is True
    with app.app_context():
        events = db.session.query(Event).filter_by(kind="create_lead").all()
        assert len(events) == 1 and json.loads(events[0].payload) == {"card_id": UNLINKED_CARD}
    linked = client.post(f"/api/powerup/cards/{LINKED_CARD}/lead", headers=bearer(sign(KEY)))
    assert_refused(linked, 409, "already_linked")


def test_board_info_and_sync_now(app, client):
    token = sign(KEY)
    body = client.get(f"/api/powerup/boards/{BOARD_ID}", headers=bearer(token)).get_json()
    assert body == {"linked": True, "workspace": {"id": "ws_ours", "name": "Acme leads"},
                    "dashboard_url": "https://leads.example.com/app"}
    response = client.post(f"/api/powerup/boards/{BOARD_ID}/sync", headers=bearer(token))
    assert response.status_code == 202 and response.get_json()["queued"] is True
    with app.app_context():
        assert db.session.query(Event).filter_by(kind="reconcile", workspace_id="ws_ours").count() == 1


def test_ids_must_look_like_trello_ids(client):
    assert_refused(get_card(client, "../../etc", sign(KEY)), 404)
    assert_refused(get_card(client, "x" * 24, sign(KEY)), 404, "not_found")


# --------------------------------------------------------------------------- headers


def test_html_pages_are_framable_by_trello_only(client):
    for page in ("index.html", "card-back.html", "lead-popup.html", "settings.html", "authorize.html"):
        response = client.get(f"/powerup/{page}")
        assert response.status_code == 200, page
        assert "frame-ancestors https://trello.com;" in response.headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in response.headers
        assert response.headers["Cache-Control"] == "no-cache"
        assert "Access-Control-Allow-Origin" not in response.headers
        text = response.get_data(as_text=True)
        assert "__VERSION__" not in text and "?v=" in text


def test_index_injects_escaped_app_key_and_name(client):
    text = client.get("/powerup/index.html", headers={"Origin": "https://trello.com"}).get_data(as_text=True)
    assert 'data-app-key="emulator-key"' in text
    assert 'data-app-name="Leads &#34;Sync&#34; &lt;b&gt;"' in text and "<b>" not in text


def test_frame_ancestors_are_configurable(tmp_path, keys):
    app = make_app(f"sqlite:///{tmp_path / 'a.db'}", POWERUP_FRAME_ANCESTORS="https://trello.com https://x.example")
    csp = app.test_client().get("/powerup/card-back.html").headers["Content-Security-Policy"]
    assert "frame-ancestors https://trello.com https://x.example;" in csp


def test_asset_cache_and_cors_headers(client):
    versioned = client.get("/powerup/js/client.js?v=abc", headers={"Origin": "https://trello.com"})
    assert versioned.status_code == 200
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["Access-Control-Allow-Origin"] == "https://trello.com"
    plain = client.get("/powerup/css/powerup.css")
    assert plain.headers["Cache-Control"] == "public, max-age=300"
    evil = client.get("/powerup/js/client.js?v=abc", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in evil.headers
    assert client.get("/powerup/../server/config.py").status_code == 404
    assert client.get("/powerup/%2e%2e/server/config.py").status_code == 404


def test_api_cors_and_preflight(client):
    preflight = client.options(f"/api/powerup/cards/{LINKED_CARD}", headers={
        "Origin": "https://trello.com", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://trello.com"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    response = client.get(f"/api/powerup/cards/{LINKED_CARD}",
                          headers={**bearer(sign(KEY)), "Origin": "https://trello.com"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://trello.com"
    refused = client.get(f"/api/powerup/cards/{LINKED_CARD}", headers={"Origin": "https://trello.com"})
    assert refused.headers["Access-Control-Allow-Origin"] == "https://trello.com"  # errors readable too
    for origin in ("https://evil.example", "null"):
        other = client.options(f"/api/powerup/cards/{LINKED_CARD}", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET"})
        assert "Access-Control-Allow-Origin" not in other.headers
    assert "*" not in response.headers.get("Access-Control-Allow-Origin", "")
