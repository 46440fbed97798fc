"""The Power-Up pages in headless Chromium, with a stand-in for Trello's client library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.common import serve_in_thread
from server.extensions import db
from server.models import Event
from server.powerup.jwt import clear_key_cache
from tests.conftest import make_app
from tests.powerup_support import (
    BOARD_ID,
    ERROR_CARD,
    LINKED_CARD,
    MEMBER_ID,
    PLUGIN_ID,
    SHEET_GID,
    UNLINKED_CARD,
    KeyServer,
    new_key,
    public_pem,
    sign,
)

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
FAKE_LIBRARY = Path(__file__).resolve().parent / "fake-power-up.js"
TRELLO_LIBRARY = "https://trello.com/power-ups/power-up.min.js"
CAPABILITIES = {"card-back-section", "card-badges", "card-detail-badges", "show-settings",
                "authorization-status", "show-authorization", "board-buttons"}
KEY = new_key()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    keys = KeyServer({"keys": [public_pem(KEY)]}).start()
    url = f"sqlite:///{tmp_path_factory.mktemp('powerup-browser') / 'app.db'}"
    app = make_app(url, TRELLO_POWERUP_ID=PLUGIN_ID, TRELLO_JWT_KEYS_URL=keys.url)
    with app.app_context():
        from tests.powerup_support import seed

        seed(db)
    clear_key_cache()
    running = serve_in_thread(app)
    app.config["PUBLIC_BASE_URL"] = running.base_url
    yield app, running.base_url
    running.stop()
    keys.stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", "--disable-quic"])
        yield chromium
        chromium.close()


def open_page(browser, base_url: str, page_name: str, card_id: str = LINKED_CARD, theme: str | None = None,
              signed_in: bool = True, token: str | None = None):
    """A page of the Power-Up as Trello would frame it, with the fake library in place of Trello's."""
    context = browser.new_context(viewport={"width": 520, "height": 420}, color_scheme="light")
    context.route("**/*", lambda route: route.abort() if not route.request.url.startswith(base_url)
                  else route.continue_())
    context.route(TRELLO_LIBRARY, lambda route: route.fulfill(path=str(FAKE_LIBRARY),
                                                              content_type="application/javascript"))
    fake = {"card": {"id": card_id, "name": "A card"}, "board": {"id": BOARD_ID, "name": "Sales"},
            "member": {"id": MEMBER_ID}, "signedIn": signed_in, "theme": theme,
            "jwt": token or sign(KEY, state=json.dumps({"card": card_id}))}
    context.add_init_script(f"window.__fakeTrello = {json.dumps(fake)};")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/powerup/{page_name}")
    return page, errors


def test_connector_registers_every_capability(server, browser):
    app, base_url = server
    page, errors = open_page(browser, base_url, "index.html")
    page.wait_for_function("window.__capabilities !== null")
    assert set(page.evaluate("Object.keys(window.__capabilities)")) == CAPABILITIES
    assert page.evaluate("window.__initOptions") == {"appKey": "emulator-key", "appName": "Leads Sync"}
    section = page.evaluate("window.__capabilities['card-back-section'](window.__makeT())")
    assert section["title"] == "Lead" and section["content"]["height"] == 230
    assert section["content"]["url"].startswith(f"{base_url}/powerup/card-back.html")
    assert section["icon"].startswith(f"{base_url}/powerup/images/icon.svg?v=")
    badge = page.evaluate("window.__capabilities['card-badges'](window.__makeT())[0].dynamic()")
    assert badge == {"text": "Qualified", "color": "blue", "refresh": 60}
    detail = page.evaluate("""window.__capabilities['card-detail-badges'](window.__makeT()).then(b => {
        b[0].callback(window.__makeT()); return {title: b[0].title, text: b[0].text, popups: window.__popups}; })""")
    assert detail["title"] == "Lead" and detail["text"] == "Qualified"
    assert detail["popups"][0]["url"] == "./lead-popup.html"
    assert page.evaluate("window.__capabilities['authorization-status'](window.__makeT())") == {"authorized": True}
    page.evaluate("window.__capabilities['show-settings'](window.__makeT())")
    assert page.evaluate("window.__popups[1]") == {"title": "Lead sync settings", "url": "./settings.html",
                                                   "height": 260}
    buttons = page.evaluate("window.__capabilities['board-buttons'](window.__makeT())"
                            ".map(b => ({text: b.text, url: b.url || null}))")
    assert buttons == [{"text": "Sync now", "url": None}, {"text": "Open dashboard", "url": f"{base_url}/app"}]
    page.evaluate("window.__capabilities['board-buttons'](window.__makeT())[0].callback(window.__makeT())")
    page.wait_for_function("window.__alerts.length > 0")
    assert page.evaluate("window.__alerts[0].display") == "success"
    with app.app_context():
        assert db.session.query(Event).filter_by(kind="reconcile").count() == 1
    assert errors == []
    page.context.close()


