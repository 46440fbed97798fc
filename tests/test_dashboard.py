"""The dashboard: pages, the new-workspace wizard against the emulators, workspace actions, CSRF,
and the security headers (dashboard locked down, Power-Up pages still framable by Trello)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import select

from server.dashboard.google import parse_spreadsheet_id
from server.extensions import db
from server.models import Event, Link, User, Workspace, WorkspaceMember
from server.models.sync import PARKED, PENDING
from server.sync.signatures import addon_signature
from tests.conftest import make_app, sign_in_as
from tests.sync.world import build_world

LEADS_HEADER = ["Name", "Email", "Company", "Status", "Notes", "Follow up"]
LEADS = [
    ["Ada Lovelace", "ada@example.com", "Analytical Engines", "New", "Asked for a demo", "2026-12-01"],
    ["Grace Hopper", "grace@example.com", "Navy Labs", "won", "", ""],
    ["Katherine Johnson", "katherine@example.com", "NASA", "Lost", "Budget cut", ""],
]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app)
    yield w
    w.stop()


def user_id(app, email: str) -> int:
    with app.app_context():
        found = db.session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if found is None:
            found = User(email=email, name=email.split("@")[0].title())
            db.session.add(found)
            db.session.commit()
        return found.id


def login(client, app, email: str = "ann@example.com") -> int:
    uid = user_id(app, email)
    sign_in_as(client, app, uid)
    return uid


def flashes(client) -> list[str]:
    with client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:500])
    return response.get_data(as_text=True)


def workspace(app, workspace_id: str) -> Workspace:
    with app.app_context():
        ws = db.session.get(Workspace, workspace_id)
        if ws is not None:
            db.session.expunge(ws)
        return ws


def events(app, workspace_id: str, **filters: Any) -> list[Event]:
    with app.app_context():
        rows = db.session.execute(select(Event).filter_by(workspace_id=workspace_id, **filters)
                                  .order_by(Event.id)).scalars().all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def post_step(client, step: str, **form: Any):
    return client.post("/app/workspaces/new", data={"step": step, **form})


def location(response) -> str:
    return response.headers.get("Location", "")


def seed_pipeline(world) -> dict[str, Any]:
    """A second spreadsheet and board for the wizard: 3 rows; one card matching a row, one not."""
    # The leads are on the second tab: its gid is not 0, so links must carry the right one.
    spreadsheet_id = world.sheets.create_spreadsheet(
        "Pipeline 2026", {"Archive": [["Name", "Status"]], "Leads 2026": [LEADS_HEADER, *LEADS]})
    member_id = "ann"  # the emulator takes a member's id or username
    board = world.trello.add_board("Sales", member_id, lists=["New", "Contacted", "Closed"])
    lists = {lst["name"]: lst["id"] for lst in world.trello.lists(board["id"])}
    world.trello.add_card(lists["Closed"], "Grace Hopper", "Email: grace@example.com\nCompany: Navy Labs")
    world.trello.add_card(lists["Contacted"], "Walk-in lead", "Email: walkin@example.com")
    empty = world.trello.add_board("Empty board", member_id, lists=[])
    return {"spreadsheet_id": spreadsheet_id, "board_id": board["id"], "lists": lists, "empty_board": empty["id"]}


def account_ids(app, email: str = "ann@example.com") -> dict[str, int]:
    from server.models import ProviderAccount

    with app.app_context():
        uid = db.session.execute(select(User.id).where(User.email == email)).scalar_one()
        accounts = db.session.execute(select(ProviderAccount).where(ProviderAccount.user_id == uid)).scalars()
        return {a.provider: a.id for a in accounts}


def run_wizard_to_draft(client, world, seeded: dict[str, Any]) -> str:
    """Walk every step with valid answers; returns the draft workspace id."""
    ids = account_ids(world.app)
    url = f"https://docs.google.com/spreadsheets/d/{seeded['spreadsheet_id']}/edit#gid=0"
    assert location(post_step(client, "sheet", spreadsheet=url, google_account=ids["google"])).endswith("step=tab")
    assert location(post_step(client, "tab", tab="Leads 2026", header_row="1")).endswith("step=board")
    board_value = f"{ids['trello']}:{seeded['board_id']}"
    assert location(post_step(client, "board", board=board_value)).endswith("step=columns")
    response = client.post("/app/workspaces/new", data={
        "step": "columns", "title_column": "Name", "status_column": "Status", "due_column": "Follow up",
        "description_columns": ["Email", "Company", "Notes"]})
    assert location(response).endswith("step=statuses"), flashes(client)
    lists = seeded["lists"]
    statuses = page(client, "/app/workspaces/new?step=statuses")
    found = re.findall(r'name="status_name_(\d+)" value="([^"]+)"', statuses)
    form = {"step": "statuses", "default_status": "New"}
    target = {"new": lists["New"], "won": lists["Closed"], "lost": lists["Closed"]}
    for index, status in found:
        form[f"status_name_{index}"] = status
        form[f"status_list_{index}"] = target[status.casefold()]
    form.update({"extra_status_0": "Contacted", "extra_list_0": lists["Contacted"],
                 "extra_status_1": "", "extra_list_1": lists["New"], "extra_status_2": "",
                 "extra_list_2": lists["New"],
                 f"reverse_{lists['New']}": "New", f"reverse_{lists['Contacted']}": "Contacted",
                 f"reverse_{lists['Closed']}": "Won"})
    response = client.post("/app/workspaces/new", data=form)
    assert location(response).endswith("step=policies"), flashes(client)
    response = post_step(client, "policies", name="Pipeline 2026", row_removed_policy="archive",
                         card_removed_policy="set_status", card_removed_status="Archived")
    match = re.search(r"/app/workspaces/(ws_[0-9a-f]+)/setup$", location(response))
    assert match, (location(response), flashes(client))
    return match.group(1)


# --------------------------------------------------------------------------- pages


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


def test_parse_spreadsheet_id():
    sid = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
    assert parse_spreadsheet_id(f"https://docs.google.com/spreadsheets/d/{sid}/edit#gid=0") == sid
    assert parse_spreadsheet_id(f"https://docs.google.com/spreadsheets/u/1/d/{sid}/edit?usp=sharing") == sid
    assert parse_spreadsheet_id(f"  {sid}  ") == sid
    assert parse_spreadsheet_id("https://example.com/not/a/sheet") is None
    assert parse_spreadsheet_id("hello world") is None
    assert parse_spreadsheet_id("") is None


# --------------------------------------------------------------------------- the wizard


def test_wizard_end_to_end_against_the_emulators(world):
    seeded = seed_pipeline(world)
    app = world.app
    client = app.test_client()
    login(client, app)
    ids = account_ids(app)

    # Step 1: a wrong URL, an unknown spreadsheet and one Google refuses are explained, not 500s.
    response = post_step(client, "sheet", spreadsheet="https://example.com/sheet", google_account=ids["google"])
    assert location(response).endswith("step=sheet")
    assert any("not a Google Sheets address" in m for m in flashes(client))
    page(client, "/app/workspaces/new")  # shows (and consumes) the flash
    post_step(client, "sheet", spreadsheet="1" + "x" * 40, google_account=ids["google"])
    assert any("cannot find that spreadsheet" in m for m in flashes(client))
    page(client, "/app/workspaces/new")
    rule = world.sheets.faults.add(path=seeded["spreadsheet_id"], status=403, times=1, body={
        "error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}})
    post_step(client, "sheet", spreadsheet=seeded["spreadsheet_id"], google_account=ids["google"])
    assert rule.hits == 1 and any("no access to this spreadsheet" in m for m in flashes(client))
    page(client, "/app/workspaces/new")

    # Step 1 → 2: the tabs come from ONE metadata call, their header rows from ONE batchGet.
    world.sheets.reset_stats()
    url = f"https://docs.google.com/spreadsheets/d/{seeded['spreadsheet_id']}/edit#gid=0"
    assert location(post_step(client, "sheet", spreadsheet=url, google_account=ids["google"])).endswith("step=tab")
    tab_page = page(client, "/app/workspaces/new?step=tab")
    calls = world.sheets.stats()["calls"]
    assert calls["spreadsheets.get"] == 1 and calls["values.batchGet"] == 1
    assert "Leads 2026" in tab_page and "Archive" in tab_page and "Follow up" in tab_page

    # Step 2 → 3; the board step shows the header; a board without lists is refused in words.
    assert location(post_step(client, "tab", tab="Leads 2026", header_row="1")).endswith("step=board")
    board_page = page(client, "/app/workspaces/new?step=board")
    assert "Sales" in board_page and "Empty board" in board_page and "Company" in board_page
    post_step(client, "board", board=f"{ids['trello']}:{seeded['empty_board']}")
    assert any("has no lists" in m for m in flashes(client))
    page(client, "/app/workspaces/new?step=board")

    # A step further than the answers allow sends back to the right step.
    assert location(client.get("/app/workspaces/new?step=policies")).endswith("step=board")

    # Walk the remaining steps (re-doing the first ones is harmless).
    draft_id = run_wizard_to_draft(client, world, seeded)
    draft = workspace(app, draft_id)
    assert draft.state == "draft" and draft.state_detail == "" and draft.trello_webhook_id is None
    gid = world.sheets.sheet_id(seeded["spreadsheet_id"], "Leads 2026")
    assert gid != 0 and draft.sheet_gid == gid  # from the tab list's metadata, no extra call
    assert draft.mapping["status_to_list"]["won"] == seeded["lists"]["Closed"]
    assert draft.mapping["list_to_status"][seeded["lists"]["Closed"]] == "Won"
    assert draft.mapping["due_column"] == "Follow up"
    assert draft.mapping["description_columns"] == ["Email", "Company", "Notes"]
    assert not events(app, draft_id)

    # Preview: the page queues a dry run for the worker and says it waits for one.
    cards_before = len(world.trello.cards(seeded["board_id"]))
    waiting = page(client, f"/app/workspaces/{draft_id}/setup")
    assert "Waiting for the sync worker to pick this up" in waiting and "workspace.js" in waiting
    assert re.search(r"<button[^>]*disabled[^>]*>Create workspace", waiting)  # not before the plan
    assert [(e.source, e.kind, e.state) for e in events(app, draft_id)] == [("system", "preview", PENDING)]
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()
    assert status["state"] == "draft" and status["preview"]["state"] == "queued"
    assert not status["preview"]["stalled"]
    page(client, f"/app/workspaces/{draft_id}/setup")  # a reload queues nothing more
    assert len(events(app, draft_id)) == 1
    world.worker.drain(timeout_s=20)  # the draft is not active, yet its preview runs
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()
    assert status["preview"]["state"] == "done" and status["pending"] == 0
    assert status["preview"]["plan"]["cards_to_create"] == 2
    assert workspace(app, draft_id).state == "draft"
    preview = page(client, f"/app/workspaces/{draft_id}/setup")
    assert "workspace.js" not in preview  # nothing more to follow
    assert not re.search(r"<button[^>]*disabled[^>]*>Create workspace", preview)
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', preview))
    assert counts == {"cards_to_create": "2", "links_to_make": "1", "rows_to_append": "1", "conflicts": "0"}
    assert "2 cards will be created" in re.sub(r"<[^>]+>|\s+", " ", preview).replace("  ", " ") or \
        "cards will be created" in preview
    assert len(world.trello.cards(seeded["board_id"])) == cards_before
    assert "Lead ID" not in world.sheets.values(seeded["spreadsheet_id"], "Leads 2026")[0]
    assert not world.trello.webhooks() or all(h["idModel"] != seeded["board_id"] for h in world.trello.webhooks())
    assert "Draft" in page(client, "/app")
    ws_page = page(client, f"/app/workspaces/{draft_id}")
    assert "This workspace is a draft: nothing syncs yet." in ws_page and 'class="badge badge-draft"' in ws_page
    assert not any(f">{action}<" in ws_page for action in ("Resume", "Pause", "Sync now", "Disconnect"))

    # Create: webhook registered, first sync queued, connect code shown with the setup steps.
    response = client.post(f"/app/workspaces/{draft_id}/setup")
    assert response.status_code == 200, flashes(client)
    body = response.get_data(as_text=True)
    code = re.search(r'id="connect-code">([A-Z0-9-]+)<', body).group(1)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert f"{world.web.base_url}/powerup/index.html" in body and world.web.base_url in body
    active = workspace(app, draft_id)
    assert active.state == "active" and active.trello_webhook_id
    hooks = [h for h in world.trello.webhooks() if h["idModel"] == seeded["board_id"]]
    assert len(hooks) == 1 and hooks[0]["callbackURL"] == f"{world.web.base_url}/webhooks/trello/{draft_id}"
    queued = events(app, draft_id, state=PENDING)
    assert [e.kind for e in queued] == ["reconcile"]
    assert world.sheets.values(seeded["spreadsheet_id"], "Leads 2026")[0][-1] == "Lead ID"

    # The add-on can trade the code for the workspace secret.
    connected = client.post("/api/addon/connect", json={"code": code.lower(), "spreadsheet_id": seeded["spreadsheet_id"],
                                                         "sheet": "Leads 2026"})
    assert connected.status_code == 200 and connected.get_json()["workspace_id"] == draft_id

    # The worker runs the first sync: 2 cards created, 1 linked, 1 row appended.
    world.worker.drain(timeout_s=20)
    cards = world.trello.cards(seeded["board_id"])
    assert sorted(c["name"] for c in cards) == ["Ada Lovelace", "Grace Hopper", "Katherine Johnson", "Walk-in lead"]
    ada = next(c for c in cards if c["name"] == "Ada Lovelace")
    assert ada["idList"] == seeded["lists"]["New"] and ada["due"].startswith("2026-12-01")
    kat = next(c for c in cards if c["name"] == "Katherine Johnson")
    assert kat["idList"] == seeded["lists"]["Closed"]
    rows = world.sheets.rows_as_dicts(seeded["spreadsheet_id"], "Leads 2026")
    assert len(rows) == 4 and all(r["Lead ID"] for r in rows)
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()
    assert status["pending"] == 0 and status["progress"]["finished"] and status["progress"]["percent"] == 100
    assert status["state"] == "active" and status["last_reconciled_at"]
    ws_page = page(client, f"/app/workspaces/{draft_id}")
    assert "finished" in ws_page and "Syncing" in ws_page
    assert f"/edit#gid={gid}" in ws_page
    # The Power-Up's "Open row" link opens the leads' tab at the lead's row.
    from server.powerup.leads import card_view

    with app.app_context():
        ws = db.session.get(Workspace, draft_id)
        link = db.session.execute(select(Link).where(Link.workspace_id == draft_id,
                                                     Link.card_id == ada["id"])).scalar_one()
        lead = card_view(db.session, ws, ada["id"])["lead"]
    ada_row = next(r["_row"] for r in rows if r["Name"] == "Ada Lovelace")
    assert link.row_number == ada_row
    assert lead["sheet_url"] == (f"https://docs.google.com/spreadsheets/d/{seeded['spreadsheet_id']}"
                                 f"/edit#gid={gid}&range=A{ada_row}")
    # A second start is refused without side effects.
    again = client.post(f"/app/workspaces/{draft_id}/setup")
    assert again.status_code == 302 and len([h for h in world.trello.webhooks()
                                             if h["idModel"] == seeded["board_id"]]) == 1


def test_wizard_refuses_other_users_accounts(world):
    seeded = seed_pipeline(world)
    client = world.app.test_client()
    login(client, world.app, "bob@example.com")  # Bob has no accounts of his own
    ann = account_ids(world.app)
    post_step(client, "sheet", spreadsheet=seeded["spreadsheet_id"], google_account=ann["google"])
    assert any("Connect a Google account first" in m for m in flashes(client))
    with client.session_transaction() as session:
        assert "tabs" not in (session.get("wizard") or {})


def test_status_mapping_must_round_trip(world):
    seeded = seed_pipeline(world)
    client = world.app.test_client()
    login(client, world.app)
    ids = account_ids(world.app)
    post_step(client, "sheet", spreadsheet=seeded["spreadsheet_id"], google_account=ids["google"])
    post_step(client, "tab", tab="Leads 2026", header_row="1")
    post_step(client, "board", board=f"{ids['trello']}:{seeded['board_id']}")
    client.post("/app/workspaces/new", data={"step": "columns", "title_column": "Name", "status_column": "Status",
                                             "description_columns": ["Email"]})
    lists = seeded["lists"]
    # "Won" (the status for Closed) is mapped to New: a card moved to Closed would jump back.
    response = client.post("/app/workspaces/new", data={
        "step": "statuses", "status_name_0": "New", "status_list_0": lists["New"],
        "status_name_1": "Won", "status_list_1": lists["New"],
        f"reverse_{lists['New']}": "New", f"reverse_{lists['Contacted']}": "Contacted",
        f"reverse_{lists['Closed']}": "Won"})
    assert location(response).endswith("step=statuses")
    assert any("mapped to another list" in m for m in flashes(client))
    # a title column equal to the status column is refused
    response = client.post("/app/workspaces/new", data={"step": "columns", "title_column": "Status",
                                                        "status_column": "Status"})
    assert location(response).endswith("step=columns")


def test_preview_explains_what_blocks_it(world):
    app = world.app
    client = app.test_client()
    login(client, app)
    ids = account_ids(app)
    with app.app_context():
        ann = db.session.execute(select(User).where(User.email == "ann@example.com")).scalar_one()
        draft = Workspace(name="Broken", owner_id=ann.id, google_account_id=ids["google"],
                          trello_account_id=ids["trello"], spreadsheet_id=world.spreadsheet_id, sheet_name="Leads",
                          trello_board_id=world.board_id, state="draft",
                          mapping={"title_column": "Name", "status_column": "Stage",
                                   "status_to_list": {"new": world.lists["New"]}})
        db.session.add(draft)
        db.session.commit()
        draft_id = draft.id
    page(client, f"/app/workspaces/{draft_id}/setup")  # queues the preview
    world.worker.drain(timeout_s=10)
    preview = page(client, f"/app/workspaces/{draft_id}/setup")
    assert "does not match the mapping" in preview and "Stage" in preview
    assert "disabled" in preview  # the start button
    assert client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]["state"] == "failed"
    world.sheets.revoke_token("google-token-ann")
    page(client, f"/app/workspaces/{draft_id}/setup")  # an error is shown, not recomputed on every load
    assert len(events(app, draft_id)) == 1
    assert client.post(f"/app/workspaces/{draft_id}/setup/preview").status_code == 302
    world.worker.drain(timeout_s=10)
    preview = page(client, f"/app/workspaces/{draft_id}/setup")
    assert "Reconnect Google" in preview
    # a refused token is said on the page; the draft stays a draft (not "needs re-authorisation")
    draft = workspace(app, draft_id)
    assert draft.state == "draft" and draft.state_detail == ""
    assert [e.state for e in events(app, draft_id)] == ["done", "done"]
    # starting anyway is refused in words, and nothing is registered
    response = client.post(f"/app/workspaces/{draft_id}/setup")
    assert response.status_code == 302
    assert workspace(app, draft_id).state == "draft" and workspace(app, draft_id).trello_webhook_id is None


def make_draft(app, world, **fields: Any) -> str:
    """A draft of the world's sheet and board, as the wizard saves it."""
    ids = account_ids(app)
    with app.app_context():
        ann = db.session.execute(select(User).where(User.email == "ann@example.com")).scalar_one()
        settings = {"name": "Draft", "owner_id": ann.id, "google_account_id": ids["google"],
                    "trello_account_id": ids["trello"], "spreadsheet_id": world.spreadsheet_id,
                    "sheet_name": "Leads", "trello_board_id": world.board_id, "state": "draft",
                    "mapping": workspace(app, world.workspace_id).mapping}
        draft = Workspace(**{**settings, **fields})
        db.session.add(draft)
        db.session.commit()
        return draft.id


