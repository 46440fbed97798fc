"""The Sheets emulator's minimal Drive v3 ``files.copy``: answers and errors shaped like Google's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from emulators.sheets import SheetsEmulator

AUTH = {"Authorization": "Bearer tok"}


@pytest.fixture
def emu() -> Iterator[SheetsEmulator]:
    emulator = SheetsEmulator(read_limit=None, write_limit=None, seed=3)
    emulator.start()
    yield emulator
    emulator.stop()


def test_files_copy_duplicates_the_spreadsheet_under_a_new_id(emu):
    template = emu.create_spreadsheet("Leads template", {"Leads": [["Name", "Status", "Lead ID"], ["Ann", "New", ""]]})
    answer = requests.post(f"{emu.drive_base_url}/files/{template}/copy", json={"name": "My leads"}, headers=AUTH,
                           timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    assert body["kind"] == "drive#file" and body["name"] == "My leads"
    assert body["mimeType"] == "application/vnd.google-apps.spreadsheet" and body["id"] != template
    assert emu.values(body["id"], "Leads") == emu.values(template, "Leads")
    emu.user_edit(body["id"], "Leads", 2, {"Status": "Won"})
    assert emu.values(template, "Leads")[1][1] == "New", "the copy is independent"
    fields = requests.post(f"{emu.drive_base_url}/files/{template}/copy?fields=id,name", headers=AUTH, timeout=5)
    assert set(fields.json()) == {"id", "name"} and fields.json()["name"] == "Copy of Leads template"


def test_files_copy_errors_look_like_drive(emu):
    missing = requests.post(f"{emu.drive_base_url}/files/nope123/copy", json={}, headers=AUTH, timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": 404, "message": "File not found: nope123.", "errors": [
        {"message": "File not found: nope123.", "domain": "global", "reason": "notFound", "location": "fileId",
         "locationType": "parameter"}]}}
    template = emu.create_spreadsheet("T", {"Leads": [["Name"]]})
    anonymous = requests.post(f"{emu.drive_base_url}/files/{template}/copy", json={}, timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["errors"][0]["reason"] == "required"
    bad = requests.post(f"{emu.drive_base_url}/files/{template}/copy", data="{nope", headers=AUTH, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 400
    assert len(emu.drive.copies) == 0, "nothing was copied"
