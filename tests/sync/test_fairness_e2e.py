"""No tenant waits for another: rate limits, 429s and bulk work defer only their own account's work.

Two workspaces of two people share one deployment and one worker (issue 13, case 3). The worker
runs its real loop in a thread; the limiter is on, with Trello's per-token limit scaled down so
that one tenant's paste takes seconds.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import make_app
from tests.sync.world import build_world

SLOW_TOKEN = {"RATE_LIMITS_ENABLED": True, "TRELLO_TOKEN_LIMIT": "5/1", "TRELLO_KEY_LIMIT": "300/10"}


@pytest.fixture
def two_tenants(tmp_path):
    world = build_world(f"sqlite:///{tmp_path / 'app.db'}", make_app=make_app, config=SLOW_TOKEN)
    heavy, light = world.tenants[0], world.add_tenant("bob")
    try:
        yield world, heavy, light
    finally:
        world.stop()


def _linked_lead(world, tenant, name):
    tenant.add_row(Name=name, Status="New")
    world.settle()
    lead_id = next(r["Lead ID"] for r in tenant.rows() if r["Name"] == name)
    return tenant.link(lead_id).row_number, lead_id


def test_one_tenants_paste_does_not_hold_up_anothers_edit(two_tenants):
    world, heavy, light = two_tenants
    row, lead_id = _linked_lead(world, light, "Bob's lead")
    world.start_worker()
    heavy.paste_rows([{"Name": f"Paste {i}", "Status": "New"} for i in range(40)])  # 8 s of Trello calls
    world.wait_until(lambda: len(heavy.cards()) >= 3, timeout=20)  # the paste is being worked through
    light.edit_row(row, Notes="call back today")
    waited = world.wait_until(lambda: "call back today" in light.card_for(lead_id)["desc"], timeout=20)
    assert waited < 2.0, f"the light tenant's edit waited {waited:.1f} s behind the paste"
    assert len(heavy.cards()) < 40  # the paste was still going on meanwhile
    world.wait_until(lambda: len(heavy.cards()) == 40, timeout=40)
    world.stop_workers()
    assert sorted(c["name"] for c in heavy.cards()) == sorted(f"Paste {i}" for i in range(40))  # once each


def test_a_429_on_one_lead_defers_only_that_account(two_tenants):
    world, heavy, light = two_tenants
    heavy_row, heavy_lead = _linked_lead(world, heavy, "Ada")
    light_row, light_lead = _linked_lead(world, light, "Bob's lead")
    card_id = heavy.link(heavy_lead).card_id
    world.trello.faults.add(path=rf"^/1/cards/{card_id}$", methods=["PUT"], status=429, times=1,
                            headers={"Retry-After": "4"}, body={"error": "API_TOKEN_LIMIT_EXCEEDED",
                                                                "message": "Rate limit exceeded"})
    world.start_worker()
    heavy.edit_row(heavy_row, Notes="slow down")
    world.wait_until(lambda: world.trello.faults.rules()[0].hits == 1, timeout=10)
    started = time.monotonic()
    light.edit_row(light_row, Notes="right away")
    waited = world.wait_until(lambda: "right away" in light.card_for(light_lead)["desc"], timeout=20)
    assert waited < 1.5, f"an unrelated tenant waited {waited:.1f} s behind another's 429"
    world.wait_until(lambda: "slow down" in heavy.card_for(heavy_lead)["desc"], timeout=20)
    assert time.monotonic() - started >= 3.0  # the refused account waited out Trello's Retry-After
    world.stop_workers()