def test_preview_says_when_no_worker_picks_it_up(world, monkeypatch):
    from server.sync import preview as preview_module

    client = world.app.test_client()
    login(client, world.app)
    draft_id = make_draft(world.app, world)
    assert "Waiting for the sync worker" in page(client, f"/app/workspaces/{draft_id}/setup")
    monkeypatch.setattr(preview_module, "STALL_S", 0.0)  # as if 30 s had gone by without a worker
    time.sleep(0.01)
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert status["state"] == "queued" and status["stalled"]
    assert "No worker has picked up the preview yet: is the worker process running?" in status["message"]
    assert "is the worker process running?" in page(client, f"/app/workspaces/{draft_id}/setup")
    # a worker that took it and stopped (its lease ran out) is the same as none
    with world.app.app_context():
        event = db.session.execute(select(Event).where(Event.workspace_id == draft_id)).scalar_one()
        event.state, event.locked_until = "processing", datetime.now(timezone.utc)
        db.session.commit()
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert status["state"] == "queued" and status["stalled"]
    monkeypatch.setattr(preview_module, "STALL_S", 30.0)
    world.worker.drain(timeout_s=10)
    assert client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]["state"] == "done"


def test_preview_progress_is_visible_while_the_worker_reads(world):
    """The worker commits the preview's progress while it reads, and the page's JSON shows it."""
    from server.seed import DEMO_HEADER

    rows = [[f"Lead {i}" if c == "Name" else "New" if c == "Status" else "" for c in DEMO_HEADER] for i in range(12)]
    spreadsheet_id = world.sheets.create_spreadsheet("Big", {"Leads": [DEMO_HEADER, *rows]})
    client = world.app.test_client()
    login(client, world.app)
    draft_id = make_draft(world.app, world, spreadsheet_id=spreadsheet_id)
    page(client, f"/app/workspaces/{draft_id}/setup")
    runner = world.worker  # whole-workspace jobs (the preview) use the worker's job providers
    base = runner.job_providers
    seen: list[dict[str, Any]] = []

    class Spy:
        """The worker's providers; every sheet read first asks the page how the preview is going."""

        def trello(self, session, ws):  # type: ignore[no-untyped-def]
            return base.trello(session, ws)

        def sheet(self, session, ws):  # type: ignore[no-untyped-def]
            tab = base.sheet(session, ws)
            outer = self

            class Tab:
                def __getattr__(self, name):  # type: ignore[no-untyped-def]
                    return getattr(tab, name)

                def get(self, cells):  # type: ignore[no-untyped-def]
                    outer.look()
                    return tab.get(cells)

            return Tab()

        def look(self) -> None:
            seen.append(client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"])

    runner.job_providers = Spy()
    try:
        world.worker.drain(timeout_s=20)
    finally:
        runner.job_providers = base
    assert seen and all(s["state"] == "running" for s in seen)
    assert any(s["phase"] == "reading sheet" and s["message"].startswith("Reading the sheet") for s in seen)
    done = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert done["state"] == "done" and done["plan"]["cards_to_create"] == 12


def test_only_previews_run_for_paused_workspaces(world):
    """A paused workspace's scheduled reconciliation waits; a draft's preview runs in the same drain."""
    from server.sync.queue import enqueue_command

    app = world.app
    client = app.test_client()
    login(client, app)
    draft_id = make_draft(app, world)
    world.add_row(Name="Ada", Email="ada@example.com", Status="New")
    world.settle()
    assert client.post(f"/app/workspaces/{world.workspace_id}/pause").status_code == 302
    with app.app_context():
        enqueue_command(db.session, world.workspace_id, "reconcile", {"scheduled": True},
                        provider_event_id="reconcile:period-1")
        enqueue_command(db.session, world.workspace_id, "reconcile", {"dry_run": True})  # not a preview
        enqueue_command(db.session, world.workspace_id, "preview", {})  # not a draft: dropped, nothing run
        enqueue_command(db.session, draft_id, "reconcile", {"first_sync": True})  # a draft never syncs
        db.session.commit()
    progress_before = workspace(app, world.workspace_id).sync_progress
    page(client, f"/app/workspaces/{draft_id}/setup")  # queues the draft's preview (after its reconcile)
    world.worker.drain(timeout_s=10)
    waiting = [(e.kind, e.state) for e in events(app, world.workspace_id) if e.source == "system"]
    assert waiting == [("reconcile", PENDING), ("reconcile", PENDING), ("preview", "ignored")]
    assert workspace(app, world.workspace_id).sync_progress == progress_before
    draft_events = [(e.kind, e.state) for e in events(app, draft_id)]
    # the draft's stray reconcile never runs; its preview does, though they share a group
    assert draft_events == [("reconcile", PENDING), ("preview", "done")]
    assert client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]["state"] == "done"
    assert len(world.cards()) == 1  # the preview created nothing
    # resuming runs what waited
    client.post(f"/app/workspaces/{world.workspace_id}/resume")
    world.worker.drain(timeout_s=10)
    states = [(e.kind, e.state) for e in events(app, world.workspace_id) if e.source == "system"]
    assert states == [("reconcile", "done"), ("reconcile", "done"), ("preview", "ignored")]


