"""Setting a row and a card filter in the mapping editor, in headless Chromium against the emulators:
what a person sees — the filter's controls, the preview's counts naming the leads, the workspace's
summary in words — and that saving with a full sync takes the filtered lead out.
Screenshots go to ``test-artifacts/filters-*.png``."""

from __future__ import annotations

import pytest

from server.extensions import db
from server.models import Workspace
from tests.browser.chromium import ARGS, CHROMIUM
from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect



def test_setting_filters_in_the_browser(world, artifacts_dir):
    base = world.web.base_url
    for name, status in (("Ada Lovelace", "New"), ("Bob Lost", "Lost"), ("Cy Closer", "Qualified")):
        world.add_row(Name=name, Email=f"{name.split()[0].lower()}@example.com", Status=status)
    world.settle()
    assert len(world.cards()) == 3

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="light")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        sign_in(context, page, world)

        page.goto(f"{base}/app/workspaces/{world.workspace_id}")
        expect(page.locator("#summary-row-filter")).to_have_text("every row")
        expect(page.locator("#summary-card-filter")).to_have_text("cards in every mapped list")
        page.goto(f"{base}/app/workspaces/{world.workspace_id}/mapping")
        rows = page.locator("#row-filter")
        expect(rows.get_by_role("group").or_(rows)).to_contain_text("Which rows sync")
        page.get_by_label("Row filter 1: column").select_option("Status")
        page.get_by_label("Row filter 1: condition").select_option(label="is not")
        page.get_by_label("Row filter 1: value").fill("Lost")
        cards = page.locator("#card-filter")
        cards.get_by_label("Only cards in these lists:").check()
        for name in ("New", "Contacted", "Qualified"):
            cards.get_by_label(f"Sync cards in {name}", exact=True).check()
        rows.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "filters-form.png"))
        page.get_by_role("button", name="Preview changes").click()

        effect = page.locator("#filter-effect")
        expect(effect).to_contain_text("The new row filter takes in 0 rows and leaves out 1 row (“Bob Lost”), "
                                       "of 3 in the sheet.")
        expect(effect).to_contain_text("The new card filter takes in 0 cards and leaves out 1 card (“Bob Lost”), "
                                       "of 3 on the board.")
        expect(effect).to_contain_text("a row's card is archived")
        expect(page.get_by_label("Row filter 1: value")).to_have_value("Lost")  # the answers are kept
        effect.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "filters-preview.png"))

        page.get_by_role("button", name="Save mapping").click()
        expect(page.locator("body")).to_contain_text("The mapping is saved.")
        expect(page.locator("body")).to_contain_text("A full sync is queued")
        expect(page.locator("#summary-row-filter")).to_have_text(
            "rows where Status is not “Lost” whose status goes to a list the card filter takes")
        expect(page.locator("#summary-card-filter")).to_have_text("cards in “New” or “Contacted” or “Qualified”")
        page.locator("#summary-row-filter").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "filters-saved.png"))
        assert not errors, errors
        browser.close()

    with world.app.app_context():
        mapping = db.session.get(Workspace, world.workspace_id).mapping
    assert mapping["row_filter"] == [{"column": "Status", "op": "is_not", "value": "Lost"}]
    world.settle(timeout=30)
    assert sorted(c["name"] for c in world.cards()) == ["Ada Lovelace", "Cy Closer"]
