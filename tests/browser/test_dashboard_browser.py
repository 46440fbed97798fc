"""The dashboard in headless Chromium: the wizard end to end and the live workspace page, against
the emulators, with the app served on loopback. Screenshots go to ``test-artifacts/dashboard-*.png``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.extensions import db
from server.models import Event, Workspace
from tests.browser.chromium import CHROMIUM
from tests.browser.pages import sign_in
from tests.conftest import make_app
from tests.sync.world import build_world

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

HEADER = ["Name", "Email", "Company", "Status", "Notes", "Follow up"]
LEADS = [
    ["Ada Lovelace", "ada@example.com", "Analytical Engines", "New", "Asked for a demo", "2026-12-01"],
    ["Grace Hopper", "grace@example.com", "Navy Labs", "won", "", ""],
    ["Katherine Johnson", "katherine@example.com", "NASA", "Lost", "Budget cut", ""],
    ["Alan Turing", "alan@example.com", "Bletchley", "Contacted", "Call back Tuesday", "2026-11-30"],
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard-browser') / 'app.db'}"
    w = build_world(url, make_app=make_app, config={"DEV_LOGIN_ENABLED": True, "WTF_CSRF_ENABLED": True})
    yield w
    w.stop()


def test_wizard_and_workspace_page(world, browser, artifacts_dir):
    base = world.web.base_url
    sheets, trello = world.sheets, world.trello
    # the leads are on the second tab (its gid is not 0)
    spreadsheet_id = sheets.create_spreadsheet("Pipeline 2026", {"Archive": [["Name", "Status"]],
                                                                 "Leads 2026": [HEADER, *LEADS]})
    board = trello.add_board("Sales pipeline", "ann", lists=["New", "Contacted", "Closed"])
    lists = {lst["name"]: lst["id"] for lst in trello.lists(board["id"])}
    trello.add_card(lists["Closed"], "Grace Hopper", "Email: grace@example.com")
    trello.add_card(lists["Contacted"], "Walk-in lead", "Email: walkin@example.com")

    context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
    outside: list[str] = []

    def only_loopback(route):  # no external asset may load (and none may leave the machine)
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    how = sign_in(context, page, world)

    # Home
    page.goto(f"{base}/app")
    assert page.locator("h1").inner_text() == "Workspaces"
    assert page.locator(".ws-card").count() == 1
    page.screenshot(path=str(artifacts_dir / "dashboard-home.png"), full_page=True)
    page.goto(f"{base}/app/connections")
    assert page.locator(".conn").count() == 2
    page.screenshot(path=str(artifacts_dir / "dashboard-connections.png"), full_page=True)

    # Wizard: spreadsheet (a wrong URL first: a plain-words error on the page)
    page.goto(f"{base}/app")
    page.get_by_role("link", name="New workspace").click()
    page.get_by_label("Spreadsheet URL").fill("https://example.com/not-a-sheet")
    page.get_by_role("button", name="Continue").click()
    assert "not a Google Sheets address" in page.locator(".flash-error").inner_text()
    page.get_by_label("Spreadsheet URL").fill(f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit#gid=0")
    page.get_by_role("button", name="Continue").click()

    # tab (each tab with its header row)
    assert "step=tab" in page.url
    assert page.locator(".choice", has_text="Leads 2026").locator(".chip", has_text="Follow up").count() == 1
    page.screenshot(path=str(artifacts_dir / "dashboard-wizard-tab.png"), full_page=True)
    page.locator(".choice", has_text="Leads 2026").click()
    page.get_by_role("button", name="Continue").click()

    # board
    assert "step=board" in page.url
    page.locator(".choice", has_text="Sales pipeline").click()
    page.get_by_role("button", name="Continue").click()

    # columns
    assert "step=columns" in page.url
    assert page.get_by_label("Card title").input_value() == "Name"
    assert page.get_by_label("Status column (decides the list)").input_value() == "Status"
    page.get_by_label("Due date column (optional)").select_option("Follow up")
    page.screenshot(path=str(artifacts_dir / "dashboard-wizard-columns.png"), full_page=True)
    page.get_by_role("button", name="Continue").click()

    # statuses: statuses found in the sheet, many-to-one, the reverse defaults
    assert "step=statuses" in page.url
    page.get_by_label("List for won").select_option(label="Closed")
    page.get_by_label("List for Lost").select_option(label="Closed")
    page.locator(f"#reverse_{lists['Closed']}").fill("Won")
    page.locator(f"#reverse_{lists['Closed']}").press("Tab")  # leave the field: its suggestions popup would eat the next click
    assert page.locator(f"#reverse_{lists['Contacted']}").input_value() == "Contacted"
    page.screenshot(path=str(artifacts_dir / "dashboard-wizard-statuses.png"), full_page=True)
    page.get_by_role("button", name="Continue").click()

    # policies
    assert "step=policies" in page.url
    page.get_by_label("Workspace name").fill("Pipeline 2026")
    page.get_by_role("button", name="Save and preview").click()

    # preview (dry run): queued for the worker; the page follows it, then shows the plan by itself
    assert re.search(r"/app/workspaces/ws_[0-9a-f]+/setup$", page.url), page.url
    expect(page.locator("#preview-message")).to_contain_text("Waiting for the sync worker to pick this up")
    assert page.get_by_role("button", name="Create workspace and start syncing").is_disabled()
    page.screenshot(path=str(artifacts_dir / "dashboard-preview-waiting.png"), full_page=True)
    world.worker.drain(timeout_s=20)
    expect(page.locator("[data-count=cards_to_create]")).to_have_text("3", timeout=15000)
    assert page.get_by_role("button", name="Create workspace and start syncing").is_enabled()
    gid = sheets.sheet_id(spreadsheet_id, "Leads 2026")
    assert gid != 0 and page.locator(".summary a").first.get_attribute("href").endswith(f"/edit#gid={gid}")
    counts = {el.get_attribute("data-count"): el.inner_text() for el in page.locator("[data-count]").all()}
    assert counts == {"cards_to_create": "3", "links_to_make": "1", "rows_to_append": "1", "conflicts": "0"}
    page.screenshot(path=str(artifacts_dir / "dashboard-preview.png"), full_page=True)
    workspace_id = page.url.rsplit("/", 2)[-2]

    # create
    page.get_by_role("button", name="Create workspace and start syncing").click()
    code = page.locator("#connect-code").inner_text()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert page.locator("#powerup-url").inner_text() == f"{base}/powerup/index.html"
    page.screenshot(path=str(artifacts_dir / "dashboard-created.png"), full_page=True)
    assert any(h["idModel"] == board["id"] for h in trello.webhooks())

    # workspace page: the first sync is pending; the worker runs it; the page follows by itself
    page.get_by_role("link", name="Go to the workspace").click()
    assert page.locator("#pending-count").inner_text() == "1"
    with world.app.app_context():
        secret = db.session.get(Workspace, workspace_id).addon_secret
    world.settle()  # the first sync, the card writes it queued, and their echoes
    # (locator waits, not wait_for_function: the page's CSP forbids the eval that one uses)
    expect(page.locator("#pending-count")).to_have_text("0", timeout=15000)
    expect(page.locator("#progress-text")).to_have_text(re.compile("^finished"), timeout=15000)
    expect(page.locator("#sync-progress")).to_have_js_property("value", 100)
    assert len(trello.cards(board["id"])) == 5

    # Live edits from both sides make history; a parked event gets a Retry button.
    sheets.install_addon(spreadsheet_id, "Leads 2026", webhook_url=f"{base}/webhooks/sheets/{workspace_id}",
                         secret=secret)
    row = next(r for r in sheets.rows_as_dicts(spreadsheet_id, "Leads 2026") if r["Name"] == "Ada Lovelace")
    sheets.user_edit(spreadsheet_id, "Leads 2026", row["_row"], {"Status": "Contacted", "Notes": "Demo booked"})
    card = next(c for c in trello.cards(board["id"]) if c["name"] == "Alan Turing")
    world.person.update_card(card["id"], idList=lists["Closed"])
    assert trello.wait_for_deliveries(timeout=10) and sheets.wait_for_events(timeout=10)
    world.worker.drain(timeout_s=20)
    with world.app.app_context():
        db.session.add(Event(workspace_id=workspace_id, source="trello", provider_event_id="parked-demo",
                             kind="updateCard", order_key="card:x", payload="{}", state="parked", attempts=5,
                             last_error="Google Sheets refused the write: the range 'Leads 2026'!A5 is protected."))
        db.session.commit()
    expect(page.locator("#live-note")).to_be_visible(timeout=15000)
    expect(page.locator("#parked-count")).to_have_text("1", timeout=15000)
    page.reload()
    assert page.locator(".history tbody tr").count() >= 2
    assert page.get_by_role("button", name=re.compile("^Retry")).count() >= 1
    page.screenshot(path=str(artifacts_dir / "dashboard-workspace.png"), full_page=True)
    page.get_by_role("button", name=re.compile("^Retry event")).first.click()
    assert "queued again" in page.locator(".flash-success").inner_text()

    # pause, resume, sync now: each a form post, each said in words
    page.get_by_role("button", name="Pause").click()
    assert page.locator("#ws-state .badge").inner_text().lower() == "paused"
    page.get_by_role("button", name="Resume").click()
    assert page.locator("#ws-state .badge").inner_text().lower() == "syncing"
    page.get_by_role("button", name="Sync now").click()
    assert "full sync is queued" in page.locator(".flash-success").inner_text()

    # a narrow screen still reads well
    page.set_viewport_size({"width": 420, "height": 900})
    page.screenshot(path=str(artifacts_dir / "dashboard-workspace-narrow.png"), full_page=True)

    # delete asks first
    page.set_viewport_size({"width": 1200, "height": 900})
    page.get_by_role("link", name="Delete…").click()
    page.screenshot(path=str(artifacts_dir / "dashboard-delete.png"), full_page=True)
    page.get_by_label(re.compile("I understand")).check()
    page.get_by_role("button", name="Delete workspace").click()
    assert page.url.rstrip("/").endswith("/app") and "is deleted" in page.locator(".flash-success").inner_text()
    assert not any(h["idModel"] == board["id"] for h in trello.webhooks())

    assert not outside, outside
    assert not problems, problems  # no script errors, no CSP violations
    context.close()
    print(f"signed in with {how}")