def test_reconciliation_learns_the_tab_gid(world):
    """A workspace without a gid (made before it was stored) gets it from the next reconciliation."""
    app = world.app
    with app.app_context():
        ws = db.session.get(Workspace, world.workspace_id)
        ws.sheet_gid = None
        db.session.commit()
    client = app.test_client()
    login(client, app)
    client.post(f"/app/workspaces/{world.workspace_id}/sync")
    world.sheets.reset_stats()
    world.worker.drain(timeout_s=10)
    assert workspace(app, world.workspace_id).sheet_gid == world.sheets.sheet_id(world.spreadsheet_id, "Leads") == 0
    assert world.sheets.stats()["calls"]["spreadsheets.get"] == 1  # the grid-size read it makes anyway
    with app.app_context():  # a stale gid (the tab was replaced) is refreshed the same way
        db.session.get(Workspace, world.workspace_id).sheet_gid = 12345
        db.session.commit()
    client.post(f"/app/workspaces/{world.workspace_id}/sync")
    world.worker.drain(timeout_s=10)
    assert workspace(app, world.workspace_id).sheet_gid == 0


# --------------------------------------------------------------------------- workspace actions


def test_sync_now_pause_resume(world):
    client = world.app.test_client()
    login(client, world.app)
    ws_id = world.workspace_id
    assert client.post(f"/app/workspaces/{ws_id}/sync").status_code == 302
    assert [e.kind for e in events(world.app, ws_id, state=PENDING)] == ["reconcile"]
    assert client.post(f"/app/workspaces/{ws_id}/pause").status_code == 302
    assert workspace(world.app, ws_id).state == "paused"
    assert client.get(f"/app/workspaces/{ws_id}/status.json").get_json()["state"] == "paused"
    world.worker.drain(timeout_s=3)
    assert len(events(world.app, ws_id, state=PENDING)) == 1  # paused: the worker leaves it alone
    assert "Resume" in page(client, f"/app/workspaces/{ws_id}")
    client.post(f"/app/workspaces/{ws_id}/sync")
    assert any("not syncing" in m for m in flashes(client))
    assert client.post(f"/app/workspaces/{ws_id}/resume").status_code == 302
    assert workspace(world.app, ws_id).state == "active"
    world.worker.drain(timeout_s=10)
    assert not events(world.app, ws_id, state=PENDING)
    assert workspace(world.app, ws_id).last_reconciled_at is not None


