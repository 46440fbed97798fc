"""Custom fields in headless Chromium, against the emulators: the wizard makes a list field for a
column (its options the column's values) and maps it; a board that lost its Custom Fields is said
on the workspace page, whose one click previews the columns as description lines, saved as ever.
Screenshots go to ``test-artifacts/custom-fields-*.png``."""

from __future__ import annotations

import pytest

from server.sync import customfields
from tests.browser.chromium import ARGS, CHROMIUM
from tests.browser.pages import sign_in
from tests.dashboard.helpers import seed_pipeline

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect



def _deal_mapped_then_lost(world) -> str:
    """The world's workspace maps a Deal column to a number field; then the board loses Custom
    Fields and a sheet edit meets Trello's refusal. Returns the lead's id."""
    world.trello.set_custom_fields(world.board_id, True)
    deal = world.trello.add_custom_field(world.board_id, "Deal", "number")["id"]
    world.map_columns({"custom_fields": {"Deal": deal}}, ["Deal"])
    customfields.forget(world.workspace_id)
    world.add_row(Name="Ada Lovelace", Email="ada@example.com", Status="New", Deal="1200")
    world.settle()
    world.trello.set_custom_fields(world.board_id, False)
    row = world.rows()[-1]
    world.edit_row(row["_row"], Deal="1500")
    world.settle()
    return row["Lead ID"]


def test_the_wizard_makes_a_field_and_a_board_without_custom_fields_offers_description_lines(world, artifacts_dir):
    base = world.web.base_url
    seeded = seed_pipeline(world)
    world.trello.set_custom_fields(seeded["board_id"], True)
    lead_id = _deal_mapped_then_lost(world)

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        sign_in(context, page, world)

        # The wizard, up to its columns step, on a board with Custom Fields but none defined yet
        page.goto(f"{base}/app/workspaces/new?restart=1")
        page.get_by_label("Spreadsheet URL").fill(
            f"https://docs.google.com/spreadsheets/d/{seeded['spreadsheet_id']}/edit")
        page.get_by_role("button", name="Continue").click()
        page.locator(".choice", has_text="Leads 2026").click()
        page.get_by_role("button", name="Continue").click()
        page.locator(".choice", has_text="Sales").click()
        page.get_by_role("button", name="Continue").click()
        make = page.locator("#make-custom-fields")
        expect(make).to_contain_text("Make custom fields on the board")
        expect(make).to_contain_text("A list takes its options from the column's values in the sheet")
        make.get_by_label("Company").select_option(label="List of options")
        page.screenshot(path=str(artifacts_dir / "custom-fields-wizard-columns.png"), full_page=True)
        page.get_by_role("button", name="Continue").click()

        expect(page.locator("body")).to_contain_text(
            "Made on the board and mapped to their columns: “Company” (list: Analytical Engines, Navy Labs, NASA).")
        assert "step=statuses" in page.url
        page.get_by_role("link", name="Columns").click()
        expect(page.locator("#custom-field-1")).to_have_value("Company")  # the new field, mapped to its column
        expect(page.get_by_label("Company (list)")).to_have_value("Company")

        # The workspace whose board lost Custom Fields: said, and switched in one click
        page.goto(f"{base}/app/workspaces/{world.workspace_id}")
        lost = page.locator("#custom-fields-lost")
        expect(lost).to_contain_text("Trello no longer takes this board's custom fields: Custom Fields are not "
                                     "available on it (they need a paid Trello plan or the board's Custom Fields "
                                     "Power-Up). “Deal” is not written to cards")
        page.screenshot(path=str(artifacts_dir / "custom-fields-lost.png"), full_page=True)
        lost.get_by_role("button", name="Sync it as description lines instead").click()

        expect(page.get_by_role("heading", name="Edit the mapping")).to_be_visible()
        expect(page.locator("body")).to_contain_text("They are checked below to sync as “Column: value” lines in "
                                                     "the card description instead")
        expect(page.locator("#mapping-effect")).to_contain_text("The next full sync rewrites the title, description")
        expect(page.locator("input[name=description_columns][value=Deal]")).to_be_checked()
        expect(page.locator("#custom-fields-fallback")).to_contain_text("Email, Phone, Company, Notes, Deal")
        page.screenshot(path=str(artifacts_dir / "custom-fields-fallback-preview.png"), full_page=True)
        page.get_by_role("button", name="Save mapping").click()

        expect(page.locator("body")).to_contain_text("The mapping is saved.")
        expect(page.locator("body")).to_contain_text("A full sync is queued")
        expect(page.locator("#custom-fields-lost")).to_have_count(0)
        assert not errors, errors
        browser.close()

    world.settle()
    assert "Deal: 1500" in world.card_for(lead_id)["desc"]
