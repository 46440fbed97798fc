"""The mapping editor in headless Chromium, against the emulators: the workspace page offers a status
the sync met unmapped; the editor's reverse table follows edits of the forward table as a person
makes them; the preview says what saving changes; saving requeues the parked event.
Screenshots go to ``test-artifacts/mapping-*.png``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.extensions import db
from server.models import Event, Workspace
from server.models.sync import PARKED
from tests.browser.chromium import ARGS, CHROMIUM
from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect



def test_edit_mapping_in_the_browser(world, artifacts_dir):
    base = world.web.base_url
    demo = world.trello.add_list(world.board_id, "Demo")
    world.add_row(Name="Dora Demo", Email="dora@example.com", Status="Demo booked")
    world.settle()
    with world.app.app_context():
        parked = db.session.scalars(select(Event).where(Event.workspace_id == world.workspace_id,
                                                        Event.state == PARKED)).all()
        assert len(parked) == 1

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        sign_in(context, page, world)

        page.goto(f"{base}/app/workspaces/{world.workspace_id}")
        offers = page.locator("#mapping-offers")
        expect(offers).to_contain_text("Status “Demo booked” in the sheet has no Trello list")
        expect(offers).to_contain_text("1 parked event waits for it")
        offers.get_by_role("link", name="map it to a list").click()

        expect(page.get_by_role("heading", name="Edit the mapping")).to_be_visible()
        expect(page.locator("#unmatched-note")).to_contain_text("No Trello list matches 1 status (“Demo booked”)")
        chooser = page.get_by_label("List for Demo booked")
        expect(chooser.locator("option:checked")).to_have_text("— choose a list —")
        demo_reverse = page.get_by_label("Demo", exact=True)
        expect(demo_reverse).to_have_value("Demo")
        closed_reverse = page.get_by_label("Closed", exact=True)
        expect(closed_reverse).to_have_value("Won")

        # The reverse table follows the forward table as it is edited.
        chooser.select_option(label="Demo")
        expect(demo_reverse).to_have_value("Demo booked")
        page.get_by_label("List for Won").select_option(label="Qualified")
        expect(closed_reverse).to_have_value("Lost")  # "Won" no longer leads back to Closed
        page.get_by_label("List for Won").select_option(label="Closed")
        expect(closed_reverse).to_have_value("Won")  # a suggestion now: the first status sent to Closed again
        closed_reverse.fill("Lost")  # typed by the person: kept from now on
        page.get_by_label("List for New").select_option(label="Contacted")
        expect(closed_reverse).to_have_value("Lost")
        page.get_by_label("List for New").select_option(label="New")

        page.get_by_role("button", name="Preview changes").click()
        effect = page.locator("#mapping-effect")
        expect(effect).to_contain_text("1 parked event will be queued again")
        expect(effect).to_contain_text("status “Demo booked”")
        expect(page.get_by_label("Demo", exact=True)).to_have_value("Demo booked")
        page.screenshot(path=str(artifacts_dir / "mapping-preview.png"), full_page=True)

        page.get_by_role("button", name="Save mapping").click()
        expect(page.get_by_role("heading", name="Leads")).to_be_visible()
        expect(page.locator("body")).to_contain_text("The mapping is saved. 1 parked event(s) are queued again.")
        expect(page.locator("#mapping-offers")).not_to_contain_text("Demo booked")
        page.screenshot(path=str(artifacts_dir / "mapping-saved.png"), full_page=True)
        assert not errors, errors
        browser.close()

    with world.app.app_context():
        mapping = db.session.get(Workspace, world.workspace_id).mapping
    assert mapping["status_to_list"]["Demo booked"] == demo["id"]
    assert mapping["list_to_status"][demo["id"]] == "Demo booked"
    assert mapping["list_to_status"][world.lists["Closed"]] == "Lost"
    world.settle()
    cards = [c for c in world.cards() if c["name"] == "Dora Demo"]
    assert len(cards) == 1 and cards[0]["idList"] == demo["id"]
