"""The Trello emulator the HTTP-level Trello tests share, one per test module (``emu``: it
overrides the Sheets emulator of ``tests/emulators/conftest.py`` here), and a webhook receiver.

A module may set ``DELIVERY_RETRY_DELAYS`` for the emulator's retries of a failed delivery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.trello import TrelloEmulator
from tests.emulators.trello.http import KEY, SECRET, Receiver


@pytest.fixture(scope="module")
def emu(request: pytest.FixtureRequest) -> Iterator[TrelloEmulator]:
    emulator = TrelloEmulator(KEY, SECRET, token_limit=(1000, 10.0), key_limit=(100000, 10.0),
                              delivery_retry_delays=getattr(request.module, "DELIVERY_RETRY_DELAYS", (0.05,)))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.server.stop()
