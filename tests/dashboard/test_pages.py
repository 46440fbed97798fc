"""Every dashboard page renders for its owner, says in plain words when an account is refused, and
answers 404 for an unknown workspace on every route."""

from __future__ import annotations

from tests.dashboard.helpers import (
    LEADS,
    LEADS_HEADER,
    account_ids,
    login,
    page,
    post_step,
)


def test_every_page_renders_for_its_owner(world):
    client = world.app.test_client()
    login(client, world.app)
    ws_id = world.workspace_id
    home = page(client, "/app")
    assert "Leads" in home and f"/app/workspaces/{ws_id}" in home and "Syncing" in home
    assert 'action="/auth/logout"' in home and 'name="csrf_token"' in home
    connections = page(client, "/app/connections")
    assert "ann" in connections and 'action="/auth/google/start"' in connections
    assert 'action="/app/connections/trello"' in connections
    assert "Spreadsheet URL" in page(client, "/app/workspaces/new")
    ws_page = page(client, f"/app/workspaces/{ws_id}")
    for text in ("Sync now", "Pause", "Disconnect", "History", "Members", "status.json", "workspace.js"):
        assert text in ws_page, text
    setup = page(client, f"/app/workspaces/{ws_id}/setup")
    assert "/powerup/index.html" in setup and world.web.base_url in setup
    assert "Delete workspace" in page(client, f"/app/workspaces/{ws_id}/delete")
    status = client.get(f"/app/workspaces/{ws_id}/status.json").get_json()
    assert status["id"] == ws_id and status["state"] == "active" and status["pending"] == 0
    assert set(status["progress"]) >= {"phase", "done", "total", "percent"}
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/workspace.js").status_code == 200


def test_no_dashboard_page_is_kept_in_a_shared_cache(world):
    """Private data: every page and answer of the dashboard says no-store (one rule for the blueprint)."""
    client = world.app.test_client()
    login(client, world.app)
    ws = f"/app/workspaces/{world.workspace_id}"
    for path in ("/app", ws, f"{ws}/mapping", f"{ws}/boards", f"{ws}/history", f"{ws}/status.json", f"{ws}/setup",
                 "/app/workspaces/new"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path


def test_pages_show_plain_words_for_revoked_accounts(world):
    client = world.app.test_client()
    login(client, world.app)
    world.trello.revoke_token(world.token)
    # the board step lists boards through the Trello account: a revoked token is said in words
    seeded_sheet = world.sheets.create_spreadsheet("S", {"Leads": [LEADS_HEADER, *LEADS]})
    ids = account_ids(world.app)
    post_step(client, "sheet", spreadsheet=seeded_sheet, google_account=ids["google"])
    post_step(client, "tab", tab="Leads", header_row="1")
    board_page = page(client, "/app/workspaces/new?step=board")
    assert "Trello refused the connected account" in board_page
    connections = page(client, "/app/connections")
    assert "Needs re-authorisation" in connections and "Reconnect" in connections


def test_unknown_workspace_is_404_on_every_route(world):
    client = world.app.test_client()
    login(client, world.app)
    for rule in world.app.url_map.iter_rules():
        if rule.endpoint.startswith("dashboard.") and "workspace_id" in rule.arguments:
            url = rule.rule.replace("<workspace_id>", "ws_doesnotexist00").replace("<int:event_id>", "1") \
                .replace("<int:member_id>", "1")
            for method in sorted(rule.methods & {"GET", "POST"}):
                response = client.open(url, method=method)
                assert response.status_code == 404, (method, url, response.status_code)