def test_card_back_shows_a_linked_lead(server, browser, artifacts_dir):
    _, base_url = server
    page, errors = open_page(browser, base_url, "card-back.html")
    page.get_by_text("Open row in Google Sheets").wait_for()
    content = page.locator("#content")
    for text in ("Ada Lovelace", "ada@example.com", "Analytical Engines Ltd", "Qualified", "Synced",
                 "Last synced 5 minutes ago"):
        assert text in content.inner_text(), text
    assert page.locator("a.sheet-link").get_attribute("href").endswith(f"/d/sheet-123/edit#gid={SHEET_GID}&range=A7")
    assert page.evaluate("window.__sizeToCalls").count("#content") >= 2  # loading, then the lead
    assert page.evaluate("window.__iframeOptions") == {"appKey": "emulator-key", "appName": "Leads Sync"}
    assert page.evaluate("window.__jwtCalls") == [{"state": json.dumps({"card": LINKED_CARD},
                                                                       separators=(",", ":"))}]
    page.screenshot(path=str(artifacts_dir / "powerup-card-back-linked.png"))
    assert errors == []
    page.context.close()


def test_card_back_unlinked_card_creates_a_lead(server, browser, artifacts_dir):
    app, base_url = server
    page, errors = open_page(browser, base_url, "card-back.html", card_id=UNLINKED_CARD)
    page.get_by_text("Not linked to a lead").wait_for()
    page.screenshot(path=str(artifacts_dir / "powerup-card-back-unlinked.png"))
    page.get_by_role("button", name="Create lead").click()
    page.get_by_text("A row is being added to the Acme leads sheet for this card").wait_for()
    with app.app_context():
        events = db.session.query(Event).filter_by(kind="create_lead").all()
        assert [json.loads(e.payload) for e in events] == [{"card_id": UNLINKED_CARD}]
    assert errors == []
    page.context.close()


def test_card_back_shows_a_sync_error_in_dark_theme(server, browser, artifacts_dir):
    _, base_url = server
    page, errors = open_page(browser, base_url, "card-back.html", card_id=ERROR_CARD, theme="dark")
    page.get_by_text("The last sync of this lead failed.").wait_for()
    text = page.locator("#content").inner_text()
    assert "Google Sheets refused the write: the sheet 'Leads' is protected." in text
    assert "Error" in text and "Bob Byte" in text and "Last synced 3 hours ago" in text
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.screenshot(path=str(artifacts_dir / "powerup-card-back-error-dark.png"))
    assert errors == []
    page.context.close()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"signed_in": False}, "Sign in to Trello to see the lead"),
    ({"token": "expired"}, "Your session expired, reopen the card."),
    ({"token": "other-board"}, "This board is not connected to Leads Sync."),
])
def test_card_back_explains_problems_in_plain_words(server, browser, artifacts_dir, kwargs, message):
    _, base_url = server
    tokens = {"expired": sign(KEY, exp=1_600_000_000, iat=1_599_999_000),
              "other-board": sign(KEY, idBoard="5e667811606cb1160a8f5bff")}
    if "token" in kwargs:
        kwargs = {"token": tokens[kwargs["token"]]}
    page, errors = open_page(browser, base_url, "card-back.html", **kwargs)
    page.get_by_text(message).wait_for()
    if "not connected" in message:
        page.get_by_role("button", name="Open dashboard").wait_for()
        page.screenshot(path=str(artifacts_dir / "powerup-card-back-not-connected.png"))
    assert page.evaluate("window.__sizeToCalls").count("#content") >= 2
    assert errors == []
    page.context.close()


def test_settings_and_authorize_popups(server, browser, artifacts_dir):
    _, base_url = server
    page, errors = open_page(browser, base_url, "settings.html")
    page.get_by_text("Acme leads").wait_for()
    assert "This board is linked to the workspace Acme leads." in page.locator("#content").inner_text()
    page.screenshot(path=str(artifacts_dir / "powerup-settings.png"))
    page.context.close()
    page, errors = open_page(browser, base_url, "authorize.html")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Press Cancel and try again").wait_for()
    calls = page.evaluate("window.__authorizeCalls")
    assert calls[0]["url"].startswith(f"{base_url}/app/login?next=")
    page.get_by_role("button", name="Cancel").click()
    assert page.evaluate("window.__closedPopups") == 1
    assert errors == []
    page.context.close()


def test_lead_popup_is_compact(server, browser, artifacts_dir):
    _, base_url = server
    page, errors = open_page(browser, base_url, "lead-popup.html")
    page.get_by_text("Open row in Google Sheets").wait_for()
    assert page.locator(".fields dt").all_inner_texts() == ["Name", "Email", "Company", "Notes"]
    assert page.locator(".status").inner_text() == "Qualified"
    assert "#content" in page.evaluate("window.__sizeToCalls")
    page.screenshot(path=str(artifacts_dir / "powerup-lead-popup.png"))
    assert errors == []
    page.context.close()
