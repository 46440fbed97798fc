"""One-click connect in headless Chromium: the sidebar (apps_script/Sidebar.html, with a stand-in for
``google.script.run`` whose ``finishConnect`` asks the real app's poll endpoint) opens the connect
popup on the app served on loopback; the signed-in person chooses a workspace there (only theirs,
CSRF-protected form) and the sidebar says it is connected. Screenshots: ``test-artifacts/addon-connect-*.png``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.common import serve_in_thread
from server.auth.sessions import start_session
from server.extensions import db
from server.models import User, Workspace
from tests.conftest import make_app

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
SIDEBAR = Path(__file__).resolve().parents[2] / "apps_script" / "Sidebar.html"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-quic"]
NONCE = "feedc0de" * 4

# google.script.run standing in for Code.js: beginConnect gives the connect page's address (as
# Code.js builds it), finishConnect asks the app's /api/addon/connect/poll like Code.js does.
STAND_IN = r"""
(() => {
  const s = window.__scenario;
  const functions = {
    getSelectedLead: () => s.connected
      ? {connected: true, onSheet: false, sheet: 'Leads', workspaceName: s.workspaceName, errors: []}
      : {connected: false, errors: []},
    beginConnect: () => ({ok: true, url: s.base + '/app/addon/connect?nonce=' + s.nonce +
      '&spreadsheet=' + s.spreadsheet + '&sheet=Leads'}),
    finishConnect: () => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/addon/connect/poll', false);
      xhr.setRequestHeader('Content-Type', 'application/json');
      xhr.send(JSON.stringify({nonce: s.nonce, spreadsheet_id: s.spreadsheet, sheet: 'Leads'}));
      s.polls.push(xhr.status);
      if (xhr.status === 202) return {state: 'waiting'};
      const body = JSON.parse(xhr.responseText);
      if (xhr.status !== 200) return {state: 'failed', error: 'Could not connect: ' + body.error.message};
      s.connected = true;
      s.workspaceName = body.workspace_name;
      return {state: 'connected', message: 'Connected to the workspace \u201c' + body.workspace_name +
        '\u201d. The tab \u201c' + body.sheet + '\u201d now syncs with Trello. 4 row(s) sent for the first sync.'};
    },
    getCardForLead: () => ({ok: false, error: 'unused'}),
    clearErrors: () => ({ok: true})
  };
  function runner(onOk, onFail) {
    const r = {withSuccessHandler: (fn) => runner(fn, onFail), withFailureHandler: (fn) => runner(onOk, fn)};
    Object.keys(functions).forEach((name) => {
      r[name] = (...args) => setTimeout(() => {
        try { const value = JSON.parse(JSON.stringify(functions[name](...args))); if (onOk) onOk(value); }
        catch (err) { if (onFail) onFail(err); }
      }, 20);
    });
    return r;
  }
  window.google = {script: {run: runner(null, null)}};
})();
"""


@pytest.fixture
def served(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    app = make_app(f"sqlite:///{tmp_path / 'app.db'}", WTF_CSRF_ENABLED=True)
    with app.app_context():
        ann, bob = User(email="ann@example.com", name="Ann"), User(email="bob@example.com", name="Bob")
        db.session.add_all([ann, bob])
        db.session.flush()
        db.session.add_all([
            Workspace(name="Pipeline", owner_id=ann.id, spreadsheet_id="sheet-browser", sheet_name="Leads",
                      trello_board_id="b" * 24, state="active"),
            Workspace(name="Hiring", owner_id=ann.id, spreadsheet_id="other-sheet", sheet_name="Leads",
                      trello_board_id="c" * 24, state="active"),
            Workspace(name="Bob's deals", owner_id=bob.id, spreadsheet_id="sheet-browser", sheet_name="Leads",
                      trello_board_id="d" * 24, state="active")])
        db.session.commit()
        token = start_session(db.session, ann.id)
        db.session.commit()
    running = serve_in_thread(app)
    cookie = app.session_interface.get_signing_serializer(app).dumps({"sid": token, "_permanent": True})
    yield running.base_url, {"name": app.config.get("SESSION_COOKIE_NAME", "session"), "value": cookie,
                             "url": running.base_url}
    running.stop()
    with app.app_context():
        db.engine.dispose()


def test_the_sidebar_connects_through_the_popup(served, artifacts_dir):
    base, cookie = served
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 300, "height": 640}, color_scheme="light")
            context.add_cookies([cookie])
            context.route(base + "/__sidebar", lambda route: route.fulfill(
                status=200, content_type="text/html; charset=utf-8", body=SIDEBAR.read_text(encoding="utf-8")))
            scenario = {"base": base, "nonce": NONCE, "spreadsheet": "sheet-browser", "connected": False, "polls": []}
            context.add_init_script(f"if (location.pathname === '/__sidebar') {{ window.__scenario = "
                                    f"{json.dumps(scenario)};\n{STAND_IN} }}")
            sidebar = context.new_page()
            sidebar.goto(base + "/__sidebar")
            expect(sidebar.locator("#not-connected")).to_contain_text("Not connected")
            with context.expect_page() as opened:
                sidebar.get_by_role("button", name="Connect to Leads Sync").click()
            popup = opened.value
            popup.set_viewport_size({"width": 560, "height": 720})
            expect(popup.get_by_role("heading", name="Choose the workspace")).to_be_visible()
            expect(sidebar.locator("#connect-status")).to_contain_text("Waiting for you to choose a workspace")

            # only Ann's workspaces; the one of another spreadsheet cannot be chosen
            choices = popup.locator(".choice")
            expect(choices).to_have_count(2)
            expect(popup.locator("main")).not_to_contain_text("Bob's deals")
            expect(choices.filter(has_text="Hiring")).to_contain_text("cannot be chosen: it syncs another spreadsheet")
            expect(choices.filter(has_text="Hiring").locator("input")).to_be_disabled()
            expect(choices.filter(has_text="Pipeline").locator("input")).to_be_checked()
            expect(popup.locator("main")).to_contain_text("sheet-browser")
            popup.screenshot(path=str(artifacts_dir / "addon-connect-popup.png"), full_page=True)

            popup.get_by_role("button", name="Connect the add-on").click()
            expect(popup.get_by_role("heading", name="Connected to “Pipeline”")).to_be_visible()
            expect(popup.locator("#connect-done")).to_contain_text("the sidebar finishes the connection")
            popup.screenshot(path=str(artifacts_dir / "addon-connect-popup-done.png"), full_page=True)

            expect(sidebar.locator("#workspace-label")).to_have_text("Workspace: Pipeline", timeout=15000)
            polls = sidebar.evaluate("window.__scenario.polls")
            assert polls[-1] == 200 and set(polls[:-1]) <= {202}
            sidebar.screenshot(path=str(artifacts_dir / "addon-connect-sidebar.png"), full_page=True)
        finally:
            browser.close()
