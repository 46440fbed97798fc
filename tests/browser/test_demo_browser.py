"""The local demo in Chromium, as a person uses it: ``python -m demo``, then ``/demo``.

Everything asserted is what shows inside the frames: the sheet's rows, the add-on's sidebar for the
selected row, the board's cards with the Power-Up's badges, the card-back section; an edit in the
sheet moves the card, a card moved on the board changes the row. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.chromium import CHROMIUM

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 15000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo as a subprocess on free ports, once its three sample cards exist."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    ports = {"web": _free_port(), "trello": _free_port(), "sheets": _free_port(), "google": _free_port(),
             "mail": _free_port()}
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", str(ports["web"]), "--trello-port", str(ports["trello"]),
         "--sheets-port", str(ports["sheets"]), "--google-port", str(ports["google"]),
         "--mail-port", str(ports["mail"])],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LOG_LEVEL": "WARNING",
             "INSTANCE_PATH": str(tmp_path_factory.mktemp("demo-browser"))})
    try:
        output = []
        for line in process.stdout:  # type: ignore[union-attr]
            output.append(line)
            if "Ctrl-C stops everything" in line:
                break
        else:
            pytest.fail("the demo did not start:\n" + "".join(output))
        trello_state = f"http://127.0.0.1:{ports['trello']}/_emulator/state"
        deadline = time.monotonic() + 20
        while len(_get(trello_state)["cards"]) < 3:
            assert time.monotonic() < deadline, "the first sync made no cards"
            time.sleep(0.1)
        yield {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        finally:
            process.kill()


@pytest.fixture(scope="module")
def page(demo, artifacts_dir):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync", "--disable-quic"])
        context = browser.new_context(viewport={"width": 1400, "height": 1500}, color_scheme="light")
        outside: list[str] = []

        def loopback_only(route):  # type: ignore[no-untyped-def]
            if route.request.url.startswith("http://127.0.0.1:"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", loopback_only)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
        page.goto(f"{demo['web']}/demo")
        yield page
        page.screenshot(path=str(artifacts_dir / "demo-end.png"), full_page=True)
        assert problems == [], problems
        assert outside == [], outside
        browser.close()


def frames(page):
    sheet = page.frame_locator("iframe.frame-sheet")
    board = page.frame_locator("iframe.frame-board")
    return sheet, sheet.frame_locator("#sidebar iframe"), board, board.frame_locator("#detail-sections iframe")


def cell(sheet, row: int, column: int):
    """The grid's cell at a 1-based sheet row and 0-based column (the first cell of a row is its number)."""
    return sheet.locator(f"#grid tr[data-row='{row}'] td").nth(column)


def test_demo_shows_sheet_with_sidebar_and_board_with_power_up(page, artifacts_dir):
    sheet, sidebar, board, _ = frames(page)
    expect(page.get_by_role("heading", name="Leads Sync demo")).to_be_visible()
    for name in ("Ada Lovelace", "Grace Hopper", "Katherine Johnson"):
        expect(sheet.locator("#grid")).to_contain_text(name)
    expect(sidebar.locator("body")).to_contain_text("This is the header row", timeout=WAIT_MS)
    expect(sidebar.locator("#footer")).to_contain_text("Workspace: Demo leads")

    cell(sheet, 3, 0).click()  # Grace Hopper's row
    expect(sidebar.locator("#row-label")).to_have_text("Row 3", timeout=WAIT_MS)
    expect(sidebar.locator("#card-name")).to_have_text("Grace Hopper", timeout=WAIT_MS)
    expect(sidebar.locator("#card-list")).to_have_text("Contacted")
    expect(sidebar.locator("#card-sync")).to_contain_text("Synced")
    page.screenshot(path=str(artifacts_dir / "demo-sheet-sidebar.png"), full_page=True)

    # the Power-Up's badges on the cards: each lead's status
    for name, status in (("Ada Lovelace", "New"), ("Grace Hopper", "Contacted"), ("Katherine Johnson", "Qualified")):
        card = board.locator(".card", has=board.get_by_role("button", name=name, exact=True))
        expect(card.locator(".badges")).to_have_text(status, timeout=WAIT_MS)
    board.locator("#board-buttons").get_by_role("button", name="Sync now").click()  # the Power-Up's board button
    expect(board.locator("#alert")).to_have_text("Sync started: the sheet and this board are being compared.")
    sidebar.get_by_role("button", name="Sync now").click()  # the add-on's, through google.script.run
    expect(sidebar.locator("#sync-now")).to_have_text("Sync started")

    # the card-back section of a card, framed from the app by the board
    board.get_by_role("button", name="Katherine Johnson", exact=True).click()
    expect(board.locator("#detail-name")).to_have_text("Katherine Johnson")
    expect(board.locator("#detail-sections h4")).to_have_text("Lead")
    card_back = board.frame_locator("#detail-sections iframe")
    content = card_back.locator("#content")
    for text in ("Qualified", "Synced", "katherine@example.com", "NASA", "Budget approved"):
        expect(content).to_contain_text(text, timeout=WAIT_MS)
    page.screenshot(path=str(artifacts_dir / "demo-board-card-back.png"), full_page=True)
    board.get_by_role("button", name="Close").click()
    expect(board.locator("#detail")).to_be_hidden()


