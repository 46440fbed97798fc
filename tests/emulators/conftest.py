"""The Sheets emulator the HTTP-level emulator tests share: started without quotas, with a seed a
test module may choose (``EMULATOR_SEED``) so that its ids are the same on every run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.sheets import SheetsEmulator
from tests.emulators.sheets_http import Api


@pytest.fixture
def emu(request: pytest.FixtureRequest) -> Iterator[SheetsEmulator]:
    emulator = SheetsEmulator(read_limit=None, write_limit=None, seed=getattr(request.module, "EMULATOR_SEED", None))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def api(emu: SheetsEmulator) -> Api:
    return Api(emu.api_base_url)
