"""The Trello sign-in site (the app beside the Trello emulator) and the steps of connecting an account.

A pytest plugin (``tests/conftest.py``): the ``site`` fixture is shared by several test modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
import requests
from sqlalchemy import select

from emulators.common import RunningServer, serve_in_thread
from emulators.trello import TrelloEmulator
from server.extensions import db
from server.models import TRELLO, ProviderAccount
from tests.conftest import make_app


class _Form(HTMLParser):
    """The consent page's form: hidden inputs and the member options."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.members: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("name"):
            self.fields[a["name"] or ""] = a.get("value") or ""
        elif tag == "option":
            self.members.append(a.get("value") or "")


def sign_in(browser: requests.Session, base_url: str, email: str) -> None:
    response = browser.post(base_url + "/auth/dev-login", data={"email": email})
    assert response.status_code == 200 and response.url == base_url + "/app"


def connect_trello(browser: requests.Session, base_url: str, trello: TrelloEmulator, member_id: str,
                   approve: bool = True) -> requests.Response:
    """Connections page → Trello's authorize page → choose ``member_id`` → Allow (or Deny)."""
    start = browser.post(base_url + "/app/connections/trello", allow_redirects=False)
    assert start.status_code == 302, start.text
    consent = browser.get(start.headers["Location"])
    assert consent.status_code == 200
    form = _Form()
    form.feed(consent.text)
    assert member_id in form.members
    data = {**form.fields, "member": member_id, "approve": "1" if approve else "0"}
    return browser.post(trello.base_url + form.action, data=data)


@dataclass
class Site:
    app: Any
    web: RunningServer
    trello: TrelloEmulator

    def accounts(self) -> list[ProviderAccount]:
        with self.app.app_context():
            rows = db.session.scalars(select(ProviderAccount).where(ProviderAccount.provider == TRELLO)
                                      .order_by(ProviderAccount.id)).all()
            for row in rows:
                db.session.expunge(row)
            return list(rows)


@pytest.fixture
def site(sqlite_url):
    trello = TrelloEmulator(api_key="emulator-key", api_secret="emulator-secret")
    trello.start()
    app = make_app(sqlite_url, DEV_LOGIN_ENABLED=True, TRELLO_API_BASE_URL=trello.api_base_url,
                   TRELLO_OAUTH_BASE_URL=trello.base_url + "/1", POWERUP_APP_NAME="Leads Sync Test")
    web = serve_in_thread(app)
    app.config["PUBLIC_BASE_URL"] = web.base_url
    yield Site(app, web, trello)
    web.stop()
    trello.stop()
    with app.app_context():
        db.engine.dispose()
