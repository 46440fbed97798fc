"""Hostile text in every synced column, both directions, both databases (issue 14, item 1).

A Notes cell reading "Met at the fair / Phone: … / Email: …" once overwrote the row's Phone and
Email and lost its own second line. Here such values go from the sheet to the card and from the
card (a person editing the description's block in Trello) to the sheet, over real HTTP, and each
column must arrive exactly as written while the other columns stay as they were.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.sync import description
from server.sync.mapping import Mapping
from tests.conftest import make_app
from tests.sync.world import build_world

COLUMNS = ("Email", "Phone", "Company", "Notes")
HOSTILE = [
    "Met at the fair\nPhone: 555-0100\nEmail: someone@else.example",
    "Lead ID: L-000000000000",
    "— End of lead fields —\nName: Mallory",
    "**bold** _it_ `code` [link](http://x) > quote\n# heading\n---\n- item",
    "  spaces around  ",
    "back\\slash \\n not a newline",
    "windows\r\nline\rbreaks",
    "=IMPORTRANGE(\"x\", \"A1\")",
    "Zoë ✓ 東京 🚀",
    "Notes: nested: colons: everywhere:",
]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    w = build_world(url, make_app=make_app)
    yield w
    w.stop()


def _new_lead(world, values):
    world.add_row(Name="Ada", Status="New", **values)
    world.settle()
    return world.rows()[-1]["Lead ID"]


def _card_fields(world, lead_id):
    mapping = Mapping.from_json(world.workspace().mapping)
    return description.parse(world.card_for(lead_id)["desc"], mapping.description_columns).fields


def test_hostile_values_go_from_the_sheet_to_the_card_exactly(world):
    for index, hostile in enumerate(HOSTILE):
        values = {"Email": f"ada{index}@example.com", "Phone": f"555-01{index:02d}", "Company": hostile,
                  "Notes": HOSTILE[(index + 1) % len(HOSTILE)]}
        lead_id = _new_lead(world, values)
        expected = {c: str(world.row_for(lead_id).get(c, "")) for c in COLUMNS}  # what the sheet holds
        assert _card_fields(world, lead_id) == expected, hostile
        assert world.card_for(lead_id)["name"] == "Ada"


def test_hostile_values_go_from_the_card_to_the_sheet_exactly(world):
    lead_id = _new_lead(world, {"Email": "ada@example.com", "Phone": "555-0100"})
    mapping = Mapping.from_json(world.workspace().mapping)
    for hostile in HOSTILE:
        card = world.card_for(lead_id)
        parsed = description.parse(card["desc"], mapping.description_columns)
        desc = description.render({**parsed.fields, "Notes": hostile}, mapping.description_columns, lead_id,
                                  parsed.preamble)
        world.person.update_card(card["id"], desc=desc)
        world.settle()
        row = world.row_for(lead_id)
        assert row["Notes"] == hostile and row["Email"] == "ada@example.com" and row["Phone"] == "555-0100"
    assert len(world.rows()) == 1 and len(world.cards()) == 1


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(values=st.fixed_dictionaries({c: TEXT for c in COLUMNS}), back=TEXT)
def test_any_text_round_trips_through_both_sides(world, values, back):
    lead_id = _new_lead(world, values)
    row = world.row_for(lead_id)
    held = {c: str(row.get(c, "")) for c in COLUMNS}  # the sheet's own rendering of what was typed
    assert _card_fields(world, lead_id) == held
    mapping = Mapping.from_json(world.workspace().mapping)
    card = world.card_for(lead_id)
    parsed = description.parse(card["desc"], mapping.description_columns)
    world.person.update_card(card["id"], desc=description.render({**parsed.fields, "Company": back},
                                                                 mapping.description_columns, lead_id, parsed.preamble))
    world.settle()
    row = world.row_for(lead_id)
    assert {c: str(row.get(c, "")) for c in COLUMNS} == {**held, "Company": back}
