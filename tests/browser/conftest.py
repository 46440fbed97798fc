"""The browser every browser test module shares: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import ARGS, CHROMIUM
from tests.conftest import make_app
from tests.sync.world import World, build_world


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    """A whole running system for the dashboard's pages: the dev sign-in and CSRF on, plus the
    module's ``WORLD_CONFIG``. A module that needs another world defines its own ``world``."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    config = {"DEV_LOGIN_ENABLED": True, "WTF_CSRF_ENABLED": True, **getattr(request.module, "WORLD_CONFIG", {})}
    w = build_world(f"sqlite:///{tmp_path / 'app.db'}", make_app=make_app, config=config)
    yield w
    w.stop()
