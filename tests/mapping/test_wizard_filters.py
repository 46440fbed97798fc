"""The wizard's policies step takes the row and card filters too: a bad one is named and kept for
correction, a good one is stored with the draft and its preview leaves the filtered rows out."""

from __future__ import annotations

import re

from server.extensions import db
from server.models import Workspace
from tests.dashboard.helpers import flashes, location, login, page, post_step
from tests.mapping.forms import form_fields
from tests.mapping.test_wizard_safety import to_statuses, world  # noqa: F401  (the fixture)


def test_the_wizard_sets_filters_and_its_preview_applies_them(world):  # noqa: F811
    client = world.app.test_client()
    login(client, world.app)
    board = world.trello.add_board("Pipeline board", "ann", lists=["Inbox", "New", "Contacted", "Closed lost"])
    lists = {lst["name"]: lst["id"] for lst in world.trello.lists(board["id"])}
    html = to_statuses(client, world, board["id"])
    form = {k: v[0] for k, v in form_fields(html, 'name="step"').items()}
    index = re.search(r'name="status_name_(\d+)" value="won"', html).group(1)
    form[f"status_list_{index}"] = lists["Closed lost"]
    assert location(client.post("/app/workspaces/new", data=form)).endswith("step=policies"), flashes(client)
    policies = page(client, "/app/workspaces/new?step=policies")
    assert "Which rows sync" in policies and "Which cards sync" in policies and "Closed lost" in policies

    answer = {"name": "Pipeline", "row_removed_policy": "archive", "card_removed_policy": "set_status",
              "card_removed_status": "Archived", "filter_column_0": "Status", "filter_op_0": "is_not",
              "filter_value_0": "", "card_lists_mode": "some"}
    assert location(post_step(client, "policies", **answer)).endswith("step=policies")
    said = flashes(client)
    assert any("“Status is not …” needs a value" in m for m in said) and any("tick at least one list" in m
                                                                            for m in said)
    again = form_fields(page(client, "/app/workspaces/new?step=policies"), 'name="step"')
    assert again["filter_column_0"] == ["Status"] and again["card_lists_mode"] == ["some"]  # kept to correct

    answer.update(filter_value_0="closed-lost!", card_lists=[lists["New"], lists["Contacted"], lists["Closed lost"]])
    response = post_step(client, "policies", **answer)
    draft_id = re.search(r"/app/workspaces/(ws_[0-9a-f]+)/setup$", location(response)).group(1)
    with world.app.app_context():
        mapping = db.session.get(Workspace, draft_id).mapping
    assert mapping["row_filter"] == [{"column": "Status", "op": "is_not", "value": "closed-lost!"}]
    assert mapping["card_filter"] == {"lists": [lists["New"], lists["Contacted"], lists["Closed lost"]]}
    page(client, f"/app/workspaces/{draft_id}/setup")  # queues the preview
    world.worker.drain(timeout_s=20)
    text = re.sub(r"<[^>]+>", " ", page(client, f"/app/workspaces/{draft_id}/setup"))
    assert "Cards it will create (3)" in text and "Katherine Johnson" not in text
    assert "rows where Status is not “closed-lost!”" in text
