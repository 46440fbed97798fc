"""Ids with NUL and other control characters answer 404 (400 for form fields), never 500, on SQLite
and PostgreSQL (which refuses NUL in text), for every route with an id in its path."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import User, Workspace, WorkspaceMember
from server.sync.signatures import addon_request_signature
from tests.conftest import make_app, sign_in_as

BAD_IDS = ["ws%00x", "%00", "x%01y", "x%1Fy", "x%7Fy", "x%0Ay", "x%0D%0Ay"]


@pytest.fixture(params=["sqlite", "postgres"])
def any_app(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    app = make_app(url, DEV_LOGIN_ENABLED=True)
    yield app
    with app.app_context():
        db.engine.dispose()


def signed_in(app):
    with app.app_context():
        user = User(email="ann@example.com")
        db.session.add(user)
        db.session.flush()
        workspace = Workspace(name="Pipeline", owner_id=user.id, spreadsheet_id="s1", sheet_name="Leads",
                              trello_board_id="b" * 24)
        db.session.add(workspace)
        db.session.commit()
        user_id, workspace_id, secret = user.id, workspace.id, workspace.addon_secret
    client = app.test_client()
    sign_in_as(client, app, user_id)
    return client, workspace_id, secret


def id_routes(app):
    """Every rule with a string argument in its path (int and path converters have their own rules)."""
    for rule in app.url_map.iter_rules():
        strings = [name for name, converter in rule._converters.items()
                   if type(converter).__name__ not in ("IntegerConverter", "PathConverter")]
        if strings:
            yield rule, strings


def fill(rule, values: dict[str, str]) -> str:
    url = rule.rule
    for argument in rule.arguments:
        url = re.sub(r"<(?:[a-z]+:)?%s>" % argument, values.get(argument, "1"), url)
    return url


def test_every_id_route_answers_404_for_control_characters(any_app):
    client, workspace_id, _ = signed_in(any_app)
    checked = set()
    for rule, arguments in id_routes(any_app):
        for bad in BAD_IDS:
            for argument in arguments:
                url = fill(rule, {name: (bad if name == argument else workspace_id) for name in rule.arguments})
                for method in sorted(rule.methods - {"OPTIONS"}):
                    response = client.open(url, method=method, headers={"X-Workspace": workspace_id})
                    assert response.status_code == 404, (method, url, response.status_code,
                                                         response.get_data(as_text=True)[:200])
                    checked.add(rule.rule)
    assert {"/webhooks/sheets/<workspace_id>", "/webhooks/trello/<workspace_id>", "/api/addon/leads/<lead_id>",
            "/api/powerup/cards/<card_id>", "/api/powerup/boards/<board_id>",
            "/app/workspaces/<workspace_id>", "/app/workspaces/<workspace_id>/status.json"} <= checked
    # the same routes with a clean id still work
    assert client.get(f"/app/workspaces/{workspace_id}").status_code == 200


def test_a_control_character_in_the_add_on_workspace_header_is_not_a_500(any_app):
    client, workspace_id, secret = signed_in(any_app)
    path = "/api/addon/leads/L-0123456789ab"
    for bad in ("ws\x00x", workspace_id + "\x00", "x\x7f"):
        stamp = str(int(time.time()))
        response = client.get(path, headers={"X-Workspace": bad, "X-Timestamp": stamp, "X-Nonce": "n" * 32,
                                             "X-Signature": addon_request_signature(secret, stamp, "n" * 32, "GET",
                                                                                    path, b"")})
        assert response.status_code == 404, (repr(bad), response.status_code)
        assert "unknown workspace" in response.get_json()["error"]["message"]


def test_a_nul_in_a_form_field_or_query_is_400_and_changes_nothing(any_app):
    client, workspace_id, _ = signed_in(any_app)
    response = client.post(f"/app/workspaces/{workspace_id}/members", data={"email": "bob\x00@example.com"})
    assert response.status_code == 400
    assert "control character" in response.get_data(as_text=True)
    with any_app.app_context():
        assert db.session.execute(select(WorkspaceMember)).scalars().all() == []
    assert client.get("/app/login?next=/app%00x").status_code == 400
    assert client.post("/auth/dev-login", data={"email": "eve\x00@example.com"}).status_code == 400
    with any_app.app_context():
        assert [u.email for u in db.session.execute(select(User)).scalars()] == ["ann@example.com"]