def test_retry_requeues_a_parked_event(world):
    app = world.app
    client = app.test_client()
    login(client, app)
    with app.app_context():
        parked = Event(workspace_id=world.workspace_id, source="system", provider_event_id="reconcile:parked-1",
                       kind="reconcile", order_key="workspace:reconcile", payload="{}", state=PARKED, attempts=5,
                       last_error="Google Sheets refused the write: the sheet 'Leads' is protected.",
                       processed_at=datetime.now(timezone.utc))
        db.session.add(parked)
        db.session.commit()
        event_id = parked.id
    ws_page = page(client, f"/app/workspaces/{world.workspace_id}")
    assert "the sheet &#39;Leads&#39; is protected" in ws_page and f"/events/{event_id}/retry" in ws_page
    assert client.get(f"/app/workspaces/{world.workspace_id}/status.json").get_json()["parked"] == 1
    before = datetime.now(timezone.utc)
    assert client.post(f"/app/workspaces/{world.workspace_id}/events/{event_id}/retry").status_code == 302
    event = events(app, world.workspace_id, id=event_id)[0]
    assert event.state == PENDING and event.attempts == 0 and event.next_attempt_at <= datetime.now(timezone.utc)
    assert event.next_attempt_at >= before.replace(microsecond=0) or True
    world.worker.drain(timeout_s=10)
    assert events(app, world.workspace_id, id=event_id)[0].state == "done"
    # retrying something not parked changes nothing
    client.post(f"/app/workspaces/{world.workspace_id}/events/{event_id}/retry")
    assert events(app, world.workspace_id, id=event_id)[0].state == "done"


