"""Create a synced sheet: the dashboard copies the template (Drive ``files.copy`` on the emulator, as
the signed-in person's Google account) and opens the wizard with the copy; errors in plain words."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from server.addon.template_copy import CopyFailed, copy_template
from tests.conftest import make_app
from tests.dashboard.helpers import flashes, login
from tests.sync.world import build_world


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app)
    w.app.config["GOOGLE_DRIVE_API_BASE_URL"] = w.sheets.drive_base_url
    yield w
    w.stop()


def _google_account(world) -> None:
    from server.extensions import db
    from server.models import ProviderAccount, User

    with world.app.app_context():
        ann = db.session.query(User).filter_by(email="ann@example.com").one()
        if not db.session.query(ProviderAccount).filter_by(user_id=ann.id, provider="google").count():
            db.session.add(ProviderAccount(user_id=ann.id, provider="google", provider_user_id="g-ann",
                                           username="ann@example.com", access_token="ann-google-token"))
            db.session.commit()


def test_the_copy_lands_in_drive_and_the_wizard_starts_with_it(world):
    template = world.sheets.create_spreadsheet("Leads template", {"Leads": [["Name", "Email", "Status"]]})
    world.app.config["GOOGLE_TEMPLATE_SPREADSHEET_ID"] = template
    client = world.app.test_client()
    login(client, world.app)
    _google_account(world)
    page = client.get("/app/sheets/new").get_data(as_text=True)
    assert "Create a synced sheet" in page and f"/spreadsheets/d/{template}/copy" in page
    assert "Create a synced sheet" in client.get("/app").get_data(as_text=True)
    answer = client.post("/app/sheets/new", data={"name": "  Q3   leads "})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/app/workspaces/new?step=sheet")
    (source, copy_id), = world.sheets.drive.copies
    assert source == template
    assert world.sheets.values(copy_id, "Leads") == [["Name", "Email", "Status"]]
    message, = flashes(client)
    assert message.startswith("“Q3 leads” is in your Google Drive.") and "Connect to Leads Sync" in message
    wizard = client.get("/app/workspaces/new?step=sheet").get_data(as_text=True)
    assert f"https://docs.google.com/spreadsheets/d/{copy_id}" in wizard


def test_errors_are_plain_and_change_nothing(world):
    client = world.app.test_client()
    login(client, world.app)
    world.app.config["GOOGLE_TEMPLATE_SPREADSHEET_ID"] = ""
    unset = client.post("/app/sheets/new", data={"name": "X"})
    assert unset.status_code == 404 and "not set up on this server" in unset.get_data(as_text=True)
    assert "Create a synced sheet" not in client.get("/app").get_data(as_text=True)
    world.app.config["GOOGLE_TEMPLATE_SPREADSHEET_ID"] = "1MissingTemplate000000"
    bob = world.app.test_client()
    login(bob, world.app, "bob@example.com")   # no Google account connected
    no_account = bob.post("/app/sheets/new", data={"name": "X"})
    assert no_account.status_code == 400 and "Connect a Google account first" in no_account.get_data(as_text=True)
    _google_account(world)
    missing = client.post("/app/sheets/new", data={"name": "X"})
    text = re.sub(r"\s+", " ", missing.get_data(as_text=True))
    assert missing.status_code == 502
    assert "Could not create “X”: The template spreadsheet was not found, or is not shared with you" in text
    not_mine = client.post("/app/sheets/new", data={"name": "X", "google_account": "99999"})
    assert not_mine.status_code == 404
    assert world.sheets.drive.copies == []


class _Answer:
    def __init__(self, status: int, body: object) -> None:
        self.status_code, self._body = status, body

    def json(self) -> object:
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


@pytest.mark.parametrize("answer, words", [
    (_Answer(403, {}), "refused to copy"), (_Answer(200, ValueError("no json")), "no file id"),
    (_Answer(200, {"id": "x", "mimeType": "application/pdf"}), "not a Google Sheets spreadsheet"),
    (ConnectionError("down"), "could not be reached"),
])
def test_copy_template_turns_drive_answers_into_plain_words(answer, words):
    def post(url, **kwargs):
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(CopyFailed, match=words):
        copy_template(SimpleNamespace(post=post), "https://drive.example/v3", "1Template0000000", "Leads")


def test_sign_in_asks_for_drive_file_only_when_a_template_is_configured():
    from server.auth.google_scopes import DRIVE_FILE_SCOPE, google_scopes
    from server.auth.oauth import GOOGLE_SCOPES

    assert google_scopes({"GOOGLE_TEMPLATE_SPREADSHEET_ID": ""}) == GOOGLE_SCOPES
    assert google_scopes({"GOOGLE_TEMPLATE_SPREADSHEET_ID": "1Template0000000"}).split() == [
        *GOOGLE_SCOPES.split(), DRIVE_FILE_SCOPE]
