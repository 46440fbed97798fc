"""Two users, one workspace each: B can neither read nor change A's workspace through ANY route.

The dashboard routes are enumerated from ``app.url_map``: a new route that takes a workspace id
is exercised here automatically, and a new workspace-scoped route outside the known areas fails
the test until it is added to it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from server.addon.codes import issue_connect_code
from server.extensions import db
from server.models import Event, History, Link, ProviderAccount, User, Workspace, WorkspaceMember
from server.models.sync import PARKED
from server.powerup.jwt import clear_key_cache
from server.sync.signatures import addon_request_signature, addon_signature, trello_signature
from tests.conftest import make_app, sign_in_as
from tests.powerup_support import PLUGIN_ID, KeyServer, new_key, public_pem, sign

KEY = new_key()
A_MEMBER, B_MEMBER = "5e645dc2c4205e1416218aa1", "5e645dc2c4205e1416218bb1"
A_BOARD, B_BOARD = "5e667811606cb1160a8faaa1", "5e667811606cb1160a8fbbb1"
A_CARD, B_CARD = "60a0000000000000000aaa01", "60a0000000000000000bbb01"
A_NAME = "Alpha Secret Pipeline"
A_LEAD = "Ada Confidential"
A_SECRETS = (A_NAME, A_LEAD, "L-alpha", "ws_alpha00000001", "sheet-alpha")
PUBLIC_BASE = "https://leads.example.com"


@pytest.fixture(scope="module")
def keys():
    server = KeyServer({"keys": [public_pem(KEY)]}).start()
    yield server
    server.stop()


@pytest.fixture
def app(keys, sqlite_url):
    app = make_app(sqlite_url, TRELLO_POWERUP_ID=PLUGIN_ID, TRELLO_JWT_KEYS_URL=keys.url, PUBLIC_BASE_URL=PUBLIC_BASE,
                   TRELLO_API_SECRET="app-secret")
    clear_key_cache()
    with app.app_context():
        seed(app)
    yield app
    with app.app_context():
        db.engine.dispose()


def seed(app) -> None:
    mapping = {"title_column": "Name", "status_column": "Status", "description_columns": ["Email"],
               "status_to_list": {"new": "l1"}, "list_to_status": {"l1": "New"}}
    for tag, email, member, board, card, name in (
            ("alpha", "ann@example.com", A_MEMBER, A_BOARD, A_CARD, A_NAME),
            ("beta", "bob@example.com", B_MEMBER, B_BOARD, B_CARD, "Bob's pipeline")):
        user = User(email=email, name=tag)
        db.session.add(user)
        db.session.flush()
        trello = ProviderAccount(user_id=user.id, provider="trello", provider_user_id=member, username=tag,
                                 access_token=f"token-{tag}")
        google = ProviderAccount(user_id=user.id, provider="google", provider_user_id=f"g-{tag}", username=email,
                                 access_token=f"google-{tag}")
        db.session.add_all([trello, google])
        db.session.flush()
        ws = Workspace(id=f"ws_{tag}00000001", name=name, owner_id=user.id, spreadsheet_id=f"sheet-{tag}",
                       sheet_name="Leads", trello_board_id=board, mapping=mapping, trello_account_id=trello.id,
                       google_account_id=google.id, trello_webhook_id=f"hook-{tag}",
                       trello_webhook_callback=f"{PUBLIC_BASE}/webhooks/trello/ws_{tag}00000001")
        db.session.add(ws)
        db.session.flush()
        lead_name = A_LEAD if tag == "alpha" else "Bob Lead"
        db.session.add_all([
            Link(workspace_id=ws.id, lead_id=f"L-{tag}", card_id=card, row_number=2,
                 shadow={"Name": lead_name, "Status": "New", "Email": f"{tag}@example.com"}),
            Event(workspace_id=ws.id, source="sheets", provider_event_id=f"{tag}-parked", kind="row",
                  order_key=f"lead:L-{tag}", payload="{}", state=PARKED, attempts=5, last_error=f"{tag} failed"),
            WorkspaceMember(workspace_id=ws.id, email=f"friend-of-{tag}@example.com"),
            History(workspace_id=ws.id, side="sheets", action="update_card", lead_id=f"L-{tag}",
                    changes={"Name": ["", lead_name]}),
        ])
    db.session.commit()


def ids(app) -> dict[str, Any]:
    with app.app_context():
        out: dict[str, Any] = {}
        for tag in ("alpha", "beta"):
            ws = db.session.get(Workspace, f"ws_{tag}00000001")
            out[tag] = {
                "id": ws.id, "secret": ws.addon_secret,
                "event": db.session.execute(select(Event.id).where(Event.workspace_id == ws.id)).scalar_one(),
                "member": db.session.execute(select(WorkspaceMember.id).where(
                    WorkspaceMember.workspace_id == ws.id)).scalar_one(),
                "user": ws.owner_id,
            }
        return out


def snapshot(app, workspace_id: str) -> dict[str, Any]:
    """Everything about a workspace that a forbidden request could change."""
    with app.app_context():
        ws = db.session.get(Workspace, workspace_id)
        events = db.session.execute(select(Event.id, Event.state, Event.attempts).where(
            Event.workspace_id == workspace_id).order_by(Event.id)).all()
        members = db.session.execute(select(WorkspaceMember.email).where(
            WorkspaceMember.workspace_id == workspace_id)).scalars().all()
        return {"exists": ws is not None, "state": ws.state if ws else None, "name": ws.name if ws else None,
                "webhook": ws.trello_webhook_id if ws else None, "code": ws.connect_code_hash if ws else None,
                "secret": ws.addon_secret if ws else None, "rotated": ws.addon_secret_rotated_at if ws else None,
                "events": [tuple(e) for e in events], "members": sorted(members),
                "links": db.session.execute(select(func.count()).select_from(Link).where(
                    Link.workspace_id == workspace_id)).scalar()}


def as_user(app, user_id: int):
    client = app.test_client()
    sign_in_as(client, app, user_id)
    return client


def assert_no_leak(response, where: str) -> None:
    text = response.get_data(as_text=True)
    for secret in A_SECRETS:
        assert secret not in text, f"{where} leaked {secret!r}"


def fill(rule, values: dict[str, Any]) -> str:
    url = rule.rule
    for argument in rule.arguments:
        url = re.sub(r"<(?:[a-z]+:)?%s>" % argument, str(values[argument]), url)
    return url


# --------------------------------------------------------------------------- the dashboard


def test_every_dashboard_route_answers_404_for_someone_elses_workspace(app):
    known = ids(app)
    a, b = known["alpha"], known["beta"]
    before = snapshot(app, a["id"])
    bob = as_user(app, b["user"])
    checked = 0
    for rule in app.url_map.iter_rules():
        if "workspace_id" not in rule.arguments:
            continue
        if rule.rule.startswith("/webhooks/"):
            continue  # see test_webhooks_refuse_another_workspaces_secret
        assert rule.rule.startswith("/app/"), (
            f"{rule.rule} takes a workspace id outside /app and /webhooks: add it to the tenancy tests")
        unknown = rule.arguments - {"workspace_id", "event_id", "member_id", "lead_id"}
        assert not unknown, f"{rule.rule}: teach the tenancy test about {unknown}"
        # A's workspace (with A's objects), then B's own workspace with A's objects inside it.
        targets = [{"workspace_id": a["id"], "event_id": a["event"], "member_id": a["member"], "lead_id": "L-alpha"}]
        if rule.arguments & {"event_id", "member_id", "lead_id"}:
            targets.append({"workspace_id": b["id"], "event_id": a["event"], "member_id": a["member"],
                            "lead_id": "L-alpha"})
        for values in targets:
            url = fill(rule, values)
            for method in sorted(rule.methods & {"GET", "POST"}):
                form = {"confirm": "yes", "email": "mallory@example.com", "csrf_token": "x"}
                response = bob.open(url, method=method, data=form if method == "POST" else None)
                assert response.status_code == 404, (method, url, response.status_code)
                assert_no_leak(response, f"{method} {url}")
                checked += 1
    assert checked >= 15
    assert snapshot(app, a["id"]) == before
    # B's own workspace is still reachable (the 404s are about ownership, not broken routes)
    assert bob.get(f"/app/workspaces/{b['id']}").status_code == 200


def test_pages_without_a_workspace_id_show_only_the_users_own(app):
    known = ids(app)
    bob = as_user(app, known["beta"]["user"])
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/app") or rule.arguments or "GET" not in rule.methods:
            continue
        response = bob.get(rule.rule)
        # 400: a page that needs its query (the add-on's connect popup opened without its nonce)
        assert response.status_code in (200, 302, 400, 404, 405), (rule.rule, response.status_code)
        assert_no_leak(response, rule.rule)
        checked += 1
    assert checked >= 3
    home = bob.get("/app").get_data(as_text=True)
    assert "Bob&#39;s pipeline" in home or "Bob's pipeline" in home


def test_wizard_cannot_use_another_users_accounts_or_draft(app):
    known = ids(app)
    with app.app_context():
        a_accounts = {p: i for p, i in db.session.execute(select(ProviderAccount.provider, ProviderAccount.id).where(
            ProviderAccount.user_id == known["alpha"]["user"]))}
    bob = as_user(app, known["beta"]["user"])
    # B's session pretends the wizard already went through A's accounts and A's workspace as a draft
    with bob.session_transaction() as session:
        session["wizard"] = {
            "spreadsheet_id": "sheet-alpha", "tabs": [["Leads", 100, 10]], "header": ["Name", "Status"],
            "sheet_name": "Leads", "header_row": 1, "google_account_id": a_accounts["google"],
            "trello_account_id": a_accounts["trello"], "board_id": A_BOARD, "lists": [["l1", "New"]],
            "title_column": "Name", "status_column": "Status", "description_columns": [],
            "status_to_list": {"New": "l1"}, "list_to_status": {"l1": "New"}, "default_status": "New",
            "draft_id": known["alpha"]["id"]}
    before = snapshot(app, known["alpha"]["id"])
    response = bob.post("/app/workspaces/new", data={"step": "policies", "name": "Hijack",
                                                     "row_removed_policy": "archive",
                                                     "card_removed_policy": "set_status",
                                                     "card_removed_status": "Archived"})
    assert response.status_code == 302 and "/setup" not in response.headers["Location"]
    response = bob.post("/app/workspaces/new", data={"step": "board", "board": f"{a_accounts['trello']}:{A_BOARD}"})
    assert response.status_code == 302
    assert snapshot(app, known["alpha"]["id"]) == before
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Workspace)).scalar() == 2


def test_anonymous_visitors_get_nothing(app):
    if "auth.login" not in app.view_functions:
        pytest.skip("the sign-in blueprint (auth.login, server/auth/google.py) is not registered yet; "
                    "login_required cannot redirect anywhere without it")
    known = ids(app)
    anonymous = app.test_client()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("dashboard."):
            continue
        url = fill(rule, {"workspace_id": known["alpha"]["id"], "event_id": known["alpha"]["event"],
                          "member_id": known["alpha"]["member"], "lead_id": "L-alpha"})
        for method in sorted(rule.methods & {"GET", "POST"}):
            response = anonymous.open(url, method=method)
            assert response.status_code in (302, 401, 404), (method, url, response.status_code)
            if response.status_code == 302:
                assert "/login" in response.headers["Location"], response.headers["Location"]
            text = response.get_data(as_text=True)  # the redirect echoes the URL asked for, nothing more
            for secret in (A_NAME, A_LEAD, "L-alpha", "sheet-alpha", "alpha failed"):
                assert secret in url or secret not in text, (url, secret)  # (a lead's URL names its id)


# --------------------------------------------------------------------------- the Power-Up API


def bearer(member: str, board: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + sign(KEY, idMember=member, idBoard=board, **claims)}


def test_powerup_api_refuses_bs_member_on_as_board_and_cards(app):
    client = app.test_client()
    before = snapshot(app, ws_a := ids(app)["alpha"]["id"])
    values = {"card_id": A_CARD, "board_id": A_BOARD}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/powerup/"):
            continue
        unknown = rule.arguments - set(values)
        assert not unknown, f"{rule.rule}: teach the tenancy test about {unknown}"
        url = fill(rule, values)
        for method in sorted(rule.methods & {"GET", "POST"}):
            for board, state in ((A_BOARD, {"card": A_CARD}), (B_BOARD, {"card": A_CARD})):
                headers = bearer(B_MEMBER, board, state=json.dumps(state))
                response = client.open(url, method=method, headers=headers)
                assert_no_leak(response, f"{method} {url} (B's token on board {board})")
                if response.status_code == 200:  # only the board look-up may answer: "not linked"
                    assert rule.rule.startswith("/api/powerup/boards/") and method == "GET"
                    assert response.get_json()["linked"] is False or board == B_BOARD
                else:
                    assert response.status_code in (403, 404), (method, url, response.status_code)
                checked += 1
    assert checked >= 4
    assert snapshot(app, ws_a) == before
    # B's member on B's own board sees B's workspace (the token itself is good)
    mine = client.get(f"/api/powerup/boards/{B_BOARD}", headers=bearer(B_MEMBER, B_BOARD))
    assert mine.status_code == 200 and mine.get_json()["workspace"]["id"] == "ws_beta00000001"
    # and A's member sees A's card: the refusals above were about B
    ours = client.get(f"/api/powerup/cards/{A_CARD}", headers=bearer(A_MEMBER, A_BOARD,
                                                                         state=json.dumps({"card": A_CARD})))
    assert ours.status_code == 200 and A_LEAD in ours.get_data(as_text=True)


# --------------------------------------------------------------------------- the add-on API


def addon_headers(workspace_id: str, secret: str, method: str, path: str, body: bytes = b"") -> dict[str, str]:
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    return {"X-Workspace": workspace_id, "X-Timestamp": stamp, "X-Nonce": nonce,
            "X-Signature": addon_request_signature(secret, stamp, nonce, method, path, body),
            "Content-Type": "application/json"}


def test_addon_api_refuses_bs_secret_for_as_workspace(app):
    known = ids(app)
    a, b = known["alpha"], known["beta"]
    before = snapshot(app, a["id"])
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        # The connect endpoints are how an add-on gets its secret: a one-time code or nonce, not a signature.
        if not rule.rule.startswith("/api/addon/") or rule.rule in ("/api/addon/connect", "/api/addon/connect/poll"):
            continue
        unknown = rule.arguments - {"lead_id"}
        assert not unknown, f"{rule.rule}: teach the tenancy test about {unknown}"
        url = fill(rule, {"lead_id": "L-alpha"})
        for method in sorted(rule.methods & {"GET", "POST"}):
            body = b"{}" if method == "POST" else b""
            response = client.open(url, method=method, data=body or None,
                                   headers=addon_headers(a["id"], b["secret"], method, url, body))
            assert response.status_code == 401, (method, url, response.status_code)
            assert_no_leak(response, f"{method} {url}")
            # B's own id with B's secret works, and never shows A's lead
            mine = client.open(url, method=method, data=body or None,
                               headers=addon_headers(b["id"], b["secret"], method, url, body))
            assert mine.status_code in (200, 202), (method, url, mine.status_code)
            text = mine.get_data(as_text=True)  # it echoes the lead id asked for, nothing of A's
            assert A_NAME not in text and A_LEAD not in text and a["id"] not in text and A_CARD not in text
            if method == "GET":
                assert mine.get_json()["linked"] is False
            checked += 1
    assert checked >= 3
    # B's connect code cannot attach B's add-on to A's spreadsheet, nor reveal A's secret
    with app.app_context():
        code = issue_connect_code(db.session, db.session.get(Workspace, b["id"]))
        db.session.commit()
    response = client.post("/api/addon/connect", json={"code": code, "spreadsheet_id": "sheet-alpha", "sheet": "Leads"})
    assert response.status_code == 409 and a["secret"] not in response.get_data(as_text=True)
    assert_no_leak(response, "/api/addon/connect")
    after = snapshot(app, a["id"])
    assert after == before


# --------------------------------------------------------------------------- webhooks


def test_webhooks_refuse_another_workspaces_secret(app):
    known = ids(app)
    a, b = known["alpha"], known["beta"]
    client = app.test_client()
    before = snapshot(app, a["id"])
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/webhooks/")]
    assert {r.rule for r in rules} >= {"/webhooks/sheets/<workspace_id>", "/webhooks/trello/<workspace_id>"}
    for rule in rules:
        assert rule.rule in ("/webhooks/sheets/<workspace_id>", "/webhooks/trello/<workspace_id>",
                             "/webhooks/trello/<workspace_id>/boards/<board_id>"), (
            f"{rule.rule}: add the new webhook to the tenancy tests")
    # the add-on's delivery for A's sheet, signed with B's workspace secret
    body = json.dumps({"event_id": "evil-1", "spreadsheet_id": "sheet-alpha", "sheet": "Leads",
                       "rows": [{"row": 2, "lead_id": "L-alpha", "values": {"Name": "=IMPORTRANGE(\"x\")"}}]}).encode()
    stamp = str(int(time.time()))
    response = client.post(f"/webhooks/sheets/{a['id']}", data=body, headers={
        "X-Timestamp": stamp, "X-Signature": addon_signature(b["secret"], stamp, body),
        "Content-Type": "application/json"})
    assert response.status_code == 401
    # a Trello delivery signed for B's callback URL, replayed to A's
    action = json.dumps({"action": {"id": "act-evil-1", "type": "updateCard", "date": "2026-01-01T00:00:00.000Z",
                                    "data": {"card": {"id": A_CARD, "name": "pwned"}, "board": {"id": A_BOARD}}}})
    signature = trello_signature("app-secret", action.encode(), f"{PUBLIC_BASE}/webhooks/trello/{b['id']}")
    response = client.post(f"/webhooks/trello/{a['id']}", data=action, headers={
        "X-Trello-Webhook": signature, "Content-Type": "application/json"})
    assert response.status_code == 401
    # and to A's further board's endpoint (several boards per sheet): signed for B's, refused
    signature = trello_signature("app-secret", action.encode(),
                                 f"{PUBLIC_BASE}/webhooks/trello/{b['id']}/boards/{A_BOARD}")
    response = client.post(f"/webhooks/trello/{a['id']}/boards/{A_BOARD}", data=action, headers={
        "X-Trello-Webhook": signature, "Content-Type": "application/json"})
    assert response.status_code == 401
    assert snapshot(app, a["id"]) == before
    # the same deliveries signed for B reach B's inbox (the refusals were about the secret)
    own = body.replace(b"sheet-alpha", b"sheet-beta")
    response = client.post(f"/webhooks/sheets/{b['id']}", data=own, headers={
        "X-Timestamp": stamp, "X-Signature": addon_signature(b["secret"], stamp, own),
        "Content-Type": "application/json"})
    assert response.status_code == 200
