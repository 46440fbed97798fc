"""Choose a spreadsheet with Google Picker (GOOGLE_SCOPE_MODE=drive.file), in headless Chromium.

The app runs on loopback against the emulators; Google's loader (https://apis.google.com/js/api.js)
is answered with a stand-in Picker (``fake-google-picker.js``) that follows the documented API, and
whose pick is reported to the OAuth emulator the way the real Picker grants the file to the app.
Screenshots go to ``test-artifacts/picker-*.png``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from server.extensions import db
from server.models import ProviderAccount, Workspace
from tests.browser.chromium import CHROMIUM
from tests.conftest import make_app
from tests.dashboard.test_picker import _ann_account, _google_config
from tests.sync.world import build_world

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

STAND_IN = Path(__file__).with_name("fake-google-picker.js")
LOADER = "https://apis.google.com/js/api.js"
PICK = "https://docs.google.com/picker/standin/pick"
CANT_OPEN = "Leads Sync can't open this spreadsheet: choose it again with Choose a spreadsheet."


@pytest.fixture
def google():
    from emulators.google_oauth import GoogleOAuthEmulator

    emulator = GoogleOAuthEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def world(tmp_path, google):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    config = {**_google_config(google), "DEV_LOGIN_ENABLED": True, "WTF_CSRF_ENABLED": True}
    w = build_world(f"sqlite:///{tmp_path / 'app.db'}", make_app=make_app, config=config)
    google.link_sheets(w.sheets)
    yield w
    w.stop()


def test_choose_a_spreadsheet_with_the_picker(world, google, browser, artifacts_dir):
    base = world.web.base_url
    seeded = _ann_account(world, google)
    pipeline = world.sheets.create_spreadsheet("Pipeline 2026", {
        "Leads 2026": [["Name", "Email", "Status"], ["Ada Lovelace", "ada@example.com", "New"]]})
    other = world.sheets.create_spreadsheet("Holiday plans")
    files = [{"id": other, "name": "Holiday plans", "mimeType": "application/vnd.google-apps.spreadsheet"},
             {"id": "1NotesDoc000000000000", "name": "Meeting notes", "mimeType": "application/vnd.google-apps.document"},
             {"id": pipeline, "name": "Pipeline 2026", "mimeType": "application/vnd.google-apps.spreadsheet"},
             {"id": world.spreadsheet_id, "name": "Leads", "mimeType": "application/vnd.google-apps.spreadsheet"}]
    stand_in = STAND_IN.read_text().replace("__PICKER_FILES__", json.dumps(files))

    context = browser.new_context(viewport={"width": 1100, "height": 800}, color_scheme="light")
    outside: list[str] = []
    picks: list[dict[str, str]] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(base):
            request_route.continue_()
        elif url == LOADER:
            request_route.fulfill(status=200, content_type="text/javascript", body=stand_in)
        elif url.startswith(PICK + "?"):
            query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            picks.append(query)
            google.pick_file(query["token"], query["file"], query["app_id"])  # Google records the grant
            request_route.fulfill(status=200, content_type="text/javascript", body="/* granted */")
        else:
            outside.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)

    page.goto(f"{base}/auth/dev-login?email=ann@example.com&next=/app")
    page.get_by_role("button").first.click()
    page.goto(f"{base}/app/workspaces/new?step=sheet")

    # Pasting the address of a spreadsheet never picked: Google refuses it; the page says what to do.
    page.get_by_label("Spreadsheet URL").fill(f"https://docs.google.com/spreadsheets/d/{pipeline}/edit")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".flash-error")).to_have_text(CANT_OPEN)
    page.screenshot(path=str(artifacts_dir / "picker-refused.png"), full_page=True)

    # Choose a spreadsheet: the Picker opens (spreadsheets only), the person picks one.
    page.get_by_label("Spreadsheet URL").fill("")
    page.get_by_role("button", name="Choose a spreadsheet").click()
    dialog = page.get_by_role("dialog", name="Google Picker")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Choose the leads spreadsheet")
    expect(dialog.get_by_role("button", name="Pipeline 2026")).to_be_visible()
    assert dialog.get_by_role("button", name="Meeting notes").count() == 0  # DocsView(ViewId.SPREADSHEETS)
    page.screenshot(path=str(artifacts_dir / "picker-dialog.png"), full_page=True)
    dialog.get_by_role("button", name="Pipeline 2026").click()

    expect(dialog).to_be_hidden()
    expect(page.locator("#picker-status")).to_have_text("Chosen: Pipeline 2026")
    assert page.get_by_label("Spreadsheet URL").input_value() == pipeline
    page.screenshot(path=str(artifacts_dir / "picker-chosen.png"), full_page=True)
    [pick] = picks
    assert (pick["app_id"], pick["file"], pick["key"]) == (google.project_number, pipeline,
                                                           world.app.config["GOOGLE_PICKER_API_KEY"])
    assert pick["token"] == seeded["access_token"]  # the signed-in user's own short-lived token

    # The wizard proceeds with the picked spreadsheet.
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(f"{base}/app/workspaces/new?step=tab")
    expect(page.get_by_role("link", name="Pipeline 2026")).to_be_visible()
    expect(page.locator(".choice", has_text="Leads 2026")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "picker-tab-step.png"), full_page=True)

    # The token endpoint wants the page's CSRF token: a cross-site form post with the cookie gets nothing.
    forged = page.request.post(f"{base}/app/google/picker-token.json", form={"account": str(seeded["account_id"])})
    assert forged.status == 400 and seeded["access_token"] not in forged.text()

    # A running workspace Google stopped on its spreadsheet: the page says so; choosing it again resumes.
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.state = "needs_reauth"
        workspace.state_detail = "Google refused access to the spreadsheet: The caller does not have permission"
        db.session.commit()
    page.goto(f"{base}/app/workspaces/{world.workspace_id}")
    alert = page.get_by_role("alert").filter(has_text="can't open this spreadsheet")
    expect(alert).to_contain_text(CANT_OPEN)
    page.screenshot(path=str(artifacts_dir / "picker-workspace-stopped.png"), full_page=True)
    alert.get_by_role("link", name="Choose a spreadsheet").click()
    expect(page.get_by_role("heading", name="Choose the spreadsheet again")).to_be_visible()
    page.get_by_role("button", name="Choose a spreadsheet").click()
    page.get_by_role("dialog", name="Google Picker").get_by_role("button", name="Leads").click()
    expect(page.locator("#picker-status")).to_have_text("Chosen: Leads")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".flash-success")).to_have_text("Leads Sync can open the spreadsheet again; syncing resumed.")
    assert world.workspace().state == "active"
    page.screenshot(path=str(artifacts_dir / "picker-workspace-resumed.png"), full_page=True)

    assert outside == [] and problems == []

    # Google refuses the account (revoked, token due): the button says what to do, in plain words.
    google.revoke(seeded["refresh_token"])
    with world.app.app_context():
        account = db.session.get(ProviderAccount, seeded["account_id"])
        account.token_expires_at = datetime.now(UTC)
        db.session.commit()
    page.goto(f"{base}/app/workspaces/new?step=sheet")
    page.get_by_role("button", name="Choose a spreadsheet").click()
    expect(page.locator("#picker-status")).to_have_text(
        "Google refused this account's access (it may have been revoked). Reconnect Google on the Connections "
        "page, then choose the spreadsheet.")
    expect(page.get_by_role("button", name="Choose a spreadsheet")).to_be_enabled()
    page.screenshot(path=str(artifacts_dir / "picker-refused-account.png"), full_page=True)
    context.close()
