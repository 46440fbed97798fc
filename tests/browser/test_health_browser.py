"""The workspace page's Connection health and Alerts blocks in headless Chromium, against the
emulators: what a person sees, and saving alert settings through the CSRF-protected form.
Screenshots go to ``test-artifacts/health-*.png``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.extensions import db
from server.models import ProviderAccount, Workspace
from server.sync.grants import apply_terms, google_terms
from server.sync.worker import check_webhooks
from tests.browser.chromium import ARGS, CHROMIUM
from tests.browser.pages import sign_in

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
WORLD_CONFIG = {"GRANT_WARN_DAYS": 2}  # the world of tests/browser/conftest.py


def test_connection_health_block_shows_each_connection_in_plain_words(world, artifacts_dir):
    now = datetime.now(UTC)
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.addon_last_seen_at = now - timedelta(minutes=5, seconds=10)
        google = db.session.get(ProviderAccount, workspace.google_account_id)
        # a Testing-mode Google client: consent given 6 days ago, so the grant dies tomorrow
        apply_terms(google, google_terms(now - timedelta(days=6), testing_mode=True))
        db.session.commit()
    worker = world.worker
    check_webhooks(worker.session_factory, worker.processor.providers, worker.settings)

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 1400})
        page = context.new_page()
        sign_in(context, page, world)
        page.goto(f"{world.web.base_url}/app/workspaces/{world.workspace_id}")
        health = page.locator("#health")
        expect(health.get_by_role("heading", name="Connection health")).to_be_visible()
        expect(health).to_contain_text("Needs attention soon")

        def line(key: str):
            return health.locator(f"[data-health={key}]")

        expect(line("addon")).to_contain_text("Google Sheets add-on")
        expect(line("addon")).to_contain_text("Last heard from 5 minutes ago.")
        expect(line("powerup")).to_contain_text("Not used on this board yet: enable the Leads Sync Power-Up")
        expect(line("webhook")).to_contain_text("Trello webhook")
        expect(line("webhook")).to_contain_text("Active (checked just now).")
        expect(line("google")).to_contain_text("The Google account ann@example.com's access expires in 23 hours")
        expect(line("google")).to_contain_text("connect it again on the Connections page before then")
        expect(line("trello")).to_contain_text(
            "The Trello account ann is valid (its expiry was not recorded when it was connected).")
        health.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "health-workspace.png"), full_page=True)

        alerts = page.locator("#alerts")
        expect(alerts).to_contain_text("No open problems.")
        expect(alerts).to_contain_text("Email me at ann@example.com")
        alerts.get_by_label("Also email (comma-separated)").fill("sales@example.com, not an address")
        alerts.get_by_role("button", name="Save alert settings").click()
        expect(page.locator(".flash-error")).to_contain_text(
            "Alert settings not saved: not is not an email address")
        alerts = page.locator("#alerts")
        alerts.get_by_label("Also email (comma-separated)").fill("sales@example.com")
        alerts.get_by_label("and a daily summary").check()
        alerts.get_by_role("button", name="Save alert settings").click()
        expect(page.locator(".flash-success")).to_contain_text("Alert settings saved.")
        expect(page.locator("#alert-extra")).to_have_value("sales@example.com")
        expect(page.locator("#alerts").get_by_label("and a daily summary")).to_be_checked()
        page.locator("#alerts").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "health-alerts.png"), full_page=True)
        browser.close()