def test_disconnect_removes_the_webhook_and_refuses_the_addon(world):
    app = world.app
    client = app.test_client()
    login(client, app)
    ws = workspace(app, world.workspace_id)
    assert any(h["id"] == ws.trello_webhook_id for h in world.trello.webhooks())
    assert client.post(f"/app/workspaces/{ws.id}/disconnect").status_code == 302
    after = workspace(app, ws.id)
    assert after.state == "disconnected" and after.trello_webhook_id is None
    assert not any(h["idModel"] == world.board_id for h in world.trello.webhooks())
    body = b'{"event_id":"e1","spreadsheet_id":"%s","sheet":"Leads","rows":[{"row":2,"values":{"Name":"X"}}]}' % \
        world.spreadsheet_id.encode()
    stamp = str(int(time.time()))
    refused = client.post(f"/webhooks/sheets/{ws.id}", data=body, headers={
        "X-Timestamp": stamp, "X-Signature": addon_signature(ws.addon_secret, stamp, body),
        "Content-Type": "application/json"})
    assert refused.status_code == 410
    assert "Reconnect" in page(client, f"/app/workspaces/{ws.id}")
    # reconnect registers the webhook again and queues a full sync
    assert client.post(f"/app/workspaces/{ws.id}/reconnect").status_code == 302
    again = workspace(app, ws.id)
    assert again.state == "active" and again.trello_webhook_id
    assert any(h["idModel"] == world.board_id for h in world.trello.webhooks())
    assert [e.kind for e in events(app, ws.id, state=PENDING)] == ["reconcile"]


