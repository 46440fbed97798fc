"""The Boards page in headless Chromium, against the emulators: a person picks the routing column,
adds a second board from their Trello boards, maps its lists, and sees every board with its
webhook; a row typed with that board's value then gets its card there. Screenshots go to
``test-artifacts/boards-*.png``."""

from __future__ import annotations

import pytest

from server.extensions import db
from server.models import Workspace
from server.seed import DEMO_LISTS
from tests.browser.chromium import ARGS, CHROMIUM
from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture
def region(world):
    """The world of tests/browser/conftest.py, whose sheet's owner added a Region column."""
    with world.sheets._lock:
        world.sheets._sheet(world.spreadsheet_id, "Leads")[1].set(1, 8, "Region")
    return world


def test_add_a_second_board_in_the_browser(region, artifacts_dir):
    world = region
    base = world.web.base_url
    owner = world.person.request("GET", f"/boards/{world.board_id}/members")[0]["id"]
    eu = world.trello.add_board("EU leads", owner, lists=DEMO_LISTS)
    eu_lists = {lst["name"]: lst["id"] for lst in eu["lists"]}

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        sign_in(context, page, world)

        page.goto(f"{base}/app/workspaces/{world.workspace_id}")
        page.get_by_role("link", name="Boards", exact=True).click()
        expect(page.get_by_role("heading", name="Boards", exact=True)).to_be_visible()
        expect(page.locator("#add-board")).to_have_count(0)  # a routing column first

        page.get_by_label("The column that picks each row's board").select_option("Region")
        page.get_by_label("Values for the main board").fill("US")
        page.get_by_role("button", name="Save routing column").click()
        expect(page.locator("body")).to_contain_text("The boards are saved.")

        add = page.locator("#add-board")
        add.get_by_label("Board", exact=True).select_option(label="EU leads")
        add.get_by_label("Values of “Region” that send a row there").fill("EU, Europe")
        add.get_by_role("button", name="Next: its lists").click()

        adding = page.locator("#adding-board")
        expect(adding.get_by_role("heading")).to_have_text("Add “EU leads”")
        expect(adding.get_by_label("List for New").locator("option:checked")).to_have_text("New")
        expect(adding.get_by_label("List for Won").locator("option:checked")).to_have_text("— choose a list —")
        adding.get_by_role("button", name="Add this board").click()
        problems = page.locator("#boards-problems")
        expect(problems).to_contain_text("Choose a list of this board for “Won”.")
        errors[:] = [e for e in errors if "status of 400" not in e]  # the refused answer's page is a 400
        adding = page.locator("#adding-board")
        adding.get_by_label("List for Won").select_option(label="Closed")
        adding.get_by_label("List for Lost").select_option(label="Closed")
        adding.get_by_role("button", name="Add this board").click()

        expect(page.locator("body")).to_contain_text("The boards are saved. A full sync is queued")
        table = page.locator("#boards-table")
        expect(table.locator(f'tr[data-board="{world.board_id}"]')).to_contain_text("main board")
        expect(table.locator(f'tr[data-board="{world.board_id}"]')).to_contain_text("US")
        eu_row = table.locator(f'tr[data-board="{eu["id"]}"]')
        expect(eu_row).to_contain_text("EU leads")
        expect(eu_row).to_contain_text("EU, Europe")
        expect(eu_row.locator(".webhook-health")).to_have_text("registered")
        page.screenshot(path=str(artifacts_dir / "boards-saved.png"), full_page=True)

        page.goto(f"{base}/app/workspaces/{world.workspace_id}")
        expect(page.locator(f'[data-health="webhook:{eu["id"]}"]')).to_contain_text("Trello webhook of “EU leads”")
        assert not errors, errors
        browser.close()

    with world.app.app_context():
        routing = db.session.get(Workspace, world.workspace_id).mapping["routing"]
    assert routing["column"] == "Region" and routing["boards"][0]["status_to_list"]["Won"] == eu_lists["Closed"]
    world.settle()
    world.add_row(Name="Ada Lovelace", Email="ada@example.com", Status="Qualified", Region="EU")
    world.settle()
    [card] = world.trello.cards(eu["id"])
    assert card["name"] == "Ada Lovelace" and card["idList"] == eu_lists["Qualified"]
