"""Replay of signed add-on requests: every call carries a nonce (``X-Nonce``, signed) that is accepted
once per workspace within the signature window, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from server.extensions import db
from server.models import Event
from server.sync.signatures import OUTDATED_ADDON, addon_request_signature
from tests.addon.test_api import events, make_workspace
from tests.conftest import make_app

SYNC = "/api/addon/sync"


def nonce_headers(workspace_id: str, secret: str, method: str, target: str, body: bytes = b"",
                  nonce: str | None = None) -> dict[str, str]:
    ts = str(int(time.time()))
    nonce = nonce or uuid.uuid4().hex
    return {"X-Workspace": workspace_id, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": addon_request_signature(secret, ts, nonce, method, target, body),
            "Content-Type": "application/json"}


def test_a_captured_sync_replayed_100_times_queues_one_sync(app, client):
    ws = make_workspace(app)
    captured = nonce_headers(ws["id"], ws["secret"], "POST", SYNC, b"{}")
    first = client.post(SYNC, data=b"{}", headers=captured)
    assert first.status_code == 202, first.get_json()
    answers = [client.post(SYNC, data=b"{}", headers=captured) for _ in range(100)]
    assert {a.status_code for a in answers} == {409}
    assert "already" in answers[0].get_json()["error"]["message"]
    assert [e.kind for e in events(app, ws["id"])] == ["reconcile"]
    # a fresh nonce is a new request
    assert client.post(SYNC, data=b"{}", headers=nonce_headers(ws["id"], ws["secret"], "POST", SYNC, b"{}")
                       ).status_code == 202


def test_the_nonce_is_signed(app, client):
    ws = make_workspace(app)
    headers = nonce_headers(ws["id"], ws["secret"], "POST", SYNC, b"{}")
    headers["X-Nonce"] = uuid.uuid4().hex   # swapped for a fresh one: the signature no longer matches
    response = client.post(SYNC, data=b"{}", headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["message"] == "signature does not match"
    assert events(app, ws["id"]) == []


def test_a_request_without_a_nonce_is_told_code_js_is_out_of_date(app, client):
    ws = make_workspace(app)
    ts = str(int(time.time()))
    # what the previous add-on sent: the method and path signed, no nonce
    old_message = b"\n".join((ts.encode(), b"POST", SYNC.encode(), b"{}"))
    old = {"X-Workspace": ws["id"], "X-Timestamp": ts, "Content-Type": "application/json",
           "X-Signature": hmac.new(ws["secret"].encode(), old_message, hashlib.sha256).hexdigest()}
    response = client.post(SYNC, data=b"{}", headers=old)
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == OUTDATED_ADDON
    assert "Code.js" in OUTDATED_ADDON and "out of date" in OUTDATED_ADDON
    assert events(app, ws["id"]) == []


def test_a_malformed_nonce_is_refused(app, client):
    ws = make_workspace(app)
    for nonce in ("short", "x" * 65, "has space in it 123", "\u00e9" * 20):
        headers = nonce_headers(ws["id"], ws["secret"], "POST", SYNC, b"{}", nonce=nonce)
        response = client.post(SYNC, data=b"{}", headers=headers)
        assert response.status_code == 401, nonce
        assert "X-Nonce" in response.get_json()["error"]["message"]
    assert events(app, ws["id"]) == []


def test_nonces_are_per_workspace_and_gets_are_covered_too(app, client):
    a = make_workspace(app, name="A", spreadsheet_id="sheet-a")
    b = make_workspace(app, name="B", spreadsheet_id="sheet-b", email="bob@example.com")
    nonce = uuid.uuid4().hex
    path = "/api/addon/leads/L-0123456789ab"
    assert client.get(path, headers=nonce_headers(a["id"], a["secret"], "GET", path, nonce=nonce)).status_code == 200
    assert client.get(path, headers=nonce_headers(b["id"], b["secret"], "GET", path, nonce=nonce)).status_code == 200
    replayed = client.get(path, headers=nonce_headers(a["id"], a["secret"], "GET", path, nonce=nonce))
    assert replayed.status_code == 409


def test_expired_nonces_are_purged(app):
    from server.addon.nonces import purge_expired_nonces, remember_nonce
    from server.models import AddonNonce

    ws = make_workspace(app)
    now = datetime.now(timezone.utc)
    with app.app_context():
        assert remember_nonce(db.session, ws["id"], "n" * 32, expires_at=now - timedelta(seconds=1), now=now)
        assert remember_nonce(db.session, ws["id"], "m" * 32, expires_at=now + timedelta(minutes=5), now=now)
        assert not remember_nonce(db.session, ws["id"], "m" * 32, expires_at=now + timedelta(minutes=5), now=now)
        assert purge_expired_nonces(db.session, now=now) == 1
        db.session.commit()
        assert db.session.execute(select(func.count()).select_from(AddonNonce)).scalar() == 1
        # an expired nonce is no longer needed: its signature is stale by then
        assert remember_nonce(db.session, ws["id"], "n" * 32, expires_at=now + timedelta(minutes=5), now=now)


def test_simultaneous_replays_on_postgres_queue_one_sync(pg_url):
    app = make_app(pg_url)
    try:
        ws = make_workspace(app)
        captured = nonce_headers(ws["id"], ws["secret"], "POST", SYNC, b"{}")
        answers: list[int] = []
        barrier = threading.Barrier(8)

        def fire() -> None:
            client = app.test_client()
            barrier.wait()
            answers.append(client.post(SYNC, data=b"{}", headers=captured).status_code)

        threads = [threading.Thread(target=fire) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(answers) == [202] + [409] * 7, answers
        with app.app_context():
            assert db.session.execute(select(func.count()).select_from(Event).where(
                Event.workspace_id == ws["id"])).scalar() == 1
    finally:
        with app.app_context():
            db.engine.dispose()


def test_one_function_purges_every_expired_security_row(app):
    """``server.maintenance.purge_expired`` (what a worker or ``flask purge-expired`` calls)."""
    from server.addon.nonces import remember_nonce
    from server.auth.flow_store import put_flow_secret
    from server.auth.sessions import start_session
    from server.maintenance import purge_expired
    from server.models import AddonNonce, OAuthFlowState, User, UserSession

    ws = make_workspace(app)
    now = datetime.now(timezone.utc)
    with app.app_context():
        user_id = db.session.execute(select(User.id)).scalars().first()
        remember_nonce(db.session, ws["id"], "old" * 8, expires_at=now - timedelta(seconds=1), now=now)
        remember_nonce(db.session, ws["id"], "new" * 8, expires_at=now + timedelta(minutes=5), now=now)
        start_session(db.session, user_id, now=now - timedelta(days=31))
        start_session(db.session, user_id, now=now)
        put_flow_secret(db.session, "kept", "y", now=now)
        put_flow_secret(db.session, "gone", "x", ttl=timedelta(seconds=1), now=now - timedelta(hours=1))
        db.session.commit()
        assert purge_expired(db.session, app.config, now=now) == {"addon_nonces": 1, "user_sessions": 1,
                                                                   "oauth_flow_states": 1}
        for model in (AddonNonce, UserSession, OAuthFlowState):
            assert db.session.execute(select(func.count()).select_from(model)).scalar() == 1
    result = app.test_cli_runner().invoke(args=["purge-expired"])
    assert result.exit_code == 0 and "addon_nonces: 0" in result.output
