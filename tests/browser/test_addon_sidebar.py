"""The add-on's sidebar (apps_script/Sidebar.html) in headless Chromium, with a stand-in for
``google.script.run`` that answers like the server-side functions of Code.js."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

SIDEBAR = Path(__file__).resolve().parents[2] / "apps_script" / "Sidebar.html"

# google.script.run as Apps Script provides it: chained with*Handler runners, asynchronous calls,
# answers serialised (JSON-like), at most 10 calls in flight. It records every call.
STAND_IN = r"""
(() => {
  const s = window.__scenario = Object.assign({
    selected: {connected: false, errors: []}, cards: {}, fail: {}, delayMs: 30,
    calls: [], inFlight: 0, maxInFlight: 0, opened: []
  }, window.__initialScenario || {});
  window.open = (url) => { s.opened.push(url); return null; };
  const functions = {
    getSelectedLead: () => s.selected,
    getCardForLead: (leadId) => s.cards[leadId] ||
      {ok: true, linked: false, lead_id: leadId, card: null, card_url: null, card_error: null,
       sync: {state: 'not_linked', last_synced_at: null, error: ''}},
    createCardNow: (leadId) => ({ok: true, message: 'The card is being created; it shows here in a few seconds.'}),
    syncNow: () => ({ok: true, message: 'Sync started: the sheet and the board are being compared.'}),
    clearErrors: () => { s.selected = Object.assign({}, s.selected, {errors: []}); return {ok: true}; }
  };
  function runner(onOk, onFail) {
    const r = {
      withSuccessHandler: (fn) => runner(fn, onFail),
      withFailureHandler: (fn) => runner(onOk, fn),
      withUserObject: () => r
    };
    Object.keys(functions).forEach((name) => {
      r[name] = (...args) => {
        s.calls.push({name, args});
        s.inFlight++;
        s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
        if (s.inFlight > 10) throw new Error('google.script.run: too many calls in flight');
        setTimeout(() => {
          s.inFlight--;
          if (s.fail[name]) { if (onFail) onFail(new Error(s.fail[name])); return; }
          const value = JSON.parse(JSON.stringify(functions[name](...args)));
          if (onOk) onOk(value);
        }, s.delayMs);
      };
    });
    return r;
  }
  window.google = {script: {run: runner(null, null)}};
})();
"""

ERRORS = [
    {"at": "2024-05-01T10:00:00.000Z", "message": "Could not send row 7: Status 'Maybe' is not a status (HTTP 400)",
     "code": 400},
    {"at": "2024-05-01T09:00:00.000Z", "message": "Could not send 12 rows (2\u201313): the server answered HTTP 502 "
     "(will retry with the next edit or Sync now)", "code": 502},
]


def selected(lead_id: str | None = "L-0123456789ab", **extra: Any) -> dict[str, Any]:
    base = {"connected": True, "onSheet": True, "sheet": "Leads", "workspaceName": "Pipeline", "queued": 0,
            "row": 7, "leadId": lead_id, "blank": False, "errors": [],
            "values": {"Name": "Ann Lee", "Email": "ann@example.com", "Company": "Acme", "Status": "Contacted"}}
    base.update(extra)
    return base


TWO_HOURS_AGO = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
LINKED = {
    "ok": True, "linked": True, "lead_id": "L-0123456789ab", "card_error": None,
    "card_url": "https://trello.com/c/AbCd1234/12-ann-lee",
    "card": {"id": "5f1a2b3c4d5e6f7a8b9c0d1e", "name": "Ann Lee \u2014 Acme", "url": "https://trello.com/c/AbCd1234/12-ann-lee",
             "closed": False, "list": {"id": "l1", "name": "Contacted"},
             "labels": [{"name": "Hot", "color": "red"}, {"name": "Enterprise", "color": "sky"},
                        {"name": "Q3", "color": "green_dark"}],
             "start": "2029-12-01T09:00:00.000Z", "due": "2030-01-15T17:00:00.000Z", "dueComplete": False,
             "checklist": {"checked": 3, "total": 5},
             "members": [{"fullName": "Bob Roy", "username": "bobroy"}, {"fullName": "Cy Dee", "username": "cydee"}],
             "dateLastActivity": TWO_HOURS_AGO},
    "sync": {"state": "synced", "last_synced_at": TWO_HOURS_AGO, "error": ""},
}


def open_sidebar(browser, scenario: dict[str, Any]):
    context = browser.new_context(viewport={"width": 300, "height": 640}, color_scheme="light")
    outside: list[str] = []

    def only_the_file(route):  # type: ignore[no-untyped-def]
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_file)
    context.add_init_script(f"window.__initialScenario = {json.dumps(scenario)};\n{STAND_IN}")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(SIDEBAR.as_uri())
    return page, errors, outside


def scenario_value(page, key: str) -> Any:
    return page.evaluate(f"JSON.parse(JSON.stringify(window.__scenario.{key}))")


def calls(page, name: str) -> list[list[Any]]:
    return [c["args"] for c in scenario_value(page, "calls") if c["name"] == name]


def test_linked_lead_shows_its_trello_card(browser, artifacts_dir):
    page, errors, outside = open_sidebar(browser, {"selected": selected(), "cards": {"L-0123456789ab": LINKED}})
    page.wait_for_selector("body[data-state=linked]")
    assert page.inner_text("#card-name") == "Ann Lee \u2014 Acme"
    assert page.inner_text("#card-list") == "Contacted"
    chips = page.locator("#card-labels .chip")
    assert chips.all_inner_texts() == ["Hot", "Enterprise", "Q3"]
    colours = [chips.nth(i).evaluate("el => getComputedStyle(el).backgroundColor") for i in range(3)]
    assert len(set(colours)) == 3 and "rgb(248, 113, 104)" in colours  # Trello's red
    assert "2030" in page.inner_text("#card-due")
    assert "2029" in page.inner_text("#card-start") and page.is_visible("#card-start")
    assert page.inner_text("#card-checklist") == "3 of 5 done"
    assert page.inner_text("#card-members") == "Bob Roy (@bobroy), Cy Dee (@cydee)"
    assert page.inner_text("#card-activity") == "2 h ago"
    assert "Synced" in page.inner_text("#card-sync")
    assert page.inner_text("#row-label") == "Row 7" and page.inner_text("#lead-id-label") == "L-0123456789ab"
    assert page.is_hidden("#errors-section") and page.is_hidden("#card-error")
    assert page.inner_text("#workspace-label") == "Workspace: Pipeline"
    assert page.evaluate("document.body.scrollWidth") <= 300, "fits the 300 px sidebar"
    page.screenshot(path=str(artifacts_dir / "sidebar-linked.png"), full_page=True)
    page.click("#open-trello")
    assert scenario_value(page, "opened") == ["https://trello.com/c/AbCd1234/12-ann-lee"]
    assert calls(page, "getCardForLead") == [["L-0123456789ab"]]
    assert errors == [] and outside == []


def test_unlinked_lead_offers_create_card_now(browser, artifacts_dir):
    page, errors, outside = open_sidebar(browser, {"selected": selected("L-aaaaaaaaaaaa")})
    page.wait_for_selector("body[data-state=unlinked]")
    assert page.is_visible("text=Not linked yet")
    assert "Ann Lee" in page.inner_text("#row-values")
    page.screenshot(path=str(artifacts_dir / "sidebar-unlinked.png"), full_page=True)
    page.click("text=Create card now")
    page.wait_for_function("document.querySelector('#create-result').textContent.includes('being created')")
    assert calls(page, "createCardNow") == [["L-aaaaaaaaaaaa"]]
    assert errors == [] and outside == []


def test_card_lookup_error_and_recent_errors(browser, artifacts_dir):
    page, errors, outside = open_sidebar(browser, {
        "selected": selected(errors=ERRORS),
        "cards": {"L-0123456789ab": {"ok": False, "error": "signature does not match (HTTP 401)", "code": 401}}})
    page.wait_for_selector("body[data-state=lookup-error]")
    assert "signature does not match" in page.inner_text("#lookup-error")
    assert page.locator("#errors li").count() == 2
    assert "Status 'Maybe'" in page.locator("#errors li").first.inner_text()
    page.screenshot(path=str(artifacts_dir / "sidebar-errors.png"), full_page=True)
    page.click("#clear-errors")
    page.wait_for_selector("#errors-section", state="hidden")
    assert calls(page, "clearErrors") == [[]]
    assert errors == [] and outside == []


def test_linked_card_with_sync_error_and_trello_problem(browser, artifacts_dir):
    card = json.loads(json.dumps(LINKED))
    card["sync"] = {"state": "error", "last_synced_at": None,
                    "error": "Status 'Maybe' has no Trello list in this workspace's mapping"}
    card["card_error"] = "Trello did not answer just now; the card will show again in a moment."
    page, errors, _ = open_sidebar(browser, {"selected": selected(), "cards": {"L-0123456789ab": card}})
    page.wait_for_selector("body[data-state=linked]")
    assert "Error" in page.inner_text("#card-sync") and "no Trello list" in page.inner_text("#card-sync")
    assert page.is_visible("#card-error")
    page.screenshot(path=str(artifacts_dir / "sidebar-sync-error.png"), full_page=True)
    assert errors == []


def test_not_connected_explains_how_to_connect(browser, artifacts_dir):
    page, errors, outside = open_sidebar(browser, {"selected": {"connected": False, "errors": []}})
    page.wait_for_selector("body[data-state=not-connected]")
    text = page.inner_text("#not-connected")
    assert "Not connected" in text and "Connect to server" in text and "one-time code" in text
    assert page.is_hidden("#footer")
    page.screenshot(path=str(artifacts_dir / "sidebar-not-connected.png"), full_page=True)
    assert errors == [] and outside == []


def test_follows_the_selection_with_at_most_two_calls_in_flight(browser):
    page, errors, _ = open_sidebar(browser, {"selected": selected(), "cards": {"L-0123456789ab": LINKED},
                                             "delayMs": 2500})
    # slow answers: polls must not pile up
    page.wait_for_timeout(6000)
    assert scenario_value(page, "maxInFlight") <= 2
    assert len(calls(page, "getSelectedLead")) <= 3
    page.wait_for_selector("body[data-state=linked]")
    # the selection moves to an unlinked lead, then to another tab, then to the header row
    page.evaluate("window.__scenario.delayMs = 20")
    page.evaluate(f"window.__scenario.selected = {json.dumps(selected('L-bbbbbbbbbbbb', row=9))}")
    page.wait_for_selector("body[data-state=unlinked]", timeout=5000)
    assert page.inner_text("#row-label") == "Row 9"
    page.evaluate(f"window.__scenario.selected = {json.dumps(selected(None, onSheet=False))}")
    page.wait_for_selector("body[data-state=elsewhere]", timeout=5000)
    assert "Leads" in page.inner_text("#elsewhere-text")
    page.evaluate(f"window.__scenario.selected = {json.dumps(selected(None, header=True, row=1))}")
    page.wait_for_function("document.querySelector('#elsewhere-text').textContent.includes('header row')", timeout=5000)
    assert scenario_value(page, "maxInFlight") <= 2
    assert errors == []


def test_a_card_without_start_date_or_checklist_shows_neither(browser):
    card = {**LINKED["card"], "start": None, "checklist": {"checked": 0, "total": 0}}
    page, errors, _outside = open_sidebar(browser, {"selected": selected(),
                                                    "cards": {"L-0123456789ab": {**LINKED, "card": card}}})
    page.wait_for_selector("body[data-state=linked]")
    assert page.is_hidden("#start-field") and page.is_hidden("#checklist-field")
    assert page.is_visible("#due-field") and not errors


def test_the_cards_custom_fields_show_by_their_column_names_as_text(browser):
    fields = [{"name": "Deal size", "value": "12500"}, {"name": "Stage", "value": "<b>Hot</b>"},
              {"name": "VIP", "value": "TRUE"}]
    card = {**LINKED["card"], "customFields": fields}
    page, errors, _outside = open_sidebar(browser, {"selected": selected(),
                                                    "cards": {"L-0123456789ab": {**LINKED, "card": card}}})
    page.wait_for_selector("body[data-state=linked]")
    rows = page.locator("#card-custom-fields .custom-field")
    assert rows.count() == 3
    assert [rows.nth(i).locator(".k").inner_text() for i in range(3)] == ["Deal size", "Stage", "VIP"]
    assert rows.nth(1).locator(".v").inner_text() == "<b>Hot</b>"  # shown as text, never markup
    assert page.inner_text("#card-members")  # beside labels, due date, members, start and checklist
    assert page.evaluate("document.body.scrollWidth") <= 300 and not errors
    again = {**LINKED["card"], "customFields": []}  # a card without values shows no such lines
    page2, errors2, _ = open_sidebar(browser, {"selected": selected(),
                                               "cards": {"L-0123456789ab": {**LINKED, "card": again}}})
    page2.wait_for_selector("body[data-state=linked]")
    assert page2.locator("#card-custom-fields .custom-field").count() == 0 and not errors2
