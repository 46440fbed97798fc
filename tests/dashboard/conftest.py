"""Fixtures of the dashboard tests: a whole running system (``tests/sync/world.py``) per test."""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.sync.world import build_world


@pytest.fixture
def world(sqlite_url):
    w = build_world(sqlite_url, make_app=make_app)
    yield w
    w.stop()