def test_an_edit_in_the_sheet_moves_the_card_and_a_moved_card_changes_the_row(page, artifacts_dir):
    sheet, _, board, card_back = frames(page)
    board.get_by_role("button", name="Ada Lovelace", exact=True).click()
    expect(card_back.locator("#content")).to_contain_text("New", timeout=WAIT_MS)

    status = cell(sheet, 2, 4)  # Ada Lovelace's Status
    expect(status).to_have_text("New")
    status.click()
    status.fill("Qualified")
    status.press("Enter")

    qualified = board.locator("section.list[data-list='Qualified']")
    expect(qualified).to_contain_text("Ada Lovelace", timeout=WAIT_MS)
    ada = board.locator(".card", has=board.get_by_role("button", name="Ada Lovelace", exact=True))
    expect(ada.locator(".badges")).to_have_text("Qualified", timeout=WAIT_MS)
    expect(board.locator("#detail-list")).to_have_text("in list Qualified")
    expect(card_back.locator("#content .status")).to_have_text("Qualified", timeout=WAIT_MS)
    board.get_by_role("button", name="Close").click()

    grace = board.locator(".card", has=board.get_by_role("button", name="Grace Hopper", exact=True))
    grace.get_by_label("Move Grace Hopper to list").select_option(label="Closed")
    expect(board.locator("section.list[data-list='Closed']")).to_contain_text("Grace Hopper", timeout=WAIT_MS)
    expect(cell(sheet, 3, 4)).to_have_text("Won", timeout=WAIT_MS)
    grace = board.locator(".card", has=board.get_by_role("button", name="Grace Hopper", exact=True))
    expect(grace.locator(".badges")).to_have_text("Won", timeout=WAIT_MS)
    page.screenshot(path=str(artifacts_dir / "demo-synced.png"), full_page=True)


def test_new_spreadsheet_and_board_for_the_wizard(page, demo):
    page.get_by_role("button", name="New spreadsheet").click()
    expect(page.locator(".flash")).to_contain_text("Spreadsheet \u201cLeads 2\u201d is ready")
    page.get_by_role("button", name="New board").click()
    made = page.locator("table.made")
    expect(made).to_contain_text("https://docs.google.com/spreadsheets/d/")
    expect(made.locator("tr", has_text="board")).to_contain_text("Leads 2")
    boards = _get(f"{demo['trello']}/_emulator/state")["boards"]
    assert sorted(b["name"] for b in boards) == ["Leads", "Leads 2"]


def test_dashboard_connects_google_and_trello_through_the_emulators(page, artifacts_dir):
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Open the dashboard").click()
    dashboard = opened.value
    expect(dashboard.get_by_label("Email")).to_have_value("demo@example.com")
    dashboard.get_by_role("button", name="Sign in").click()
    expect(dashboard.get_by_text("Demo leads")).to_be_visible()
    dashboard.get_by_role("link", name="Connections").click()

    dashboard.get_by_role("button", name="Connect another Google account").click()
    expect(dashboard.get_by_role("heading", name="Choose an account")).to_be_visible()
    dashboard.get_by_role("button", name="Continue as Demo Seller (demo@example.com)").click()
    expect(dashboard.get_by_text("Google account demo@example.com is connected.")).to_be_visible()

    dashboard.get_by_role("button", name="Connect another Trello account").click()
    expect(dashboard.get_by_text("Let Leads Sync use your account?")).to_be_visible()
    dashboard.get_by_role("button", name="Allow").click()
    expect(dashboard.get_by_text("Trello account @demo is connected.")).to_be_visible()
    dashboard.screenshot(path=str(artifacts_dir / "demo-connections.png"), full_page=True)
    dashboard.close()


