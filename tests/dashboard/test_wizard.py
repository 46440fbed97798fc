"""The new-workspace wizard (``/app/workspaces/new``) against the emulators: every step, its refusals
in words, and the draft it saves; then starting the workspace from its setup page."""

from __future__ import annotations

import re

from sqlalchemy import select

from server.dashboard.google import parse_spreadsheet_id
from server.extensions import db
from server.models import Link, Workspace
from server.models.sync import PENDING
from tests.dashboard.helpers import (
    account_ids,
    events,
    flashes,
    location,
    login,
    page,
    post_step,
    run_wizard_to_draft,
    seed_pipeline,
    workspace,
)


def test_parse_spreadsheet_id():
    sid = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
    assert parse_spreadsheet_id(f"https://docs.google.com/spreadsheets/d/{sid}/edit#gid=0") == sid
    assert parse_spreadsheet_id(f"https://docs.google.com/spreadsheets/u/1/d/{sid}/edit?usp=sharing") == sid
    assert parse_spreadsheet_id(f"  {sid}  ") == sid
    assert parse_spreadsheet_id("https://example.com/not/a/sheet") is None
    assert parse_spreadsheet_id("hello world") is None
    assert parse_spreadsheet_id("") is None


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
    assert "its <strong>Boards</strong> page adds the others" in board_page  # several boards: said where to
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

    # The worker runs the first sync: 2 cards created, 1 linked, 1 row appended. Settled, not only
    # drained: the cards it creates come back as webhook deliveries (their echoes), which the
    # emulator sends from its own thread, maybe after the worker found nothing more to do.
    world.settle()
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
