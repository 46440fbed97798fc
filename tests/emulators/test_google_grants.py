"""Scopes enforced by the emulators: a ``drive.file`` token reaches only picked or app-created spreadsheets.

Real HTTP: the OAuth emulator issues the tokens, the Sheets emulator (linked to it) checks them.
"""

from __future__ import annotations

import pytest
import requests

from emulators.google_grants import Access, FileGrants, TokenGrant
from emulators.google_oauth import GoogleOAuthEmulator
from emulators.sheets import SheetsEmulator

AUTH = "https://www.googleapis.com/auth/"
EMAIL = "ann@example.com"


@pytest.fixture(scope="module")
def google():
    sheets = SheetsEmulator()
    sheets.start()
    emulator = GoogleOAuthEmulator()
    emulator.start()
    emulator.link_sheets(sheets)
    yield emulator
    emulator.stop()
    sheets.stop()


def _get(google: GoogleOAuthEmulator, token: str, spreadsheet_id: str) -> requests.Response:
    return requests.get(f"{google.sheets.api_base_url}/spreadsheets/{spreadsheet_id}",
                        headers={"Authorization": f"Bearer {token}"}, timeout=5)


def _write(google: GoogleOAuthEmulator, token: str, spreadsheet_id: str) -> requests.Response:
    return requests.put(f"{google.sheets.api_base_url}/spreadsheets/{spreadsheet_id}/values/Sheet1!A1",
                        params={"valueInputOption": "RAW"}, json={"values": [["x"]]},
                        headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_drive_file_token_reaches_only_picked_spreadsheets(google):
    picked = google.sheets.create_spreadsheet("Picked leads")
    other = google.sheets.create_spreadsheet("Someone else's leads")
    token = google.issue_grant(EMAIL, scope=f"openid email {AUTH}drive.file")["access_token"]

    refused = _get(google, token, picked)
    assert refused.status_code == 403
    assert refused.json() == {"error": {"code": 403, "message": "The caller does not have permission",
                                        "status": "PERMISSION_DENIED"}}

    # The Picker, with the right app id (the project number), grants the file to the client's grant.
    answer = requests.post(google.base_url + "/_emulator/picked", timeout=5,
                           json={"access_token": token, "file_id": picked, "app_id": google.project_number})
    assert answer.json() == {"granted": True}
    assert _get(google, token, picked).json()["properties"]["title"] == "Picked leads"
    assert _write(google, token, picked).status_code == 200
    assert _get(google, token, other).status_code == 403
    assert _write(google, token, other).status_code == 403


def test_picker_without_the_project_number_grants_nothing(google):
    spreadsheet_id = google.sheets.create_spreadsheet("Leads")
    token = google.issue_grant(EMAIL, scope=f"openid email {AUTH}drive.file")["access_token"]
    assert google.pick_file(token, spreadsheet_id, app_id="999") is False
    assert google.pick_file("not-a-token", spreadsheet_id, app_id=google.project_number) is False
    assert _get(google, token, spreadsheet_id).status_code == 403


def test_a_pick_is_per_user_and_per_client(google):
    spreadsheet_id = google.sheets.create_spreadsheet("Shared leads")
    google.grant_file("bob@example.com", spreadsheet_id)
    ann = google.issue_grant(EMAIL, scope=f"openid email {AUTH}drive.file")["access_token"]
    google.register_client("other-client", "other-secret")
    bob_elsewhere = google.issue_grant("bob@example.com", scope=f"{AUTH}drive.file",
                                       client_id="other-client")["access_token"]
    bob = google.issue_grant("bob@example.com", scope=f"{AUTH}drive.file")["access_token"]
    assert _get(google, ann, spreadsheet_id).status_code == 403
    assert _get(google, bob_elsewhere, spreadsheet_id).status_code == 403
    assert _get(google, bob, spreadsheet_id).status_code == 200


def test_spreadsheets_scope_reaches_everything_and_readonly_only_reads(google):
    spreadsheet_id = google.sheets.create_spreadsheet("Leads")
    full = google.issue_grant(EMAIL)["access_token"]  # openid email spreadsheets
    readonly = google.issue_grant(EMAIL, scope=f"{AUTH}spreadsheets.readonly")["access_token"]
    identity = google.issue_grant(EMAIL, scope="openid email")["access_token"]
    assert _get(google, full, spreadsheet_id).status_code == 200
    assert _write(google, full, spreadsheet_id).status_code == 200
    assert _get(google, readonly, spreadsheet_id).status_code == 200
    refused = _write(google, readonly, spreadsheet_id)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Request had insufficient authentication scopes."
    assert _get(google, identity, spreadsheet_id).json()["error"]["status"] == "PERMISSION_DENIED"
    # A token the OAuth emulator never issued is not checked (the Sheets emulator's own behaviour).
    assert _get(google, "any-bearer-token", spreadsheet_id).status_code == 200
    # A missing spreadsheet is a 404 first, whatever the scopes.
    assert _get(google, full, "1NoSuchSpreadsheet000000").status_code == 404


def test_a_spreadsheet_the_app_creates_is_open_to_its_drive_file_token(google):
    token = google.issue_grant(EMAIL, scope=f"{AUTH}drive.file")["access_token"]
    created = requests.post(f"{google.sheets.api_base_url}/spreadsheets", timeout=5,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"properties": {"title": "Made by the app"},
                                  "sheets": [{"properties": {"title": "Leads"}}]})
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["properties"]["title"] == "Made by the app"
    assert [s["properties"]["title"] for s in body["sheets"]] == ["Leads"]
    assert _get(google, token, body["spreadsheetId"]).status_code == 200
    identity = google.issue_grant(EMAIL, scope="openid email")["access_token"]
    assert requests.post(f"{google.sheets.api_base_url}/spreadsheets", json={}, timeout=5,
                         headers={"Authorization": f"Bearer {identity}"}).status_code == 403


def test_access_of_scopes():
    grant = TokenGrant("c", "s", frozenset({AUTH + "drive.file", AUTH + "spreadsheets.readonly"}))
    assert grant.access(write=False) is Access.READ_ALL
    assert grant.access(write=True) is Access.PICKED
    grants = FileGrants()
    grants.check(None, "any", write=True)  # not a token of ours: not checked