def test_the_wizard_end_to_end_with_a_new_spreadsheet_and_board(page, demo, artifacts_dir):
    """The spreadsheet and board made on /demo (previous test), the wizard, then the add-on connected with
    the sidebar's one-click Connect to Leads Sync: the new sheet's row becomes a card with its badge."""
    made = page.locator("table.made")
    address = made.locator("tr", has_text="spreadsheet").locator("code").inner_text()
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Open the dashboard").click()
    dashboard = opened.value
    dashboard.get_by_role("button", name="Sign in").click()
    dashboard.get_by_role("link", name="New workspace").first.click()
    dashboard.get_by_label("Spreadsheet URL").fill(address)
    dashboard.get_by_role("button", name="Continue").click()
    dashboard.locator(".choice", has_text="Leads").first.click()
    dashboard.get_by_role("button", name="Continue").click()
    dashboard.locator(".choice", has_text="Leads 2").click()  # the board, by name
    dashboard.get_by_role("button", name="Continue").click()
    dashboard.get_by_role("button", name="Continue").click()  # columns as guessed
    dashboard.get_by_label("Closed", exact=True).fill("Won")
    dashboard.get_by_role("button", name="Continue").click()
    dashboard.get_by_role("button", name="Save and preview").click()
    expect(dashboard.get_by_text("card will be created")).to_be_visible(timeout=WAIT_MS)
    dashboard.get_by_role("button", name="Create workspace and start syncing").click()
    expect(dashboard.get_by_text("The workspace is created")).to_be_visible()
    dashboard.close()

    sheet = page.context.new_page()
    sheet.goto(made.locator("tr", has_text="spreadsheet").get_by_role("link").get_attribute("href"))
    sidebar = sheet.frame_locator("#sidebar iframe")
    expect(sidebar.get_by_role("heading", name="Not connected")).to_be_visible(timeout=WAIT_MS)
    with sheet.expect_popup() as connect_window:
        sidebar.locator("#connect").click()
    popup = connect_window.value
    expect(popup.get_by_role("heading", name="Choose the workspace")).to_be_visible()
    popup.get_by_role("button", name="Connect the add-on").click()
    expect(popup.get_by_role("heading", name="Connected to \u201cLeads 2 \u00b7 Leads\u201d")).to_be_visible()
    popup.close()
    expect(sidebar.locator("#connect-status")).to_have_text(
        "Connected to the workspace \u201cLeads 2 \u00b7 Leads\u201d. The tab \u201cLeads\u201d now syncs with Trello.",
        timeout=WAIT_MS)
    expect(sheet.locator("#status")).to_contain_text("add-on installed", timeout=WAIT_MS)
    expect(sidebar.locator("#footer")).to_contain_text("Workspace: Leads 2")

    board_id = next(b["id"] for b in _get(f"{demo['trello']}/_emulator/state")["boards"] if b["name"] == "Leads 2")
    board = page.context.new_page()
    board.goto(f"{demo['trello']}/_emulator/ui/boards/{board_id}")
    card = board.locator(".card", has=board.get_by_role("button", name="Mary Jackson", exact=True))
    expect(card.locator(".badges")).to_have_text("New", timeout=WAIT_MS)
    board.screenshot(path=str(artifacts_dir / "demo-wizard-board.png"), full_page=True)
    board.close()
    sheet.close()


def test_an_alert_about_a_parked_change_reaches_the_demo_mailbox(page, demo, artifacts_dir):
    """The issue's last step: a person receives an alert, without a terminal. The demo's alerts go
    over SMTP to its mailbox (an SMTP server of its own), shown at the foot of /demo."""
    page.goto(demo["web"] + "/demo")
    expect(page.locator("#mailbox")).to_contain_text("No alert yet.")
    sheet, _, _, _ = frames(page)
    status = cell(sheet, 4, 4)  # Katherine Johnson's Status: a status the mapping has no list for
    status.click()
    status.fill("Demo booked")
    status.press("Enter")
    mailbox = page.locator("#mailbox")
    deadline = time.monotonic() + 40
    while "Katherine Johnson" not in (mailbox.inner_text() or ""):
        assert time.monotonic() < deadline, "no alert reached the mailbox: " + mailbox.inner_text()
        time.sleep(1.0)
        page.reload()
    expect(mailbox).to_contain_text("Demo leads")
    mailbox.locator("summary").first.click()
    expect(mailbox.locator("pre").first).to_contain_text("Demo booked")
    page.screenshot(path=str(artifacts_dir / "demo-mailbox.png"), full_page=True)
