"""Webhook intake: signatures, bad input, idempotent storage. Nothing is stored for a refused request."""

from __future__ import annotations

import json
import time

import pytest

from server.extensions import db
from server.models import Event
from server.seed import seed_workspace
from server.sync.signatures import addon_signature, trello_signature

SECRET = "emulator-secret"


@pytest.fixture
def workspace(app):
    with app.app_context():
        ws = seed_workspace(db.session, email="ann@example.com", trello_member_id="m1", trello_username="ann",
                            trello_token="ATTA" + "0" * 72, google_token="g", spreadsheet_id="sheet-1",
                            sheet_name="Leads", board_id="board-1",
                            mapping={"status_to_list": {"New": "list-new"}, "list_to_status": {"list-new": "New"}})
        return {"id": ws.id, "secret": ws.addon_secret}


def sheets_body(**overrides):
    body = {"event_id": "evt-1", "spreadsheet_id": "sheet-1", "sheet": "Leads", "sent_at": int(time.time() * 1000),
            "rows": [{"lead_id": "L-1", "row": 2, "values": {"Name": "Ada", "Status": "New"}, "changed": ["Name"]}]}
    body.update(overrides)
    return json.dumps(body).encode()


def post_sheets(client, workspace, body: bytes, *, secret=None, timestamp=None, signature=None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    sig = signature if signature is not None else addon_signature(secret or workspace["secret"], ts, body)
    return client.post(f"/webhooks/sheets/{workspace['id']}", data=body, content_type="application/json",
                       headers={"X-Timestamp": ts, "X-Signature": sig})


def stored(app) -> int:
    with app.app_context():
        return db.session.query(Event).count()


def test_signed_sheets_event_is_stored_once(app, client, workspace):
    body = sheets_body()
    first = post_sheets(client, workspace, body)
    assert first.status_code == 200 and first.get_json() == {"stored": 1, "duplicates": 0}
    again = post_sheets(client, workspace, body)
    assert again.status_code == 200 and again.get_json() == {"stored": 0, "duplicates": 1}
    assert stored(app) == 1


def test_multi_row_event_is_stored_per_row(app, client, workspace):
    rows = [{"lead_id": f"L-{i}", "row": i + 2, "values": {"Name": f"n{i}"}} for i in range(5)]
    response = post_sheets(client, workspace, sheets_body(rows=rows, removed=[{"lead_id": "L-9", "row": 9}]))
    assert response.get_json()["stored"] == 6
    with app.app_context():
        keys = [e.order_key for e in db.session.query(Event).order_by(Event.id)]
    assert keys == [f"lead:L-{i}" for i in range(5)] + ["lead:L-9"]


@pytest.mark.parametrize("case", ["wrong", "missing", "stale", "future", "other-secret", "bad-timestamp"])
def test_bad_sheets_signatures_are_401_and_store_nothing(app, client, workspace, case):
    body = sheets_body()
    kwargs = {
        "wrong": {"signature": "0" * 64},
        "missing": {"signature": ""},
        "stale": {"timestamp": int(time.time()) - 301},
        "future": {"timestamp": int(time.time()) + 301},
        "other-secret": {"secret": "not-the-secret"},
        "bad-timestamp": {"timestamp": "yesterday", "signature": "x"},
    }[case]
    if case == "stale":
        kwargs["signature"] = addon_signature(workspace["secret"], str(kwargs["timestamp"]), body)
    response = post_sheets(client, workspace, body, **kwargs)
    assert response.status_code == 401
    assert response.get_json()["error"]["message"]
    assert stored(app) == 0


@pytest.mark.parametrize("body, words", [
    (b"{not json", "not valid JSON"),
    (b"[]", "JSON object"),
    (json.dumps({"spreadsheet_id": "sheet-1", "sheet": "Leads", "rows": []}).encode(), "event_id"),
    (sheets_body(rows=[]), "at least one row"),
    (sheets_body(rows=[{"lead_id": "L-1", "row": 0, "values": {}}]), "rows[0].row"),
    (sheets_body(rows=[{"lead_id": "L-1", "row": 2, "values": []}]), "rows[0].values"),
    (sheets_body(rows=[{"lead_id": "L-1", "row": 2, "values": {"Name": {"x": 1}}}]), "rows[0].values"),
    (sheets_body(rows=[{"lead_id": "L-1", "row": 2, "values": {}, "changed": "Name"}]), "rows[0].changed"),
    (sheets_body(spreadsheet_id="another-sheet"), "do not match"),
])
def test_malformed_sheets_bodies_are_400_naming_the_problem(app, client, workspace, body, words):
    response = post_sheets(client, workspace, body)
    assert response.status_code == 400
    assert words in response.get_json()["error"]["message"]
    assert stored(app) == 0


def test_a_new_addon_secret_takes_effect_at_once(app, client, workspace):
    """The intake caches decrypted secrets per ciphertext: a changed secret is a new ciphertext."""
    assert post_sheets(client, workspace, sheets_body(event_id="before")).status_code == 200
    with app.app_context():
        from server.models import Workspace

        db.session.get(Workspace, workspace["id"]).addon_secret = "a-brand-new-secret"
        db.session.commit()
    old = post_sheets(client, workspace, sheets_body(event_id="old-secret"))
    assert old.status_code == 401
    new = post_sheets(client, workspace, sheets_body(event_id="new-secret"), secret="a-brand-new-secret")
    assert new.status_code == 200 and stored(app) == 2


def test_a_secret_the_server_cannot_decrypt_is_503_and_stores_nothing(app, client, workspace):
    """A lost TOKEN_ENCRYPTION_KEY is the operator's problem: 503, so the add-on retries later."""
    from server import crypto

    crypto.configure(crypto.generate_key(), "unused")  # as if the key had been replaced
    try:
        response = post_sheets(client, workspace, sheets_body())
    finally:
        crypto.configure(app.config["TOKEN_ENCRYPTION_KEY"], app.config["SECRET_KEY"])
    assert response.status_code == 503
    assert "TOKEN_ENCRYPTION_KEY" in response.get_json()["error"]["message"]
    assert stored(app) == 0


def test_unknown_workspace_is_404(app, client, workspace):
    body = sheets_body()
    response = client.post("/webhooks/sheets/ws_nope", data=body, content_type="application/json",
                           headers={"X-Timestamp": str(int(time.time())), "X-Signature": "0" * 64})
    assert response.status_code == 404 and stored(app) == 0


def trello_body(action_id="a1", type_="updateCard", card_id="c1", board_id="board-1"):
    return json.dumps({"action": {"id": action_id, "type": type_, "date": "2026-11-24T10:00:00.000Z",
                                  "data": {"card": {"id": card_id, "name": "x"}, "old": {"name": "y"},
                                           "board": {"id": board_id, "name": "Leads"}}},
                       "model": {"id": board_id}}).encode()


def post_trello(client, app, workspace, body, signature=None):
    path = f"/webhooks/trello/{workspace['id']}"
    callback = app.config["PUBLIC_BASE_URL"] + path
    sig = signature if signature is not None else trello_signature(SECRET, body, callback)
    return client.post(path, data=body, content_type="application/json", headers={"X-Trello-Webhook": sig})


def test_trello_head_answers_200(client, workspace):
    assert client.head(f"/webhooks/trello/{workspace['id']}").status_code == 200
    assert client.head("/webhooks/trello/ws_nope").status_code == 404


def test_trello_delivery_stored_once_and_unhandled_types_ignored(app, client, workspace):
    assert post_trello(client, app, workspace, trello_body()).get_json() == {"stored": 1, "duplicates": 0}
    assert post_trello(client, app, workspace, trello_body()).get_json() == {"stored": 0, "duplicates": 1}
    comment = post_trello(client, app, workspace, trello_body("a2", "addMemberToBoard"))
    assert comment.status_code == 200
    with app.app_context():
        states = {e.provider_event_id: e.state for e in db.session.query(Event)}
    assert states == {"a1": "pending", "a2": "ignored"}


def test_actions_about_another_board_are_ignored(app, client, workspace):
    """Anyone with the public API key can aim a webhook of theirs at our callback URL."""
    response = post_trello(client, app, workspace, trello_body("a9", board_id="someone-elses-board"))
    assert response.status_code == 200
    with app.app_context():
        assert [e.state for e in db.session.query(Event)] == ["ignored"]


def test_trello_signature_uses_the_registered_callback(app, client, workspace):
    body = trello_body()
    wrong_url = trello_signature(SECRET, body, "http://elsewhere.example/webhooks/trello/" + workspace["id"])
    assert post_trello(client, app, workspace, body, signature=wrong_url).status_code == 401
    assert post_trello(client, app, workspace, body, signature="").status_code == 401
    forged = trello_signature("not-our-secret", body, app.config["PUBLIC_BASE_URL"] + f"/webhooks/trello/{workspace['id']}")
    assert post_trello(client, app, workspace, body, signature=forged).status_code == 401
    assert stored(app) == 0


def test_trello_delivery_for_a_deleted_workspace_answers_410(app, client):
    body = trello_body()
    path = "/webhooks/trello/ws_gone"
    sig = trello_signature(SECRET, body, app.config["PUBLIC_BASE_URL"] + path)
    assert client.post(path, data=body, content_type="application/json",
                       headers={"X-Trello-Webhook": sig}).status_code == 410


def test_trello_malformed_json_with_valid_signature_is_400(app, client, workspace):
    response = post_trello(client, app, workspace, b"{oops")
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["error"]["message"]
    assert stored(app) == 0


# --------------------------------------------------------------------------- times and bounds (issue 14)


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"-Infinity", b"1e300", b"-1e20", b"32503680000000"])
@pytest.mark.parametrize("where", ["edited_at", "sent_at"])
def test_times_that_are_not_real_times_are_400_and_store_nothing(app, client, workspace, raw, where):
    """NaN, ±Infinity, 1e300, -1e20 and the year 3000 (as milliseconds) are refused, never a 500."""
    marker = b"987654321"
    row = {"lead_id": "L-1", "row": 2, "values": {"Name": "Ada"}, "changed": ["Name"]}
    if where == "edited_at":
        row["edited_at"] = 987654321
        body = sheets_body(rows=[row])
    else:
        body = sheets_body(sent_at=987654321)
    body = body.replace(marker, raw)
    response = post_sheets(client, workspace, body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert ("JSON" in response.get_json()["error"]["message"] or "milliseconds" in response.get_json()["error"]["message"])
    assert stored(app) == 0


def test_a_time_far_ahead_is_clamped_so_it_cannot_freeze_a_field(app, client, workspace):
    """A signed edit dated next year is stored as made now: a later edit from either side still wins."""
    ahead = int((time.time() + 365 * 86400) * 1000)
    row = {"lead_id": "L-1", "row": 2, "values": {"Name": "Ada"}, "changed": ["Name"], "edited_at": ahead}
    assert post_sheets(client, workspace, sheets_body(rows=[row])).status_code == 200
    with app.app_context():
        event = db.session.query(Event).one()
        edited = json.loads(event.payload)["edited_at"]
    assert edited <= time.time() * 1000 + 1000
    assert event.occurred_at.timestamp() <= time.time() + 1


def test_a_big_paste_is_bulk_work_and_bounded_per_workspace(app, client, workspace):
    app.config.update(LIVE_MAX_ROWS=3, MAX_QUEUED_BULK=6)
    rows = [{"lead_id": f"L-{i}", "row": i + 2, "values": {"Name": f"Lead {i}"}, "changed": ["Name"]} for i in range(5)]
    first = post_sheets(client, workspace, sheets_body(event_id="paste-1", rows=rows))
    assert first.status_code == 200
    with app.app_context():
        assert {e.lane for e in db.session.query(Event)} == {1}  # bulk lane: live edits go first
    second = post_sheets(client, workspace, sheets_body(event_id="paste-2", rows=rows))
    assert second.status_code == 429
    assert "waiting to sync" in second.get_json()["error"]["message"]
    assert stored(app) == 5
    one = post_sheets(client, workspace, sheets_body(event_id="edit-1"))  # a live edit is never refused
    assert one.status_code == 200 and stored(app) == 6


def test_a_repeated_sync_now_joins_the_one_waiting(app, workspace):
    from server.sync.queue import enqueue_command

    with app.app_context():
        assert enqueue_command(db.session, workspace["id"], "reconcile") is not None
        assert enqueue_command(db.session, workspace["id"], "reconcile") is None  # joins it
        assert enqueue_command(db.session, workspace["id"], "reconcile", {"dry_run": True}) is not None  # another kind
        db.session.commit()
        kinds = [(e.kind, e.lane) for e in db.session.query(Event)]
    assert kinds == [("reconcile", 2), ("reconcile", 2)]


def test_our_creations_echo_of_a_linked_card_is_settled_at_intake(app, client, workspace):
    """The worker never claims the echo of a card it created and linked already; a person's
    createCard, or our echo arriving before the link is committed, still goes to the worker."""
    from server.models import Link

    app.config["TRELLO_APP_ID"] = "our-app"
    with app.app_context():
        db.session.add(Link(workspace_id=workspace["id"], lead_id="L-1", card_id="c1", status="linked",
                            shadow={}, field_times={}, card_extra={}, sync_state="synced"))
        db.session.commit()

    def created(action_id, card_id, app_id):
        body = json.loads(trello_body(action_id, "createCard", card_id))
        body["action"]["appCreator"] = {"id": app_id} if app_id else None
        body["action"]["idMemberCreator"] = "m1"
        return json.dumps(body).encode()

    for action_id, card_id, app_id in (("ours-linked", "c1", "our-app"), ("ours-not-yet", "c2", "our-app"),
                                       ("persons", "c1", None)):
        assert post_trello(client, app, workspace, created(action_id, card_id, app_id)).status_code == 200
    with app.app_context():
        stored = {e.provider_event_id: (e.state, e.echo, e.last_error, e.order_key) for e in db.session.query(Event)}
    assert stored == {"ours-linked": ("ignored", True, "the card is already linked", "lead:L-1"),
                      "ours-not-yet": ("pending", True, "", "card:c2"),
                      "persons": ("pending", False, "", "lead:L-1")}


def test_our_creations_echo_stored_before_the_link_is_settled_with_the_creation(world):
    """The echo of a card we create can be stored before the worker commits the card's link (the
    web tier then cannot know it is ours): the worker finishes it in the creation's own
    transaction, and never claims it."""
    waited = []

    def before_commit(kind: str, event_id: int) -> None:  # the Trello call returned; nothing committed yet
        if kind == "trello" and not waited:
            waited.append(world.trello.wait_for_deliveries(timeout=10))

    world.worker.processor.on_outbound = before_commit
    world.add_row(Name="Ada Lovelace", Email="ada@example.com", Status="New")
    world.settle()
    assert waited == [True]
    (card,) = world.cards()
    echoes = [e for e in world.all_events() if e.source == "trello" and e.kind == "createCard"]
    assert [(e.state, e.echo, e.last_error, e.order_key, e.attempts) for e in echoes] == [
        ("ignored", True, "the card is already linked", f"card:{card['id']}", 0)]


# --------------------------------------------------------------------------- a further board's callback (routing)


def _further_board(app, workspace) -> str:
    """The workspace's second board, its webhook registered at its own callback URL."""
    from server.models import WorkspaceBoard

    path = f"/webhooks/trello/{workspace['id']}/boards/board-2"
    with app.app_context():
        db.session.add(WorkspaceBoard(workspace_id=workspace["id"], board_id="board-2", webhook_id="w2",
                                      webhook_callback=app.config["PUBLIC_BASE_URL"] + path))
        db.session.commit()
    return path


@pytest.mark.parametrize("case", ["wrong secret", "the main board's URL", "no header"])
def test_a_further_boards_bad_signature_is_401_and_stores_nothing(app, client, workspace, case):
    path = _further_board(app, workspace)
    body = trello_body(board_id="board-2")
    signed = {"wrong secret": trello_signature("wrong", body, app.config["PUBLIC_BASE_URL"] + path),
              "the main board's URL": trello_signature(
                  SECRET, body, app.config["PUBLIC_BASE_URL"] + f"/webhooks/trello/{workspace['id']}"),
              "no header": None}[case]
    headers = {"X-Trello-Webhook": signed} if signed else {}
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 401 and "signature" in response.get_json()["error"]["message"]
    assert stored(app) == 0


def test_a_further_boards_malformed_json_is_400_and_an_unknown_board_410(app, client, workspace):
    path = _further_board(app, workspace)
    callback = app.config["PUBLIC_BASE_URL"] + path
    bad = client.post(path, data=b"{oops", content_type="application/json",
                      headers={"X-Trello-Webhook": trello_signature(SECRET, b"{oops", callback)})
    assert bad.status_code == 400 and "not valid JSON" in bad.get_json()["error"]["message"]
    gone_path = f"/webhooks/trello/{workspace['id']}/boards/board-9"  # no such board of the workspace
    body = trello_body(board_id="board-9")
    gone = client.post(gone_path, data=body, content_type="application/json", headers={
        "X-Trello-Webhook": trello_signature(SECRET, body, app.config["PUBLIC_BASE_URL"] + gone_path)})
    assert gone.status_code == 410  # Trello deletes a webhook that outlived its board's place in the workspace
    assert stored(app) == 0
    good = trello_body(board_id="board-2")
    ok = client.post(path, data=good, content_type="application/json",
                     headers={"X-Trello-Webhook": trello_signature(SECRET, good, callback)})
    assert ok.status_code == 200 and ok.get_json() == {"stored": 1, "duplicates": 0}
