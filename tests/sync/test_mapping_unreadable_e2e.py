"""A stored mapping the worker cannot read parks the lead's events with the reason, nothing else."""

from __future__ import annotations

from server.extensions import db
from server.models import Workspace
from server.models.sync import PARKED
from tests.conftest import sign_in_as


def test_a_malformed_stored_mapping_parks_the_event_with_the_reason_and_writes_nothing(world):
    with world.app.app_context():
        workspace = db.session.get(Workspace, world.workspace_id)
        workspace.mapping = {**workspace.mapping, "description_columns": "Email"}  # text, not a list
        db.session.commit()
    world.add_row(Name="Ada Lovelace", Email="ada@example.com", Status="New")
    world.settle()
    parked = world.events(state=PARKED)
    assert len(parked) == 1
    assert "“description_columns” is text, not a list of column names" in parked[0].last_error
    assert world.cards() == []
    # the pages still open: the workspace page, its history, and the editor, which says what is wrong
    client = world.app.test_client()
    sign_in_as(client, world.app, world.workspace().owner_id)
    for page in ("", "/history", "/mapping"):
        assert client.get(f"/app/workspaces/{world.workspace_id}{page}").status_code == 200
    editor = client.get(f"/app/workspaces/{world.workspace_id}/mapping").get_data(as_text=True)
    assert "The saved mapping could not be read" in editor