def test_delete_asks_then_deletes_and_removes_the_webhook(world):
    app = world.app
    client = app.test_client()
    login(client, app)
    ws_id = world.workspace_id
    world.add_row(Name="Ada", Email="ada@example.com", Status="New")
    world.settle()
    assert world.links()
    confirm = page(client, f"/app/workspaces/{ws_id}/delete")
    assert 'name="confirm"' in confirm
    client.post(f"/app/workspaces/{ws_id}/delete")  # not confirmed
    assert workspace(app, ws_id) is not None
    response = client.post(f"/app/workspaces/{ws_id}/delete", data={"confirm": "yes"})
    assert response.status_code == 302 and location(response).endswith("/app")
    assert workspace(app, ws_id) is None
    with app.app_context():
        assert not db.session.execute(select(Link).where(Link.workspace_id == ws_id)).first()
        assert not db.session.execute(select(Event).where(Event.workspace_id == ws_id)).first()
    assert not any(h["idModel"] == world.board_id for h in world.trello.webhooks())
    assert client.get(f"/app/workspaces/{ws_id}").status_code == 404
    assert len(world.cards()) == 1  # the board is untouched


def test_members_invite_see_and_remove(world):
    app = world.app
    owner = app.test_client()
    login(owner, app)
    ws_id = world.workspace_id
    guest = app.test_client()
    login(guest, app, "Bob@Example.com")
    assert guest.get(f"/app/workspaces/{ws_id}").status_code == 404
    owner.post(f"/app/workspaces/{ws_id}/members", data={"email": "not-an-email"})
    assert any("Enter an email address" in m for m in flashes(owner))
    owner.post(f"/app/workspaces/{ws_id}/members", data={"email": "bob@example.com"})
    with app.app_context():
        member = db.session.execute(select(WorkspaceMember).where(WorkspaceMember.workspace_id == ws_id)).scalar_one()
        member_id = member.id
    assert "Leads" in page(guest, "/app")
    guest_view = page(guest, f"/app/workspaces/{ws_id}")
    assert "Sync now" in guest_view and "Delete…" not in guest_view
    # members run the workspace but cannot delete it or manage members
    guest.post(f"/app/workspaces/{ws_id}/delete", data={"confirm": "yes"})
    assert workspace(app, ws_id) is not None
    guest.post(f"/app/workspaces/{ws_id}/members/{member_id}/remove")
    assert any("Only the workspace's owner" in m for m in flashes(guest))
    assert owner.post(f"/app/workspaces/{ws_id}/members/{member_id}/remove").status_code == 302
    assert guest.get(f"/app/workspaces/{ws_id}").status_code == 404


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


