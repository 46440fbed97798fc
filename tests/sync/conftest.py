from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.sync.world import build_world


@pytest.fixture(params=["provenance", "ledger"])
def either_world(request, sqlite_url):
    """Our own writes' echoes known by their provenance (TRELLO_APP_ID set), and by the ledger of
    what we sent where it is not configured."""
    w = build_world(sqlite_url, make_app=make_app, config={} if request.param == "provenance" else {"TRELLO_APP_ID": ""})
    yield w
    w.stop()


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app)
    yield w
    w.stop()