# --------------------------------------------------------------------------- CSRF


def test_forms_are_refused_without_a_csrf_token(sqlite_url):
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    from server.seed import seed_workspace

    with app.app_context():
        ws = seed_workspace(db.session, email="ann@example.com", trello_member_id="m1", trello_username="ann",
                            trello_token="t", google_token="g", spreadsheet_id="s" * 20, sheet_name="Leads",
                            board_id="b" * 24, mapping={"status_to_list": {"new": "l1"}})
        ws_id = ws.id
    client = app.test_client()
    login(client, app)
    for url in (f"/app/workspaces/{ws_id}/pause", f"/app/workspaces/{ws_id}/sync", "/auth/logout",
                f"/app/workspaces/{ws_id}/delete", f"/app/workspaces/{ws_id}/members", "/app/workspaces/new"):
        response = client.post(url, data={"confirm": "yes", "email": "x@example.com", "step": "sheet"})
        assert response.status_code == 400, url
    assert workspace(app, ws_id).state == "active"
    html = page(client, f"/app/workspaces/{ws_id}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post(f"/app/workspaces/{ws_id}/pause", data={"csrf_token": token + "x"})
    assert response.status_code == 400
    response = client.post(f"/app/workspaces/{ws_id}/pause", data={"csrf_token": token})
    assert response.status_code == 302 and workspace(app, ws_id).state == "paused"
    # the JSON APIs and webhooks are not CSRF-protected (they are signed instead)
    assert client.post(f"/webhooks/sheets/{ws_id}", data=b"{}").status_code == 401


# --------------------------------------------------------------------------- security headers


def test_security_headers_dashboard_and_powerup(client):
    dashboard = client.get("/app/workspaces/new")
    csp = dashboard.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert dashboard.headers["X-Frame-Options"] == "DENY"
    assert dashboard.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in dashboard.headers  # not production
    for path in ("/powerup/index.html", "/powerup/"):
        powerup = client.get(path)
        assert powerup.status_code == 200
        assert "X-Frame-Options" not in powerup.headers
        assert "frame-ancestors https://trello.com" in powerup.headers["Content-Security-Policy"]
        assert "'none'" not in powerup.headers["Content-Security-Policy"].split("frame-ancestors")[1].split(";")[0]
    api = client.get("/api/powerup/boards/" + "a" * 24)
    assert api.status_code in (401, 503) and api.is_json
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.head("/webhooks/trello/ws_nothing").status_code == 404


def production_app(sqlite_url: str, **overrides: Any):
    from server.crypto import generate_key

    return make_app(sqlite_url, APP_ENV="production", SECRET_KEY="a-long-production-secret-key-0123456789",
                    TOKEN_ENCRYPTION_KEY=generate_key(), **overrides)


def test_production_forces_https_hsts_and_secure_cookies(sqlite_url):
    app = production_app(sqlite_url)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    client = app.test_client()
    plain = client.get("/app/workspaces/new")
    assert plain.status_code == 302 and plain.headers["Location"].startswith("https://")
    assert client.get("/health").status_code == 200  # probes are not redirected
    secure = app.test_client()
    login(secure, app)
    response = secure.post("/auth/logout", base_url="https://leads.example.com")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page_response = secure.get("/app/connections", base_url="https://leads.example.com")
    assert page_response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # HTTPS is what the WSGI server says (gunicorn believes X-Forwarded-Proto only from
    # FORWARDED_ALLOW_IPS): the header alone, over plain HTTP, is a client's claim
    spoofed = client.get("/app/login", headers={"X-Forwarded-Proto": "https"})
    assert spoofed.status_code == 302 and spoofed.headers["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in spoofed.headers
    proxied = client.get("/powerup/index.html", base_url="https://leads.example.com")
    assert proxied.status_code == 200 and "X-Frame-Options" not in proxied.headers
    assert "frame-ancestors https://trello.com" in proxied.headers["Content-Security-Policy"]


def test_development_cookies_are_not_secure_only(app):
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_a_preview_that_hits_a_429_is_tried_again(world):
    """A 429 (Google's quota) defers the preview to the provider's time, not counted as an attempt;
    meanwhile the page says so."""
    client = world.app.test_client()
    login(client, world.app)
    draft_id = make_draft(world.app, world)
    page(client, f"/app/workspaces/{draft_id}/setup")  # queues the preview
    world.sheets.faults.add(path=r"/values", methods=["GET"], status=429, times=1,
                            body={"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}})
    assert world.worker.jobs.run_once() == 1
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert status["state"] == "queued" and "it is tried again shortly" in status["message"]
    with world.app.app_context():  # as if Google's 10 s had gone by
        db.session.execute(Event.__table__.update().where(Event.workspace_id == draft_id)
                           .values(next_attempt_at=datetime.now(timezone.utc)))
        db.session.commit()
    world.worker.drain(timeout_s=10)
    status = client.get(f"/app/workspaces/{draft_id}/status.json").get_json()["preview"]
    assert status["state"] == "done" and status["plan"] is not None
    assert [(e.kind, e.state, e.attempts) for e in events(world.app, draft_id)] == [("preview", "done", 1)]
